"""Assembling a pull run's CSV from its parts in S3 (moto), the run's CSV fields, and GET /jobs/{id}/csv.

``measure_assembly`` is the finisher's memory benchmark: it writes N researchers' parts to S3,
assembles them, and reports tracemalloc's peak while the parts stream into the upload. Run it
against moto in a separate process (``moto_s3_endpoint``): in-process moto makes several copies of
every uploaded part on its server side, which tracemalloc cannot tell from the finisher's own.
"""

from __future__ import annotations

import csv
import gc
import io
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from orcid_sync import composition
from orcid_sync.adapters.s3_pull_files import DEFAULT_PART_SIZE, MIN_PART_SIZE, S3PullFiles
from orcid_sync.domain.jobs.models import JobState, JobTrigger, JobType
from orcid_sync.domain.jobs.runs import open_job
from orcid_sync.domain.pull.csv_file import (
    CSV_COLUMNS,
    AssemblyResult,
    PulledWorkRow,
    assemble,
    csv_key,
    header_bytes,
    part_key,
    parts_prefix,
    read_rows,
    rows_bytes,
)
from orcid_sync.domain.pull.files import PullFiles
from orcid_sync.domain.pull.finish import PullJobFinisher
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import AwsEnv

BUCKET = "orcid-sync-data"
NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
ORCID = "0000-0002-1825-0097"


@pytest.fixture
def files(aws: AwsEnv) -> Iterator[S3PullFiles]:
    composition.reset()
    yield composition.pull_files()
    composition.reset()


def sample_rows(researcher_id: str, count: int, *, first_put_code: int = 1_000_001) -> list[PulledWorkRow]:
    """Realistic rows (~300 bytes each), some with commas, quotes and line breaks in their titles."""
    rows = []
    for n in range(count):
        title = (
            f"Psychoceramics of cracked pots, part {n}" if n % 3 else f'The "cracked pot" hypothesis,\nrevisited {n}'
        )
        rows.append(
            PulledWorkRow(
                researcher_id=researcher_id,
                orcid=ORCID,
                put_code=first_put_code + n,
                doi=f"10.5555/{researcher_id}.{n}",
                pmid=str(30_000_000 + n) if n % 2 else None,
                title=title,
                work_type="journal-article",
                publication_year="2024",
                publication_month="05",
                journal_title="Journal of Psychoceramics",
                url=f"https://doi.org/10.5555/{researcher_id}.{n}",
                source_name="Crossref",
                last_modified=NOW,
            )
        )
    return rows


def write_parts(files: PullFiles, job_id: str, researchers: int, works: int) -> int:
    """Write one part per researcher (as the workers do); returns the bytes written."""
    written = 0
    for r in range(researchers):
        data = rows_bytes(sample_rows(f"r{r:05d}", works))
        files.put(part_key(job_id, f"r{r:05d}"), data)
        written += len(data)
    return written


# --- assembly -------------------------------------------------------------------------------------------


def test_many_parts_become_one_file_with_one_header_and_every_row(files: S3PullFiles) -> None:
    # Given 300 researchers x 40 works (~3.6 MB) and a part of another run
    write_parts(files, "pull-a", 300, 40)
    files.put(part_key("pull-b", "r00000"), rows_bytes(sample_rows("r00000", 1)))
    # When
    result = assemble(files, "pull-a")
    # Then
    data = files.read(csv_key("pull-a"))
    assert result.rows == 12_000 and result.parts_read == 300 and result.bytes == len(data)
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0] == list(CSV_COLUMNS)
    assert sum(1 for cells in parsed if cells == list(CSV_COLUMNS)) == 1
    assert len(parsed) == 12_001
    assert parsed[1][CSV_COLUMNS.index("title")] == 'The "cracked pot" hypothesis,\nrevisited 0'
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=csv_key("pull-a"))
    assert head["ContentType"] == "text/csv; charset=utf-8"


