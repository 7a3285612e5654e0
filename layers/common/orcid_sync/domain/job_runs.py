"""Job runs: open one, fan it out one message per researcher, count each researcher once, finish it once.

Nothing here polls. A run finishes in whichever call sees it complete first: the worker that
records the last researcher, or the fan-out itself when every worker was faster (or there was
nobody to process). ``JobStore.claim_finish`` makes sure only one of them runs the finisher.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import batched
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from orcid_sync import metric_names
from orcid_sync.domain.errors import InvalidInputError, NotFoundError, OrcidSyncError, Problem
from orcid_sync.domain.job_models import (
    Job,
    JobCounts,
    JobEvent,
    JobState,
    JobTrigger,
    JobType,
    ResearcherOutcome,
    ResearcherTask,
)
from orcid_sync.domain.job_store import JobStore
from orcid_sync.domain.models import EntityId, OrcidStatus, Researcher, StoredToken
from orcid_sync.domain.ports import Page, ResearcherStore, TokenStore
from orcid_sync.observability import logger, metrics

if TYPE_CHECKING:
    # Only the schedule routes take one (as an argument): importing it would load the integration
    # settings' and ORCID's models into every function that opens or finishes a job.
    from orcid_sync.domain.institution_settings import IntegrationSettingsStore

SQS_BATCH = 10
"""SendMessageBatch takes at most ten entries."""
FIRST_ERRORS = 10
"""Errors quoted in the notification; the rest are a CLI command away."""
SUBJECT_MAX = 99
"""SNS wants subjects "less than 100 characters long"."""
# Options that describe the whole run but would bloat every researcher's message (10,000 ids).
_RUN_ONLY_OPTIONS = frozenset({"researcher_ids"})


class JobFinishPendingError(OrcidSyncError):
    """The run is complete but another finisher claimed it recently; retry after the claim goes stale."""


class TaskQueue(Protocol):
    def send_tasks(self, tasks: Sequence[ResearcherTask]) -> None:
        """Enqueue the tasks (any number; adapters batch them); raise if any could not be sent."""
        ...


class Notifier(Protocol):
    def job_finished(self, job: Job, first_errors: Sequence[JobEvent]) -> None: ...


class JobFinisher(Protocol):
    def finish(self, job: Job) -> None:
        """Type-specific work once every researcher is done (e.g. pull assembles the CSV)."""
        ...


def new_job_id(job_type: JobType, now: datetime) -> str:
    """Sortable and readable in a CLI listing: ``push-20261121T020000Z-1a2b3c4d``."""
    return f"{job_type.value}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def open_job(
    jobs: JobStore,
    *,
    job_type: JobType,
    trigger: JobTrigger,
    started_by: str,
    dry_run: bool = False,
    options: Mapping[str, Any] | None = None,
    now: datetime,
    job_id: str | None = None,
) -> Job:
    """Store a new running job. With an explicit ``job_id`` a retried trigger gets the same run back."""
    job = Job(
        job_id=job_id or new_job_id(job_type, now),
        type=job_type,
        trigger=trigger,
        started_by=started_by,
        started_at=now,
        dry_run=dry_run,
        options=dict(options or {}),
    )
    if job_id is not None:
        existing = jobs.get(job_id)
        if existing is not None:
            return existing
    jobs.create(job)
    logger.info("job opened", job_id=job.job_id, job_type=job.type.value, trigger=job.trigger.value)
    return job


def fan_out(
    jobs: JobStore,
    queue: TaskQueue,
    job: Job,
    researcher_ids: Iterable[str],
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job:
    """Send one task per researcher (ten per batch), then record how many to expect.

    ``expected`` is set only after every message is out, so no worker can see the run complete
    early; if the workers were faster than the fan-out (or there was nobody), finish it here.
    """
    ids = list(dict.fromkeys(researcher_ids))  # a duplicate would be counted once and never complete the run
    task_options = {k: v for k, v in job.options.items() if k not in _RUN_ONLY_OPTIONS}
    tasks = (
        ResearcherTask(
            job_id=job.job_id, job_type=job.type, researcher_id=rid, dry_run=job.dry_run, options=task_options
        )
        for rid in ids
    )
    for batch in batched(tasks, SQS_BATCH, strict=False):
        queue.send_tasks(batch)
    job = jobs.set_expected(job.job_id, len(ids))
    logger.info("job fanned out", job_id=job.job_id, researchers=len(ids))
    return finish_if_complete(jobs, job, finishers=finishers, notifier=notifier, now=now)


def complete_researcher(
    jobs: JobStore,
    job_id: str,
    outcome: ResearcherOutcome,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job | None:
    """Record one researcher's outcome (once) and finish the run if it was the last one.

    Returns the run after recording, or None for a redelivered message that was already counted.
    Raises JobFinishPendingError when a redelivery finds the run complete but unfinished while a
    finisher's claim is still fresh: the message comes back later, when the claim is stale.
    """
    # Events first: by the time the run can finish, every event it will quote is stored.
    jobs.add_events(job_id, outcome.events)
    job = jobs.record_outcome(job_id, outcome)
    if job is None:
        # Already counted; the delivery that counted it may have died before finishing the run.
        current = jobs.get(job_id)
        if current is not None and current.state is JobState.RUNNING and current.is_complete:
            current = finish_if_complete(jobs, current, finishers=finishers, notifier=notifier, now=now)
            if current.state is JobState.RUNNING:
                raise JobFinishPendingError(f"job {job_id} is being finished by another invocation")
        return None
    return finish_if_complete(jobs, job, finishers=finishers, notifier=notifier, now=now)


def finish_if_complete(
    jobs: JobStore,
    job: Job,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job:
    """Finish a complete, running job if this caller wins the claim; otherwise return it as it is."""
    if job.state is not JobState.RUNNING or not job.is_complete:
        return job
    if not jobs.claim_finish(job.job_id, now=now):
        return jobs.get(job.job_id) or job
    return _finish(jobs, job, finishers=finishers, notifier=notifier, now=now)


def _finish(
    jobs: JobStore,
    job: Job,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> Job:
    report: dict[str, Any] = {"duration_seconds": round(max(0.0, (now - job.started_at).total_seconds()), 3)}
    failed = False
    finisher = finishers.get(job.type)
    if finisher is not None:
        try:
            finisher.finish(job)
        except Exception as exc:  # any failure of the type's finishing step fails the run, visibly
            logger.exception("job finisher failed", job_id=job.job_id)
            failed = True
            report["error"] = redact(f"{type(exc).__name__}: {exc}")[:500]
    first_errors = jobs.list_events(job.job_id, limit=FIRST_ERRORS, level="error").items
    if failed:
        state = JobState.FAILED
    elif job.counts.researchers_failed or first_errors:
        state = JobState.COMPLETED_WITH_ERRORS
    else:
        state = JobState.SUCCEEDED
    finished = jobs.finish(job.job_id, state, ended_at=now, report=report)
    logger.info("job finished", job_id=job.job_id, state=state.value, counts=finished.counts.nonzero())
    _emit_finish_metrics(finished)
    try:
        notifier.job_finished(finished, sorted(first_errors, key=lambda e: e.at))
    except Exception:  # the run is finished and recorded; a lost email must not undo that
        logger.exception("job notification failed", job_id=job.job_id)
    return finished


def _emit_finish_metrics(job: Job) -> None:
    # single_metric: the job_type/state dimensions must not spill onto the worker's other metrics.
    namespace = metrics.namespace or metric_names.NAMESPACE
    with single_metric(name=metric_names.JOBS_FINISHED, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
        metric.add_dimension(name=metric_names.JOB_TYPE_DIMENSION, value=job.type.value)
        metric.add_dimension(name=metric_names.JOB_STATE_DIMENSION, value=job.state.value)
    for name, value in (
        (metric_names.JOB_RESEARCHERS_PROCESSED, job.counts.researchers_processed),
        (metric_names.JOB_RESEARCHERS_UPDATED, job.counts.researchers_updated),
        (metric_names.JOB_RESEARCHERS_FAILED, job.counts.researchers_failed),
    ):
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=namespace) as metric:
            metric.add_dimension(name=metric_names.JOB_TYPE_DIMENSION, value=job.type.value)
    if job.duration_seconds is not None:
        with single_metric(
            name=metric_names.JOB_DURATION_SECONDS,
            unit=MetricUnit.Seconds,
            value=job.duration_seconds,
            namespace=namespace,
        ) as metric:
            metric.add_dimension(name=metric_names.JOB_TYPE_DIMENSION, value=job.type.value)


# --- notification text ----------------------------------------------------------------------

_SECRETS = (
    re.compile(r"(?i)\b(bearer\s+)[^\s,;\"']+"),
    re.compile(r"(?i)\b((?:access|refresh)[_-]?token[\"']?\s*[:=]\s*[\"']?)[^\s,;\"'}]+"),
)


def redact(text: str) -> str:
    """Blank out anything shaped like a bearer token, in case an error message quoted a request."""
    for pattern in _SECRETS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


_STATE_WORDS = {
    JobState.RUNNING: "is running",
    JobState.SUCCEEDED: "succeeded",
    JobState.COMPLETED_WITH_ERRORS: "completed with errors",
    JobState.FAILED: "FAILED",
}


def notification_subject(job: Job) -> str:
    """E.g. ``orcid-sync push job 2026-11-21 succeeded: 120 researchers, 3 failed`` (< 100 characters)."""
    kind = f"{job.type.value} job" + (" (dry run)" if job.dry_run else "")
    subject = (
        f"orcid-sync {kind} {job.started_at:%Y-%m-%d} {_STATE_WORDS[job.state]}: "
        f"{job.counts.researchers_processed} researchers, {job.counts.researchers_failed} failed"
    )
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "still running"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _event_line(event: JobEvent) -> str:
    where = " ".join(
        part
        for part in (
            f"researcher {event.researcher_id}" if event.researcher_id else "",
            f"asset {event.asset_id}" if event.asset_id else "",
        )
        if part
    )
    orcid = ""
    if event.orcid_status is not None:
        orcid = f" [ORCID {event.orcid_status}" + (
            f"/{event.orcid_error_code}]" if event.orcid_error_code is not None else "]"
        )
    return redact(f"- {where or 'job'}: {event.action}: {event.message}{orcid}")


def notification_body(job: Job, first_errors: Sequence[JobEvent]) -> str:
    """Plain text for an email: the outcome, the counts, the first errors and where to read the rest."""
    lines = [
        f"The orcid-sync {job.type.value} job {job.job_id} {_STATE_WORDS[job.state]}.",
        "",
        f"Started:  {job.started_at:%Y-%m-%d %H:%M:%S} UTC by {job.started_by} ({job.trigger.value})",
    ]
    if job.ended_at is not None:
        lines.append(f"Ended:    {job.ended_at:%Y-%m-%d %H:%M:%S} UTC")
    lines.append(f"Duration: {_duration(job.duration_seconds)}")
    if job.dry_run:
        lines.append("Dry run:  nothing was written to ORCID")
    lines += ["", "Counts:"]
    counts = job.counts.model_dump()
    shown = {"researchers_eligible", "researchers_processed", "researchers_updated", "researchers_failed"}
    for name, value in counts.items():
        if name in shown or value:
            lines.append(f"  {name.replace('_', ' '):<24}{value}")
    if job.csv_uri:
        lines += ["", f"CSV ({job.csv_rows or 0} rows): {job.csv_uri}"]
    if job.report and job.report.get("error"):
        lines += ["", f"The job failed while finishing: {redact(str(job.report['error']))}"]
    if first_errors:
        lines += ["", f"First {len(first_errors)} errors:"]
        lines += [_event_line(event) for event in first_errors]
    lines += [
        "",
        "All events (errors, warnings and what was done about them):",
        f"  orcid-sync jobs events {job.job_id}",
        f"  orcid-sync jobs events {job.job_id} --csv > events.csv",
    ]
    return "\n".join(lines) + "\n"


# --- reading runs (admin API) --------------------------------------------------------------

MAX_EXPORTED_EVENTS = 20_000
"""A CSV export stays under Lambda's 6 MB response limit; the paginated JSON listing has them all."""


