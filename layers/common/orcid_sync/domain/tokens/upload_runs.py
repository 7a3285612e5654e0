"""Token uploads in the job history beside push and pull runs, with the same end-of-job email."""

from __future__ import annotations

from typing import Protocol

from orcid_sync.domain.jobs.models import JobCounts, JobEvent
from orcid_sync.domain.jobs.runs import Notifier, close_upload_job, open_upload_job
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.tokens.importing import TokenCounts, TokenRowOutcome
from orcid_sync.domain.tokens.upload_models import UploadRecord, UploadStatus


class UploadRuns(Protocol):
    """Where an upload's run is recorded besides its own record (the job history)."""

    def opened(self, record: UploadRecord) -> None: ...

    def closed(self, record: UploadRecord) -> None: ...


def upload_job_id(upload_id: str) -> str:
    return f"upload-{upload_id}"


class JobUploadRuns:
    """Token uploads in the job history beside push and pull, with the same end-of-job email."""

    def __init__(self, jobs: JobStore, notifier: Notifier) -> None:
        self._jobs = jobs
        self._notifier = notifier

    def opened(self, record: UploadRecord) -> None:
        assert record.started_at is not None  # a claimed upload has started
        open_upload_job(
            self._jobs,
            started_by=record.requested_by or "token upload",
            now=record.started_at,
            options={"upload_id": record.upload_id, "format": record.format.value, "verify": record.verify},
            job_id=upload_job_id(record.upload_id),
        )

    def closed(self, record: UploadRecord) -> None:
        at = record.finished_at or record.updated_at
        counts = TokenCounts.model_validate(record.counts)
        # The first rejected rows as events (the report has them all); reasons never quote a token.
        events = [
            JobEvent(
                researcher_id=outcome.researcher_id,
                level="error",
                action="rejected row",
                message=f"row {outcome.row_number}: " + "; ".join(f"{p.field}: {p.reason}" for p in outcome.problems),
                at=at,
            )
            for outcome in (TokenRowOutcome.model_validate(row) for row in record.rejected_preview or [])
        ]
        close_upload_job(
            self._jobs,
            upload_job_id(record.upload_id),
            counts=JobCounts(
                researchers_processed=counts.received,
                researchers_updated=counts.stored + counts.replaced,
                researchers_failed=counts.rejected,
            ),
            events=events,
            notifier=self._notifier,
            now=at,
            report={"upload_id": record.upload_id, "rows": record.rows, "tokens": counts.model_dump()},
            error=record.message if record.status is UploadStatus.FAILED else None,
        )
