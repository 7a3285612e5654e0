"""Domain errors raised by the use cases; each entry point maps them to HTTP or job events in one place."""

from __future__ import annotations

from pydantic import BaseModel


class Problem(BaseModel):
    """One specific thing wrong with the input: where it is and why."""

    field: str
    reason: str
    row: int | None = None


class OrcidSyncError(Exception):
    """Base of the errors the use cases raise on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(OrcidSyncError):
    """The researcher, asset, job or upload does not exist."""


class ConflictError(OrcidSyncError):
    """The request contradicts what is stored (e.g. a different authenticated ORCID iD)."""


class InvalidInputError(OrcidSyncError):
    """The request is malformed; ``problems`` says which row and field, and why."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class PayloadTooLargeError(OrcidSyncError):
    """More rows or bytes than one request may carry."""