def get_job(jobs: JobStore, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"there is no job {job_id}")
    return job


def list_jobs(
    jobs: JobStore, *, job_type: JobType | None, state: JobState | None, limit: int, cursor: str | None
) -> Page[Job]:
    """Runs, newest first."""
    return jobs.list(job_type=job_type, state=state, limit=limit, cursor=cursor)


def list_job_events(
    jobs: JobStore, job_id: str, *, limit: int, cursor: str | None, level: str | None = None
) -> Page[JobEvent]:
    """One page of a run's events (errors first); 404 for an unknown run rather than an empty page."""
    get_job(jobs, job_id)
    return jobs.list_events(job_id, limit=limit, cursor=cursor, level=level)


def export_job_events(jobs: JobStore, job_id: str, *, level: str | None = None) -> list[JobEvent]:
    """Every event of a run (up to MAX_EXPORTED_EVENTS), for a CSV download."""
    get_job(jobs, job_id)
    events: list[JobEvent] = []
    cursor: str | None = None
    while len(events) < MAX_EXPORTED_EVENTS:
        page = jobs.list_events(job_id, limit=min(1000, MAX_EXPORTED_EVENTS - len(events)), cursor=cursor, level=level)
        events += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    return events


# --- starting runs: the admin request, the schedule, the selection of researchers ----------


