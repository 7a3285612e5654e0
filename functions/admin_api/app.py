"""The admin HTTPS API (IAM-authorised): researchers, assets, tokens, settings, jobs and reports.

Each area is a Powertools ``Router`` in ``routes/``; this module wires them together, maps the
domain errors to HTTP in one place, and publishes the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orcid_sync.adapters.dynamodb.stores import InvalidCursorError
from orcid_sync.config import get_settings
from orcid_sync.domain.batches import readable
from orcid_sync.domain.errors import ConflictError, InvalidInputError, NotFoundError, PayloadTooLargeError, Problem
from orcid_sync.observability import logger, metrics, tracer

# On Lambda, CodeUri functions/admin_api/ makes this directory the zip root and this module the top-level
# ``app``; the tests and the local stack import it as ``functions.admin_api.app``.
if __package__:
    from .routes import ROUTERS
else:
    from routes import ROUTERS  # type: ignore[import-not-found, no-redef]  # mypy sees the repo layout

app = APIGatewayHttpResolver(enable_validation=True)
for router in ROUTERS:
    app.include_router(router)


def _error(status: int, message: str, problems: list[Problem] | None = None) -> Response[str]:
    body: dict[str, Any] = {"message": message}
    if problems:
        body["problems"] = [p.model_dump(exclude_none=True) for p in problems]
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)  # type: ignore[arg-type]


def _field_path(location: tuple[Any, ...]) -> str:
    # Powertools prefixes locations with "body"/"query"/"path"; keep it: it tells where to look.
    return ".".join(str(part) for part in location)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[str]:
    problems = [
        Problem(field=_field_path(tuple(err.get("loc", ()))), reason=readable(str(err.get("msg"))))
        for err in exc.errors()
    ]
    return _error(400, "the request is invalid", problems)


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[str]:
    content_type = app.current_event.headers.get("content-type", "")
    problem = Problem(field="header.content-type", reason=f"{content_type or 'none'} is not accepted here; send JSON")
    return _error(415, "unsupported content type", [problem])


@app.exception_handler(UnicodeDecodeError)
def _body_not_utf8(exc: UnicodeDecodeError) -> Response[str]:
    # Powertools decodes the body before validating it; a body that is not UTF-8 is the client's mistake.
    return _error(400, "the request body is not UTF-8", [Problem(field="body", reason=str(exc.reason))])


@app.exception_handler(InvalidInputError)
def _invalid_input(exc: InvalidInputError) -> Response[str]:
    return _error(400, exc.message, exc.problems)


@app.exception_handler(InvalidCursorError)
def _invalid_cursor(exc: InvalidCursorError) -> Response[str]:
    return _error(400, str(exc), [Problem(field="query.cursor", reason=str(exc))])


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response[str]:
    return _error(404, exc.message)


@app.exception_handler(ConflictError)
def _conflict(exc: ConflictError) -> Response[str]:
    return _error(409, exc.message)


@app.exception_handler(PayloadTooLargeError)
def _too_large(exc: PayloadTooLargeError) -> Response[str]:
    return _error(413, exc.message)


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> dict[str, Any]:
    """The admin API's OpenAPI document, generated from the routes and their models."""
    schema: dict[str, Any] = app.get_openapi_schema(title="orcid-sync admin API", version="1").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return schema


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_settings()  # fail fast on a misconfigured stack
    return app.resolve(event, context)
