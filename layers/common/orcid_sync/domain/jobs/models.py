"""Job runs (push, pull, token upload, feed harvest): what was asked, how far it got, and what happened on the way."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class JobType(StrEnum):
    PUSH = "push"
    PULL = "pull"
    UPLOAD = "upload"
    FEED = "feed"
    REMIND = "remind"
    """Invitation reminders (domain/invitations/campaigns.py): one researcher per reminder emailed."""


class JobTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    UPLOAD = "upload"


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"


class JobCounts(BaseModel):
    """Counters of a job run; additive, so each researcher's delta can be summed in any order."""

    model_config = ConfigDict(extra="forbid")

    researchers_eligible: int = 0
    researchers_processed: int = 0
    researchers_updated: int = 0
    researchers_failed: int = 0
    works_created: int = 0
    works_updated: int = 0
    works_deleted: int = 0
    works_unchanged: int = 0
    works_adopted: int = 0
    works_skipped: int = 0
    # Of the skipped: works the researcher deleted on ORCID (never re-created unless they or an administrator
    # ask), and assets whose identifier another asset of the researcher already sends. Counted on every push.
    works_withheld_deleted_by_researcher: int = 0
    # Of the skipped: works the researcher chose not to send ("don't send this one" on their page).
    works_withheld_opted_out: int = 0
    works_duplicate: int = 0
    rows_pulled: int = 0
    orcid_requests: int = 0
    # Feed harvests (see domain/feeds/harvest.py): OAI-PMH records read and what became of them.
    records_harvested: int = 0
    assets_created: int = 0
    assets_updated: int = 0
    assets_unchanged: int = 0
    assets_withdrawn: int = 0
    records_refused: int = 0
    records_unmatched: int = 0
    creators_unmatched: int = 0

    def __add__(self, other: JobCounts) -> JobCounts:
        return JobCounts(**{name: getattr(self, name) + getattr(other, name) for name in JobCounts.model_fields})

    def nonzero(self) -> dict[str, int]:
        """The counters that moved, in declaration order (for summaries)."""
        return {name: value for name, value in self.model_dump().items() if value}


COUNT_FIELDS: tuple[str, ...] = tuple(JobCounts.model_fields)


class JobEvent(BaseModel):
    """Something worth telling an administrator about one researcher or asset during a job."""

    researcher_id: str | None = None
    asset_id: str | None = None
    level: Literal["error", "warning", "info"]
    action: str = Field(description='What we did about it, e.g. "skipped asset", "marked token revoked"')
    message: str
    orcid_status: int | None = None
    orcid_error_code: int | None = None
    at: datetime


class Job(BaseModel):
    """One run of a job, as stored and as the admin API shows it."""

    job_id: str
    type: JobType
    trigger: JobTrigger
    started_by: str
    started_at: datetime
    ended_at: datetime | None = None
    state: JobState = JobState.RUNNING
    dry_run: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    counts: JobCounts = Field(default_factory=JobCounts)
    # Researchers fanned out; None until the fan-out is done, so a fast worker cannot finish the job early.
    expected: int | None = None
    csv_uri: str | None = None
    csv_rows: int | None = None
    report: dict[str, Any] | None = None

    @property
    def is_complete(self) -> bool:
        return self.expected is not None and self.counts.researchers_processed >= self.expected

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class ResearcherTask(BaseModel):
    """The SQS message body for the push and pull workers: one researcher of one job."""

    job_id: str
    job_type: JobType
    researcher_id: str
    dry_run: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    # When the job started: the worker's cached integration settings must be no older (None: a task sent before
    # this field existed, on the cache's own schedule).
    job_started_at: datetime | None = None


class JobControlMessage(BaseModel):
    """The job-control queue's message: start (select and fan out) this run, opened by the admin API."""

    job_id: Annotated[str, Field(min_length=1, max_length=200)]


class ResearcherOutcome(BaseModel):
    """What a worker did for one researcher; recorded exactly once per (job, researcher)."""

    researcher_id: str
    # This researcher's delta; the store adds researchers_processed=1 (and updated/failed) itself.
    counts: JobCounts = Field(default_factory=JobCounts)
    updated: bool = False
    failed: bool = False
    events: list[JobEvent] = Field(default_factory=list)
    detail: dict[str, Any] | None = None


class ScheduleRule(BaseModel):
    """A daily schedule as the scheduler service has it (an EventBridge rule in AWS)."""

    name: str
    enabled: bool
    schedule: str
