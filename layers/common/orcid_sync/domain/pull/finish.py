"""The end of a pull run: its single CSV assembled from the parts, and the admin API's link to it."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from orcid_sync.domain.errors import NotFoundError
from orcid_sync.domain.jobs.models import Job, JobState, JobType
from orcid_sync.domain.jobs.queries import get_job
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.pull.csv_file import assemble, csv_key, delete_parts
from orcid_sync.domain.pull.files import PullFiles

DOWNLOAD_URL_SECONDS = 900
"""A presigned CSV link lives 15 minutes: long enough to start the download, short if it leaks."""


class PullJobFinisher:
    """Assembles a pull run's CSV once its last researcher is counted, records it on the run, drops the parts."""

    def __init__(self, jobs: JobStore, files: PullFiles) -> None:
        self._jobs = jobs
        self._files = files

    def finish(self, job: Job) -> None:
        if job.type is not JobType.PULL:
            raise ValueError(f"job {job.job_id} is a {job.type.value} job, not a pull")
        # A finisher that died after recording the file but before deleting every part runs again:
        # the parts may be incomplete by then, so the recorded file is kept rather than rebuilt.
        if job.csv_uri is None:
            result = assemble(self._files, job.job_id)
            self._jobs.set_csv(job.job_id, csv_uri=result.uri, csv_rows=result.rows)
            logger.info(
                "pull CSV assembled",
                job_id=job.job_id,
                csv_uri=result.uri,
                rows=result.rows,
                bytes=result.bytes,
                parts=result.parts_read,
                upload_parts=result.upload_parts,
            )
        deleted = delete_parts(self._files, job.job_id)
        logger.info("pull CSV parts deleted", job_id=job.job_id, parts=deleted)


# --- the admin API: where is a run's CSV ---------------------------------------------------------------------


class CsvDownload(BaseModel):
    """``GET /jobs/{id}/csv``: a short-lived link to the run's CSV and its row count."""

    job_id: str
    url: str
    rows: int
    expires_at: datetime
    uri: str


def csv_download(
    jobs: JobStore, files: PullFiles, job_id: str, *, now: datetime, expires_in: int = DOWNLOAD_URL_SECONDS
) -> CsvDownload:
    """A presigned GET for a finished pull run's CSV; NotFoundError while there is none (yet)."""
    job = get_job(jobs, job_id)
    if job.type is not JobType.PULL:
        raise NotFoundError(f"job {job_id} is a {job.type.value} job; only pull jobs have a CSV")
    if job.csv_uri is None or job.csv_rows is None:
        state = "is still running" if job.state is JobState.RUNNING else f"ended ({job.state.value}) without one"
        raise NotFoundError(f"job {job_id} has no CSV: it {state}")
    key = csv_key(job_id)
    if not files.exists(key):
        raise NotFoundError(f"the CSV of job {job_id} ({job.csv_uri}) is no longer in the bucket")
    return CsvDownload(
        job_id=job_id,
        url=files.download_url(key, expires_in=expires_in),
        rows=job.csv_rows,
        expires_at=now + timedelta(seconds=expires_in),
        uri=job.csv_uri,
    )
