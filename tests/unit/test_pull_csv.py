"""The pull CSV: rows, RFC 4180 quoting, parts and their assembly into one file (against an in-memory bucket)."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from orcid_sync.domain.pull.csv_file import (
    CSV_COLUMNS,
    PulledWorkRow,
    assemble,
    count_rows,
    csv_key,
    delete_parts,
    header_bytes,
    part_key,
    read_rows,
    rows_bytes,
    write_part,
)
from orcid_sync.domain.pull.files import StreamedWrite

ORCID = "0000-0002-1825-0097"


class MemoryFiles:
    """The PullFiles port over a dict; a stream is stored chunk by chunk (the S3 side is tested with moto)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.streamed_chunks: list[int] = []
        self.fail_on_chunk: int | None = None
        self.puts = 0

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        self.objects[key] = data

    def read(self, key: str) -> bytes:
        return self.objects[key]

    def list_keys(self, prefix: str) -> Iterator[str]:
        yield from sorted(k for k in self.objects if k.startswith(prefix))

    def delete(self, keys: Sequence[str]) -> None:
        assert len(keys) <= 1000
        for key in keys:
            self.objects.pop(key, None)

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> StreamedWrite:
        received: list[bytes] = []
        for number, chunk in enumerate(chunks, start=1):
            if self.fail_on_chunk == number:
                raise OSError("connection reset")
            received.append(chunk)
        self.streamed_chunks = [len(chunk) for chunk in received]
        self.objects[key] = b"".join(received)
        biggest = max(self.streamed_chunks)
        return StreamedWrite(bytes=len(self.objects[key]), upload_parts=0, max_buffered_bytes=biggest)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def uri(self, key: str) -> str:
        return f"s3://bucket/{key}"

    def download_url(self, key: str, *, expires_in: int) -> str:
        return f"https://bucket.example/{key}?expires={expires_in}"


def row(put_code: int = 1001, **fields: object) -> PulledWorkRow:
    values: dict[str, object] = {
        "researcher_id": "r1",
        "orcid": ORCID,
        "put_code": put_code,
        "doi": "10.1234/abc",
        "title": "On the Psychoceramics of Cracked Pots",
        "work_type": "journal-article",
        "publication_year": "2012",
        "publication_month": "10",
        "last_modified": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        **fields,
    }
    return PulledWorkRow.model_validate(values)


# --- rows and quoting --------------------------------------------------------------------------------------


def test_the_header_names_every_column_once_in_order() -> None:
    assert header_bytes() == (",".join(CSV_COLUMNS) + "\r\n").encode()
    assert CSV_COLUMNS[:4] == ("researcher_id", "orcid", "put_code", "doi")
    assert CSV_COLUMNS[-1] == "last_modified"


@pytest.mark.parametrize(
    "title",
    [
        "Cracks, pots, and kettles",
        'The "cracked pot" hypothesis',
        "A title\non two lines",
        'Windows\r\nline ends and a trailing quote"',
        'All of it: "quoted, with commas"\nand lines',
        "Ünïcödé — 日本語のタイトル",
        "  leading and trailing spaces  ",
    ],
)
def test_awkward_titles_survive_a_round_trip_through_the_csv_module(title: str) -> None:
    # Given
    original = [row(title=title, journal_title=f"Journal of {title}"), row(1002)]
    # When
    data = rows_bytes(original)
    # Then
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0][CSV_COLUMNS.index("title")] == title
    assert read_rows(data) == original
    assert count_rows(data) == 2
    assert data.endswith(b"\r\n")


def test_quoting_is_minimal_and_lines_end_with_crlf() -> None:
    data = rows_bytes([row(title="Plain title"), row(1002, title="With, comma")]).decode()
    first, second = data.split("\r\n")[:2]
    assert "Plain title" in first and '"Plain title"' not in first
    assert '"With, comma"' in second


def test_control_characters_are_dropped_but_tabs_and_line_breaks_are_kept() -> None:
    data = rows_bytes([row(title="Nul\x00 and bell\x07 gone;\tkept\nkept")])
    assert read_rows(data)[0].title == "Nul and bell gone;\tkept\nkept"


def test_unknown_values_are_empty_cells_and_dates_are_iso_8601() -> None:
    cells = row(doi=None, pmid="31452104").cells()
    assert cells[CSV_COLUMNS.index("doi")] == ""
    assert cells[CSV_COLUMNS.index("pmid")] == "31452104"
    assert cells[CSV_COLUMNS.index("last_modified")] == "2024-05-01T12:30:00.000+00:00"


