"""``/jobs/{id}/csv``: a short-lived download link for a finished pull run's CSV."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.pull.finish import CsvDownload, csv_download
from orcid_sync.observability import logger

from .openapi_errors import NOT_FOUND

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

JobIdInPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get(
    "/jobs/<job_id>/csv",
    summary="Download link for a pull run's CSV",
    tags=["jobs"],
    responses={
        200: {"description": "A presigned GET URL (valid 15 minutes) and the number of rows"},
        404: {**NOT_FOUND, "description": "No such run, not a pull run, or its CSV is not written yet"},
    },
)
def pull_csv_route(job_id: JobIdInPath) -> CsvDownload:
    """The file is assembled when the run's last researcher is done; until then this answers 404."""
    download = csv_download(composition.job_store(), composition.pull_files(), job_id, now=utc_now())
    logger.info("pull CSV link issued", job_id=job_id, rows=download.rows)
    return download
