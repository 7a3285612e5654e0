"""Job runs: open one, fan it out one message per researcher, count each researcher once, finish it once.

Nothing here polls. A run finishes in whichever call sees it complete first: the worker that
records the last researcher, or the fan-out itself when every worker was faster (or there was
nobody to process). ``JobStore.claim_finish`` makes sure only one of them runs the finisher.

Starting runs is in ``job_starts``, schedules in ``job_schedules``, reading runs in ``job_queries``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from orcid_sync.domain.errors import NotFoundError, OrcidSyncError
from orcid_sync.domain.jobs.models import (
    Job,
    JobCounts,
    JobEvent,
    JobState,
    JobTrigger,
    JobType,
    ResearcherOutcome,
    ResearcherTask,
)
from orcid_sync.domain.jobs.ports import JobFinisher, JobMetrics, NoJobMetrics, Notifier, TaskQueue
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.redaction import redact

__all__ = [
    "FIRST_ERRORS",
    "JobFinishPendingError",
    "JobFinisher",
    "Notifier",
    "TaskQueue",
    "close_run",
    "close_unstarted",
    "close_upload_job",
    "complete_researcher",
    "fan_out",
    "finish_if_complete",
    "new_job_id",
    "open_job",
    "open_upload_job",
    "redact",
    "report_metrics_to",
]

FIRST_ERRORS = 10
"""Errors quoted in the notification; the rest are a CLI command away."""
# Options that describe the whole run but would bloat every researcher's message (10,000 ids).
_RUN_ONLY_OPTIONS = frozenset({"researcher_ids"})

_metrics: JobMetrics = NoJobMetrics()


def report_metrics_to(metrics: JobMetrics) -> None:
    """Where finished runs are reported; the composition root installs CloudWatch's once per container.

    One process-wide port rather than an argument: runs finish inside every worker's use case (push, pull,
    uploads), and the metrics backend is per process anyway. Unit tests keep the silent default.
    """
    global _metrics  # noqa: PLW0603 - the one installed port, see the docstring
    _metrics = metrics


def job_metrics() -> JobMetrics:
    """The installed metrics port (the scheduler's census goes to the same one)."""
    return _metrics


class JobFinishPendingError(OrcidSyncError):
    """The run is complete but another finisher claimed it recently; retry after the claim goes stale."""


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
    """Send one task per researcher (the queue batches them), then record how many to expect.

    ``expected`` is set only after every message is out, so no worker can see the run complete
    early; if the workers were faster than the fan-out (or there was nobody), finish it here.
    """
    ids = list(dict.fromkeys(researcher_ids))  # a duplicate would be counted once and never complete the run
    task_options = {k: v for k, v in job.options.items() if k not in _RUN_ONLY_OPTIONS}
    tasks = [
        ResearcherTask(
            job_id=job.job_id,
            job_type=job.type,
            researcher_id=rid,
            dry_run=job.dry_run,
            options=task_options,
            job_started_at=job.started_at,
        )
        for rid in ids
    ]
    if tasks:
        queue.send_tasks(tasks)
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
    _metrics.job_finished(finished)
    _notify(notifier, finished, first_errors)
    return finished


def _notify(notifier: Notifier, job: Job, first_errors: Sequence[JobEvent]) -> None:
    try:
        notifier.job_finished(job, sorted(first_errors, key=lambda e: e.at))
    except Exception:  # the run is finished and recorded; a lost email must not undo that
        logger.exception("job notification failed", job_id=job.job_id)


def close_unstarted(jobs: JobStore, job: Job, reason: str, *, now: datetime, notifier: Notifier | None = None) -> Job:
    """Fail a run that could not be started (queued, selected or fanned out), so it never waits forever."""
    if not jobs.claim_finish(job.job_id, now=now):
        return jobs.get(job.job_id) or job
    report = {"error": redact(reason)[:500], "duration_seconds": max(0.0, (now - job.started_at).total_seconds())}
    failed = jobs.finish(job.job_id, JobState.FAILED, ended_at=now, report=report)
    _metrics.job_finished(failed)
    if notifier is not None:
        _notify(notifier, failed, [])
    return failed


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
    return close_run(jobs, job_id, counts=counts, events=events, notifier=notifier, now=now, report=report, error=error)


def close_run(
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
    """Finish a run that counts its own work (an upload, a feed harvest): its counts, state, email, once.

    ``error`` fails the run; an error event, or ``researchers_failed``, makes it completed with errors.
    A second call for the same run changes nothing.
    """
    jobs.add_events(job_id, events)
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} does not exist")
    if not jobs.claim_finish(job_id, now=now):
        return job
    first_errors = jobs.list_events(job_id, limit=FIRST_ERRORS, level="error").items
    if error is not None:
        state = JobState.FAILED
    elif counts.researchers_failed or first_errors:
        state = JobState.COMPLETED_WITH_ERRORS
    else:
        state = JobState.SUCCEEDED
    full_report: dict[str, Any] = {"duration_seconds": max(0.0, (now - job.started_at).total_seconds())}
    full_report |= dict(report or {})
    if error is not None:
        full_report["error"] = redact(error)[:500]
    finished = jobs.finish(job_id, state, ended_at=now, report=full_report, counts=counts)
    _metrics.job_finished(finished)
    _notify(notifier, finished, first_errors)  # the run is recorded; a lost email must not fail the caller
    return finished
