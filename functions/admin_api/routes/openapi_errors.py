"""The admin routes' documented error responses (OpenAPI), and the path and body limits that produce them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from orcid_sync.domain.batches import check_body_size
from orcid_sync.domain.errors import Problem
from orcid_sync.domain.models import EntityId

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware


IdInPath = Annotated[EntityId, Path(description="The repository's own id")]
"""A researcher or asset id in the path, held to the same rules as ids in bodies."""


class ErrorBody(BaseModel):
    """Every 4xx answer: a message, and for invalid input the rows and fields at fault."""

    message: str
    problems: list[Problem] = Field(default_factory=list)


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}


BAD_REQUEST = _error("Invalid input: `problems` names each field (and row) and the reason")
NOT_FOUND = _error("No such resource")
CONFLICT = _error("Contradicts what is stored")
TOO_LARGE = _error("More rows or bytes than one request may carry")


def body_size(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """413 for bodies above Lambda's 6 MB payload limit (the local stack has no such limit of its own)."""
    body = app.current_event.body or ""
    # Base64 inflates by 4/3; compare what the client sent.
    size = len(body) * 3 // 4 if app.current_event.is_base64_encoded else len(body.encode("utf-8"))
    check_body_size(size)
    return next_middleware(app)
