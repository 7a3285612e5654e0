"""``/console/tokens``: token batches (uploads in the job history), uploading a token file, one upload's progress
and per-row results, and its rejected rows as CSV.

Why the file comes to this function instead of straight to S3: the CLI's path is a presigned PUT, which a browser
can only send with JavaScript (a form cannot PUT) and which would need the bucket's origin in the CSP's
``connect-src``; a browser form posting to S3 needs a presigned POST policy (another signing path) and the bucket
in ``form-action``. Receiving the form here keeps every request on the console's origin, works without JS, and
stores the file through the same ``UploadObjects`` port at the same key the presigned PUT would have written
(``receive_upload``), so the import that follows is the very same. The price is a size limit: a Lambda request
carries at most 6 MB, base64-encoded, hence ``MAX_RECEIVED_BYTES`` (4 MB, ~20,000 rows); the page sends bigger
files to ``orcid-sync tokens upload``.
"""

from __future__ import annotations

import base64
import re
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError
from orcid_sync.domain.console.session import CSRF_FIELD, CSRF_HEADER, ConsoleUser
from orcid_sync.domain.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from orcid_sync.domain.jobs.models import JobType
from orcid_sync.domain.jobs.queries import list_jobs
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.tokens.upload_models import UploadFormat
from orcid_sync.domain.tokens.uploads import (
    MAX_RECEIVED_BYTES,
    UploadRequest,
    get_upload,
    receive_upload,
    rejected_rows_csv,
)
from orcid_sync.observability import logger

if __package__ != "routes":
    from .. import auth, web
    from . import changes
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]
    from routes import changes  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

PAGE_SIZE = 25
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_FORM_BYTES = MAX_RECEIVED_BYTES + 64 * 1024
"""The file plus the form's other fields and the multipart framing."""


class MultipartForm:
    """A ``multipart/form-data`` body: text fields and one file (the standard library's MIME parser)."""

    def __init__(self, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> None:
        self.fields = fields
        self.files = files

    @classmethod
    def parse(cls, event: APIGatewayProxyEventV2) -> MultipartForm:
        content_type = event.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise InvalidInputError("send the upload form", [])
        raw = event.body or ""
        body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8", "surrogateescape")
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLargeError(f"the file is larger than the console takes ({MAX_RECEIVED_BYTES:,} bytes)")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1") + body
        )
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if isinstance(message, EmailMessage) and message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str):
                    continue
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                filename = part.get_filename()
                if filename is not None:
                    files[name] = (filename, data)
                else:
                    fields[name] = data.decode("utf-8", "replace")
        return cls(fields, files)


def _with_csrf_header(event: APIGatewayProxyEventV2, token: str) -> APIGatewayProxyEventV2:
    """The multipart form's ``csrf`` field, handed to ``auth.admin_post`` where htmx puts it (the header): its
    form reader reads urlencoded bodies only. The check itself is unchanged."""
    raw = dict(event.raw_event)
    raw["headers"] = {**(event.headers or {}), CSRF_HEADER: token}
    return APIGatewayProxyEventV2(raw)


def _tokens_page(user: ConsoleUser, *, status: int = 200, upload_error: str | None = None) -> Response[str]:
    event = router.current_event
    cursor = event.get_query_string_value("cursor")
    try:
        page = list_jobs(composition.job_store(), job_type=JobType.UPLOAD, state=None, limit=PAGE_SIZE, cursor=cursor)
    except InvalidCursorError:
        page = list_jobs(composition.job_store(), job_type=JobType.UPLOAD, state=None, limit=PAGE_SIZE, cursor=None)
    return web.page(
        event,
        "tokens.html.j2",
        user=user,
        status=status,
        nav_active="tokens",
        page=page,
        next_query=urlencode({"cursor": page.next_cursor or ""}),
        upload_error=upload_error,
        max_mb=MAX_RECEIVED_BYTES // (1024 * 1024),
        notice=changes.notice_of(event),
    )


@router.get("/console/tokens")
def tokens_page() -> Response[str]:
    user = auth.viewer(router.current_event)
    if isinstance(user, Response):
        return user
    return _tokens_page(user)


@router.post("/console/tokens")
def upload_tokens() -> Response[str]:
    """Receive a token file and start its import exactly as a presigned upload does."""
    event = router.current_event
    try:
        submitted = MultipartForm.parse(event)
    except (InvalidInputError, PayloadTooLargeError) as exc:
        signed_in = auth.viewer(event)
        if isinstance(signed_in, Response):
            return signed_in
        return web.problem(event, signed_in, 413 if isinstance(exc, PayloadTooLargeError) else 400, exc.message)
    user = auth.admin_post(_with_csrf_header(event, submitted.fields.get(CSRF_FIELD, "")))
    if isinstance(user, Response):
        return user
    _, content = submitted.files.get("file", ("", b""))
    file_format = submitted.fields.get("format", "csv")
    try:
        request = UploadRequest(
            format=UploadFormat(file_format) if file_format in ("csv", "json") else UploadFormat.CSV,
            verify=submitted.fields.get("verify") == "true",
        )
        record = receive_upload(
            composition.upload_store(),
            composition.upload_objects(),
            request,
            content,
            upload_id=uuid.uuid4().hex,
            now=utc_now(),
            requested_by=user.email,
        )
    except (InvalidInputError, PayloadTooLargeError) as exc:
        return _tokens_page(
            user, status=413 if isinstance(exc, PayloadTooLargeError) else 400, upload_error=exc.message
        )
    logger.info(
        "console: token file received", upload_id=record.upload_id, format=record.format.value, bytes=len(content)
    )
    changes.record(
        user,
        "tokens.upload",
        record.upload_id,
        after={"format": record.format.value, "verify": record.verify, "bytes": len(content)},
    )
    return changes.done(f"/console/tokens/{record.upload_id}", "upload_received")


@router.get("/console/tokens/<upload_id>")
def upload_page(upload_id: str) -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    try:
        upload = get_upload(composition.upload_store(), composition.upload_objects(), upload_id, now=utc_now())
    except NotFoundError:
        return web.problem(event, user, 404, web.text(event, "tok_no_such_upload"))
    return web.page(
        event, "token_upload.html.j2", user=user, nav_active="tokens", upload=upload, notice=changes.notice_of(event)
    )


@router.get("/console/tokens/<upload_id>/rejected.csv")
def rejected_rows(upload_id: str) -> Response[str]:
    """The rejected rows (row number, researcher, iD, field, reason; never a token) as a CSV download."""
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    if not _UPLOAD_ID.match(upload_id):
        return web.problem(event, user, 404, web.text(event, "tok_no_such_upload"))
    try:
        body = rejected_rows_csv(composition.upload_store(), composition.upload_objects(), upload_id)
    except NotFoundError:
        return web.problem(event, user, 404, web.text(event, "tok_no_such_upload"))
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=body,
        headers={**web.security_headers(), "Content-Disposition": f'attachment; filename="{upload_id}-rejected.csv"'},
    )
