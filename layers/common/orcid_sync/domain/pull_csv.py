"""The pull CSV: one row per work, written per researcher as a part, assembled once per job.

Layout in the data bucket::

    pull/<job-id>/parts/<researcher-id>.csv   one worker's rows, no header; a redelivery overwrites it
    pull/<job-id>/orcid-works.csv             the job's file: header, then every part in key order

The file is UTF-8 with RFC 4180 quoting (``csv`` module, ``QUOTE_MINIMAL``, CRLF line ends), which
is what Esploro's "Smart Expansion via CSV" loads. A text cell that would begin with a formula
trigger (``=``, ``+``, ``-``, ``@``, tab, CR, LF) begins with a single quote instead (see
:func:`spreadsheet_safe`), so opening the file in a spreadsheet runs nothing.

Assembly streams the parts into an S3 multipart upload through a buffer of ``part_size`` bytes, so
a 10,000-researcher job never sits in one Lambda's memory: what is held at once is the buffer plus
the part being read.
"""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import batched
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import _csv

PULL_PREFIX = "pull/"
CSV_NAME = "orcid-works.csv"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
"""S3's smallest multipart part (all but the last)."""
DEFAULT_PART_SIZE = 8 * MIB
DEFAULT_READ_AHEAD = 16
"""Parts read concurrently while assembling (each is one researcher's rows, typically a few KB)."""
DELETE_BATCH = 1000
"""DeleteObjects takes at most 1,000 keys."""

# C0 control characters other than tab, LF and CR: never meaningful in a title, and some importers
# stop at a NUL. Tab and line breaks stay; quoting keeps them inside their field.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
"""What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection")."""


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text: a formula trigger at the start gets a single quote before it.

    OWASP's CSV-injection remedy: no cell may begin with ``=``, ``+``, ``-``, ``@``, tab, carriage
    return or line feed, so such a cell is prefixed with ``'``. A cell already beginning with quotes
    and then a trigger gets one more quote, so :func:`spreadsheet_text` can always undo it exactly.
    Embedded double quotes are doubled, and cells holding a comma, quote or line break are quoted,
    by the ``csv`` module (RFC 4180): nothing in a cell can start a new cell.
    """
    return "'" + text if text.lstrip("'")[:1] in FORMULA_TRIGGERS else text


def spreadsheet_text(cell: str) -> str:
    """The original text of a cell written by :func:`spreadsheet_safe`."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'")[:1] in FORMULA_TRIGGERS else cell


class PulledWorkRow(BaseModel):
    """One work pulled from a researcher's ORCID record: a row of the CSV, columns in field order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    researcher_id: str
    orcid: str
    put_code: int
    doi: str | None = None
    """ORCID's normalised DOI (lower case, no ``https://doi.org/`` or ``doi:``)."""
    pmid: str | None = None
    pmcid: str | None = None
    title: str | None = None
    work_type: str | None = None
    publication_year: str | None = None
    publication_month: str | None = None
    publication_day: str | None = None
    journal_title: str | None = None
    url: str | None = None
    source_name: str | None = None
    last_modified: datetime | None = None
    """When the work was last changed on ORCID (UTC)."""

    def cells(self) -> list[str]:
        """The row as CSV cells: empty for unknown values, ISO 8601 for the date."""
        cells: list[str] = []
        for name in CSV_COLUMNS:
            value = getattr(self, name)
            if value is None:
                cells.append("")
            elif isinstance(value, datetime):
                cells.append(value.isoformat(timespec="milliseconds"))
            elif isinstance(value, str):
                cells.append(spreadsheet_safe(_CONTROL.sub("", value)))
            else:
                cells.append(str(value))
        return cells

    @classmethod
    def from_cells(cls, cells: Sequence[str]) -> PulledWorkRow:
        """Read a row back (tests, tools); empty cells are unknown values."""
        if len(cells) != len(CSV_COLUMNS):
            raise ValueError(f"a pull CSV row has {len(CSV_COLUMNS)} cells, not {len(cells)}")
        return cls.model_validate(
            {name: spreadsheet_text(cell) for name, cell in zip(CSV_COLUMNS, cells, strict=True) if cell != ""}
        )


CSV_COLUMNS: tuple[str, ...] = tuple(PulledWorkRow.model_fields)


def _writer(buffer: io.StringIO) -> _csv.Writer:
    return csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")


def header_bytes() -> bytes:
    """The header line."""
    buffer = io.StringIO()
    _writer(buffer).writerow(CSV_COLUMNS)
    return buffer.getvalue().encode("utf-8")


def rows_bytes(rows: Iterable[PulledWorkRow]) -> bytes:
    """Rows without a header, as one part holds them."""
    buffer = io.StringIO()
    writer = _writer(buffer)
    for row in rows:
        writer.writerow(row.cells())
    return buffer.getvalue().encode("utf-8")