def test_a_file_larger_than_a_part_goes_up_in_parts_that_s3_accepts(files: S3PullFiles) -> None:
    # Given ~11 MB of parts, against moto's enforcement of the 5 MiB minimum part size
    total = write_parts(files, "pull-big", 100, 500)
    small_parts = S3PullFiles(boto3.client("s3"), BUCKET, part_size=MIN_PART_SIZE)
    # When
    result = assemble(small_parts, "pull-big")
    # Then
    data = files.read(csv_key("pull-big"))
    assert result.upload_parts == 3
    assert len(data) == total + len(header_bytes())
    assert len(read_rows(data, header=True)) == result.rows == 100 * 500
    largest_part = len(rows_bytes(sample_rows("r00000", 500)))
    assert result.max_buffered_bytes < MIN_PART_SIZE + largest_part
    assert boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


class FailingPartS3:
    """The S3 client, except that uploading part ``fail_on_part`` resets the connection."""

    def __init__(self, s3: Any, fail_on_part: int) -> None:
        self._s3 = s3
        self._fail_on_part = fail_on_part

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def upload_part(self, **kwargs: Any) -> Any:
        if kwargs["PartNumber"] == self._fail_on_part:
            raise OSError("connection reset")
        return self._s3.upload_part(**kwargs)


def test_a_failed_upload_is_aborted_and_the_parts_stay_for_another_try(files: S3PullFiles) -> None:
    write_parts(files, "pull-big", 100, 500)
    failing = S3PullFiles(FailingPartS3(boto3.client("s3"), 2), BUCKET, part_size=MIN_PART_SIZE)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="reset"):
        assemble(failing, "pull-big")
    assert not files.exists(csv_key("pull-big"))
    assert boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert len(list(files.list_keys(parts_prefix("pull-big")))) == 100


def test_part_sizes_below_s3s_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        S3PullFiles(boto3.client("s3", region_name="us-east-1"), BUCKET, part_size=MIN_PART_SIZE - 1)


def test_the_finisher_records_the_file_on_the_run_and_removes_the_parts(aws: AwsEnv, files: S3PullFiles) -> None:
    # Given a running pull run with parts from three researchers
    jobs = composition.job_store()
    job = open_job(jobs, job_type=JobType.PULL, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    for rid, count in (("r1", 2), ("r2", 0), ("r3", 5)):
        if count:
            files.put(part_key(job.job_id, rid), rows_bytes(sample_rows(rid, count)))
    # When
    PullJobFinisher(jobs, files).finish(job)
    # Then
    finished = jobs.get(job.job_id)
    assert finished is not None
    assert finished.csv_uri == f"s3://{BUCKET}/{csv_key(job.job_id)}"
    assert finished.csv_rows == 7
    assert list(files.list_keys(parts_prefix(job.job_id))) == []
    assert len(read_rows(files.read(csv_key(job.job_id)), header=True)) == 7


def test_a_finisher_run_again_after_recording_keeps_the_file_and_only_cleans_up(
    aws: AwsEnv, files: S3PullFiles
) -> None:
    # Given a finisher that recorded the file, then died after deleting some of the parts
    jobs = composition.job_store()
    job = open_job(jobs, job_type=JobType.PULL, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    for rid in ("r1", "r2", "r3"):
        files.put(part_key(job.job_id, rid), rows_bytes(sample_rows(rid, 4)))
    result = assemble(files, job.job_id)
    recorded = jobs.set_csv(job.job_id, csv_uri=result.uri, csv_rows=result.rows)
    files.delete([part_key(job.job_id, "r1")])
    # When the run is finished again
    PullJobFinisher(jobs, files).finish(recorded)
    # Then the file still has every row, and the parts are gone
    assert len(read_rows(files.read(csv_key(job.job_id)), header=True)) == 12
    assert list(files.list_keys(parts_prefix(job.job_id))) == []


# --- GET /jobs/{id}/csv ------------------------------------------------------------------------------------


def call(method: str, path: str) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path), lambda_context())
    return response["statusCode"], response_json(response)


