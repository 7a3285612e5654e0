"""Research assets as the institution's systems feed them: the push job later sends the approved ones to ORCID.

An asset sent again with the content it has is ``unchanged``: nothing is written, not even
``updated_at``, which the push's per-researcher fingerprint reads. An institution re-sending its
whole export every night therefore costs a read per 100 assets, and the next push skips everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from orcid_sync.domain.batches import (
    BatchReport,
    RowOutcome,
    RowOutcomeKind,
    check_batch_size,
    parse_rows,
)
from orcid_sync.domain.errors import InvalidInputError, NotFoundError, Problem
from orcid_sync.domain.models import Asset, AssetInput, Researcher
from orcid_sync.domain.ports import AssetState, AssetStore, asset_content_hash


class KnownResearchers(Protocol):
    """The one ResearcherStore read an asset load makes: which of these researchers exist."""

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, Researcher]: ...


WriteOutcome = Literal["created", "updated", "unchanged"]


class StoredAsset(Asset):
    """``PUT /assets/{id}``: the asset as stored, what the PUT did, and what is odd about it (stored anyway)."""

    outcome: WriteOutcome = Field(
        description="created, updated, or unchanged: the content was stored already and nothing was written",
    )
    warnings: list[Problem] = Field(default_factory=list)


class AssetWrite(BaseModel):
    """The stored asset and what the PUT did to it."""

    asset: StoredAsset

    @property
    def created(self) -> bool:
        return self.asset.outcome == "created"


def _stamped(asset: AssetInput, now: datetime) -> Asset:
    return Asset.model_validate({**asset.model_dump(), "updated_at": now})


def unknown_researcher_warnings(
    asset: AssetInput, known: set[str], *, row: int | None = None, prefix: str = ""
) -> list[Problem]:
    """A warning per researcher id no researcher has: the asset is kept, and pushed once they are loaded."""
    return [
        Problem(
            row=row,
            field=f"{prefix}researchers.{position}",
            reason=f"no researcher has id {rid} (yet): the asset is stored, and pushed for them once they are loaded",
        )
        for position, rid in enumerate(asset.researchers)
        if rid not in known
    ]


def put_asset(
    assets: AssetStore,
    asset: AssetInput,
    *,
    path_id: str,
    now: datetime,
    researchers: KnownResearchers | None = None,
) -> AssetWrite:
    """Create or replace one asset (its per-researcher copies follow its researcher list).

    With ``researchers``, a researcher id nobody has is a warning in the answer, not a refusal:
    the institution's feeds may send an asset before its researcher.
    """
    if asset.id != path_id:
        raise InvalidInputError(
            "the asset id in the body differs from the one in the path",
            [Problem(field="body.id", reason=f"is {asset.id!r} but the path says {path_id!r}")],
        )
    warnings: list[Problem] = []
    if researchers is not None:
        known = set(researchers.get_many(asset.researchers))
        warnings = unknown_researcher_warnings(asset, known, prefix="body.")
    current = assets.get(asset.id)
    outcome: WriteOutcome
    if current is not None and asset_content_hash(current) == asset_content_hash(asset):
        stored, outcome = current, "unchanged"
    else:
        stored = _stamped(asset, now)
        assets.write(stored, previous=AssetState.of(current) if current else None)
        outcome = "created" if current is None else "updated"
    return AssetWrite(
        asset=StoredAsset.model_validate({**stored.model_dump(), "outcome": outcome, "warnings": warnings})
    )


def load_assets(
    assets: AssetStore, rows: Sequence[object], *, now: datetime, researchers: KnownResearchers | None = None
) -> BatchReport:
    """Store a batch row by row: valid rows are stored even when others are rejected.

    The stored content hashes of the batch's assets are read first (one read per 100 assets); a row
    with its stored content is ``unchanged`` and not written. With ``researchers``, each accepted row
    naming a researcher nobody has carries a warning.
    """
    check_batch_size(len(rows))
    parsed, outcomes = parse_rows(rows, AssetInput.model_validate, noun="asset")

    known: set[str] | None = None
    if researchers is not None:
        named = dict.fromkeys(rid for asset in parsed.values() for rid in asset.researchers)
        known = set(researchers.get_many(list(named))) if named else set()
    stored = assets.states([asset.id for asset in parsed.values()]) if parsed else {}
    for index, asset in parsed.items():
        previous = stored.get(asset.id)
        if previous is not None and previous.content_hash == asset_content_hash(asset):
            kind = RowOutcomeKind.UNCHANGED
        else:
            assets.write(_stamped(asset, now), previous=previous)
            kind = RowOutcomeKind.CREATED if previous is None else RowOutcomeKind.UPDATED
        warnings = unknown_researcher_warnings(asset, known, row=index) if known is not None else []
        outcomes[index] = RowOutcome(row=index, id=asset.id, outcome=kind, warnings=warnings)
    return BatchReport.of([outcomes[index] for index in range(len(rows))])


def get_asset(assets: AssetStore, asset_id: str) -> Asset:
    asset = assets.get(asset_id)
    if asset is None:
        raise NotFoundError(f"no asset has id {asset_id}")
    return asset


def delete_asset(assets: AssetStore, asset_id: str) -> None:
    """Forget an asset; the next push removes the works it became on ORCID."""
    if assets.delete(asset_id) is None:
        raise NotFoundError(f"no asset has id {asset_id}")
