"""Sending one ORCID request: the HTTP session, rate limiting, retries, typed errors, stats and logs.

Every attempt takes a rate-limit token, is counted in :class:`RequestStats` and logged. Failures map to
:mod:`orcid_sync.domain.orcid.errors`; the retryable ones (:class:`RetryableOrcidError`: 5xx, 429, no
answer) are retried by tenacity as the domain's :class:`RetryPolicy` says: its attempts, and before each
retry its delay (the server's Retry-After up to a cap, else capped exponential backoff with full jitter),
computed by the policy in tenacity's ``wait`` and slept through the policy's ``sleep``.

Retrying a POST is not idempotent on ORCID's side; see :mod:`orcid_sync.adapters.orcid_api.client`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from orcid_sync.adapters.orcid_api.answers import retry_after_seconds
from orcid_sync.adapters.orcid_api.request_stats import NO_ANSWER, RequestStats
from orcid_sync.domain.orcid.errors import (
    OrcidApiError,
    OrcidUnreachableError,
    RetryableOrcidError,
    error_from_response,
)
from orcid_sync.domain.retry_policy import RetryPolicy
from orcid_sync.observability import logger

if TYPE_CHECKING:
    from orcid_sync.adapters.orcid_api.limiters import RateLimiter

ORCID_JSON = "application/vnd.orcid+json"

# Connections kept open to ORCID: one per thread of a worker pushing several researchers at once.
CONNECTION_POOL_SIZE = 32

# Failures where no (complete) answer arrived; a broken chunked body is a dropped connection too.
_TRANSIENT_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_THROTTLED_STATUSES = frozenset({429, 503})


class Timeout(NamedTuple):
    """Seconds to wait for the TCP connection and then for each read of the answer."""

    connect: float
    read: float


DEFAULT_TIMEOUT = Timeout(connect=3.05, read=10.0)


def new_session() -> requests.Session:
    """A session whose pool keeps a connection for each of a worker's threads (requests keeps 10)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONNECTION_POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _Request(NamedTuple):
    """One request as every attempt sends it, and the secrets its errors must not repeat."""

    method: str
    url: str
    path: str
    headers: dict[str, str]
    payload: str | Mapping[str, str] | None
    redacted: list[str]
    oauth_endpoint: bool


class OrcidTransport:
    """Sends requests to ORCID for :class:`~orcid_sync.adapters.orcid_api.client.OrcidClient`."""

    def __init__(
        self,
        *,
        client_secret: SecretStr,
        rate_limiter: RateLimiter,
        retry: RetryPolicy,
        timeout: Timeout,
        session: requests.Session,
        stats: RequestStats,
    ) -> None:
        self._client_secret = client_secret
        self._rate_limiter = rate_limiter
        self._retry = retry
        self._timeout = timeout
        self._session = session
        self._stats = stats

    def close(self) -> None:
        """Close the HTTP session's connections."""
        self._session.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        token: SecretStr | None = None,
        body: Mapping[str, object] | None = None,
        form: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> requests.Response:
        """Send with rate limiting and retries; return a 2xx answer or raise the typed error."""
        headers = {"Accept": "application/json" if form is not None else ORCID_JSON}
        payload: str | Mapping[str, str] | None = form
        if body is not None:
            headers["Content-Type"] = ORCID_JSON
            payload = json.dumps(body)
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        redacted = [
            self._client_secret.get_secret_value(),
            *secrets,
            *([token.get_secret_value()] if token is not None else []),
        ]
        request = _Request(method, url, urlsplit(url).path, headers, payload, redacted, form is not None)
        response: requests.Response | None = None
        for attempt in self._retrying(request):
            with attempt:
                response = self._attempt(request, attempt.retry_state.attempt_number)
        if response is None:  # pragma: no cover - tenacity either returns after a success or raises
            raise AssertionError("unreachable: the last attempt returns or raises")
        return response

    def _retrying(self, request: _Request) -> Retrying:
        """Tenacity's loop for one request, shaped by the retry policy (reraise: callers get the typed error)."""
        policy = self._retry

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            retry_after = failure.retry_after if isinstance(failure, RetryableOrcidError) else None
            return policy.delay(state.attempt_number, retry_after)

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome is not None else None
            self._stats.record_retry(request.method)
            logger.warning(
                "retrying ORCID request",
                method=request.method,
                path=request.path,
                status=getattr(failure, "status", None),
                attempt=state.attempt_number,
                delay_seconds=round(state.upcoming_sleep, 3),
                # A retried POST may create the item twice; callers recover works via 409/9021.
                may_duplicate=request.method == "POST",
            )

        return Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait,
            retry=retry_if_exception_type(RetryableOrcidError),
            sleep=policy.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _attempt(self, request: _Request, attempt: int) -> requests.Response:
        """One rate-limited attempt: the 2xx answer, or the typed error (raised outside ``except``: unchained)."""
        self._rate_limiter.acquire()
        started = time.monotonic()
        try:
            response = self._session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.payload,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except _TRANSIENT_TRANSPORT_ERRORS as exc:
            failure: OrcidApiError = OrcidUnreachableError(reason=type(exc).__name__, attempts=attempt)
            self._log(request, NO_ANSWER, attempt, started, reason=type(exc).__name__)
            self._stats.record(request.method, NO_ANSWER)
        except requests.RequestException as exc:
            # Not transient (a malformed URL, say). The exception holds the prepared request and
            # its Authorization header, so it is not chained.
            raise OrcidApiError(status=None, developer_message=f"request failed: {type(exc).__name__}") from None
        else:
            status = response.status_code
            self._log(request, str(status), attempt, started)
            self._stats.record(request.method, str(status))
            if 200 <= status < 300:
                return response
            failure = self._failure(request, response, attempt)
        raise failure

    def _failure(self, request: _Request, response: requests.Response, attempt: int) -> OrcidApiError:
        """The typed error for a non-2xx answer; a throttle also slows the shared rate limit down."""
        status = response.status_code
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        failure = error_from_response(
            status,
            response.text,
            content_type=response.headers.get("Content-Type", ""),
            location=response.headers.get("Location"),
            retry_after=retry_after,
            secrets=request.redacted,
            oauth_endpoint=request.oauth_endpoint,
            attempts=attempt,
        )
        if status in _THROTTLED_STATUSES:
            self._stats.record_throttled()
            if retry_after is not None:
                self._rate_limiter.penalise(retry_after)
            else:
                self._rate_limiter.on_throttled()
        return failure

    @staticmethod
    def _log(request: _Request, outcome: str, attempt: int, started: float, *, reason: str = "") -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields: dict[str, object] = {"method": request.method, "path": request.path, "status": outcome}
        fields["attempt"] = attempt
        fields["duration_ms"] = duration_ms
        if reason:
            fields["reason"] = reason
        logger.info("ORCID request", extra=fields)
