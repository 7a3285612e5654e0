"""Token files of any size: a presigned upload, then an import in chunks of 1,000 rows with a report.

The uploaded object holds plaintext tokens, so it is read as a stream (memory stays bounded by one
chunk), deleted as soon as its outcome is recorded, and nothing derived from it (report, record,
logs) carries a token value. The file is read twice: first to check it is well-formed from start to
end, so a broken file changes nothing, then to import it. Reading the rows is ``token_upload_rows``;
the run in the job history is ``token_upload_runs``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import batched
from typing import IO

from pydantic import BaseModel, StrictBool

from orcid_sync.domain.errors import InvalidInputError, NotFoundError, PayloadTooLargeError, Problem
from orcid_sync.domain.log import logger
from orcid_sync.domain.pull.csv_file import spreadsheet_safe
from orcid_sync.domain.tokens.importing import (
    CHUNK_ROWS,
    TokenCounts,
    TokenImporter,
    TokenOutcomeKind,
    TokenRowOutcome,
    import_token_rows,
)
from orcid_sync.domain.tokens.upload_models import (
    UPLOAD_PREFIX,
    UploadFormat,
    UploadObjects,
    UploadRecord,
    UploadStatus,
    UploadStore,
    report_key,
    upload_key,
)
from orcid_sync.domain.tokens.upload_rows import upload_rows
from orcid_sync.domain.tokens.upload_runs import UploadRuns

UPLOAD_URL_SECONDS = 900
REPORT_URL_SECONDS = 900
LEASE_SECONDS = 960
"""How long a claim holds: the import function's 900 s timeout plus a margin, so a dead attempt's lease ends."""
TIME_MARGIN_SECONDS = 120.0
"""Stop starting chunks when less time than this is left (a chunk with ORCID probes can take a minute)."""
MAX_ATTEMPTS = 3
"""S3's asynchronous invocation tries three times; the last failure is recorded rather than retried."""
PREVIEW_ROWS = 100
"""Rejected rows shown inline by GET /tokens/uploads/{id}; beyond that only the report has them."""
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_UPLOAD_KEY = re.compile(rf"^{re.escape(UPLOAD_PREFIX)}([0-9a-f]{{32}})\.(csv|json)$")


class UploadRequest(BaseModel):
    """What ``POST /tokens/uploads`` needs to know before the file arrives."""

    model_config = {"extra": "forbid"}

    format: UploadFormat = UploadFormat.CSV
    verify: StrictBool = False


class UploadTicket(BaseModel):
    """Where to PUT the file (no AWS credentials needed), and the id to poll."""

    upload_id: str
    key: str
    url: str
    method: str = "PUT"
    expires_in: int
    status: UploadStatus


class UploadView(BaseModel):
    """An upload's progress and outcome; ``report_url`` (presigned GET) holds every rejected row."""

    upload_id: str
    status: UploadStatus
    format: UploadFormat
    verify: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows: int
    counts: TokenCounts
    message: str | None
    report_url: str | None
    rejected: list[TokenRowOutcome] | None
    """The rejected rows inline when there are at most 100 of them."""


# --- the upload's life ------------------------------------------------------------------------


