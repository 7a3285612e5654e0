"""The job store port: job runs, their events and exactly-once markers, and the counting they share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from orcid_sync.domain.jobs.models import Job, JobCounts, JobEvent, JobState, JobType, ResearcherOutcome
from orcid_sync.domain.ports import Page


class JobStore(Protocol):
    def create(self, job: Job) -> None:
        """Store a new run; ConflictError if the id is taken."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def list(
        self, *, job_type: JobType | None = None, state: JobState | None = None, limit: int, cursor: str | None = None
    ) -> Page[Job]:
        """Runs, newest first."""
        ...

    def set_expected(self, job_id: str, expected: int) -> Job:
        """Record how many researchers were fanned out (also the run's ``researchers_eligible``)."""
        ...

    def record_outcome(self, job_id: str, outcome: ResearcherOutcome) -> Job | None:
        """Count a researcher's outcome exactly once; None when it was already counted (a redelivery)."""
        ...

    def add_events(self, job_id: str, events: Sequence[JobEvent]) -> None: ...

    def list_events(
        self, job_id: str, *, limit: int, cursor: str | None = None, level: str | None = None
    ) -> Page[JobEvent]:
        """Events, errors first then warnings then infos; ``level`` keeps only one level."""
        ...

    def claim_finish(self, job_id: str, *, now: datetime | None = None) -> bool:
        """True for exactly one caller while the run is running (or its claim went stale)."""
        ...

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        ended_at: datetime,
        csv_uri: str | None = None,
        csv_rows: int | None = None,
        report: dict[str, Any] | None = None,
        counts: JobCounts | None = None,
    ) -> Job:
        """Record the end state; csv and counts are only overwritten when given."""
        ...

    def set_csv(self, job_id: str, *, csv_uri: str, csv_rows: int) -> Job: ...

    def set_counts(self, job_id: str, counts: JobCounts) -> None:
        """Overwrite a running run's counters (a feed harvest's progress after each page)."""
        ...


def outcome_delta(outcome: ResearcherOutcome) -> JobCounts:
    """The counters one researcher adds to its run; processed/updated/failed come from the outcome's flags."""
    return outcome.counts.model_copy(
        update={
            "researchers_processed": 1,
            "researchers_updated": int(outcome.updated),
            "researchers_failed": int(outcome.failed),
        }
    )