def test_the_csv_link_is_404_until_the_file_is_written_then_downloads_it(aws: AwsEnv, files: S3PullFiles) -> None:
    # Given a running pull run
    jobs = composition.job_store()
    job = open_job(jobs, job_type=JobType.PULL, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    files.put(part_key(job.job_id, "r1"), rows_bytes(sample_rows("r1", 3)))
    # When / Then: not ready
    status, body = call("GET", f"/jobs/{job.job_id}/csv")
    assert status == 404
    assert "still running" in body["message"]
    # When the run is finished
    PullJobFinisher(jobs, files).finish(job)
    jobs.finish(job.job_id, JobState.SUCCEEDED, ended_at=NOW)
    status, body = call("GET", f"/jobs/{job.job_id}/csv")
    # Then
    assert status == 200
    assert body["rows"] == 3
    assert body["uri"] == f"s3://{BUCKET}/{csv_key(job.job_id)}"
    assert "X-Amz-Signature=" in body["url"] and "X-Amz-Expires=900" in body["url"]
    downloaded = requests.get(body["url"], timeout=10)
    assert downloaded.status_code == 200
    assert read_rows(downloaded.content, header=True) == sample_rows("r1", 3)


def test_the_csv_link_is_404_for_unknown_runs_and_runs_that_are_not_pulls(aws: AwsEnv, files: S3PullFiles) -> None:
    jobs = composition.job_store()
    push = open_job(jobs, job_type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    status, body = call("GET", "/jobs/pull-nope/csv")
    assert status == 404 and "no job pull-nope" in body["message"]
    status, body = call("GET", f"/jobs/{push.job_id}/csv")
    assert status == 404 and "only pull jobs have a CSV" in body["message"]


# --- memory of the assembly ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssemblyMeasurement:
    """The finisher's figures for one simulated run."""

    researchers: int
    works_per_researcher: int
    csv_bytes: int
    rows: int
    upload_parts: int
    peak_traced_bytes: int
    """tracemalloc's peak over the whole assembly, in this process."""
    max_buffered_bytes: int
    write_seconds: float
    assemble_seconds: float


def measure_assembly(files: PullFiles, *, researchers: int, works_per_researcher: int) -> AssemblyMeasurement:
    """Write ``researchers`` parts of ``works_per_researcher`` rows, then assemble them under tracemalloc.

    The upload's part size is the files' own (``S3PullFiles(part_size=...)``, ``DEFAULT_PART_SIZE`` by default).

    The peak counts every Python allocation of this process during the assembly, boto3's included.
    """
    job_id = f"pull-measure-{researchers}x{works_per_researcher}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    write_parts(files, job_id, researchers, works_per_researcher)
    written = time.perf_counter()
    gc.collect()
    tracemalloc.start()
    try:
        result: AssemblyResult = assemble(files, job_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return AssemblyMeasurement(
        researchers=researchers,
        works_per_researcher=works_per_researcher,
        csv_bytes=result.bytes,
        rows=result.rows,
        upload_parts=result.upload_parts,
        peak_traced_bytes=peak,
        max_buffered_bytes=result.max_buffered_bytes,
        write_seconds=written - started,
        assemble_seconds=time.perf_counter() - written,
    )


@pytest.fixture(scope="module")
def moto_s3_endpoint() -> Iterator[str]:
    """moto's S3 in a child process on 127.0.0.1, so its memory is not this process's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def remote_files(endpoint: str, *, part_size: int = DEFAULT_PART_SIZE) -> S3PullFiles:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )
    bucket = f"pull-measure-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return S3PullFiles(s3, bucket, part_size=part_size)


def test_the_assemblys_memory_is_bounded_by_the_part_size_not_the_file_size(moto_s3_endpoint: str) -> None:
    # Given ~45 MB of parts (200 researchers with 1,000 works each) and 5 MiB upload parts
    part_size = 5 * 1024 * 1024
    # When
    measured = measure_assembly(
        remote_files(moto_s3_endpoint, part_size=part_size), researchers=200, works_per_researcher=1000
    )
    # Then
    assert measured.rows == 200_000
    assert measured.csv_bytes > 8 * part_size
    assert measured.upload_parts >= 8
    largest_part = len(rows_bytes(sample_rows("r00000", 1000)))
    assert measured.max_buffered_bytes < part_size + largest_part
    # The buffer, its copy on the way to S3, and boto3's request: a few part sizes, not the file.
    assert measured.peak_traced_bytes < 4 * part_size
    assert measured.peak_traced_bytes < measured.csv_bytes / 2