def read_rows(data: bytes, *, header: bool = False) -> list[PulledWorkRow]:
    """Parse a part (or with ``header`` the whole file, whose header must be ours)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    if header:
        first = next(reader, None)
        if first is None or tuple(first) != CSV_COLUMNS:
            raise ValueError(f"the file does not start with the pull CSV header: {first!r}")
    return [PulledWorkRow.from_cells(cells) for cells in reader]


def count_rows(data: bytes) -> int:
    """Rows in a part; parsing, because a quoted title may hold line breaks."""
    return sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --- keys -------------------------------------------------------------------------------------------------


def job_prefix(job_id: str) -> str:
    return f"{PULL_PREFIX}{job_id}/"


def parts_prefix(job_id: str) -> str:
    return f"{job_prefix(job_id)}parts/"


def part_key(job_id: str, researcher_id: str) -> str:
    """Deterministic per (job, researcher): a redelivered message overwrites its own part."""
    return f"{parts_prefix(job_id)}{researcher_id}.csv"


def csv_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}{CSV_NAME}"


# --- storage port -----------------------------------------------------------------------------------------


class PullFiles(Protocol):
    """The objects of pull runs (S3 in AWS and moto; a dict in unit tests)."""

    def put(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` in key order, fetched page by page as the caller iterates."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete up to 1,000 keys; a missing key is not an error."""
        ...

    def start_multipart(self, key: str) -> str:
        """Begin a multipart upload; returns its upload id."""
        ...

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Upload part ``number`` (from 1); returns its ETag."""
        ...

    def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str:
        """``s3://bucket/key``."""
        ...

    def download_url(self, key: str, *, expires_in: int) -> str:
        """A presigned GET URL."""
        ...


# --- parts and assembly -----------------------------------------------------------------------------------


def write_part(files: PullFiles, job_id: str, researcher_id: str, rows: Sequence[PulledWorkRow]) -> None:
    """Store a researcher's rows, or with none make sure no stale part of an earlier delivery stays behind."""
    key = part_key(job_id, researcher_id)
    if rows:
        files.put(key, rows_bytes(rows))
    else:
        files.delete([key])


@dataclass(frozen=True)
class AssemblyResult:
    """What assembling a job's CSV did; the figures are what a benchmark reports."""

    key: str
    uri: str
    rows: int
    bytes: int
    parts_read: int
    upload_parts: int
    """Multipart parts uploaded; 0 when the file was small enough for one PUT."""
    max_buffered_bytes: int
    """The most CSV bytes in the buffer at once (it includes the part just read)."""


def _read_in_order(files: PullFiles, keys: Iterable[str], read_ahead: int) -> Iterator[bytes]:
    """The objects' contents in key order, with up to ``read_ahead`` reads in flight.

    One GET at a time would make 10,000 parts take minutes of round trips; a bounded window keeps
    S3 busy while holding at most ``read_ahead`` parts.
    """
    if read_ahead <= 1:
        for key in keys:
            yield files.read(key)
        return
    with ThreadPoolExecutor(max_workers=read_ahead, thread_name_prefix="pull-part") as pool:
        pending: deque[Future[bytes]] = deque()
        for key in keys:
            pending.append(pool.submit(files.read, key))
            if len(pending) >= read_ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def assemble(
    files: PullFiles, job_id: str, *, part_size: int = DEFAULT_PART_SIZE, read_ahead: int = DEFAULT_READ_AHEAD
) -> AssemblyResult:
    """Write the job's single CSV from its parts: the header, then every part in key order.

    A file smaller than ``part_size`` is one PUT; a larger one a multipart upload whose parts are
    ``part_size`` bytes or more (S3's minimum is 5 MiB). Memory holds the buffer, its copy on the
    way to S3 and up to ``read_ahead`` parts being read. On failure the upload is aborted and the
    parts stay, so the assembly can run again.
    """
    if part_size < MIN_PART_SIZE:
        raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum), got {part_size}")
    key = csv_key(job_id)
    buffer = bytearray(header_bytes())
    upload_id: str | None = None
    etags: list[str] = []
    rows = parts_read = written = 0
    max_buffered = len(buffer)
    try:
        for data in _read_in_order(files, files.list_keys(parts_prefix(job_id)), read_ahead):
            rows += count_rows(data)
            parts_read += 1
            buffer += data
            del data
            max_buffered = max(max_buffered, len(buffer))
            if len(buffer) >= part_size:
                if upload_id is None:
                    upload_id = files.start_multipart(key)
                etags.append(files.upload_part(key, upload_id, len(etags) + 1, bytes(buffer)))
                written += len(buffer)
                buffer.clear()
        if upload_id is None:
            files.put(key, bytes(buffer))
        else:
            if buffer:
                etags.append(files.upload_part(key, upload_id, len(etags) + 1, bytes(buffer)))
            files.complete_multipart(key, upload_id, etags)
        written += len(buffer)
    except BaseException:
        if upload_id is not None:
            files.abort_multipart(key, upload_id)
        raise
    return AssemblyResult(
        key=key,
        uri=files.uri(key),
        rows=rows,
        bytes=written,
        parts_read=parts_read,
        upload_parts=len(etags),
        max_buffered_bytes=max_buffered,
    )


def delete_parts(files: PullFiles, job_id: str) -> int:
    """Delete a job's parts, a page of keys at a time; returns how many."""
    deleted = 0
    for keys in batched(files.list_keys(parts_prefix(job_id)), DELETE_BATCH, strict=False):
        files.delete(keys)
        deleted += len(keys)
    return deleted
