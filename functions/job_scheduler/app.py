"""The job scheduler: opens a push or pull run and sends one message per eligible researcher.

The feed schedule (``{"job_type": "feed"}``) opens one harvest run per enabled feed instead, each handed to the
feed harvester's queue.

Two triggers, one use case each: the daily EventBridge schedule (``{"job_type": "push"}``) opens a
run itself; a run opened by the admin API arrives as ``{"job_id": ...}`` on the job-control queue.
The workers count each researcher once and the last one finishes the run; nothing here waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Json

from orcid_sync import composition
from orcid_sync.domain.jobs.models import JobControlMessage, JobType
from orcid_sync.domain.jobs.starts import run_scheduled_job, start_requested_job
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger, metrics, tracer


class ScheduleEvent(BaseModel):
    """The constant input of the daily rules (see PushScheduleRule / PullScheduleRule)."""

    model_config = ConfigDict(extra="ignore")

    # The values, not the enum's members: a refusal then names 'push' and 'pull', not their Python reprs.
    job_type: Literal["push", "pull", "feed", "remind"]


class JobControlRecord(SqsRecordModel):
    body: Json[JobControlMessage]


processor = BatchProcessor(event_type=EventType.SQS, model=JobControlRecord)


@tracer.capture_method(capture_response=False)
def record_handler(record: JobControlRecord) -> None:
    p = composition.scheduler_ports()
    job = start_requested_job(
        p.jobs,
        record.body.job_id,
        selectors=p.selectors,
        queues=p.queues,
        finishers=p.finishers,
        notifier=p.notifier,
        now=utc_now(),
    )
    logger.info("requested job started", job_id=record.body.job_id, expected=job.expected if job else None)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    composition.settings()  # fail fast on a misconfigured stack
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    request = ScheduleEvent.model_validate(event)
    if request.job_type == "feed":
        return _start_feed_harvests(context)
    if request.job_type == "remind":
        return _start_reminders(context)
    p = composition.scheduler_ports()
    job = run_scheduled_job(
        p.jobs,
        JobType(request.job_type),
        invocation_id=context.aws_request_id,
        selectors=p.selectors,
        queues=p.queues,
        finishers=p.finishers,
        notifier=p.notifier,
        now=utc_now(),
    )
    return {"job_id": job.job_id, "state": job.state.value, "expected": job.expected}


def _start_feed_harvests(context: LambdaContext) -> Mapping[str, object]:
    from orcid_sync.domain.feeds.config import start_scheduled_feed_runs  # noqa: PLC0415 - only the feed schedule

    jobs = start_scheduled_feed_runs(
        composition.feed_store(),
        composition.job_store(),
        composition.feed_queue(),
        invocation_id=context.aws_request_id,
        now=utc_now(),
    )
    logger.info("feed harvests started", jobs=[job.job_id for job in jobs])
    return {"job_ids": [job.job_id for job in jobs]}


def _start_reminders(context: LambdaContext) -> Mapping[str, object]:
    from orcid_sync.domain.invitations.campaigns import start_reminders  # noqa: PLC0415 - only the remind schedule

    current = composition.integration_settings_store().get().settings
    job = start_reminders(
        composition.job_store(),
        composition.invitation_store(),
        composition.invitation_queue(),
        reminder_days=current.invitation_reminder_days,
        max_reminders=current.invitation_max_reminders,
        notifier=composition.notifier(),
        invocation_id=context.aws_request_id,
        now=utc_now(),
    )
    return {"job_id": job.job_id, "state": job.state.value, "expected": job.expected}
