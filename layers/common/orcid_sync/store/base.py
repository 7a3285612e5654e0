"""The data-access interfaces the use cases depend on (DynamoDB in AWS, fakes in unit tests)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from orcid_sync.models import Asset, OrcidStatus, Researcher, ResearcherInput, StoredToken, TokenInvalidReason


class Page[ItemT](BaseModel):
    """One page of a listing; pass ``next_cursor`` back to get the next one."""

    items: list[ItemT]
    next_cursor: str | None = None


class ResearcherStore(Protocol):
    def get(self, researcher_id: str) -> Researcher | None: ...

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, Researcher]: ...

    def upsert_profile(self, profile: ResearcherInput) -> Researcher:
        """Write the institution's fields, keeping the ORCID connection fields we manage."""
        ...

    def find_by_orcid(self, orcid: str) -> list[Researcher]: ...

    def list(self, *, status: OrcidStatus | None, limit: int, cursor: str | None) -> Page[Researcher]: ...

    def iter_all(self) -> Iterable[Researcher]: ...

    def record_connection(
        self,
        researcher_id: str,
        *,
        orcid: str,
        scopes: Sequence[str],
        connected_at: datetime,
        authenticated: bool = True,
    ) -> Researcher:
        """Record an active connection for this iD; ``authenticated`` when ORCID vouched for the iD.

        Without ``authenticated`` (an imported token nobody tried yet) the iD is only as authenticated
        as it already was: a wrong-record token must not lock the iD against correction.
        """
        ...

    def mark_authenticated(self, researcher_id: str, *, orcid: str) -> bool:
        """ORCID accepted a token for this iD: record it as authenticated (False if the iD changed meanwhile)."""
        ...

    def set_status(self, researcher_id: str, status: OrcidStatus, *, scopes: Sequence[str] | None = None) -> None: ...

    def mark_synced(self, researcher_id: str, at: datetime) -> None: ...


class TokenStore(Protocol):
    def get(self, researcher_id: str) -> StoredToken | None: ...

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, StoredToken]: ...

    def put(self, token: StoredToken) -> None: ...

    def put_many(self, tokens: Sequence[StoredToken]) -> None: ...

    def mark_revoked(self, researcher_id: str, at: datetime) -> None: ...

    def mark_invalid(self, researcher_id: str, *, at: datetime, reason: TokenInvalidReason, fingerprint: str) -> bool:
        """Record that ORCID refused this token; False when the stored token is another one (replaced meanwhile)."""
        ...

    def delete(self, researcher_id: str) -> None: ...


class AssetStore(Protocol):
    def get(self, asset_id: str) -> Asset | None: ...

    def put(self, asset: Asset) -> Asset | None:
        """Store the asset and its per-researcher copies; return the previous version."""
        ...

    def delete(self, asset_id: str) -> Asset | None: ...

    def list_for_researcher(self, researcher_id: str) -> list[Asset]: ...
