"""``/tokens``: ORCID tokens from a legacy system, in batches of up to 1,000 rows or as an uploaded file."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from orcid_sync import composition
from orcid_sync.domain.batches import MAX_BATCH_ROWS
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.tokens.importing import MAX_VERIFIED_ROWS, TokenBatchReport, import_token_request
from orcid_sync.domain.tokens.uploads import UploadRequest, UploadTicket, UploadView, create_upload, get_upload
from orcid_sync.observability import logger, metrics

from .audit import audited
from .callers import caller_of
from .openapi_errors import BAD_REQUEST, NOT_FOUND, TOO_LARGE

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

_TOKEN_BATCH_FORMATS = f"""
The body is either `application/json`, an array of rows, or `text/csv` with a header row. A row has
`orcid`, `access_token`, optional `refresh_token`, `scope` (space-separated), `expires_in` (seconds)
or `expires_at` (ISO 8601), optional `token_type` (bearer) and optional `researcher_id`. The keys of
a legacy Esploro export are accepted too: `access.token`, `refresh.token`, `token.type`, `expiry`,
`scopes`.

A row is stored when its iD is valid, exactly one researcher has that iD (or `researcher_id` names
one who has it) and its scope includes `/activities/update`; without `/read-limited` it is stored
with `can_pull: false`. Each row is `stored`, `replaced`, `unchanged` (the same token again) or
`rejected` with the field and the reason. At most {MAX_BATCH_ROWS:,} rows ({MAX_VERIFIED_ROWS} with
`verify=true`); bigger files go through `POST /tokens/uploads`. Token values never appear in answers.
"""


@router.post(
    "/tokens",
    summary=f"Import up to {MAX_BATCH_ROWS:,} ORCID tokens (JSON or CSV)",
    description=_TOKEN_BATCH_FORMATS,
    tags=["tokens"],
    responses={200: {"description": "One outcome per row"}, 400: BAD_REQUEST, 413: TOO_LARGE},
)
def import_tokens_route(
    verify: Annotated[bool, Query(description="Try each token against ORCID first (one read each)")] = False,
) -> TokenBatchReport:
    event = router.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    report = import_token_request(composition.token_importer(verify), body, event.headers.get("content-type", ""))
    for name, value in report.counts.model_dump().items():
        metrics.add_metric(name=f"TokenRows{name.title().replace('_', '')}", unit=MetricUnit.Count, value=value)
    logger.info("token batch imported", verified=verify, counts=report.counts.model_dump())
    audited(event, "tokens.import", after={"verified": verify, **report.counts.model_dump(mode="json")})  # counts only
    return report


@router.post(
    "/tokens/uploads",
    summary="Start a large token import: get a presigned URL to PUT the file to",
    tags=["tokens"],
    responses={
        201: {"description": "PUT the file to url; then poll GET /tokens/uploads/{upload_id}"},
        400: BAD_REQUEST,
    },
)
def create_upload_route(request: Annotated[UploadRequest, Body(embed=False)]) -> Response[UploadTicket]:
    """The file (CSV with a header, a JSON array or JSON Lines) is imported in chunks of 1,000 rows once it lands."""
    ticket = create_upload(
        composition.upload_store(),
        composition.upload_objects(),
        request,
        upload_id=uuid.uuid4().hex,
        now=utc_now(),
        requested_by=caller_of(router.current_event),
    )
    logger.info("token upload started", upload_id=ticket.upload_id, format=request.format.value, verify=request.verify)
    # The ticket's presigned URL is a credential for the file: never recorded, only the upload's id and options.
    audited(router.current_event, "tokens.upload", ticket.upload_id, after=request.model_dump(mode="json"))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=ticket)


@router.get(
    "/tokens/uploads/<upload_id>",
    summary="A token upload's status, counts and report",
    tags=["tokens"],
    responses={200: {"description": "The upload"}, 404: NOT_FOUND},
)
def get_upload_route(upload_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> UploadView:
    """``pending``, ``processing``, ``done`` or ``failed``; ``report_url`` holds every rejected row (never a token)."""
    return get_upload(composition.upload_store(), composition.upload_objects(), upload_id, now=utc_now())
