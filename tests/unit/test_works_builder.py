"""Asset → ORCID work: every field, every asset type valid against work-3.0.xsd, only ORCID's enums."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.models import Asset
from orcid_sync.domain.orcid.models import SHORT_DESCRIPTION_MAX_LENGTH
from orcid_sync.domain.push.works import (
    ORCID_LANGUAGE_CODES,
    BuiltWork,
    InvalidWork,
    build_work,
    content_hash,
    trim_at_word,
)
from orcid_sync.domain.type_mapping import default_mapping
from tests.support.orcid_xml import to_orcid_xml

FIRST_AUTHOR = "0000-0002-1825-0097"


def asset(**fields: Any) -> Asset:
    base: dict[str, Any] = {
        "id": "asset-1",
        "researchers": ["r1"],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": "Reproducible pipelines for repository metadata",
    }
    return Asset.model_validate(base | fields)


def full_asset(asset_type: str) -> Asset:
    """An asset with every field the builder reads, so the XSD sees every element we can emit."""
    return asset(
        id=f"full-{asset_type}",
        type=asset_type,
        subtitle="A case study",
        date="2021-03-04",
        doi="10.1234/ABC.def-9",
        pmid="31452104",
        pmcid="PMC6780471",
        isbn="978-3-16-148410-0",
        issn="0317-8471",
        handle="https://hdl.handle.net/2027/spo.3336451.0009.203",
        url="https://repository.example.edu/outputs/1",
        container_title="Journal of Examples",
        abstract="An abstract. " * 20,
        language="en",
        contributors=[
            {"name": "Josiah Carberry", "orcid": FIRST_AUTHOR, "role": "author", "sequence": 1},
            {"name": "Jane Roe", "role": "editor", "sequence": 2},
            {"name": "A. N. Other", "role": "http://credit.niso.org/contributor-roles/software/"},
            {"name": "No Attributes"},
        ],
    )


def built(a: Asset, settings: IntegrationSettings | None = None, *, sandbox: bool = False) -> BuiltWork:
    result = build_work(a, settings or IntegrationSettings(), sandbox=sandbox)
    assert isinstance(result, BuiltWork), result
    return result


@pytest.fixture(scope="module")
def work_schema(shared_dir: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(shared_dir / "orcid-model" / "record_3.0" / "work-3.0.xsd"))


@pytest.fixture(scope="module")
def enums(shared_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_dir / "orcid-model" / "enums.json").read_text())
    return data


# --- every asset type -------------------------------------------------------------------------------------


@pytest.mark.parametrize("asset_type", sorted(default_mapping()))
def test_every_asset_type_renders_valid_orcid_xml(
    asset_type: str, work_schema: xmlschema.XMLSchema, enums: dict[str, Any]
) -> None:
    # Given an asset of this type with every field filled in
    result = built(full_asset(asset_type), sandbox=True)
    # Then its work validates against ORCID's work-3.0.xsd, both as a POST and as a PUT body
    for document in (
        to_orcid_xml(result.work),
        to_orcid_xml(result.work.model_copy(update={"put_code": 7}), include_put_code=True),
    ):
        errors = [str(error.reason) for error in work_schema.iter_errors(document)]
        assert not errors, errors
    # And uses only values from ORCID's enums
    payload = result.payload()
    assert payload["type"] == default_mapping()[asset_type]
    assert payload["type"] in enums["work_types"]
    for external_id in payload["external-ids"]["external-id"]:
        assert external_id["external-id-type"] in enums["external_id_types"]
        assert external_id["external-id-relationship"] in enums["relationships"]
    for contributor in payload["contributors"]["contributor"]:
        attributes = contributor.get("contributor-attributes", {})
        if "contributor-sequence" in attributes:
            assert attributes["contributor-sequence"] in enums["contributor_sequences"]
        role = attributes.get("contributor-role")
        if role is not None and not role.startswith("http://credit.niso.org/contributor-roles/"):
            assert role in enums["legacy_contributor_roles"]
    assert payload["language-code"] in ORCID_LANGUAGE_CODES


@pytest.mark.parametrize("asset_type", sorted(default_mapping()))
def test_a_minimal_asset_of_every_type_is_valid(asset_type: str, work_schema: xmlschema.XMLSchema) -> None:
    # Given only what the repository requires: no identifiers, no date, no contributors
    result = built(asset(id="bare", type=asset_type))
    # Then the asset id still gives the work its self id, and the XML is valid
    assert result.payload()["external-ids"]["external-id"] == [
        {"external-id-type": "source-work-id", "external-id-value": "bare", "external-id-relationship": "self"}
    ]
    assert not list(work_schema.iter_errors(to_orcid_xml(result.work)))


# --- fields ------------------------------------------------------------------------------------------------


def test_fields_map_to_orcid() -> None:
    payload = built(full_asset("publication.journalArticle")).payload()
    assert payload["title"] == {
        "title": {"value": "Reproducible pipelines for repository metadata"},
        "subtitle": {"value": "A case study"},
    }
    assert payload["journal-title"] == {"value": "Journal of Examples"}
    assert payload["publication-date"] == {"year": {"value": "2021"}, "month": {"value": "03"}, "day": {"value": "04"}}
    assert payload["url"] == {"value": "https://repository.example.edu/outputs/1"}
    assert payload["language-code"] == "en"
    assert payload["short-description"] == ("An abstract. " * 20).strip()
    first = payload["contributors"]["contributor"][0]
    assert first == {
        "contributor-orcid": {"uri": f"https://orcid.org/{FIRST_AUTHOR}", "path": FIRST_AUTHOR, "host": "orcid.org"},
        "credit-name": {"value": "Josiah Carberry"},
        "contributor-attributes": {"contributor-sequence": "first", "contributor-role": "author"},
    }
    second, third, fourth = payload["contributors"]["contributor"][1:]
    assert second["contributor-attributes"] == {"contributor-sequence": "additional", "contributor-role": "editor"}
    assert third["contributor-attributes"] == {"contributor-role": "http://credit.niso.org/contributor-roles/software/"}
    assert "contributor-attributes" not in fourth


def test_external_ids_and_their_relationships() -> None:
    ids = built(full_asset("publication.journalArticle")).payload()["external-ids"]["external-id"]
    by_type = {i["external-id-type"]: i for i in ids}
    assert by_type["doi"] == {
        "external-id-type": "doi",
        "external-id-value": "10.1234/ABC.def-9",
        "external-id-url": {"value": "https://doi.org/10.1234/ABC.def-9"},
        "external-id-relationship": "self",
    }
    assert by_type["pmid"]["external-id-relationship"] == "self"
    assert by_type["pmid"]["external-id-url"] == {"value": "https://pubmed.ncbi.nlm.nih.gov/31452104"}
    assert by_type["pmc"]["external-id-value"] == "PMC6780471"
    assert by_type["pmc"]["external-id-relationship"] == "self"
    assert by_type["handle"]["external-id-value"] == "2027/spo.3336451.0009.203"
    assert by_type["handle"]["external-id-relationship"] == "self"
    assert by_type["issn"] == {
        "external-id-type": "issn",
        "external-id-value": "0317-8471",
        "external-id-relationship": "part-of",
    }
    assert by_type["isbn"]["external-id-relationship"] == "part-of"
    assert by_type["source-work-id"] == {
        "external-id-type": "source-work-id",
        "external-id-value": "full-publication.journalArticle",
        "external-id-relationship": "self",
    }


@pytest.mark.parametrize(
    ("asset_type", "relationship"),
    [
        ("publication.book", "self"),
        ("publication.editedBook", "self"),
        ("publication.bookChapter", "part-of"),
        ("conference.conferencePaper", "part-of"),
    ],
)
def test_isbn_is_self_only_for_whole_books(asset_type: str, relationship: str) -> None:
    ids = built(asset(type=asset_type, isbn="0-306-40615-2")).payload()["external-ids"]["external-id"]
    isbn = next(i for i in ids if i["external-id-type"] == "isbn")
    assert isbn["external-id-value"] == "0306406152"
    assert isbn["external-id-relationship"] == relationship


def test_the_handle_is_the_url_when_there_is_no_other() -> None:
    payload = built(asset(handle="2027/spo.1")).payload()
    assert payload["url"] == {"value": "https://hdl.handle.net/2027/spo.1"}


@pytest.mark.parametrize(
    ("date", "expected"),
    [("2020", {"year": {"value": "2020"}}), ("2020-07", {"year": {"value": "2020"}, "month": {"value": "07"}})],
)
def test_partial_dates_are_zero_padded(date: str, expected: dict[str, Any]) -> None:
    assert built(asset(date=date)).payload()["publication-date"] == expected


@pytest.mark.parametrize("date", ["1899-12-31", "2101"])
def test_dates_outside_orcids_range_are_dropped_with_a_warning(date: str) -> None:
    result = built(asset(date=date))
    assert "publication-date" not in result.payload()
    [warning] = result.warnings
    assert warning.field == "publication-date"
    assert warning.action == "sent without a field"
    assert date in warning.message
    assert "1900-2100" in warning.message


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "en"), ("en-GB", "en"), ("zh-TW", "zh_TW"), ("zh", "zh_CN"), ("he", "iw"), ("id", "in"), ("pt_BR", "pt")],
)
def test_languages_use_orcids_codes(language: str, expected: str) -> None:
    assert built(asset(language=language)).payload()["language-code"] == expected


def test_a_language_orcid_does_not_know_is_dropped_with_a_warning() -> None:
    result = built(asset(language="xx"))
    assert "language-code" not in result.payload()
    assert result.warnings and "'xx'" in result.warnings[0].message
    assert result.warnings[0].field == "language-code"


def test_sandbox_contributor_ids_point_at_the_sandbox() -> None:
    contributor = built(full_asset("publication.journalArticle"), sandbox=True).payload()["contributors"][
        "contributor"
    ][0]
    assert contributor["contributor-orcid"]["uri"] == f"https://sandbox.orcid.org/{FIRST_AUTHOR}"


def test_type_overrides_change_the_work_type() -> None:
    settings = IntegrationSettings(type_overrides={"publication.letter": "journal-article"})
    assert built(asset(type="publication.letter")).payload()["type"] == "other"
    assert built(asset(type="publication.letter"), settings).payload()["type"] == "journal-article"


def test_blank_optional_text_is_left_out() -> None:
    payload = built(asset(subtitle="  ", container_title="", abstract=" ")).payload()
    assert "subtitle" not in payload["title"]
    assert "journal-title" not in payload
    assert "short-description" not in payload


# --- the abstract ------------------------------------------------------------------------------------------


def test_a_long_abstract_is_cut_at_a_word_boundary() -> None:
    abstract = " ".join(f"word{i}" for i in range(2000))
    description = built(asset(abstract=abstract)).payload()["short-description"]
    assert len(description) <= SHORT_DESCRIPTION_MAX_LENGTH
    assert description.endswith("…")
    assert abstract.startswith(description[:-1])
    assert abstract[len(description) - 1] == " "  # the cut fell between two words


def test_a_cut_abstract_is_a_warning_naming_the_field_and_both_lengths() -> None:
    result = built(asset(abstract=("word " * 4000).rstrip() + "s"))  # 20,000 characters
    [warning] = result.warnings
    assert warning.field == "short-description"
    assert warning.action == "cut a field"
    assert "abstract" in warning.message
    assert "from 20,000 to 4,995 characters" in warning.message
    assert "5,000" in warning.message
    # An abstract within the limit is sent as is, without a warning
    assert built(asset(abstract="word " * 999)).warnings == ()


def test_trim_keeps_short_text_and_cuts_a_single_long_word() -> None:
    assert trim_at_word("  short  ", 10) == "short"
    assert trim_at_word("x" * 20, 10) == "x" * 9 + "…"


# --- the hash ----------------------------------------------------------------------------------------------


def test_the_hash_follows_the_payload_not_the_asset_bookkeeping() -> None:
    a = asset(doi="10.1234/x")
    same_content_later = a.model_copy(update={"updated_at": datetime(2030, 1, 1, tzinfo=UTC)})
    assert built(a).content_hash == built(same_content_later).content_hash
    assert built(a).content_hash == content_hash(built(a).payload())
    assert built(a).content_hash != built(asset(doi="10.1234/y")).content_hash
    # A mapping change changes what ORCID would hold, so the hash changes too
    settings = IntegrationSettings(type_overrides={"publication.journalArticle": "preprint"})
    assert built(a).content_hash != built(a, settings).content_hash


def test_the_hash_is_independent_of_key_order() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})


# --- what ORCID would refuse -------------------------------------------------------------------------------


def test_an_asset_orcid_would_refuse_is_reported_with_the_reason() -> None:
    # A title of only whitespace passes the repository's model but not ORCID's rule 9022
    a = asset().model_copy(update={"title": "   "})
    result = build_work(a, IntegrationSettings())
    assert isinstance(result, InvalidWork)
    assert result.asset_id == "asset-1"
    assert "9022" in result.reason
