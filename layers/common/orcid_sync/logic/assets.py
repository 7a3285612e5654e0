"""Research assets as the institution's systems feed them: the push job later sends the approved ones to ORCID."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ValidationError

from orcid_sync.errors import InvalidInputError, NotFoundError, Problem
from orcid_sync.logic.batches import (
    BatchReport,
    RowOutcome,
    RowOutcomeKind,
    as_mapping,
    check_batch_size,
    duplicate_problem,
    problems_from,
    rejected,
)
from orcid_sync.models import Asset, AssetInput
from orcid_sync.store.base import AssetStore


class AssetWrite(BaseModel):
    """The stored asset and whether the PUT created it."""

    created: bool
    asset: Asset


def _stamped(asset: AssetInput, now: datetime) -> Asset:
    return Asset.model_validate({**asset.model_dump(), "updated_at": now})


def put_asset(assets: AssetStore, asset: AssetInput, *, path_id: str, now: datetime) -> AssetWrite:
    """Create or replace one asset (its per-researcher copies follow its researcher list)."""
    if asset.id != path_id:
        raise InvalidInputError(
            "the asset id in the body differs from the one in the path",
            [Problem(field="body.id", reason=f"is {asset.id!r} but the path says {path_id!r}")],
        )
    stored = _stamped(asset, now)
    previous = assets.put(stored)
    return AssetWrite(created=previous is None, asset=stored)


def load_assets(assets: AssetStore, rows: Sequence[object], *, now: datetime) -> BatchReport:
    """Store a batch row by row: valid rows are stored even when others are rejected."""
    check_batch_size(len(rows))
    outcomes: list[RowOutcome] = []
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows):
        mapping = as_mapping(row, index)
        if isinstance(mapping, Problem):
            outcomes.append(rejected(index, [mapping]))
            continue
        try:
            asset = AssetInput.model_validate(mapping)
        except ValidationError as exc:
            row_id = mapping.get("id")
            outcomes.append(rejected(index, problems_from(exc, row=index), row_id=str(row_id) if row_id else None))
            continue
        if asset.id in first_row:
            problem = duplicate_problem(index, first_row[asset.id], "id", f"asset {asset.id}")
            outcomes.append(rejected(index, [problem], row_id=asset.id))
            continue
        first_row[asset.id] = index
        previous = assets.put(_stamped(asset, now))
        kind = RowOutcomeKind.CREATED if previous is None else RowOutcomeKind.UPDATED
        outcomes.append(RowOutcome(row=index, id=asset.id, outcome=kind))
    return BatchReport.of(outcomes)


def get_asset(assets: AssetStore, asset_id: str) -> Asset:
    asset = assets.get(asset_id)
    if asset is None:
        raise NotFoundError(f"no asset has id {asset_id}")
    return asset


def delete_asset(assets: AssetStore, asset_id: str) -> None:
    """Forget an asset; the next push removes the works it became on ORCID."""
    if assets.delete(asset_id) is None:
        raise NotFoundError(f"no asset has id {asset_id}")
