"""Starting runs: the admin's request, the daily schedule, and selecting the researchers a run fans out to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from orcid_sync.domain.errors import InvalidInputError, Problem
from orcid_sync.domain.jobs.models import Job, JobState, JobTrigger, JobType
from orcid_sync.domain.jobs.ports import ControlQueue, JobFinisher, Notifier, ResearcherSelector, TaskQueue
from orcid_sync.domain.jobs.runs import close_unstarted, fan_out, finish_if_complete, job_metrics, open_job
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import EntityId, OrcidStatus, Researcher, StoredToken
from orcid_sync.domain.ports import ResearcherStore, TokenStore

MAX_REQUESTED_RESEARCHERS = 10_000
"""A run for more researchers than this is a scheduled run of everyone; the job item stays well under 400 KB."""


class StartJobRequest(BaseModel):
    """``POST /jobs``: run a push or pull now, for everyone eligible or for some researchers."""

    model_config = ConfigDict(extra="forbid")

    type: Literal[JobType.PUSH, JobType.PULL]
    researchers: Annotated[list[EntityId] | None, Field(min_length=1, max_length=MAX_REQUESTED_RESEARCHERS)] = None
    dry_run: StrictBool = Field(default=False, description="Plan and report without writing to ORCID")
    resend_deleted: StrictBool = Field(
        default=False, description="Push: send again works the researcher deleted on ORCID (404 on update)"
    )

    @model_validator(mode="after")
    def _resend_is_for_push(self) -> StartJobRequest:
        if self.resend_deleted and self.type is not JobType.PUSH:
            raise ValueError("resend_deleted only applies to push jobs")
        return self


def request_job(
    jobs: JobStore,
    control: ControlQueue,
    researchers: ResearcherStore,
    request: StartJobRequest,
    *,
    started_by: str,
    now: datetime,
) -> Job:
    """Open a manual run and hand it to the scheduler; the caller gets the run at once, even for 10,000 researchers."""
    options: dict[str, Any] = {}
    if request.researchers:
        ids = list(dict.fromkeys(request.researchers))
        found = researchers.get_many(ids)
        unknown = [rid for rid in ids if rid not in found]
        if unknown:
            raise InvalidInputError(
                f"{len(unknown)} researcher(s) do not exist",
                [Problem(field="researchers", reason=f"no researcher with id {rid!r}") for rid in unknown[:100]],
            )
        options["researcher_ids"] = ids
    if request.resend_deleted:
        options["resend_deleted"] = True
    job = open_job(
        jobs,
        job_type=request.type,
        trigger=JobTrigger.MANUAL,
        started_by=started_by,
        dry_run=request.dry_run,
        options=options,
        now=now,
    )
    try:
        control.request_start(job.job_id)
    except Exception as exc:
        # Nobody would ever start it: close the run instead of leaving it "running" forever.
        close_unstarted(jobs, job, f"the run could not be queued: {type(exc).__name__}", now=now)
        raise
    return job


def scheduled_job_id(job_type: JobType, now: datetime, invocation_id: str) -> str:
    """Lambda retries an async (EventBridge) invocation with the same request id: one run per firing."""
    return f"{job_type.value}-{now:%Y%m%d}-{invocation_id.replace('-', '')[:12]}"


def start_job(
    jobs: JobStore,
    job: Job,
    *,
    selectors: Mapping[JobType, ResearcherSelector],
    queues: Mapping[JobType, TaskQueue],
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job:
    """Select the run's researchers and fan out; safe to call again for the same run (a redelivery).

    A failure to select or send closes the run as failed (and says so by email) before re-raising,
    so a run never waits for researchers that were never sent.
    """
    if job.state is not JobState.RUNNING:
        return job
    if job.expected is not None:  # fanned out already; maybe the delivery that did it died before finishing
        return finish_if_complete(jobs, job, finishers=finishers, notifier=notifier, now=now)
    try:
        researcher_ids = selectors[job.type](job)
        logger.info("researchers selected", job_id=job.job_id, researchers=len(researcher_ids))
        return fan_out(jobs, queues[job.type], job, researcher_ids, finishers=finishers, notifier=notifier, now=now)
    except Exception as exc:
        logger.exception("job could not be started", job_id=job.job_id)
        close_unstarted(jobs, job, f"{type(exc).__name__}: {exc}", now=now, notifier=notifier)
        raise


EligibilityRule = Callable[[Sequence[Researcher], Mapping[str, StoredToken], set[str] | None], list[str]]
"""A job type's selection: the researchers (in order), their tokens, and the requested ids if any."""


class StoredResearcherSelector:
    """Loads the run's researchers and their tokens, then applies the job type's eligibility rule.

    Reading everyone (a scheduled run) also reports how many researchers there are per connection status.
    """

    def __init__(self, researchers: ResearcherStore, tokens: TokenStore, rule: EligibilityRule) -> None:
        self._researchers = researchers
        self._tokens = tokens
        self._rule = rule

    def __call__(self, job: Job) -> list[str]:
        requested = job.options.get("researcher_ids") or []
        only = set(requested) or None
        if only is None:
            people = list(self._researchers.iter_all())
            counts = Counter(r.orcid_status for r in people)
            # A free census: everyone is read anyway.
            job_metrics().researcher_census({status: counts[status] for status in OrcidStatus})
        else:
            found = self._researchers.get_many(requested)
            people = [found[rid] for rid in requested if rid in found]
        # Only someone with an iD can hold a token; skipping the rest saves reads on large institutions.
        tokens = self._tokens.get_many([r.id for r in people if r.orcid])
        return self._rule(people, tokens, only)


# --- the scheduler's two entry points ----------------------------------------------------


def run_scheduled_job(
    jobs: JobStore,
    job_type: JobType,
    *,
    invocation_id: str,
    selectors: Mapping[JobType, ResearcherSelector],
    queues: Mapping[JobType, TaskQueue],
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job:
    """A daily schedule fired: open the run (once per firing, even when Lambda retries) and fan it out."""
    job = open_job(
        jobs,
        job_type=job_type,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        now=now,
        job_id=scheduled_job_id(job_type, now, invocation_id),
    )
    return start_job(jobs, job, selectors=selectors, queues=queues, finishers=finishers, notifier=notifier, now=now)


def start_requested_job(
    jobs: JobStore,
    job_id: str,
    *,
    selectors: Mapping[JobType, ResearcherSelector],
    queues: Mapping[JobType, TaskQueue],
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job | None:
    """A run opened by the admin API reached the scheduler; None if it no longer exists (nothing to retry)."""
    job = jobs.get(job_id)
    if job is None:
        logger.error("requested job does not exist", job_id=job_id)
        return None
    return start_job(jobs, job, selectors=selectors, queues=queues, finishers=finishers, notifier=notifier, now=now)
