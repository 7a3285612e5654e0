"""The ORCID Member API calls the push makes (the port), and how ORCID's errors read in the push's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import SecretStr

from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import (
    Employment,
    OrcidError,
    ResearcherUrl,
    ResearcherUrls,
    Work,
)


class OrcidPushApi(Protocol):
    """The ORCID Member API calls the push makes (``orcid_sync.adapters.orcid_api.client.OrcidClient``)."""

    def create_works(self, orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        """Bulk POST (≤100): per work, in order, its new put-code or ORCID's error for it."""
        ...

    def create_work(self, orcid: str, token: SecretStr, work: Work) -> int: ...

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        """Bulk GET (≤100) of full works by put-code, in order."""
        ...

    def update_work(self, orcid: str, token: SecretStr, put_code: int, work: Work) -> Work: ...

    def delete_work(self, orcid: str, token: SecretStr, put_code: int) -> None: ...

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls: ...

    def create_researcher_url(self, orcid: str, token: SecretStr, researcher_url: ResearcherUrl) -> int: ...

    def update_researcher_url(
        self, orcid: str, token: SecretStr, put_code: int, researcher_url: ResearcherUrl
    ) -> ResearcherUrl: ...

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int: ...


def status_and_code(error: BaseException | OrcidError | None) -> tuple[int | None, int | None]:
    if error is None:
        return None, None
    if isinstance(error, OrcidError):
        return error.response_code, error.error_code
    status = getattr(error, "status", None)
    code = getattr(error, "error_code", None)
    return (status if isinstance(status, int) else None), (code if isinstance(code, int) else None)


def orcid_message(error: BaseException | OrcidError) -> str:
    if isinstance(error, OrcidError):
        return error.developer_message or error.user_message or f"ORCID answered {error.response_code}"
    if isinstance(error, orcid_errors.OrcidApiError):
        return error.developer_message or error.user_message or str(error)
    return str(error) or type(error).__name__


def duplicate_error(exc: orcid_errors.DuplicateWorkError) -> OrcidError:
    return OrcidError(
        response_code=409,
        error_code=9021,
        developer_message=f"409 Conflict: duplicate of put-code {exc.existing_put_code}",
    )


def as_orcid_error(exc: orcid_errors.OrcidApiError) -> OrcidError:
    status, code = status_and_code(exc)
    return OrcidError(response_code=status or 400, error_code=code, developer_message=orcid_message(exc))
