"""The feed harvester: each FeedQueue message is "start or continue the harvest of job J" (a job of type ``feed``).

An invocation takes pages while it has time and checkpoints after each (``orcid_sync.domain.feeds.harvest``);
before the Lambda's deadline it sends a new message for the same job and succeeds, so a 200,000-record first
harvest is a chain of invocations. A crash or a timeout brings the message back (after the queue's visibility
timeout) and the harvest resumes at its checkpoint; on the queue's last delivery the run fails and the feed is
freed for the next one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from orcid_sync import composition
from orcid_sync.domain.feeds.harvest import run_feed_job
from orcid_sync.domain.jobs.models import JobControlMessage
from orcid_sync.observability import logger, metrics, tracer


class FeedJobRecord(SqsRecordModel):
    body: Json[JobControlMessage]


processor = BatchProcessor(event_type=EventType.SQS, model=FeedJobRecord)


def _seconds_left(context: LambdaContext | None) -> Callable[[], float]:
    """The invocation's time left (unbounded when called without a context, as some tests do)."""
    if context is None:
        return lambda: math.inf
    return lambda: context.get_remaining_time_in_millis() / 1000


@tracer.capture_method(capture_response=False)
def record_handler(record: FeedJobRecord, lambda_context: LambdaContext | None = None) -> None:
    ports = composition.feed_harvester_ports()
    step = run_feed_job(
        replace(ports.harvest, time_left=_seconds_left(lambda_context)),
        record.body.job_id,
        last_attempt=int(record.attributes.ApproximateReceiveCount) >= ports.env.max_receive_count,
    )
    logger.info("feed harvest step", job_id=record.body.job_id, step=step.value)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    composition.settings()  # fail fast on a misconfigured stack
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
