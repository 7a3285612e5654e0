"""Typed ORCID API errors, and the one mapping from an ORCID answer to them.

Callers branch on the class (and sometimes ``error_code``), never on message text. ORCID's
error codes and statuses are those of ``docs/orcid-api.md`` §1.5 and §2.4.

No exception here ever holds a token or client secret: ORCID's 401 body echoes the token
(``"Invalid access token: <the token>"``), so every message is redacted while it is built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from orcid_sync.domain.orcid.models import OrcidError

REDACTED = "[REDACTED]"

# ORCID appends the token to OAuth error descriptions; bearer headers may be echoed by proxies.
_TOKEN_IN_TEXT = re.compile(r"(?i)(\b(?:(?:access|refresh)[ _-]?)?token\s*[:=]\s*|\bbearer\s+)[^\s\"',;]+")
# ORCID's tokens are UUIDs; an OAuth error description has no other reason to hold one.
_UUID = re.compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_TEXT_SNIPPET_LENGTH = 200

RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove the given secret values and anything shaped like a token assignment from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN_IN_TEXT.sub(lambda match: f"{match.group(1)}{REDACTED}", text)


class OrcidApiError(Exception):
    """ORCID refused or failed a request; the base of every ORCID error."""

    def __init__(
        self,
        *,
        status: int | None,
        error_code: int | None = None,
        developer_message: str = "",
        user_message: str = "",
        more_info: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.developer_message = developer_message
        self.user_message = user_message
        self.more_info = more_info
        self.attempts = attempts
        super().__init__(self._summary())

    def _summary(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        code = f", error-code {self.error_code}" if self.error_code is not None else ""
        detail = f": {self.developer_message}" if self.developer_message else ""
        return f"ORCID {status}{code}{detail}"

    def __str__(self) -> str:
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self._summary()}{tries}"


class InvalidTokenError(OrcidApiError):
    """401: the token is revoked, expired or unknown, so the researcher must connect again."""

    wrong_record = False


class TokenForOtherRecordError(InvalidTokenError):
    """401/9017: a valid token, but for a different ORCID record than the one addressed."""

    wrong_record = True


class InsufficientScopeError(OrcidApiError):
    """403/9038: the token lacks a scope this call needs (the researcher must grant it again)."""


class NotSourceError(OrcidApiError):
    """403/9010: the item was added by someone else; only its source may change or delete it."""


class ForbiddenError(OrcidApiError):
    """Any other 403, e.g. 9035 (a PUT tried to change the item's visibility)."""


class NotFoundError(OrcidApiError):
    """404/9016: no such record or item (e.g. the researcher deleted our work on ORCID)."""


class DuplicateWorkError(OrcidApiError):
    """409/9021: we already added a work with the same ``self`` identifier; adopt its put-code."""

    def __init__(self, *, existing_put_code: int | None, **details: Any) -> None:
        self.existing_put_code = existing_put_code
        super().__init__(**details)


class ConflictError(OrcidApiError):
    """Any other 409: 9030 duplicate element (researcher-url), 9048 over 10,000 works, 9018 locked record, …."""


class ValidationFailedError(OrcidApiError):
    """400 (9001, 9006, 9019, 9020, 9022-9024, 9037, 9045, …) or 413: ORCID rejected the payload itself."""


class DeprecatedRecordError(OrcidApiError):
    """301/9007: the iD was merged into another; ``primary_location`` points at the primary record."""

    def __init__(self, *, primary_location: str | None, **details: Any) -> None:
        self.primary_location = primary_location
        super().__init__(**details)


class UnexpectedResponseError(OrcidApiError):
    """ORCID answered with a success status but a body that is not the documented shape."""


class OAuthError(OrcidApiError):
    """The OAuth server refused a token exchange or revocation (400 ``invalid_grant``, 401 bad credentials, …)."""

    def __init__(self, *, oauth_error: str, **details: Any) -> None:
        self.oauth_error = oauth_error
        super().__init__(**details)


class RetryableOrcidError(OrcidApiError):
    """A transient failure (500/502/503/504, 429, no answer at all); the client gave up retrying it."""

    def __init__(self, *, retry_after: float | None = None, **details: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**details)


class TooManyRequestsError(RetryableOrcidError):
    """429: a quota was exceeded."""


class ServiceUnavailableError(RetryableOrcidError):
    """503: ORCID's burst limit was exceeded or ORCID is down."""


class OrcidUnreachableError(RetryableOrcidError):
    """No HTTP answer: connection refused or reset, or a connect or read timeout."""

    def __init__(self, *, reason: str, **details: Any) -> None:
        self.reason = reason
        super().__init__(status=None, developer_message=f"no answer from ORCID ({reason})", **details)


def exception_for(error: OrcidError, *, attempts: int = 1) -> OrcidApiError:
    """The typed exception for an ORCID error body (a whole response's, or one bulk item's)."""
    details: dict[str, Any] = {
        "status": error.response_code,
        "error_code": error.error_code,
        "developer_message": error.developer_message or "",
        "user_message": error.user_message or "",
        "more_info": error.more_info,
        "attempts": attempts,
    }
    return _classify(details, duplicate_put_code=error.duplicate_put_code)


def error_from_response(
    status: int,
    body: str,
    *,
    content_type: str = "",
    location: str | None = None,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
    oauth_endpoint: bool = False,
    attempts: int = 1,
) -> OrcidApiError:
    """Map one non-success ORCID answer to its typed exception; ``secrets`` are redacted from every message.

    ``body`` may be ORCID's error JSON, the OAuth ``{"error", "error_description"}`` JSON, or
    anything a proxy sends (an HTML 503 page, plain text, nothing).
    """
    secrets = [secret for secret in secrets if secret]
    parsed = _json_object(body)
    details: dict[str, Any] = {"status": status, "attempts": attempts}
    oauth_error: str | None = None
    duplicate_put_code: int | None = None

    if parsed is not None and isinstance(parsed.get("error"), str):
        oauth_error = redact(parsed["error"], secrets)
        description = str(parsed.get("error_description") or "")
        message = f"{oauth_error}: {description}" if description else oauth_error
        details["developer_message"] = _UUID.sub(REDACTED, redact(message, secrets))
    elif (orcid_error := _orcid_error(parsed)) is not None:
        details |= {
            "error_code": orcid_error.error_code,
            "developer_message": redact(orcid_error.developer_message or "", secrets),
            "user_message": redact(orcid_error.user_message or "", secrets),
            "more_info": orcid_error.more_info,
        }
        duplicate_put_code = orcid_error.duplicate_put_code
    else:
        details["developer_message"] = _describe_unstructured(body, content_type, secrets)

    if oauth_endpoint and 400 <= status < 500 and status not in RETRYABLE_STATUSES:
        fallback = f"error-code {details['error_code']}" if details.get("error_code") else f"http {status}"
        return OAuthError(oauth_error=oauth_error or fallback, **details)
    if status == 403 and oauth_error in {"insufficient_scope", "access_denied"}:
        return InsufficientScopeError(**details)
    return _classify(details, duplicate_put_code=duplicate_put_code, retry_after=retry_after, location=location)


_REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
_BY_STATUS_AND_CODE: dict[tuple[int, int], type[OrcidApiError]] = {
    (401, 9017): TokenForOtherRecordError,
    (403, 9038): InsufficientScopeError,
    (403, 9010): NotSourceError,
}
_BY_STATUS: dict[int, type[OrcidApiError]] = {
    400: ValidationFailedError,
    413: ValidationFailedError,
    401: InvalidTokenError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: TooManyRequestsError,
    500: RetryableOrcidError,
    502: RetryableOrcidError,
    503: ServiceUnavailableError,
    504: RetryableOrcidError,
}


def _classify(
    details: dict[str, Any],
    *,
    duplicate_put_code: int | None,
    retry_after: float | None = None,
    location: str | None = None,
) -> OrcidApiError:
    """Pick the exception class from the status and ORCID error code."""
    status: int = details["status"]
    code: int | None = details.get("error_code")
    if status == 409 and code == 9021:
        return DuplicateWorkError(existing_put_code=duplicate_put_code, **details)
    if status in _REDIRECT_STATUSES:
        return DeprecatedRecordError(primary_location=location, **details)
    error_class = _BY_STATUS_AND_CODE.get((status, code or 0)) or _BY_STATUS.get(status, OrcidApiError)
    if issubclass(error_class, RetryableOrcidError):
        return error_class(retry_after=retry_after, **details)
    return error_class(**details)


def _orcid_error(parsed: dict[str, Any] | None) -> OrcidError | None:
    if parsed is None or "response-code" not in parsed:
        return None
    try:
        return OrcidError.model_validate(parsed)
    except ValidationError:
        return None


def _json_object(body: str) -> dict[str, Any] | None:
    if not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _describe_unstructured(body: str, content_type: str, secrets: Iterable[str]) -> str:
    """A short, safe description of a body that is not ORCID JSON (proxy pages, plain text, nothing)."""
    text = body.strip()
    if not text:
        return "empty body"
    media_type = content_type.split(";", 1)[0].strip().lower() or "unknown content type"
    if "html" in media_type or text.startswith("<"):
        return f"{media_type} body of {len(body)} characters"
    snippet = " ".join(text.split())[:_TEXT_SNIPPET_LENGTH]
    return _UUID.sub(REDACTED, redact(snippet, secrets))
