"""Reading ORCID's answers: JSON bodies validated into models, put-codes, Retry-After.

Errors name field locations, never values: a token answer holds a token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orcid_sync.domain.orcid.errors import UnexpectedResponseError
from orcid_sync.domain.orcid.models import OrcidError


class SavedItem(BaseModel):
    """Only the put-code of a work in a bulk POST answer: reading the rest must not lose it."""

    model_config = ConfigDict(extra="ignore")

    put_code: int = Field(alias="put-code")


class BulkSaveAnswer(BaseModel):
    """The bulk POST answer, read leniently: per item the saved work's put-code or the error."""

    model_config = ConfigDict(extra="ignore")

    class Item(BaseModel):
        model_config = ConfigDict(extra="ignore")

        work: SavedItem | None = None
        error: OrcidError | None = None

    bulk: list[Item] = Field(default_factory=list)


def put_code_from_location(location: str | None, *, status: int = 201) -> int:
    """The put-code ORCID puts in the last path segment of a 201's ``Location``."""
    segment = urlsplit(location or "").path.rstrip("/").rsplit("/", 1)[-1]
    if not segment.isdigit():
        raise UnexpectedResponseError(
            status=status, developer_message=f"no put-code in the Location header ({location or 'missing'})"
        )
    return int(segment)


def checked_put_code(value: int) -> int:
    """``value`` if it is a put-code (a positive integer), else ``ValueError`` before any request."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a put-code is a positive integer, not {value!r}")
    return value


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in delta-seconds; the HTTP-date form is ignored (ORCID documents neither)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def json_body(response: requests.Response) -> Any:
    """The answer's JSON, or :class:`UnexpectedResponseError` if it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise UnexpectedResponseError(status=response.status_code, developer_message="answer is not JSON") from None


def parse_answer[ModelT: BaseModel](model: type[ModelT], response: requests.Response) -> ModelT:
    """Validate an answer; the error names only field locations, never values (a token answer holds a token)."""
    try:
        return model.model_validate(json_body(response))
    except ValidationError as exc:
        problems = ", ".join(".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors())
        raise UnexpectedResponseError(
            status=response.status_code, developer_message=f"answer is not a valid {model.__name__}: {problems}"
        ) from None
