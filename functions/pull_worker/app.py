"""The pull worker: each SQS message is one researcher of a pull run (see ``orcid_sync.domain.pull.worker``).

A message that fails (ORCID kept answering 5xx, an AWS hiccup) is reported as a batch item failure
and comes back; its CSV part and ledger entries are simply written again. On its last delivery a
failing researcher is counted as failed instead, so the run still finishes and writes its CSV.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from orcid_sync import composition, metric_names
from orcid_sync.domain.jobs.models import ResearcherTask
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.pull.worker import pull_researcher
from orcid_sync.observability import logger, metrics, tracer

"""Rows one researcher added to a pull CSV (dimension: service)."""
# Stop taking new researchers when less than this is left: one researcher, or the run's assembly, fits in it.
_MIN_REMAINING_MS = 60_000


class PullTaskRecord(SqsRecordModel):
    body: Json[ResearcherTask]


class OutOfTimeError(RuntimeError):
    """Too little time left in this invocation for another researcher; SQS brings the message back."""


processor = BatchProcessor(event_type=EventType.SQS, model=PullTaskRecord)


@tracer.capture_method(capture_response=False)
def record_handler(record: PullTaskRecord, lambda_context: LambdaContext | None = None) -> None:
    task = record.body
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < _MIN_REMAINING_MS:
        raise OutOfTimeError(f"not enough time left for researcher {task.researcher_id}")
    worker = composition.pull_worker_ports()
    receives = int(record.attributes.ApproximateReceiveCount)
    outcome = pull_researcher(task, worker.pull, now=utc_now(), last_attempt=receives >= worker.env.max_receive_count)
    if outcome is not None and not task.dry_run:
        metrics.add_metric(name=metric_names.PULLED_ROWS, unit=MetricUnit.Count, value=outcome.counts.rows_pulled)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    composition.settings()  # fail fast on a misconfigured stack
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
