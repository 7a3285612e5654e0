"""The job scheduler: opens a push or pull run and sends one message per eligible researcher.

Two triggers, one use case each: the daily EventBridge schedule (``{"job_type": "push"}``) opens a
run itself; a run opened by the admin API arrives as ``{"job_id": ...}`` on the job-control queue.
The workers count each researcher once and the last one finishes the run; nothing here waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Json

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore
from orcid_sync.config import get_settings
from orcid_sync.domain.job_models import JobControlMessage, JobType
from orcid_sync.domain.job_runs import (
    JobFinisher,
    Notifier,
    ResearcherSelector,
    StoredResearcherSelector,
    TaskQueue,
    run_scheduled_job,
    start_requested_job,
)
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.pull import PullJobFinisher, select_pull_researchers
from orcid_sync.domain.push import ineligibility, select_push_researchers
from orcid_sync.domain.researchers import ExplainingSelector, Ineligibility, pull_ineligibility
from orcid_sync.domain.settings_changes import CachedIntegrationSettings
from orcid_sync.observability import logger, metrics, tracer


class ScheduleEvent(BaseModel):
    """The constant input of the daily rules (see PushScheduleRule / PullScheduleRule)."""

    model_config = ConfigDict(extra="ignore")

    # The values, not the enum's members: a refusal then names 'push' and 'pull', not their Python reprs.
    job_type: Literal["push", "pull"]


class JobControlRecord(SqsRecordModel):
    body: Json[JobControlMessage]


@dataclass(frozen=True)
class SchedulerPorts:
    selectors: dict[JobType, ResearcherSelector]
    queues: dict[JobType, TaskQueue]
    finishers: dict[JobType, JobFinisher]
    notifier: Notifier


@lru_cache(maxsize=1)
def ports() -> SchedulerPorts:
    """Built once per container from the stack's settings (tests call ``ports.cache_clear()``)."""
    settings = get_settings()
    researchers, tokens = composition.researcher_store(), composition.token_store()
    integration = CachedIntegrationSettings(
        DynamoIntegrationSettingsStore(composition.dynamodb().Table(settings.state_table))
    )
    jobs = composition.job_store()

    def explained(select: ResearcherSelector, why: Ineligibility) -> ExplainingSelector:
        # A run asked for named researchers says, as a job event, why any of them was left out.
        return ExplainingSelector(select, researchers=researchers, tokens=tokens, events=jobs, why=why, now=utc_now)

    return SchedulerPorts(
        selectors={
            JobType.PUSH: explained(
                StoredResearcherSelector(
                    researchers,
                    tokens,
                    lambda people, held, only: select_push_researchers(people, held, integration.get(), only),
                ),
                lambda researcher, token: ineligibility(researcher, token, integration.get()),
            ),
            JobType.PULL: explained(
                StoredResearcherSelector(researchers, tokens, select_pull_researchers), pull_ineligibility
            ),
        },
        queues={job_type: composition.task_queue(job_type) for job_type in (JobType.PUSH, JobType.PULL)},
        # A run can end in the scheduler (nobody eligible, or workers faster than the fan-out): pull's CSV then.
        finishers={JobType.PULL: PullJobFinisher(jobs, composition.pull_files())},
        notifier=composition.notifier(),
    )


processor = BatchProcessor(event_type=EventType.SQS, model=JobControlRecord)


@tracer.capture_method(capture_response=False)
def record_handler(record: JobControlRecord) -> None:
    p = ports()
    job = start_requested_job(
        composition.job_store(),
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
    get_settings()  # fail fast on a misconfigured stack
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    request = ScheduleEvent.model_validate(event)
    p = ports()
    job = run_scheduled_job(
        composition.job_store(),
        JobType(request.job_type),
        invocation_id=context.aws_request_id,
        selectors=p.selectors,
        queues=p.queues,
        finishers=p.finishers,
        notifier=p.notifier,
        now=utc_now(),
    )
    return {"job_id": job.job_id, "state": job.state.value, "expected": job.expected}
