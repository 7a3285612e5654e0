"""The data-access interfaces the use cases depend on (DynamoDB in AWS, fakes in unit tests)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from orcid_sync.domain.models import (
    Asset,
    AssetInput,
    OrcidStatus,
    Researcher,
    ResearcherInput,
    SealedSecret,
    StoredToken,
    TokenInvalidReason,
)


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


_ASSET_CONTENT_FIELDS = frozenset(AssetInput.model_fields)


def asset_content_hash(asset: AssetInput) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of what the institution sent for an asset.

    An :class:`Asset` hashes as the input it was stored from: ``updated_at`` is not content. Fields
    at their default (absent, ``null``, ``[]``) are left out, so an optional field added to the model
    later does not make every stored asset look changed.
    """
    content = asset.model_dump(mode="json", include=set(_ASSET_CONTENT_FIELDS), exclude_defaults=True)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AssetState(BaseModel):
    """What an upsert compares an incoming asset with: the stored one's content hash, and whose copies it has."""

    model_config = ConfigDict(frozen=True)

    content_hash: str
    researchers: list[str]

    @classmethod
    def of(cls, asset: Asset) -> AssetState:
        return cls(content_hash=asset_content_hash(asset), researchers=list(asset.researchers))


class AssetStore(Protocol):
    def get(self, asset_id: str) -> Asset | None: ...

    def states(self, asset_ids: Sequence[str]) -> dict[str, AssetState]:
        """The stored assets among these, by id: their content hashes and researchers, never their documents."""
        ...

    def write(self, asset: Asset, *, previous: AssetState | None) -> None:
        """Store the asset, its content hash and per-researcher copies; drop the copies ``previous`` had beyond them."""
        ...

    def put(self, asset: Asset) -> Asset | None:
        """Store the asset and its per-researcher copies; return the previous version."""
        ...

    def delete(self, asset_id: str) -> Asset | None: ...

    def list_for_researcher(self, researcher_id: str) -> list[Asset]: ...


class SealingBatch(Protocol):
    """Seals many token values under one data key (one KMS call for the whole batch)."""

    def seal(self, researcher_id: str, secret: str) -> SealedSecret: ...


class TokenCipher(Protocol):
    """Seals and opens ORCID token values (envelope encryption; the researcher id is bound to each value)."""

    def batch(self) -> SealingBatch: ...

    def open(self, researcher_id: str, sealed: SealedSecret) -> str: ...