class ControlQueue(Protocol):
    def request_start(self, job_id: str) -> None:
        """Ask the scheduler to select and fan out this (already opened) run."""
        ...


class ResearcherSelector(Protocol):
    def __call__(self, job: Job) -> list[str]:
        """The researchers this run fans out to (``options["researcher_ids"]`` limits them)."""
        ...


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
        _close_unstarted(jobs, job, f"the run could not be queued: {type(exc).__name__}", now=now)
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
        _close_unstarted(jobs, job, f"{type(exc).__name__}: {exc}", now=now, notifier=notifier)
        raise


def _close_unstarted(jobs: JobStore, job: Job, reason: str, *, now: datetime, notifier: Notifier | None = None) -> Job:
    if not jobs.claim_finish(job.job_id, now=now):
        return jobs.get(job.job_id) or job
    report = {"error": redact(reason)[:500], "duration_seconds": max(0.0, (now - job.started_at).total_seconds())}
    failed = jobs.finish(job.job_id, JobState.FAILED, ended_at=now, report=report)
    _emit_finish_metrics(failed)
    if notifier is not None:
        try:
            notifier.job_finished(failed, [])
        except Exception:  # already recorded as failed; the email is a courtesy
            logger.exception("job notification failed", job_id=job.job_id)
    return failed