def _record_pending(
    uploads: UploadStore, request: UploadRequest, *, upload_id: str, now: datetime, requested_by: str | None
) -> UploadRecord:
    record = UploadRecord(
        upload_id=upload_id,
        status=UploadStatus.PENDING,
        format=request.format,
        verify=request.verify,
        key=upload_key(upload_id, request.format),
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    uploads.create(record)
    return record


def create_upload(
    uploads: UploadStore,
    objects: UploadObjects,
    request: UploadRequest,
    *,
    upload_id: str,
    now: datetime,
    requested_by: str | None = None,
) -> UploadTicket:
    """Record a pending upload and hand out a presigned PUT URL for its file."""
    key = _record_pending(uploads, request, upload_id=upload_id, now=now, requested_by=requested_by).key
    url = objects.upload_url(key, expires_in=UPLOAD_URL_SECONDS)
    return UploadTicket(
        upload_id=upload_id, key=key, url=url, expires_in=UPLOAD_URL_SECONDS, status=UploadStatus.PENDING
    )


MAX_RECEIVED_BYTES = 4 * 1024 * 1024
"""A file the console receives itself: a Lambda request carries at most 6 MB, and the form arrives base64-encoded
(4/3 larger). Bigger files go through the presigned upload (``orcid-sync tokens upload``)."""


def receive_upload(
    uploads: UploadStore,
    objects: UploadObjects,
    request: UploadRequest,
    content: bytes,
    *,
    upload_id: str,
    now: datetime,
    requested_by: str | None,
) -> UploadRecord:
    """The same upload as ``create_upload`` + PUT, for a file the console received: recorded pending, then stored
    where the presigned PUT would have put it, so the import that follows is the very same."""
    if not content.strip():
        raise InvalidInputError("the file is empty", [Problem(field="file", reason="choose a CSV or JSON file")])
    if len(content) > MAX_RECEIVED_BYTES:
        raise PayloadTooLargeError(
            f"the file has {len(content):,} bytes; the console takes up to {MAX_RECEIVED_BYTES:,} "
            "(use `orcid-sync tokens upload` for bigger files)"
        )
    record = _record_pending(uploads, request, upload_id=upload_id, now=now, requested_by=requested_by)
    objects.put_upload(record.key, content)
    return record


def get_upload(uploads: UploadStore, objects: UploadObjects, upload_id: str, *, now: datetime) -> UploadView:
    """An upload's state; one whose import died without a word (lease run out, no retry) shows as failed."""
    record = uploads.get(upload_id) if _UPLOAD_ID.match(upload_id) else None
    if record is None:
        raise NotFoundError(f"no upload has id {upload_id}")
    if record.status is UploadStatus.PROCESSING and record.lease_until is not None and record.lease_until < now:
        record = _failed(record, "the import stopped without finishing; upload the file again", record.updated_at)
    report_url = objects.download_url(record.report_key, expires_in=REPORT_URL_SECONDS) if record.report_key else None
    return UploadView(
        upload_id=record.upload_id,
        status=record.status,
        format=record.format,
        verify=record.verify,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        rows=record.rows,
        counts=TokenCounts.model_validate(record.counts),
        message=record.message,
        report_url=report_url,
        rejected=[TokenRowOutcome.model_validate(row) for row in record.rejected_preview]
        if record.rejected_preview is not None and record.counts.get("rejected", 0) <= PREVIEW_ROWS
        else None,
    )


def upload_id_of(key: str) -> str | None:
    match = _UPLOAD_KEY.match(key)
    return match.group(1) if match else None


def process_upload(
    uploads: UploadStore,
    objects: UploadObjects,
    importer_for: Callable[[bool], TokenImporter],
    *,
    key: str,
    version_id: str | None,
    seconds_left: Callable[[], float],
    now: Callable[[], datetime],
    runs: UploadRuns | None = None,
) -> UploadRecord | None:
    """Import one uploaded file; a redelivered event for the same file finds it done and does nothing."""
    upload_id = upload_id_of(key)
    record = uploads.get(upload_id) if upload_id else None
    if upload_id is None or record is None or record.key != key:
        # Not made through POST /tokens/uploads; it still holds plaintext tokens, so it goes.
        logger.warning("deleting an upload nobody asked for", key=key)
        objects.delete(key, version_id)
        return None
    started = now()
    claimed = uploads.claim(upload_id, now=started, lease_until=started + timedelta(seconds=LEASE_SECONDS))
    if claimed is None:
        current = uploads.get(upload_id)
        if current is not None and current.status in (UploadStatus.DONE, UploadStatus.FAILED):
            # A redelivered event, or the URL used again after the import: nothing more to do with it.
            logger.info("upload already imported; deleting the file again", upload_id=upload_id)
            objects.delete(key, version_id)
        else:
            logger.info("upload is being imported by another invocation", upload_id=upload_id)
        return current
    try:
        if runs is not None:
            runs.opened(claimed)
        finished = _import(
            claimed, objects, importer_for(claimed.verify), version_id=version_id, seconds_left=seconds_left, now=now
        )
    except Exception as exc:
        if claimed.attempts < MAX_ATTEMPTS:
            uploads.release(
                upload_id, attempts=claimed.attempts, message=f"attempt failed: {type(exc).__name__}", now=now()
            )
            raise
        logger.exception("upload import failed for good", upload_id=upload_id)
        finished = claimed.model_copy(
            update={
                "status": UploadStatus.FAILED,
                "finished_at": now(),
                "updated_at": now(),
                "message": f"the import failed {MAX_ATTEMPTS} times ({type(exc).__name__}); upload the file again",
            }
        )
    if uploads.finish(finished):
        objects.delete(key, version_id)
        logger.info("upload imported", upload_id=upload_id, status=finished.status.value, counts=finished.counts)
        if runs is not None:
            try:
                runs.closed(finished)
            except Exception:  # the tokens are in and the file is gone; a missing history entry must not undo that
                logger.exception("could not record the upload's job run", upload_id=upload_id)
    return finished


def _failed(record: UploadRecord, message: str, now: datetime, **changes: object) -> UploadRecord:
    return record.model_copy(
        update={"status": UploadStatus.FAILED, "message": message, "finished_at": now, "updated_at": now, **changes}
    )


def _import(
    record: UploadRecord,
    objects: UploadObjects,
    importer: TokenImporter,
    *,
    version_id: str | None,
    seconds_left: Callable[[], float],
    now: Callable[[], datetime],
) -> UploadRecord:
    reader = objects.open_text(record.key, version_id)
    if reader is None:
        return _failed(record, "the uploaded file is gone; upload it again", now())
    try:
        with reader:
            total = sum(1 for _ in upload_rows(reader, record.format))
    except InvalidInputError as exc:
        details = "; ".join(p.reason for p in exc.problems if p.reason not in exc.message)
        return _failed(record, exc.message + (f" ({details})" if details else "") + "; nothing was imported", now())
    except UnicodeDecodeError as exc:
        return _failed(record, f"the file is not UTF-8 (byte {exc.start} of a block); nothing was imported", now())

    reader = objects.open_text(record.key, version_id)
    if reader is None:
        return _failed(record, "the uploaded file is gone; upload it again", now())
    counts = TokenCounts()
    preview: list[TokenRowOutcome] = []
    seen: dict[str, int] = {}
    done = 0
    with reader, tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+b") as rejected:
        for chunk in batched(enumerate(upload_rows(reader, record.format)), CHUNK_ROWS, strict=False):
            if seconds_left() < TIME_MARGIN_SECONDS:
                break
            outcomes = import_token_rows(importer, chunk, seen=seen)
            counts.add(outcomes)
            done += len(chunk)
            for outcome in outcomes:
                if outcome.outcome is TokenOutcomeKind.REJECTED:
                    rejected.write(outcome.model_dump_json(exclude_none=True).encode() + b"\n")
                    if len(preview) < PREVIEW_ROWS:
                        preview.append(outcome)
        message = None
        if done < total:
            message = (
                f"stopped after {done:,} of {total:,} rows: the import ran out of time; rows from {done} on "
                "were not imported (send the file again: rows already imported report unchanged)"
            )
        key = report_key(record.upload_id)
        rejected.seek(0)
        status = UploadStatus.DONE if done == total else UploadStatus.FAILED
        _write_report(
            objects,
            key,
            upload_id=record.upload_id,
            status=status,
            total=total,
            counts=counts,
            message=message,
            rejected_lines=rejected,
        )
    finished = now()
    return record.model_copy(
        update={
            "status": status,
            "rows": total,
            "counts": counts.model_dump(),
            "report_key": key,
            "rejected_preview": [o.model_dump(mode="json") for o in preview],
            "message": message,
            "finished_at": finished,
            "updated_at": finished,
        }
    )


def _write_report(
    objects: UploadObjects,
    key: str,
    *,
    upload_id: str,
    status: UploadStatus,
    total: int,
    counts: TokenCounts,
    message: str | None,
    rejected_lines: IO[bytes],
) -> None:
    """The report as one JSON document, assembled on disk so that any number of rejected rows fits."""
    head = {"upload_id": upload_id, "status": status.value, "rows": total, "counts": counts.model_dump()}
    if message:
        head["message"] = message
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode="w+b") as report:
        report.write(json.dumps(head)[:-1].encode() + b', "rejected": [')
        for number, line in enumerate(rejected_lines):
            report.write((b",\n" if number else b"\n") + line.rstrip(b"\n"))
        report.write(b"\n]}\n")
        report.seek(0)
        objects.put_report(key, report)


