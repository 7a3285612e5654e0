"""The pull CSV: one row per work, written per researcher as a part, assembled once per job.

Layout in the data bucket::

    pull/<job-id>/parts/<researcher-id>.csv   one worker's rows, no header; a redelivery overwrites it
    pull/<job-id>/orcid-works.csv             the job's file: header, then every part in key order

The file is UTF-8 with RFC 4180 quoting (``csv`` module, ``QUOTE_MINIMAL``, CRLF line ends), which
is what Esploro's "Smart Expansion via CSV" loads. A text cell that would begin with a formula
trigger (``=``, ``+``, ``-``, ``@``, tab, CR, LF) begins with a single quote instead (see
:func:`spreadsheet_safe`), so opening the file in a spreadsheet runs nothing.

Assembly streams the parts, in key order, into one upload (``PullFiles.write_stream``; in S3 a
multipart upload through a bounded buffer), so a 10,000-researcher job never sits in one Lambda's
memory: what is held at once is the adapter's buffer plus the parts being read.
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
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from orcid_sync.domain.pull.files import PullFiles

if TYPE_CHECKING:
    import _csv

PULL_PREFIX = "pull/"
CSV_NAME = "orcid-works.csv"
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
    """The most CSV bytes in the upload's buffer at once (it includes the part just read)."""


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


def assemble(files: PullFiles, job_id: str, *, read_ahead: int = DEFAULT_READ_AHEAD) -> AssemblyResult:
    """Write the job's single CSV from its parts: the header, then every part in key order.

    Memory holds up to ``read_ahead`` parts being read and what the storage buffers. On failure
    nothing is stored and the parts stay, so the assembly can run again.
    """
    key = csv_key(job_id)
    rows = parts_read = 0

    def contents() -> Iterator[bytes]:
        nonlocal rows, parts_read
        yield header_bytes()
        for data in _read_in_order(files, files.list_keys(parts_prefix(job_id)), read_ahead):
            rows += count_rows(data)
            parts_read += 1
            yield data

    written = files.write_stream(key, contents())
    return AssemblyResult(
        key=key,
        uri=files.uri(key),
        rows=rows,
        bytes=written.bytes,
        parts_read=parts_read,
        upload_parts=written.upload_parts,
        max_buffered_bytes=written.max_buffered_bytes,
    )


def delete_parts(files: PullFiles, job_id: str) -> int:
    """Delete a job's parts, a page of keys at a time; returns how many."""
    deleted = 0
    for keys in batched(files.list_keys(parts_prefix(job_id)), DELETE_BATCH, strict=False):
        files.delete(keys)
        deleted += len(keys)
    return deleted