class StoredResearcherSelector:
    """Loads the run's researchers and their tokens, then applies the job type's eligibility rule."""

    def __init__(
        self,
        researchers: ResearcherStore,
        tokens: TokenStore,
        rule: Callable[[Sequence[Researcher], Mapping[str, StoredToken], set[str] | None], list[str]],
    ) -> None:
        self._researchers = researchers
        self._tokens = tokens
        self._rule = rule

    def __call__(self, job: Job) -> list[str]:
        requested = job.options.get("researcher_ids") or []
        only = set(requested) or None
        if only is None:
            people = list(self._researchers.iter_all())
            _emit_status_gauge(people)
        else:
            found = self._researchers.get_many(requested)
            people = [found[rid] for rid in requested if rid in found]
        # Only someone with an iD can hold a token; skipping the rest saves reads on large institutions.
        tokens = self._tokens.get_many([r.id for r in people if r.orcid])
        return self._rule(people, tokens, only)


def _emit_status_gauge(researchers: Sequence[Researcher]) -> None:
    """How many researchers are connected, revoked…, each time everyone is read anyway (a free census)."""
    counts = Counter(r.orcid_status.value for r in researchers)
    namespace = metrics.namespace or metric_names.NAMESPACE
    for status in OrcidStatus:
        with single_metric(
            name=metric_names.RESEARCHERS, unit=MetricUnit.Count, value=counts.get(status.value, 0), namespace=namespace
        ) as metric:
            metric.add_dimension(name=metric_names.STATUS_DIMENSION, value=status.value)


# --- schedules ------------------------------------------------------------------------------


class ScheduleRule(BaseModel):
    """A daily schedule as EventBridge has it."""

    name: str
    enabled: bool
    schedule: str


class ScheduleRules(Protocol):
    def describe(self, job_type: JobType) -> ScheduleRule: ...

    def set_enabled(self, job_type: JobType, enabled: bool) -> None: ...


class ScheduleStatus(BaseModel):
    """A job type's daily schedule, its last run, and anything the administrator should know."""

    type: JobType
    rule_name: str
    enabled: bool
    schedule: str
    last_run: Job | None = None
    warning: str | None = None


