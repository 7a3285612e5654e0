"""The data-access interfaces the use cases depend on (DynamoDB in AWS, fakes in unit tests)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from orcid_sync.models import Asset, OrcidStatus, Researcher, ResearcherInput, StoredToken


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
        self, researcher_id: str, *, orcid: str, scopes: Sequence[str], connected_at: datetime
    ) -> Researcher:
        """Record an authenticated iD and an active connection."""
        ...

    def set_status(self, researcher_id: str, status: OrcidStatus, *, scopes: Sequence[str] | None = None) -> None: ...

    def mark_synced(self, researcher_id: str, at: datetime) -> None: ...


class TokenStore(Protocol):
    def get(self, researcher_id: str) -> StoredToken | None: ...

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, StoredToken]: ...

    def put(self, token: StoredToken) -> None: ...

    def put_many(self, tokens: Sequence[StoredToken]) -> None: ...

    def mark_revoked(self, researcher_id: str, at: datetime) -> None: ...

    def delete(self, researcher_id: str) -> None: ...


class AssetStore(Protocol):
    def get(self, asset_id: str) -> Asset | None: ...

    def put(self, asset: Asset) -> Asset | None:
        """Store the asset and its per-researcher copies; return the previous version."""
        ...

    def delete(self, asset_id: str) -> Asset | None: ...

    def list_for_researcher(self, researcher_id: str) -> list[Asset]: ...
