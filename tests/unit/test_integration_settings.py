"""The integration settings model: defaults, asset selection, organisation, overrides, and what is rejected."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orcid_sync.domain.institution_settings import (
    AssetSelection,
    IntegrationSettings,
    OrganizationSettings,
    SettingsDocument,
    StoredIntegrationSettings,
    effective_mapping,
)
from orcid_sync.domain.models import Researcher

ORG: dict[str, Any] = {
    "name": "Example University",
    "city": "Boston",
    "country": "US",
    "identifier_type": "ROR",
    "identifier": "https://ror.org/05qwgg493",
}


def researcher(**fields: Any) -> Researcher:
    return Researcher.model_validate({"id": "r1", "given_names": "Ada", "family_name": "Lovelace", **fields})


def error_fields(exc: ValidationError) -> list[str]:
    return [".".join(str(part) for part in error["loc"]) for error in exc.errors()]


def test_the_defaults_send_nothing() -> None:
    settings = IntegrationSettings()
    assert not settings.send_assets
    assert not settings.send_affiliation
    assert not settings.researcher_url.send
    assert not settings.selects("publication.journalArticle")
    assert settings.updates(researcher(update_orcid_profile=False))


@pytest.mark.parametrize(
    ("include", "exclude", "asset_type", "selected"),
    [
        (["all"], [], "creativeWork.poetry", True),
        (["publication"], [], "publication.book", True),
        (["publication"], [], "conference.conferencePaper", False),
        (["publication", "conference.conferencePaper"], [], "conference.conferencePaper", True),
        (["all"], ["teaching"], "teaching.syllabus", False),
        (["all"], ["publication.letter"], "publication.letter", False),
        (["all"], ["publication.letter"], "publication.book", True),
        # a type that is also a category selects itself and its subtypes
        (["creativeWork"], [], "creativeWork", True),
        (["creativeWork"], [], "creativeWork.film", True),
        (["publication.book"], ["publication"], "publication.book", False),
    ],
)
def test_asset_selection(include: list[str], exclude: list[str], asset_type: str, selected: bool) -> None:
    settings = IntegrationSettings(send_assets=True, asset_types=AssetSelection(include=include, exclude=exclude))
    assert settings.selects(asset_type) is selected
    # With send_assets off nothing is selected, whatever the types say
    assert (
        IntegrationSettings(asset_types=AssetSelection(include=include, exclude=exclude)).selects(asset_type) is False
    )


@pytest.mark.parametrize("selector", ["publications", "publication.novel", "", "ALL"])
def test_unknown_selectors_are_rejected(selector: str) -> None:
    with pytest.raises(ValidationError) as caught:
        IntegrationSettings(asset_types={"include": [selector]})  # type: ignore[arg-type]
    assert error_fields(caught.value) == ["asset_types.include"]
    assert repr(selector) in str(caught.value)


def test_an_empty_include_list_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        IntegrationSettings(asset_types={"include": []})  # type: ignore[arg-type]
    assert error_fields(caught.value) == ["asset_types.include"]


def test_update_researchers_selected_honours_the_flag() -> None:
    settings = IntegrationSettings(update_researchers="selected")  # type: ignore[arg-type]
    assert settings.updates(researcher(update_orcid_profile=True))
    assert not settings.updates(researcher(update_orcid_profile=False))


def test_sending_the_affiliation_needs_the_organisation() -> None:
    with pytest.raises(ValidationError) as caught:
        IntegrationSettings(send_affiliation=True)
    assert error_fields(caught.value) == ["organization"]
    assert IntegrationSettings(send_affiliation=True, organization=ORG).organization is not None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "identifier", ["05qwgg493", "ror.org/05qwgg493", "https://ror.org/05QWGG493/", "http://ror.org/05qwgg493"]
)
def test_ror_ids_are_stored_as_orcid_wants_them(identifier: str) -> None:
    org = OrganizationSettings.model_validate({**ORG, "identifier": identifier})
    assert org.identifier == "https://ror.org/05qwgg493"
    orcid_org = org.to_orcid()
    assert orcid_org.disambiguated_organization is not None
    assert orcid_org.disambiguated_organization.disambiguated_organization_identifier == "https://ror.org/05qwgg493"
    assert orcid_org.disambiguated_organization.disambiguation_source == "ROR"


@pytest.mark.parametrize(
    "identifier",
    [
        "https://ror.org/15qwgg493",
        "https://ror.org/05qwgg4",
        "https://ror.org/05qwgu493",
        "https://example.org/05qwgg493",
    ],
)
def test_malformed_ror_ids_are_rejected(identifier: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OrganizationSettings.model_validate({**ORG, "identifier": identifier})
    assert error_fields(caught.value) == ["identifier"]
    assert "https://ror.org/05qwgg493" in str(caught.value)


@pytest.mark.parametrize("id_type", ["RINGGOLD", "GRID", "FUNDREF", "LEI"])
def test_other_identifier_types_are_kept_as_given(id_type: str) -> None:
    org = OrganizationSettings.model_validate({**ORG, "identifier_type": id_type, "identifier": "12345"})
    assert org.identifier == "12345"
    assert org.to_orcid().disambiguated_organization.disambiguation_source == id_type  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"identifier_type": "ISNI"}, "identifier_type"),
        ({"country": "USA"}, "country"),
        ({"country": "UK"}, "country"),  # two capitals, but not ISO 3166-1: ORCID refuses it with 9037
        ({"country": "ZZ"}, "country"),
        ({"city": ""}, "city"),
        ({"name": ""}, "name"),
        ({"identifier": ""}, "identifier"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_organisation_fields_are_checked(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OrganizationSettings.model_validate({**ORG, **change})
    assert field in error_fields(caught.value)


def test_type_overrides_are_resolved_to_api_3_types() -> None:
    settings = IntegrationSettings(type_overrides={"etd.doctoral": "dissertation", "dataset.dataset": "dataset"})
    assert settings.type_overrides == {"etd.doctoral": "dissertation-thesis", "dataset.dataset": "data-set"}
    assert settings.mapping.work_type("etd.doctoral") == "dissertation-thesis"


@pytest.mark.parametrize("overrides", [{"publication.letter": "letter"}, {"publication.novel": "book"}])
def test_bad_type_overrides_are_rejected(overrides: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        IntegrationSettings(type_overrides=overrides)
    assert error_fields(caught.value) == ["type_overrides"]


def test_researcher_url_text_defaults_to_the_institution() -> None:
    assert IntegrationSettings().researcher_url_name == "Research profile"
    assert IntegrationSettings(institution_name="Example U").researcher_url_name == "Example U research profile"
    named = IntegrationSettings(institution_name="Example U", researcher_url={"send": True, "name": "My profile"})  # type: ignore[arg-type]
    assert named.researcher_url_name == "My profile"


def test_the_fingerprint_changes_with_any_setting() -> None:
    base = IntegrationSettings()
    assert base.fingerprint == IntegrationSettings().fingerprint
    for changed in (
        IntegrationSettings(send_assets=True),
        IntegrationSettings(institution_name="X"),
        IntegrationSettings(type_overrides={"publication.letter": "book"}),
        IntegrationSettings(asset_types={"include": ["all"], "exclude": ["teaching"]}),  # type: ignore[arg-type]
    ):
        assert changed.fingerprint != base.fingerprint


def test_the_effective_mapping_lists_every_type() -> None:
    settings = IntegrationSettings(send_assets=True, type_overrides={"publication.letter": "book"})
    rows = {row.asset_type: row for row in effective_mapping(settings)}
    assert rows["publication.letter"].work_type == "book"
    assert rows["publication.letter"].overridden
    assert not rows["publication.book"].overridden
    assert all(row.selected for row in rows.values())


def test_the_api_document_round_trips() -> None:
    stored = StoredIntegrationSettings(settings=IntegrationSettings(send_assets=True), version=4)
    document = SettingsDocument.of(stored)
    assert document.version == 4
    assert document.settings_only() == stored.settings


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"send_assets": "yes"}, "send_assets"),
        ({"send_affiliation": 1}, "send_affiliation"),
        ({"researcher_url": {"send": "true"}}, "researcher_url.send"),
        ({"institution_name": "Example\x00University"}, "institution_name"),
        ({"researcher_url": {"send": True, "name": "Profile\x1b[31m"}}, "researcher_url.name"),
    ],
)
def test_settings_refuse_coerced_booleans_and_control_characters(document: dict[str, Any], field: str) -> None:
    # A boolean is a JSON boolean and text holds no control character, as everywhere else in the API
    with pytest.raises(ValidationError) as caught:
        IntegrationSettings.model_validate(document)
    assert field in error_fields(caught.value)


def test_an_organisation_city_with_a_control_character_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        OrganizationSettings.model_validate({**ORG, "city": "Bos\x07ton"})
    assert "city" in error_fields(caught.value)
