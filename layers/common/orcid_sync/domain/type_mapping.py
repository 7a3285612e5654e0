"""Esploro asset type → ORCID work type, from the seeds' table, overridable per institution."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

from orcid_sync.domain.orcid.vocabulary import WORK_TYPE_ALIASES, WORK_TYPES

FALLBACK_WORK_TYPE = "other"


class UnknownWorkTypeError(ValueError):
    """An override names a work type ORCID's API 3.0 does not accept."""


def to_api3_work_type(work_type: str) -> str:
    """Resolve aliases and 2.x names (``dissertation``) to the API 3.0 value; reject unknown ones."""
    resolved = WORK_TYPE_ALIASES.get(work_type, work_type)
    if resolved not in WORK_TYPES:
        raise UnknownWorkTypeError(f"{work_type!r} is not an ORCID API 3.0 work type")
    return resolved


@lru_cache(maxsize=1)
def default_mapping() -> dict[str, str]:
    """The built-in table (``data/esploro-work-types.csv``), normalised to API 3.0 types."""
    text = resources.files("orcid_sync").joinpath("data/esploro-work-types.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return {row["esploro_asset_type"]: to_api3_work_type(row["orcid_work_type"]) for row in rows}


class WorkTypeMapping:
    """The effective mapping: the built-in table with an institution's overrides on top."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._table = dict(default_mapping())
        for asset_type, work_type in (overrides or {}).items():
            self._table[asset_type] = to_api3_work_type(work_type)

    def is_known(self, asset_type: str) -> bool:
        return asset_type in self._table

    def work_type(self, asset_type: str) -> str:
        """The ORCID work type for an asset type; unknown subtypes fall back to their category."""
        if asset_type in self._table:
            return self._table[asset_type]
        category = asset_type.split(".", 1)[0]
        return self._table.get(category, FALLBACK_WORK_TYPE)

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._table.items())
