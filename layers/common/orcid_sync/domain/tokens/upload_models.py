"""Large token uploads: the upload record, where its files live, and the ports that keep them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import IO, Any, Protocol, TextIO

from pydantic import BaseModel, Field

UPLOAD_PREFIX = "uploads/"


REPORT_PREFIX = "reports/uploads/"


RECORD_DAYS = 30
"""Upload records (not tokens) are kept this long, then DynamoDB's TTL removes them."""


class UploadStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class UploadFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    """A JSON array of rows or JSON Lines (one row per line)."""


def upload_key(upload_id: str, file_format: UploadFormat) -> str:
    return f"{UPLOAD_PREFIX}{upload_id}.{file_format.value}"


def report_key(upload_id: str) -> str:
    return f"{REPORT_PREFIX}{upload_id}.json"


class UploadRecord(BaseModel):
    """An upload as stored; counts and rejected rows never hold token values."""

    upload_id: str
    status: UploadStatus
    format: UploadFormat
    verify: bool = False
    key: str
    requested_by: str | None = None
    """Who asked for the upload URL (the caller's IAM ARN), shown as the job run's starter."""
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    lease_until: datetime | None = None
    rows: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    report_key: str | None = None
    rejected_preview: list[dict[str, Any]] | None = None
    message: str | None = None


class UploadStore(Protocol):
    def create(self, record: UploadRecord) -> None: ...

    def get(self, upload_id: str) -> UploadRecord | None: ...

    def claim(self, upload_id: str, *, now: datetime, lease_until: datetime) -> UploadRecord | None:
        """Take a pending upload (or one whose lease expired); None if done, failed or held by another."""
        ...

    def finish(self, record: UploadRecord) -> bool:
        """Write the outcome if this attempt still holds the lease; False if another one took over."""
        ...

    def release(self, upload_id: str, *, attempts: int, message: str, now: datetime) -> None:
        """Give a claimed upload back (status pending) so that a retry can take it."""
        ...


class UploadObjects(Protocol):
    """The data bucket, as uploads use it."""

    def upload_url(self, key: str, *, expires_in: int) -> str:
        """A presigned PUT URL for the uploader (who holds no AWS credentials of ours)."""
        ...

    def download_url(self, key: str, *, expires_in: int) -> str: ...

    def put_upload(self, key: str, body: bytes) -> None:
        """Store an uploaded file received by the console (the bucket's notification starts the import)."""
        ...

    def open_text(self, key: str, version_id: str | None) -> TextIO | None:
        """Stream an object as UTF-8 text (a BOM is dropped); None if it is gone."""
        ...

    def delete(self, key: str, version_id: str | None) -> None:
        """Delete the object; with a version id, that version itself (no plaintext left behind)."""
        ...

    def put_report(self, key: str, body: IO[bytes]) -> None: ...
