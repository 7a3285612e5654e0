"""Job runs: open one, fan it out one message per researcher, count each researcher once, finish it once.

Nothing here polls. A run finishes in whichever call sees it complete first: the worker that
records the last researcher, or the fan-out itself when every worker was faster (or there was
nobody to process). ``JobStore.claim_finish`` makes sure only one of them runs the finisher.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import batched
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from orcid_sync import metric_names
from orcid_sync.errors import OrcidSyncError
from orcid_sync.jobs import (
    Job,
    JobEvent,
    JobState,
    JobTrigger,
    JobType,
    ResearcherOutcome,
    ResearcherTask,
)
from orcid_sync.observability import logger, metrics
from orcid_sync.store.jobs import JobStore

SQS_BATCH = 10
"""SendMessageBatch takes at most ten entries."""
FIRST_ERRORS = 10
"""Errors quoted in the notification; the rest are a CLI command away."""
SUBJECT_MAX = 100
"""SNS rejects email subjects longer than 100 characters."""
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
    """E.g. ``orcid-sync push job 2026-11-21 succeeded: 120 researchers, 3 failed`` (≤ 100 characters)."""
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