def test_a_file_must_start_with_our_header() -> None:
    with pytest.raises(ValueError, match="header"):
        read_rows(rows_bytes([row()]), header=True)


# --- parts and assembly --------------------------------------------------------------------------------------


def test_a_part_is_overwritten_by_a_redelivery_and_removed_when_it_has_no_rows() -> None:
    files = MemoryFiles()
    write_part(files, "pull-1", "r1", [row(), row(1002)])
    write_part(files, "pull-1", "r1", [row()])
    assert read_rows(files.objects[part_key("pull-1", "r1")]) == [row()]
    write_part(files, "pull-1", "r1", [])
    assert part_key("pull-1", "r1") not in files.objects


def test_a_small_job_is_one_put_with_one_header_and_every_row() -> None:
    # Given three researchers' parts (one with a multi-line title) and another job's part
    files = MemoryFiles()
    write_part(files, "pull-1", "r1", [row(1, title="two\nlines"), row(2)])
    write_part(files, "pull-1", "r2", [row(3, researcher_id="r2")])
    write_part(files, "pull-1", "r3", [row(4, researcher_id="r3"), row(5, researcher_id="r3")])
    write_part(files, "pull-2", "r1", [row(6)])
    # When
    result = assemble(files, "pull-1")
    # Then
    data = files.objects[csv_key("pull-1")]
    assert result.rows == 5 and result.parts_read == 3 and result.upload_parts == 0
    assert result.bytes == len(data)
    assert data.count(header_bytes()) == 1 and data.startswith(header_bytes())
    assert [r.put_code for r in read_rows(data, header=True)] == [1, 2, 3, 4, 5]


def test_a_job_without_rows_still_gets_a_file_with_the_header() -> None:
    files = MemoryFiles()
    result = assemble(files, "pull-empty")
    assert result.rows == 0
    assert files.objects[csv_key("pull-empty")] == header_bytes()


def test_the_file_is_handed_to_storage_as_a_stream_of_the_header_and_each_part() -> None:
    # Given 40 researchers' parts of ~300 KB
    files = MemoryFiles()
    long_title = "x" * 3000
    for n in range(40):
        write_part(files, "pull-big", f"r{n:03d}", [row(n * 100 + i, title=long_title) for i in range(100)])
    # When
    result = assemble(files, "pull-big")
    # Then the storage got the header and then one part at a time, never the whole file at once
    data = files.objects[csv_key("pull-big")]
    assert files.streamed_chunks[0] == len(header_bytes()) and len(files.streamed_chunks) == 41
    assert result.rows == 4000 == len(read_rows(data, header=True))
    assert data.count(b"researcher_id,orcid") == 1
    assert result.bytes == len(data)


class SlowFirstFiles(MemoryFiles):
    """Reads of earlier keys take longer, so concurrent reads finish in reverse order."""

    def read(self, key: str) -> bytes:
        index = int(key.rsplit("/r", 1)[1].removesuffix(".csv"))
        time.sleep(0.002 * (30 - index % 30))
        return super().read(key)


def test_parts_read_concurrently_are_still_written_in_key_order() -> None:
    files = SlowFirstFiles()
    for n in range(60):
        write_part(files, "pull-1", f"r{n:03d}", [row(n)])
    result = assemble(files, "pull-1", read_ahead=8)
    assert [r.put_code for r in read_rows(files.objects[csv_key("pull-1")], header=True)] == list(range(60))
    assert result.parts_read == 60


def test_a_failed_upload_leaves_the_parts_for_another_try() -> None:
    files = MemoryFiles()
    for n in range(40):
        write_part(files, "pull-big", f"r{n:03d}", [row(n * 100 + i, title="y" * 3000) for i in range(100)])
    files.fail_on_chunk = 20
    with pytest.raises(OSError, match="reset"):
        assemble(files, "pull-big")
    assert csv_key("pull-big") not in files.objects
    assert sum(1 for k in files.objects if "/parts/" in k) == 40


def test_deleting_parts_leaves_the_file_and_other_jobs_alone() -> None:
    files = MemoryFiles()
    for n in range(2500):
        files.put(part_key("pull-1", f"r{n}"), b"")
    files.put(part_key("pull-2", "r1"), b"")
    files.put(csv_key("pull-1"), header_bytes())
    assert delete_parts(files, "pull-1") == 2500
    assert sorted(files.objects) == [csv_key("pull-1"), part_key("pull-2", "r1")]
