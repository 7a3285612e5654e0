"""Our copy of ORCID's vocabularies equals ``orcid-model/enums.json``; the mapping only yields ORCID work types."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from orcid_sync.domain.orcid import vocabulary
from orcid_sync.domain.type_mapping import WorkTypeMapping, default_mapping


@pytest.fixture(scope="module")
def enums(shared_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_dir / "orcid-model" / "enums.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("ours", "key"),
    [
        ("WORK_TYPES", "work_types"),
        ("RELATIONSHIPS", "relationships"),
        ("CITATION_TYPES", "citation_types"),
        ("CONTRIBUTOR_ROLES", "legacy_contributor_roles"),
        ("CONTRIBUTOR_SEQUENCES", "contributor_sequences"),
        ("EXTERNAL_ID_TYPES", "external_id_types"),
        ("DISAMBIGUATION_SOURCES", "disambiguation_sources"),
    ],
)
def test_vocabulary_equals_orcid_enums(enums: dict[str, Any], ours: str, key: str) -> None:
    listed = enums[key]

    assert len(listed) == len(set(listed)), f"enums.json {key} has duplicates"
    assert getattr(vocabulary, ours) == frozenset(listed)


def test_every_enums_list_is_checked(enums: dict[str, Any]) -> None:
    checked = {
        "work_types",
        "relationships",
        "citation_types",
        "legacy_contributor_roles",
        "contributor_sequences",
        "external_id_types",
        "disambiguation_sources",
        "work_type_aliases_accepted_on_input",
    }

    assert {key for key in enums if not key.startswith("_")} == checked


def test_aliases_include_orcids_and_resolve_to_work_types(enums: dict[str, Any]) -> None:
    orcid_aliases: dict[str, str] = enums["work_type_aliases_accepted_on_input"]

    assert orcid_aliases.items() <= vocabulary.WORK_TYPE_ALIASES.items()
    assert set(vocabulary.WORK_TYPE_ALIASES.values()) <= vocabulary.WORK_TYPES
    assert not set(vocabulary.WORK_TYPE_ALIASES) & vocabulary.WORK_TYPES
    # API 2.x's name, which 3.0 rejects; the seeds' table still uses it.
    assert vocabulary.WORK_TYPE_ALIASES["dissertation"] == "dissertation-thesis"


def test_every_mapped_work_type_is_an_orcid_work_type() -> None:
    yielded = {work_type for _, work_type in WorkTypeMapping().items()}

    assert yielded <= vocabulary.WORK_TYPES, yielded - vocabulary.WORK_TYPES


def test_the_seeds_dissertation_row_is_resolved_to_dissertation_thesis(shared_dir: Path) -> None:
    with (shared_dir / "esploro-work-types.csv").open(encoding="utf-8", newline="") as table:
        seeds = {row["esploro_asset_type"]: row["orcid_work_type"] for row in csv.DictReader(table)}

    assert seeds["etdexternal.doctoral_external"] == "dissertation"
    assert default_mapping()["etdexternal.doctoral_external"] == "dissertation-thesis"
    assert {asset for asset, work_type in seeds.items() if work_type not in vocabulary.WORK_TYPES} == {
        "etdexternal.doctoral_external"
    }


def read_table(text: str) -> dict[str, str]:
    return {row["esploro_asset_type"]: row["orcid_work_type"] for row in csv.DictReader(text.splitlines())}


def test_project_copy_of_the_table_matches_the_shared_one(shared_dir: Path) -> None:
    shared = read_table((shared_dir / "esploro-work-types.csv").read_text(encoding="utf-8"))
    ours = read_table(resources.files("orcid_sync").joinpath("data/esploro-work-types.csv").read_text(encoding="utf-8"))

    assert set(ours) == set(shared)
    assert ours == shared
    assert len(shared) == 86


def test_our_countries_are_the_ones_the_orcid_sandbox_enforces() -> None:
    # Both copy ORCID's Iso3166Country (enums.json has no countries); the sandbox keeps its own so
    # that a slip in ours would not pass it. An employment with a code outside the list is a 400/9037.
    from orcid_sync_local.orcid_sandbox.vocabularies import ISO_3166_COUNTRIES

    assert vocabulary.COUNTRIES == ISO_3166_COUNTRIES
    assert {"GB", "US", "XK"} <= vocabulary.COUNTRIES
    assert "UK" not in vocabulary.COUNTRIES
