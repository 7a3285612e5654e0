"""The ORCID Member API 3.0 and OAuth client: typed results, typed errors, one HTTP session.

Every request goes through :class:`~orcid_sync.adapters.orcid_api.transport.OrcidTransport`, which
takes a rate-limit token per attempt, retries transient failures with capped exponential backoff and
full jitter (tenacity, shaped by the domain's :class:`RetryPolicy`), counts requests in
:class:`RequestStats`, and maps failures to :mod:`orcid_sync.domain.orcid.errors`. Answers are read
by :mod:`orcid_sync.adapters.orcid_api.answers`.

Retrying a POST is not idempotent on ORCID's side: when a POST timed out or got a 5xx, ORCID
may still have created the item, and the retry then creates it again (an employment) or fails
with 409/9021 (a work, which carries a ``self`` id). The client retries anyway and reports it
(``RequestStats.retried_posts``, ``OrcidApiError.attempts``, a warning log); the caller
recovers a work's put-code from :class:`~orcid_sync.domain.orcid.errors.DuplicateWorkError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import requests
from pydantic import SecretStr

from orcid_sync.adapters.orcid_api.answers import (
    BulkSaveAnswer,
    checked_put_code,
    json_body,
    parse_answer,
    put_code_from_location,
)
from orcid_sync.adapters.orcid_api.request_stats import NO_ANSWER, RequestStats
from orcid_sync.adapters.orcid_api.transport import DEFAULT_TIMEOUT, OrcidTransport, Timeout, new_session
from orcid_sync.domain.identifiers import parse_orcid
from orcid_sync.domain.orcid.errors import RETRYABLE_STATUSES, UnexpectedResponseError
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
from orcid_sync.domain.orcid.notifications import NotificationPermission
from orcid_sync.domain.retry_policy import RetryPolicy

if TYPE_CHECKING:
    from orcid_sync.adapters.orcid_api.limiters import RateLimiter
    from orcid_sync.config import Settings

API_VERSION = "v3.0"


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
        self.stats = RequestStats()
        self._transport = OrcidTransport(
            client_secret=client_secret,
            rate_limiter=rate_limiter,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            session=session or new_session(),
            stats=self.stats,
        )

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
        self._transport.close()

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
        response = self._transport.send("POST", f"{self.site_url}/oauth/token", form=form, secrets=[code])
        return parse_answer(OAuthToken, response)

    def client_credentials_token(self, scope: str) -> OAuthToken:
        """A 2-legged token of this client for ``scope`` (e.g. ``/premium-notification``); ORCID's last ~20 years."""
        form = {
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "grant_type": "client_credentials",
            "scope": scope,
        }
        return parse_answer(OAuthToken, self._transport.send("POST", f"{self.site_url}/oauth/token", form=form))

    def revoke(self, token: SecretStr) -> None:
        """Revoke an access or refresh token (ORCID answers 200)."""
        form = {
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "token": token.get_secret_value(),
        }
        self._transport.send("POST", f"{self.site_url}/oauth/revoke", form=form, secrets=[token.get_secret_value()])

    # --- record ---------------------------------------------------------------------------------

    def read_record(self, orcid: str, token: SecretStr) -> dict[str, Any]:
        """The whole record as ORCID's JSON; also the cheap probe of whether a token still works."""
        response = self._api("GET", orcid, "record", token)
        body = json_body(response)
        if not isinstance(body, dict):
            raise UnexpectedResponseError(status=response.status_code, developer_message="record is not a JSON object")
        return body

    # --- works ----------------------------------------------------------------------------------

    def read_works(self, orcid: str, token: SecretStr) -> Works:
        """All work summaries on the record, grouped as ORCID groups them."""
        return parse_answer(Works, self._api("GET", orcid, "works", token))

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        """Full works for up to 100 put-codes, in the order asked; an item ORCID cannot return is an error."""
        if len(put_codes) > BULK_MAX_WORKS:
            raise ValueError(f"ORCID reads at most {BULK_MAX_WORKS} works per request, not {len(put_codes)}")
        if not put_codes:
            return []
        path = "works/" + ",".join(str(checked_put_code(put_code)) for put_code in put_codes)
        return parse_answer(BulkWorkResponse, self._api("GET", orcid, path, token)).items

    def read_work(self, orcid: str, token: SecretStr, put_code: int) -> Work:
        """One full work."""
        return parse_answer(Work, self._api("GET", orcid, f"work/{checked_put_code(put_code)}", token))

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
        answer = parse_answer(BulkSaveAnswer, response)
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
        self._api("DELETE", orcid, f"work/{checked_put_code(put_code)}", token)

    # --- researcher URLs --------------------------------------------------------------------------

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls:
        """The record's researcher URLs."""
        return parse_answer(ResearcherUrls, self._api("GET", orcid, "researcher-urls", token))

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
        self._api("DELETE", orcid, f"researcher-urls/{checked_put_code(put_code)}", token)

    # --- employment -------------------------------------------------------------------------------

    def read_employments(self, orcid: str, token: SecretStr) -> Employments:
        """The record's employments, grouped as ORCID groups them."""
        return parse_answer(Employments, self._api("GET", orcid, "employments", token))

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int:
        """Add an employment and return its put-code (ORCID has no duplicate check without external ids)."""
        return self._create(orcid, token, "employment", employment.to_orcid_json())

    def update_employment(self, orcid: str, token: SecretStr, put_code: int, employment: Employment) -> Employment:
        """Replace our employment ``put_code`` and return it as saved."""
        return self._update(orcid, token, "employment", put_code=put_code, item=employment)

    def delete_employment(self, orcid: str, token: SecretStr, put_code: int) -> None:
        """Delete our employment ``put_code``."""
        self._api("DELETE", orcid, f"employment/{checked_put_code(put_code)}", token)

    # --- inbox ----------------------------------------------------------------------------------

    def send_permission_notification(self, orcid: str, token: SecretStr, notification: NotificationPermission) -> int:
        """Put a permission request in the researcher's ORCID inbox (a 2-legged /premium-notification token)."""
        return self._create(orcid, token, "notification-permission", notification.to_orcid_json())

    # --- shared shapes of calls -------------------------------------------------------------------

    def _create(self, orcid: str, token: SecretStr, path: str, body: dict[str, Any]) -> int:
        response = self._api("POST", orcid, path, token, body=body)
        return put_code_from_location(response.headers.get("Location"), status=response.status_code)

    def _update[ItemT: OrcidItem](
        self, orcid: str, token: SecretStr, path: str, *, put_code: int, item: ItemT
    ) -> ItemT:
        checked_put_code(put_code)
        if item.put_code is not None and item.put_code != put_code:
            # ORCID would answer 400/9019; this is our bug, so fail before spending a request.
            raise ValueError(f"the item carries put-code {item.put_code} but the update addresses {put_code}")
        body = {"put-code": put_code, **item.to_orcid_json()}
        response = self._api("PUT", orcid, f"{path}/{put_code}", token, body=body)
        return parse_answer(type(item), response)

    def _api(
        self, method: str, orcid: str, path: str, token: SecretStr, *, body: Mapping[str, Any] | None = None
    ) -> requests.Response:
        url = f"{self.api_url}/{API_VERSION}/{parse_orcid(orcid)}/{path}"
        return self._transport.send(method, url, token=token, body=body)


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
