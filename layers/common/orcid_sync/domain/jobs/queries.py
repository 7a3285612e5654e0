"""Reading runs for the admin API: one run, the history, a run's events (a page, or all for a CSV)."""

from __future__ import annotations

from orcid_sync.domain.errors import NotFoundError
from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobType
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.ports import Page

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