SCHEDULED_TYPES = (JobType.PUSH, JobType.PULL)
SEND_ASSETS_OFF_WARNING = (
    "send_assets is off in the integration settings: the push job runs but sends no works "
    "(turn it on with `orcid-sync settings set send_assets true`)"
)


class ScheduledTypeError(InvalidInputError):
    """Only push and pull run on a schedule."""


def _schedule_status(rules: ScheduleRules, jobs: JobStore, job_type: JobType, *, send_assets: bool) -> ScheduleStatus:
    rule = rules.describe(job_type)
    last = jobs.list(job_type=job_type, limit=1).items
    warning = SEND_ASSETS_OFF_WARNING if job_type is JobType.PUSH and rule.enabled and not send_assets else None
    return ScheduleStatus(
        type=job_type,
        rule_name=rule.name,
        enabled=rule.enabled,
        schedule=rule.schedule,
        last_run=last[0] if last else None,
        warning=warning,
    )


def list_schedules(rules: ScheduleRules, jobs: JobStore, integration: IntegrationSettingsStore) -> list[ScheduleStatus]:
    """The push and pull schedules: active or not, when they run, and how their last run went."""
    send_assets = integration.get().settings.send_assets
    return [_schedule_status(rules, jobs, job_type, send_assets=send_assets) for job_type in SCHEDULED_TYPES]


def set_schedule(
    rules: ScheduleRules, jobs: JobStore, integration: IntegrationSettingsStore, job_type: JobType, *, enabled: bool
) -> ScheduleStatus:
    """Activate or deactivate a daily job (flip its rule); activating push while send_assets is off warns."""
    if job_type not in SCHEDULED_TYPES:
        raise ScheduledTypeError(
            f"{job_type.value} jobs have no schedule", [Problem(field="path.job_type", reason="use push or pull")]
        )
    rules.set_enabled(job_type, enabled)
    logger.info("job schedule changed", job_type=job_type.value, enabled=enabled)
    return _schedule_status(rules, jobs, job_type, send_assets=integration.get().settings.send_assets)


# --- token uploads as job runs -----------------------------------------------------------


def open_upload_job(
    jobs: JobStore,
    *,
    started_by: str,
    now: datetime,
    options: Mapping[str, Any] | None = None,
    job_id: str | None = None,
) -> Job:
    """A token upload as a job run (``orcid-sync jobs list`` shows it beside push and pull).

    Pass the upload's own id as ``job_id`` so a retried upload (S3 event redelivered) reopens the same run.
    """
    return open_job(
        jobs,
        job_type=JobType.UPLOAD,
        trigger=JobTrigger.UPLOAD,
        started_by=started_by,
        options=options,
        now=now,
        job_id=job_id,
    )


def close_upload_job(
    jobs: JobStore,
    job_id: str,
    *,
    counts: JobCounts,
    events: Sequence[JobEvent],
    notifier: Notifier,
    now: datetime,
    report: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> Job:
    """Record an upload's result and notify once; a second call for the same run changes nothing.

    Map rows onto the counts as ``researchers_processed`` (rows read), ``researchers_updated``
    (tokens stored) and ``researchers_failed`` (rows rejected); one event per rejected row.
    ``error`` (never a token) fails the whole run, e.g. an unreadable file.
    """
    jobs.add_events(job_id, events)
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    if not jobs.claim_finish(job_id, now=now):
        return job
    if error is not None:
        state = JobState.FAILED
    elif counts.researchers_failed or any(e.level == "error" for e in events):
        state = JobState.COMPLETED_WITH_ERRORS
    else:
        state = JobState.SUCCEEDED
    full_report: dict[str, Any] = {"duration_seconds": max(0.0, (now - job.started_at).total_seconds())}
    full_report |= dict(report or {})
    if error is not None:
        full_report["error"] = redact(error)[:500]
    finished = jobs.finish(job_id, state, ended_at=now, report=full_report, counts=counts)
    _emit_finish_metrics(finished)
    first_errors = jobs.list_events(job_id, limit=FIRST_ERRORS, level="error").items
    try:
        notifier.job_finished(finished, sorted(first_errors, key=lambda e: e.at))
    except Exception:  # the run is recorded; a lost email must not fail the upload
        logger.exception("job notification failed", job_id=job_id)
    return finished


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
