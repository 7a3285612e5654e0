"""The ORCID Member API 3.0 and OAuth client: one HTTP session, typed results, typed errors.

Every request goes through :meth:`OrcidClient._send`, which takes a rate-limit token per
attempt, retries transient failures with capped exponential backoff and full jitter, counts
requests in :class:`RequestStats`, and maps failures to :mod:`orcid_sync.domain.orcid.errors`.

Retrying a POST is not idempotent on ORCID's side: when a POST timed out or got a 5xx, ORCID
may still have created the item, and the retry then creates it again (an employment) or fails
with 409/9021 (a work, which carries a ``self`` id). The client retries anyway and reports it
(``RequestStats.retried_posts``, ``OrcidApiError.attempts``, a warning log); the caller
recovers a work's put-code from :class:`~orcid_sync.domain.orcid.errors.DuplicateWorkError`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from orcid_sync.domain.identifiers import parse_orcid
from orcid_sync.domain.orcid.errors import (
    RETRYABLE_STATUSES,
    OrcidApiError,
    OrcidUnreachableError,
    RetryableOrcidError,
    UnexpectedResponseError,
    error_from_response,
)
from orcid_sync.domain.orcid.models import (
    BULK_MAX_WORKS,
    BulkWorkRequest,
    BulkWorkResponse,
    Employment,
    Employments,
    OAuthToken,
    OrcidError,
    OrcidItem,
    ResearcherUrl,
    ResearcherUrls,
    Work,
    Works,
)
from orcid_sync.domain.retry_policy import RetryPolicy
from orcid_sync.observability import logger

if TYPE_CHECKING:
    from orcid_sync.adapters.orcid_api.rate_limit import RateLimiter
    from orcid_sync.config import Settings

API_VERSION = "v3.0"
ORCID_JSON = "application/vnd.orcid+json"
NO_ANSWER = "no-answer"
"""The outcome recorded in :class:`RequestStats` when ORCID never answered (timeout, refused connection)."""

# Connections kept open to ORCID: one per thread of a worker pushing several researchers at once.
CONNECTION_POOL_SIZE = 32

# Failures where no (complete) answer arrived; a broken chunked body is a dropped connection too.
_TRANSIENT_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class Timeout(NamedTuple):
    """Seconds to wait for the TCP connection and then for each read of the answer."""

    connect: float
    read: float


DEFAULT_TIMEOUT = Timeout(connect=3.05, read=10.0)


class RequestStats:
    """Counts of ORCID requests (the scarce resource): per method and outcome, retries, throttles.

    One client serves several threads (a push worker pushes the researchers of its batch at once), so
    :attr:`thread_total` counts the attempts of the calling thread alone: one researcher's requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._this_thread = threading.local()
        self.by_method_and_outcome: Counter[tuple[str, str]] = Counter()
        self.retries = 0
        self.retried_posts = 0
        self.throttled = 0

    def record(self, method: str, outcome: str) -> None:
        """Count one HTTP attempt; ``outcome`` is the status code or :data:`NO_ANSWER`."""
        with self._lock:
            self.by_method_and_outcome[(method, outcome)] += 1
        self._this_thread.total = self.thread_total + 1

    @property
    def thread_total(self) -> int:
        """Every HTTP attempt the calling thread made through this client."""
        return int(getattr(self._this_thread, "total", 0))

    def record_retry(self, method: str) -> None:
        """Count a retry (a POST retry may have created a duplicate)."""
        with self._lock:
            self.retries += 1
            if method == "POST":
                self.retried_posts += 1

    def record_throttled(self) -> None:
        """Count a 503/429 answer."""
        with self._lock:
            self.throttled += 1

    @property
    def total(self) -> int:
        """Every HTTP attempt, answered or not."""
        return sum(self.by_method_and_outcome.values())

    def by_method(self) -> dict[str, int]:
        """Attempts per HTTP method."""
        counts: Counter[str] = Counter()
        for (method, _), count in self.by_method_and_outcome.items():
            counts[method] += count
        return dict(counts)

    def by_outcome(self) -> dict[str, int]:
        """Attempts per status code (or :data:`NO_ANSWER`)."""
        counts: Counter[str] = Counter()
        for (_, outcome), count in self.by_method_and_outcome.items():
            counts[outcome] += count
        return dict(counts)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for job reports and benchmarks."""
        with self._lock:
            return {
                "total": self.total,
                "by_method": self.by_method(),
                "by_outcome": self.by_outcome(),
                "retries": self.retries,
                "retried_posts": self.retried_posts,
                "throttled": self.throttled,
            }

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.by_method_and_outcome.clear()
            self.retries = self.retried_posts = self.throttled = 0


class _SavedItem(BaseModel):
    """Only the put-code of a work in a bulk POST answer: reading the rest must not lose it."""

    model_config = ConfigDict(extra="ignore")

    put_code: int = Field(alias="put-code")


class _BulkSaveAnswer(BaseModel):
    """The bulk POST answer, read leniently: per item the saved work's put-code or the error."""

    model_config = ConfigDict(extra="ignore")

    class Item(BaseModel):
        model_config = ConfigDict(extra="ignore")

        work: _SavedItem | None = None
        error: OrcidError | None = None

    bulk: list[Item] = Field(default_factory=list)


