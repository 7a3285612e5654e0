"""The ORCID API as the executor sees it: the ledger is written before each request that touches works."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import SecretStr

from orcid_sync.domain.orcid.models import (
    Employment,
    OrcidError,
    ResearcherUrl,
    ResearcherUrls,
    Work,
)
from orcid_sync.domain.push.ledger import (
    LedgerBuffer,
)
from orcid_sync.domain.push.orcid_port import OrcidPushApi
from orcid_sync.domain.push.run import OutOfTimeError

REQUEST_TIME_MARGIN_SECONDS = 30.0
"""No ORCID request starts with less than this left of the invocation: time for its retries and the ledger."""


class LedgerFirstApi:
    """The ORCID API, but every request that touches works first writes the ledger changes held so far.

    So the entries of bulk POST N are durable before bulk POST N+1 goes out (and a PUT's or DELETE's
    before the next). The researcher-url and employment requests go with create and update entries
    still held (a lost one is adopted from ORCID's 409 on the rerun), not with a held deletion (of a
    work's entry, or of the old fingerprint). No request starts too close to the invocation's end
    (:class:`OutOfTimeError`).
    """

    def __init__(self, api: OrcidPushApi, ledger: LedgerBuffer, time_left: Callable[[], float]) -> None:
        self._api = api
        self._ledger = ledger
        self._time_left = time_left

    def _in_time(self) -> None:
        left = self._time_left()
        if left < REQUEST_TIME_MARGIN_SECONDS:
            raise OutOfTimeError(f"the invocation ends in {left:.0f} s; continuing in another one")

    def _works_request(self) -> None:
        self._in_time()
        self._ledger.flush()

    def _other_request(self) -> None:
        self._in_time()
        if self._ledger.holds_deletion:
            self._ledger.flush()

    def create_works(self, orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        self._works_request()
        return self._api.create_works(orcid, token, works)

    def create_work(self, orcid: str, token: SecretStr, work: Work) -> int:
        self._works_request()
        return self._api.create_work(orcid, token, work)

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        self._works_request()
        return self._api.read_works_by_put_codes(orcid, token, put_codes)

    def update_work(self, orcid: str, token: SecretStr, put_code: int, work: Work) -> Work:
        self._works_request()
        return self._api.update_work(orcid, token, put_code, work)

    def delete_work(self, orcid: str, token: SecretStr, put_code: int) -> None:
        self._works_request()
        self._api.delete_work(orcid, token, put_code)

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls:
        self._other_request()
        return self._api.read_researcher_urls(orcid, token)

    def create_researcher_url(self, orcid: str, token: SecretStr, researcher_url: ResearcherUrl) -> int:
        self._other_request()
        return self._api.create_researcher_url(orcid, token, researcher_url)

    def update_researcher_url(
        self, orcid: str, token: SecretStr, put_code: int, researcher_url: ResearcherUrl
    ) -> ResearcherUrl:
        self._other_request()
        return self._api.update_researcher_url(orcid, token, put_code, researcher_url)

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int:
        self._other_request()
        return self._api.create_employment(orcid, token, employment)