MAX_CSV_REJECTED_ROWS = 20_000
"""Rejected rows in one CSV download (a Lambda answer carries at most 6 MB); the JSON report has every one."""
REJECTED_CSV_COLUMNS = ("row_number", "researcher_id", "orcid", "field", "reason")


def rejected_rows_csv(uploads: UploadStore, objects: UploadObjects, upload_id: str) -> str:
    """An upload's rejected rows as CSV, one line per problem, read from its report (never a token value)."""
    record = uploads.get(upload_id) if _UPLOAD_ID.match(upload_id) else None
    if record is None:
        raise NotFoundError(f"no upload has id {upload_id}")
    reader = objects.open_text(record.report_key, None) if record.report_key else None
    if reader is None:
        raise NotFoundError(f"upload {upload_id} has no report yet")
    with reader:
        rejected = json.load(reader).get("rejected", [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REJECTED_CSV_COLUMNS)
    for raw in rejected[:MAX_CSV_REJECTED_ROWS]:
        outcome = TokenRowOutcome.model_validate(raw)
        for problem in outcome.problems or [Problem(field="row", reason="rejected")]:
            cells = (
                outcome.row_number,
                outcome.researcher_id or "",
                outcome.orcid or "",
                problem.field,
                problem.reason,
            )
            writer.writerow([spreadsheet_safe(str(cell)) for cell in cells])
    return out.getvalue()