class OrcidClient:
    """ORCID Member API 3.0 and OAuth calls for any number of researchers (the token is passed per call).

    Public methods raise :class:`~orcid_sync.domain.orcid.errors.OrcidApiError` subclasses; invalid
    arguments (a bad iD, more than 100 put-codes) raise ``ValueError`` before any request.
    """

    def __init__(
        self,
        *,
        api_url: str,
        site_url: str,
        client_id: str,
        client_secret: SecretStr,
        rate_limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.site_url = site_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._rate_limiter = rate_limiter
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._session = session or _session()
        self.stats = RequestStats()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        client_secret: SecretStr,
        rate_limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> OrcidClient:
        """A client for the configured ORCID environment (or its local stand-in)."""
        read_timeout = settings.orcid_timeout_seconds
        return cls(
            api_url=settings.orcid_api_url,
            site_url=settings.orcid_site_url,
            client_id=settings.orcid_client_id,
            client_secret=client_secret,
            rate_limiter=rate_limiter,
            retry=retry,
            timeout=Timeout(connect=min(3.05, read_timeout), read=read_timeout),
            session=session,
        )

    def close(self) -> None:
        """Close the HTTP session's connections."""
        self._session.close()

    def __enter__(self) -> OrcidClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- OAuth ---------------------------------------------------------------------------------

    def exchange_code(self, code: str, redirect_uri: str) -> OAuthToken:
        """Exchange a 3-legged authorization code for the researcher's token.

        The code is single-use: if a retried exchange follows one ORCID did process, ORCID
        answers 400 ``invalid_grant`` and the researcher has to connect again.
        """
        form = {
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        }
        response = self._send("POST", f"{self.site_url}/oauth/token", form=form, secrets=[code])
        return _parse(OAuthToken, response)

    def revoke(self, token: SecretStr) -> None:
        """Revoke an access or refresh token (ORCID answers 200)."""
        form = {
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "token": token.get_secret_value(),
        }
        self._send("POST", f"{self.site_url}/oauth/revoke", form=form, secrets=[token.get_secret_value()])

    # --- record ---------------------------------------------------------------------------------

    def read_record(self, orcid: str, token: SecretStr) -> dict[str, Any]:
        """The whole record as ORCID's JSON; also the cheap probe of whether a token still works."""
        response = self._api("GET", orcid, "record", token)
        body = _json(response)
        if not isinstance(body, dict):
            raise UnexpectedResponseError(status=response.status_code, developer_message="record is not a JSON object")
        return body

    # --- works ----------------------------------------------------------------------------------

    def read_works(self, orcid: str, token: SecretStr) -> Works:
        """All work summaries on the record, grouped as ORCID groups them."""
        return _parse(Works, self._api("GET", orcid, "works", token))

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        """Full works for up to 100 put-codes, in the order asked; an item ORCID cannot return is an error."""
        if len(put_codes) > BULK_MAX_WORKS:
            raise ValueError(f"ORCID reads at most {BULK_MAX_WORKS} works per request, not {len(put_codes)}")
        if not put_codes:
            return []
        path = "works/" + ",".join(str(_put_code(put_code)) for put_code in put_codes)
        return _parse(BulkWorkResponse, self._api("GET", orcid, path, token)).items

    def read_work(self, orcid: str, token: SecretStr, put_code: int) -> Work:
        """One full work."""
        return _parse(Work, self._api("GET", orcid, f"work/{_put_code(put_code)}", token))

    def create_work(self, orcid: str, token: SecretStr, work: Work) -> int:
        """Add one work and return its put-code (see the module docstring on retried POSTs)."""
        return self._create(orcid, token, "work", work.to_orcid_json())

    def create_works(self, orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        """Add up to 100 works in one request; per work, in order, its new put-code or ORCID's error for it.

        A retried bulk POST may find its earlier twin's works in place: those items come back as
        409/9021 errors naming the existing put-code (``OrcidError.duplicate_put_code``).
        """
        if len(works) > BULK_MAX_WORKS:
            raise ValueError(f"ORCID adds at most {BULK_MAX_WORKS} works per request, not {len(works)}; split them")
        if not works:
            return []
        body = BulkWorkRequest.of(works).to_orcid_json()
        response = self._api("POST", orcid, "works", token, body=body)
        answer = _parse(_BulkSaveAnswer, response)
        if len(answer.bulk) != len(works):
            raise UnexpectedResponseError(
                status=response.status_code,
                developer_message=f"bulk answer has {len(answer.bulk)} items for {len(works)} works",
            )
        results: list[int | OrcidError] = []
        for item in answer.bulk:
            if item.work is not None:
                results.append(item.work.put_code)
            elif item.error is not None:
                results.append(item.error)
            else:
                raise UnexpectedResponseError(
                    status=response.status_code, developer_message="bulk item is neither a work nor an error"
                )
        return results

    def update_work(self, orcid: str, token: SecretStr, put_code: int, work: Work) -> Work:
        """Replace our work ``put_code`` (ORCID requires the put-code in the body too) and return it as saved."""
        return self._update(orcid, token, "work", put_code=put_code, item=work)

    def delete_work(self, orcid: str, token: SecretStr, put_code: int) -> None:
        """Delete our work ``put_code``."""
        self._api("DELETE", orcid, f"work/{_put_code(put_code)}", token)

    # --- researcher URLs --------------------------------------------------------------------------

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls:
        """The record's researcher URLs."""
        return _parse(ResearcherUrls, self._api("GET", orcid, "researcher-urls", token))

    def create_researcher_url(self, orcid: str, token: SecretStr, researcher_url: ResearcherUrl) -> int:
        """Add a researcher URL (POST to the plural path) and return its put-code."""
        return self._create(orcid, token, "researcher-urls", researcher_url.to_orcid_json())

    def update_researcher_url(
        self, orcid: str, token: SecretStr, put_code: int, researcher_url: ResearcherUrl
    ) -> ResearcherUrl:
        """Replace our researcher URL ``put_code`` and return it as saved."""
        return self._update(orcid, token, "researcher-urls", put_code=put_code, item=researcher_url)

    def delete_researcher_url(self, orcid: str, token: SecretStr, put_code: int) -> None:
        """Delete our researcher URL ``put_code``."""
        self._api("DELETE", orcid, f"researcher-urls/{_put_code(put_code)}", token)

    # --- employment -------------------------------------------------------------------------------

    def read_employments(self, orcid: str, token: SecretStr) -> Employments:
        """The record's employments, grouped as ORCID groups them."""
        return _parse(Employments, self._api("GET", orcid, "employments", token))

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int:
        """Add an employment and return its put-code (ORCID has no duplicate check without external ids)."""
        return self._create(orcid, token, "employment", employment.to_orcid_json())

    def update_employment(self, orcid: str, token: SecretStr, put_code: int, employment: Employment) -> Employment:
        """Replace our employment ``put_code`` and return it as saved."""
        return self._update(orcid, token, "employment", put_code=put_code, item=employment)

    def delete_employment(self, orcid: str, token: SecretStr, put_code: int) -> None:
        """Delete our employment ``put_code``."""
        self._api("DELETE", orcid, f"employment/{_put_code(put_code)}", token)

    # --- shared shapes of calls -------------------------------------------------------------------

    def _create(self, orcid: str, token: SecretStr, path: str, body: dict[str, Any]) -> int:
        response = self._api("POST", orcid, path, token, body=body)
        return put_code_from_location(response.headers.get("Location"), status=response.status_code)

    def _update[ItemT: OrcidItem](
        self, orcid: str, token: SecretStr, path: str, *, put_code: int, item: ItemT
    ) -> ItemT:
        _put_code(put_code)
        if item.put_code is not None and item.put_code != put_code:
            # ORCID would answer 400/9019; this is our bug, so fail before spending a request.
            raise ValueError(f"the item carries put-code {item.put_code} but the update addresses {put_code}")
        body = {"put-code": put_code, **item.to_orcid_json()}
        response = self._api("PUT", orcid, f"{path}/{put_code}", token, body=body)
        return _parse(type(item), response)

    def _api(
        self, method: str, orcid: str, path: str, token: SecretStr, *, body: Mapping[str, Any] | None = None
    ) -> requests.Response:
        url = f"{self.api_url}/{API_VERSION}/{parse_orcid(orcid)}/{path}"
        return self._send(method, url, token=token, body=body)

    def _send(
        self,
        method: str,
        url: str,
        *,
        token: SecretStr | None = None,
        body: Mapping[str, Any] | None = None,
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
        path = urlsplit(url).path
        policy = self._retry

        for attempt in range(1, policy.max_attempts + 1):
            self._rate_limiter.acquire()
            started = time.monotonic()
            try:
                response = self._session.request(
                    method, url, headers=headers, data=payload, timeout=self._timeout, allow_redirects=False
                )
            except _TRANSIENT_TRANSPORT_ERRORS as exc:
                failure: OrcidApiError = OrcidUnreachableError(reason=type(exc).__name__, attempts=attempt)
                self._log(method, path, NO_ANSWER, attempt, started, reason=type(exc).__name__)
                self.stats.record(method, NO_ANSWER)
            except requests.RequestException as exc:
                # Not transient (a malformed URL, say). The exception holds the prepared request and
                # its Authorization header, so it is not chained.
                raise OrcidApiError(status=None, developer_message=f"request failed: {type(exc).__name__}") from None
            else:
                status = response.status_code
                self._log(method, path, str(status), attempt, started)
                self.stats.record(method, str(status))
                if 200 <= status < 300:
                    return response
                retry_after = _retry_after(response.headers.get("Retry-After"))
                failure = error_from_response(
                    status,
                    response.text,
                    content_type=response.headers.get("Content-Type", ""),
                    location=response.headers.get("Location"),
                    retry_after=retry_after,
                    secrets=redacted,
                    oauth_endpoint=form is not None,
                    attempts=attempt,
                )
                if status in {429, 503}:
                    self.stats.record_throttled()
                    if retry_after is not None:
                        self._rate_limiter.penalise(retry_after)
                    else:
                        self._rate_limiter.on_throttled()

            if not isinstance(failure, RetryableOrcidError) or attempt == policy.max_attempts:
                raise failure
            delay = policy.delay(attempt, failure.retry_after)
            self.stats.record_retry(method)
            logger.warning(
                "retrying ORCID request",
                method=method,
                path=path,
                status=failure.status,
                attempt=attempt,
                delay_seconds=round(delay, 3),
                # A retried POST may create the item twice; callers recover works via 409/9021.
                may_duplicate=method == "POST",
            )
            policy.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    @staticmethod
    def _log(method: str, path: str, outcome: str, attempt: int, started: float, *, reason: str = "") -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        fields: dict[str, object] = {"method": method, "path": path, "status": outcome, "attempt": attempt}
        fields["duration_ms"] = duration_ms
        if reason:
            fields["reason"] = reason
        logger.info("ORCID request", extra=fields)


def _session() -> requests.Session:
    """A session whose pool keeps a connection for each of a worker's threads (requests keeps 10)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONNECTION_POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def put_code_from_location(location: str | None, *, status: int = 201) -> int:
    """The put-code ORCID puts in the last path segment of a 201's ``Location``."""
    segment = urlsplit(location or "").path.rstrip("/").rsplit("/", 1)[-1]
    if not segment.isdigit():
        raise UnexpectedResponseError(
            status=status, developer_message=f"no put-code in the Location header ({location or 'missing'})"
        )
    return int(segment)


def _put_code(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a put-code is a positive integer, not {value!r}")
    return value


def _retry_after(value: str | None) -> float | None:
    """Retry-After in delta-seconds; the HTTP-date form is ignored (ORCID documents neither)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UnexpectedResponseError(status=response.status_code, developer_message="answer is not JSON") from None


def _parse[ModelT: BaseModel](model: type[ModelT], response: requests.Response) -> ModelT:
    """Validate an answer; the error names only field locations, never values (a token answer holds a token)."""
    try:
        return model.model_validate(_json(response))
    except ValidationError as exc:
        problems = ", ".join(".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors())
        raise UnexpectedResponseError(
            status=response.status_code, developer_message=f"answer is not a valid {model.__name__}: {problems}"
        ) from None


__all__ = [
    "API_VERSION",
    "NO_ANSWER",
    "RETRYABLE_STATUSES",
    "OrcidClient",
    "RequestStats",
    "RetryPolicy",
    "Timeout",
    "put_code_from_location",
]
