"""Esploro asset type → ORCID work type: the seeds' table, institution overrides, category fallback, the CLI."""

from __future__ import annotations

import csv
import io
import re

import pytest
from click.testing import CliRunner

from orcid_sync.domain.type_mapping import FALLBACK_WORK_TYPE, UnknownWorkTypeError, WorkTypeMapping, to_api3_work_type
from orcid_sync_cli.main import cli


def test_table_rows_map_to_their_work_type() -> None:
    mapping = WorkTypeMapping()

    assert mapping.work_type("publication.journalArticle") == "journal-article"
    assert mapping.work_type("etdexternal.doctoral_external") == "dissertation-thesis"
    assert mapping.is_known("publication.journalArticle")
    assert not mapping.is_known("publication.notAType")


def test_overrides_replace_rows_and_add_new_ones() -> None:
    mapping = WorkTypeMapping({"publication.journalArticle": "preprint", "local.poster": "conference-poster"})

    assert mapping.work_type("publication.journalArticle") == "preprint"
    assert mapping.work_type("local.poster") == "conference-poster"
    assert WorkTypeMapping().work_type("publication.journalArticle") == "journal-article"


def test_override_aliases_resolve_to_api3_types() -> None:
    mapping = WorkTypeMapping({"dataset.dataset": "dataset", "etd.doctoral": "dissertation"})

    assert mapping.work_type("dataset.dataset") == "data-set"
    assert mapping.work_type("etd.doctoral") == "dissertation-thesis"


def test_an_override_to_an_unknown_type_raises() -> None:
    with pytest.raises(UnknownWorkTypeError, match=re.escape("'journal-paper' is not an ORCID API 3.0 work type")):
        WorkTypeMapping({"publication.journalArticle": "journal-paper"})
    with pytest.raises(UnknownWorkTypeError):
        to_api3_work_type("")


def test_unknown_subtype_falls_back_to_its_category_row() -> None:
    mapping = WorkTypeMapping()

    # "etdexternal" has a category row of its own; this subtype has none.
    assert mapping.work_type("etdexternal.postdoc_external") == mapping.work_type("etdexternal")
    assert mapping.work_type("etdexternal.postdoc_external") == "dissertation-thesis"


def test_category_override_applies_to_unknown_subtypes() -> None:
    mapping = WorkTypeMapping({"publication": "report"})

    assert mapping.work_type("publication.somethingNew") == "report"
    assert mapping.work_type("publication.journalArticle") == "journal-article"


def test_unknown_category_falls_back_to_other() -> None:
    assert WorkTypeMapping().work_type("hologram.3d") == FALLBACK_WORK_TYPE == "other"


def test_mapping_command_prints_the_table_as_csv() -> None:
    result = CliRunner().invoke(cli, ["mapping"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "esploro_asset_type,orcid_work_type"
    assert len(lines) == 87  # the header and the seeds' 86 asset types
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(row["esploro_asset_type"], row["orcid_work_type"]) for row in rows] == WorkTypeMapping().items()
    assert {"esploro_asset_type": "etdexternal.doctoral_external", "orcid_work_type": "dissertation-thesis"} in rows
