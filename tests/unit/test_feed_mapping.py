"""Harvested records → asset upserts and withdrawals, through each profile, with records modelled on DSpace, EPrints,
Esploro and DataCite (Zenodo) output (tests/fixtures/oai/)."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import pytest

from orcid_sync.domain.feeds.mapping import (
    MappedRecord,
    ProfileError,
    ProfileName,
    asset_for,
    asset_id_for,
    load_profile,
    map_record,
)
from orcid_sync.domain.feeds.metadata import parse_record_metadata
from orcid_sync.domain.feeds.ports import HarvestedRecord
from orcid_sync.domain.models import AssetInput
from orcid_sync.domain.type_mapping import default_mapping

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oai"

# The researchers a feed knows: by ORCID iD and by local id.
BY_ORCID = {
    "0000-0002-1825-0097": "helena.brandt",
    "0000-0001-5109-3700": "lucia.rivera",
    "0000-0002-9079-593X": "ilse.achterberg",
}
BY_LOCAL_ID = {"E1002": "owen.whitfield", "E1001": "lucia.rivera"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def record(xml: bytes | None, identifier: str = "oai:repo.example.edu:1", *, deleted: bool = False) -> HarvestedRecord:
    return HarvestedRecord(identifier=identifier, datestamp="2024-05-01T10:00:00Z", deleted=deleted, metadata_xml=xml)


def mapped(
    xml: bytes,
    profile: ProfileName | str,
    *,
    prefix: str = "oai_dc",
    identifier: str = "oai:repo.example.edu:1",
    local_ids: bool = True,
    local_id_field: str | None = "Local",
    overrides: dict[str, str] | None = None,
) -> MappedRecord:
    return map_record(
        record(xml, identifier),
        metadata_prefix=prefix,
        profile=load_profile(profile, overrides, local_id_field=local_id_field),
        researcher_for_orcid=BY_ORCID.get,
        researcher_for_local_id=BY_LOCAL_ID.get if local_ids else None,
    )


def matched_as(xml: bytes, profile: ProfileName, researchers: list[str]) -> MappedRecord:
    """An oai_dc record as if its creators had matched: oai_dc carries no creator identifiers to match by."""
    return asset_for("oai:repo.example.edu:1", parse_record_metadata(xml), profile=load_profile(profile),
                     researchers=researchers)  # fmt: skip


# --- Each profile with its platform's records -----------------------------------------------------------------------


def test_a_dspace_oai_dc_article_becomes_a_journal_article_with_its_handle_doi_issn_and_journal() -> None:
    result = matched_as(fixture("dspace_oai_dc_article.xml"), ProfileName.DSPACE, ["chidi.okafor"])

    asset = result.asset
    assert asset is not None, result.problems
    assert result.problems == ()
    assert asset.type == "publication.journalArticle"
    assert asset.title == "Tidal mixing and nutrient supply on a temperate continental shelf"
    # dc.date.issued, not the accessioned/available timestamps written before it.
    assert asset.date == "2020-11"
    assert asset.doi == "10.1016/j.jso.2020.104215"
    assert asset.handle == "10023/21457"
    assert asset.issn == "0278-4343"
    assert asset.container_title == "Journal of Shelf Oceanography"
    assert asset.language == "en_US"
    # The abstract, not the sponsorship note DSpace also writes as dc:description; its line breaks kept.
    assert asset.abstract is not None
    assert asset.abstract.startswith("We combine two years of mooring data")
    assert "\n" in asset.abstract
    assert [c.name for c in asset.contributors] == ["Okafor, Chidi", "Lindqvist, Maja", "Haddad, Samir"]
    assert asset.contributors[0].sequence == "first"
    assert asset.contributors[1].sequence == "additional"
    assert {c.role for c in asset.contributors} == {"author"}
    assert asset.status == "approved"
    assert asset.visible is True
    assert asset.id == "oai:repo.example.edu:1"


def test_a_dspace_oai_dc_record_has_no_creator_ids_so_every_creator_is_counted_unmatched() -> None:
    result = mapped(fixture("dspace_oai_dc_article.xml"), ProfileName.DSPACE)

    assert result.asset is None
    assert result.problems == ()  # not ours: no event
    assert result.withdraw_asset_id is None
    assert result.matched_researchers == ()
    assert result.unmatched_creators == 3


def test_a_dspace_oai_openaire_article_matches_its_author_by_orcid_and_maps_the_coar_type() -> None:
    result = mapped(fixture("dspace_oai_openaire_article.xml"), ProfileName.DSPACE, prefix="oai_openaire")

    asset = result.asset
    assert asset is not None, result.problems
    assert result.matched_researchers == ("helena.brandt",)
    assert result.unmatched_creators == 1
    assert asset.researchers == ["helena.brandt"]
    assert asset.type == "publication.journalArticle"
    assert result.source_type == "http://purl.org/coar/resource_type/c_6501"
    assert asset.title == "Grain-boundary diffusion in nanocrystalline nickel"
    assert asset.subtitle == "a tracer study between 300 and 500 K"
    assert asset.date == "2021-06-08"  # Issued, not Accepted
    assert asset.doi == "10.1103/PhysRevMaterials.5.063602"
    # The dataset it IsSupplementedBy is another work: its DOI is not this one's.
    assert asset.handle == "1822/70211"
    assert asset.issn == "2475-9953"
    assert asset.container_title == "Physical Review Materials"
    assert asset.language == "en"  # eng
    assert [(c.name, c.orcid) for c in asset.contributors] == [
        ("Brandt, Helena", "0000-0002-1825-0097"),
        ("Moreau, Julien", None),
    ]


def test_an_eprints_oai_dc_conference_item_maps_its_type_name_doi_relation_and_abstract_page() -> None:
    result = matched_as(fixture("eprints_oai_dc_conference_item.xml"), ProfileName.EPRINTS, ["tom.fairweather"])

    asset = result.asset
    assert asset is not None, result.problems
    assert result.problems == ()
    # "Conference or Workshop Item" (PeerReviewed, the second dc:type, says nothing about the type).
    assert asset.type == "conference.conferencePaper"
    assert result.source_type == "Conference or Workshop Item"
    assert asset.doi == "10.1109/SENSYS.2019.00042"  # the official URL, a dc:relation
    # The abstract page, not the full text's PDF (a dc:identifier) nor the citation.
    assert asset.url == "https://eprints.example.ac.uk/id/eprint/48213/"
    assert asset.date == "2019-09"
    assert asset.language == "en"
    # dc:contributor (the proceedings' editor) is not a creator.
    assert [c.name for c in asset.contributors] == ["Fairweather, Tom", "Nakamura, Aiko"]


@pytest.mark.parametrize(
    ("eprint_type", "asset_type"),
    [
        ("Article", "publication.journalArticle"),
        ("Book Section", "publication.bookChapter"),
        ("Monograph", "publication.report"),
        ("Thesis", "etd.doctoral"),
        ("Patent", "patent.patent"),
        ("Show/Exhibition", "creativeWork.other"),
        ("Composition", "creativeWork.musicalComposition"),
        ("Dataset", "dataset.dataset"),
        ("Teaching Resource", "teaching.other"),
        ("book_section", "publication.bookChapter"),
        ("conference_item", "conference.conferencePaper"),
        ("teaching_resource", "teaching.other"),
    ],
)
def test_eprints_types_by_name_and_by_id(eprint_type: str, asset_type: str) -> None:
    xml = fixture("eprints_oai_dc_conference_item.xml").replace(b"Conference or Workshop Item", eprint_type.encode())

    result = matched_as(xml, ProfileName.EPRINTS, ["tom.fairweather"])

    assert result.asset is not None, result.problems
    assert result.asset.type == asset_type


def test_an_esploro_oai_dc_dataset_keeps_its_asset_type_code_and_esploro_doi() -> None:
    result = matched_as(fixture("esploro_oai_dc_dataset.xml"), ProfileName.ESPLORO, ["lucia.rivera"])

    asset = result.asset
    assert asset is not None, result.problems
    assert asset.type == "dataset.dataset"
    assert asset.doi == "10.7273/000001234"  # from doi:10.7273/...
    assert asset.url == "https://research.example.edu/esploro/outputs/dataset/99900512345601842"
    assert asset.date == "2021"
    assert asset.language == "en"  # English


def test_an_esploro_oai_datacite_article_matches_by_orcid_then_by_local_id() -> None:
    result = mapped(fixture("esploro_oai_datacite_article.xml"), ProfileName.ESPLORO, prefix="oai_datacite")

    asset = result.asset
    assert asset is not None, result.problems
    # Whitfield has no iD in the record: matched by his local id E1002. Rivera by her iD (given as a URL).
    # Kowalczyk has an iD that is none of our researchers': counted, not guessed.
    assert result.matched_researchers == ("owen.whitfield", "lucia.rivera")
    assert asset.researchers == ["owen.whitfield", "lucia.rivera"]
    assert result.unmatched_creators == 1
    assert asset.type == "publication.journalArticle"  # the resourceType, the asset type code itself
    assert asset.doi == "10.7273/000004411"  # the References DOI is another work's
    assert asset.pmid == "35442158"
    assert asset.issn == "0378-4290"
    assert asset.container_title == "Field Crops Research"
    assert asset.date == "2022-04-15"
    assert asset.abstract == (
        "Canopy temperature measured at noon rose 2.1 K above\nair temperature nine days before visible wilting."
    )
    assert [(c.name, c.orcid) for c in asset.contributors] == [
        ("Whitfield, Owen", None),
        ("Rivera, Lucía", "0000-0001-5109-3700"),
        ("Kowalczyk, Piotr", "0000-0003-4236-901X"),
    ]


def test_without_a_local_id_field_or_lookup_only_orcid_ids_match() -> None:
    xml = fixture("esploro_oai_datacite_article.xml")

    no_field = mapped(xml, ProfileName.ESPLORO, prefix="oai_datacite", local_id_field=None)
    no_lookup = mapped(xml, ProfileName.ESPLORO, prefix="oai_datacite", local_ids=False)
    other_scheme = mapped(xml, ProfileName.ESPLORO, prefix="oai_datacite", local_id_field="Staff")

    for result in (no_field, no_lookup, other_scheme):
        assert result.matched_researchers == ("lucia.rivera",)
        assert result.unmatched_creators == 2


def test_a_datacite_software_record_maps_resource_type_general() -> None:
    result = mapped(fixture("datacite_oai_datacite_software.xml"), ProfileName.DATACITE, prefix="oai_datacite")

    asset = result.asset
    assert asset is not None, result.problems
    assert result.matched_researchers == ("ilse.achterberg",)
    assert result.unmatched_creators == 0
    assert asset.type == "software.code"
    assert result.source_type == "Software"
    assert asset.doi == "10.5281/ZENODO.7654321"  # IsVersionOf names the concept DOI: another record
    assert asset.date == "2023-01-20"
    assert asset.title == "tidekit: harmonic analysis of tide-gauge records"
    assert asset.contributors[0].orcid == "0000-0002-9079-593X"  # from https://orcid.org/...


@pytest.mark.parametrize(
    ("general", "asset_type"),
    [
        ("JournalArticle", "publication.journalArticle"),
        ("Book", "publication.book"),
        ("BookChapter", "publication.bookChapter"),
        ("Dataset", "dataset.dataset"),
        ("Preprint", "postedContent.preprint"),
        ("Report", "publication.report"),
        ("Dissertation", "etd.doctoral"),
        ("ConferencePaper", "conference.conferencePaper"),
        ("ConferenceProceeding", "publication.conferenceProceeding"),
        ("Image", "creativeWork.other"),
        ("Audiovisual", "creativeWork.film"),
        ("Text", "other"),
        ("Other", "other"),
    ],
)
def test_datacite_resource_type_general(general: str, asset_type: str) -> None:
    xml = fixture("datacite_oai_datacite_software.xml").replace(b'"Software"', f'"{general}"'.encode())

    result = mapped(xml, ProfileName.DATACITE, prefix="oai_datacite")

    assert result.asset is not None, result.problems
    assert result.asset.type == asset_type


@pytest.mark.parametrize(
    ("dc_type", "asset_type"),
    [
        ("Book chapter", "publication.bookChapter"),
        ("Thesis", "etd.doctoral"),
        ("Conference paper/Proceedings", "conference.conferencePaper"),
        ("Preprint", "postedContent.preprint"),
        ("Technical Report", "publication.report"),
        ("Working Paper", "postedContent.workingPaper"),
        ("Software", "software.code"),
        ("  dataset ", "dataset.dataset"),  # case and spacing do not matter
        ("info:eu-repo/semantics/doctoralThesis", "etd.doctoral"),
        ("https://purl.org/coar/resource_type/c_5794/", "conference.conferencePaper"),
    ],
)
def test_dspace_types(dc_type: str, asset_type: str) -> None:
    xml = fixture("dspace_oai_dc_article.xml").replace(
        b"<dc:type>Article</dc:type>", f"<dc:type>{dc_type}</dc:type>".encode()
    )

    result = matched_as(xml, ProfileName.DSPACE, ["chidi.okafor"])

    assert result.asset is not None, result.problems
    assert result.asset.type == asset_type


# --- Deletions, problems, refusals ----------------------------------------------------------------------------------


def test_a_deleted_record_withdraws_its_asset() -> None:
    result = map_record(
        record(None, "oai:dspace.example.edu:10023/21457", deleted=True),
        metadata_prefix="oai_dc",
        profile=load_profile(ProfileName.DSPACE),
        researcher_for_orcid=BY_ORCID.get,
    )

    assert result.asset is None
    assert result.withdraw_asset_id == asset_id_for("oai:dspace.example.edu:10023/21457")
    assert result.withdraw_asset_id == "oai:dspace.example.edu:10023~2F21457"
    assert result.problems == ()


def test_the_upserted_and_the_withdrawn_asset_have_the_same_id() -> None:
    identifier = "oai:zenodo.org:7654321"
    upsert = mapped(fixture("datacite_oai_datacite_software.xml"), "datacite", prefix="oai_datacite",
                    identifier=identifier)  # fmt: skip
    withdraw = map_record(
        record(None, identifier, deleted=True),
        metadata_prefix="oai_datacite",
        profile=load_profile("datacite"),
        researcher_for_orcid=BY_ORCID.get,
    )

    assert upsert.asset is not None
    assert withdraw.withdraw_asset_id == upsert.asset.id


@pytest.mark.parametrize(
    "bad_doi",
    ["doi:10.1016/", "https://doi.org/not-a-doi", "10.12/too-short-prefix"],
)
def test_a_bad_doi_refuses_the_record_naming_the_field(bad_doi: str) -> None:
    xml = fixture("dspace_oai_openaire_article.xml").replace(b"10.1103/PhysRevMaterials.5.063602", bad_doi.encode())

    result = mapped(xml, ProfileName.DSPACE, prefix="oai_openaire")

    assert result.asset is None
    assert result.matched_researchers == ("helena.brandt",)
    [problem] = result.problems
    assert problem.oai_identifier == "oai:repo.example.edu:1"
    assert problem.field == "doi"
    assert "is not a DOI" in problem.why
    assert bad_doi in problem.why


def test_an_unknown_type_refuses_the_record_naming_the_field_and_the_types() -> None:
    xml = fixture("eprints_oai_dc_conference_item.xml").replace(b"Conference or Workshop Item", b"Podcast Episode")

    result = matched_as(xml, ProfileName.EPRINTS, ["tom.fairweather"])

    assert result.asset is None
    [problem] = result.problems
    assert problem.field == "type"
    assert "'Podcast Episode'" in problem.why
    assert "eprints profile" in problem.why
    assert "type_overrides" in problem.why
    assert "PeerReviewed" not in problem.why  # not a type: not listed


def test_a_generic_type_does_not_hide_a_repository_type_nobody_maps() -> None:
    # EPrints' DataCite export writes its own type as resourceType and Text as resourceTypeGeneral.
    xml = fixture("datacite_oai_datacite_software.xml").replace(
        b'<resourceType resourceTypeGeneral="Software"/>',
        b'<resourceType resourceTypeGeneral="Text">interpretive_dance</resourceType>',
    )

    eprints = mapped(xml, ProfileName.EPRINTS, prefix="oai_datacite")
    datacite = mapped(xml, ProfileName.DATACITE, prefix="oai_datacite")
    overridden = mapped(xml, ProfileName.EPRINTS, prefix="oai_datacite", overrides={"Text": "other"})

    assert eprints.asset is None
    assert [p.field for p in eprints.problems] == ["type"]
    assert "('interpretive_dance')" in eprints.problems[0].why
    # For the DataCite profile resourceTypeGeneral is the vocabulary, the label free text.
    assert datacite.asset is not None
    assert datacite.asset.type == "other"
    # An institution that says so gets its catch-all.
    assert overridden.asset is not None
    assert overridden.asset.type == "other"


def test_a_generic_type_alone_maps() -> None:
    xml = fixture("dspace_oai_dc_article.xml").replace(b">Article<", b">http://purl.org/coar/resource_type/c_1843<")

    result = matched_as(xml, ProfileName.DSPACE, ["chidi.okafor"])

    assert result.asset is not None
    assert result.asset.type == "other"


def test_an_institution_override_maps_its_own_type() -> None:
    xml = fixture("eprints_oai_dc_conference_item.xml").replace(b"Conference or Workshop Item", b"Podcast Episode")
    profile = load_profile(ProfileName.EPRINTS, {"podcast episode": "interactiveResource.podcast"})

    result = asset_for("oai:x:1", parse_record_metadata(xml), profile=profile, researchers=["tom.fairweather"])

    assert result.asset is not None
    assert result.asset.type == "interactiveResource.podcast"


def test_an_override_replaces_a_profile_entry_and_leaves_the_built_in_profile_alone() -> None:
    overridden = load_profile(ProfileName.EPRINTS, {"Thesis": "etd.graduate"})

    assert overridden.asset_type("thesis") == "etd.graduate"
    assert load_profile(ProfileName.EPRINTS).asset_type("thesis") == "etd.doctoral"


def test_an_override_to_an_unknown_asset_type_is_refused_naming_it() -> None:
    with pytest.raises(ProfileError, match=r"type_overrides: 'Thesis' maps to 'etd.phd', which is not a known"):
        load_profile(ProfileName.EPRINTS, {"Thesis": "etd.phd"})


def test_all_problems_of_a_record_are_reported_at_once() -> None:
    xml = (
        fixture("dspace_oai_openaire_article.xml")
        .replace(b"10.1103/PhysRevMaterials.5.063602", b"doi:nonsense")
        .replace(b"http://purl.org/coar/resource_type/c_6501", b"http://purl.org/coar/resource_type/c_zzzz")
        .replace(b">journal article<", b">Zeitschriftenartikel<")
    )

    result = mapped(xml, ProfileName.DSPACE, prefix="oai_openaire")

    assert result.asset is None
    assert sorted(p.field for p in result.problems) == ["doi", "type"]


def test_a_record_without_a_title_is_refused_naming_the_title() -> None:
    xml = fixture("datacite_oai_datacite_software.xml").replace(
        b"<title>tidekit: harmonic analysis of tide-gauge records</title>", b""
    )

    result = mapped(xml, ProfileName.DATACITE, prefix="oai_datacite")

    assert result.asset is None
    assert [(p.field, p.why) for p in result.problems] == [("title", "the record has no title")]


def test_an_invalid_orcid_id_is_a_problem_but_the_creator_is_kept_without_it() -> None:
    xml = fixture("esploro_oai_datacite_article.xml").replace(b"0000-0003-4236-901X", b"0000-0003-4236-9011")

    result = mapped(xml, ProfileName.ESPLORO, prefix="oai_datacite")

    assert result.asset is not None
    [problem] = result.problems
    assert problem.field == "contributors.2.orcid"
    assert "check character should be X" in problem.why
    assert result.asset.contributors[2].orcid is None
    assert result.unmatched_creators == 1


def test_a_control_character_is_refused_as_post_assets_refuses_it() -> None:
    # DEL: XML 1.0 allows it, POST /assets refuses it.
    xml = fixture("datacite_oai_datacite_software.xml").replace(b"tidekit:", b"tidekit&#x7F;:")

    result = mapped(xml, ProfileName.DATACITE, prefix="oai_datacite")

    assert result.asset is None
    assert [p.field for p in result.problems] == ["title"]
    assert "U+007F" in result.problems[0].why


def test_a_doctype_is_refused_before_parsing() -> None:
    xml = (
        b'<?xml version="1.0"?>\n<!DOCTYPE dc [<!ENTITY boom "x">]>\n'
        b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&boom;</dc:title></oai_dc:dc>'
    )

    result = mapped(xml, ProfileName.DSPACE)

    assert result.asset is None
    [problem] = result.problems
    assert problem.field == "metadata"
    assert "DOCTYPE" in problem.why


def test_metadata_that_is_not_xml_or_of_an_unknown_format_is_a_problem_naming_it() -> None:
    broken = mapped(b"<oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/'>", "dspace")
    foreign = mapped(b"<mods xmlns='http://www.loc.gov/mods/v3'/>", "dspace", prefix="mods")
    missing = map_record(
        record(None), metadata_prefix="oai_dc", profile=load_profile("dspace"), researcher_for_orcid=BY_ORCID.get
    )

    assert [p.field for p in broken.problems] == ["metadata"]
    assert "not well-formed XML" in broken.problems[0].why
    assert "announced as mods" in foreign.problems[0].why
    assert missing.problems[0].why == "the record is not deleted but has no metadata"
    assert broken.asset is foreign.asset is missing.asset is None


# --- The profiles as data -------------------------------------------------------------------------------------------


def _profile_files() -> list[str]:
    folder = resources.files("orcid_sync.domain.feeds").joinpath("profiles")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))


def test_every_profile_name_has_its_data_file_in_the_package() -> None:
    assert {f"{name.value}.json" for name in ProfileName} <= set(_profile_files())


@pytest.mark.parametrize("file_name", _profile_files())
def test_every_target_of_every_profile_file_is_a_known_asset_type(file_name: str) -> None:
    data = json.loads(resources.files("orcid_sync.domain.feeds").joinpath(f"profiles/{file_name}").read_text())
    known = default_mapping()

    unknown = {source: target for source, target in data["type_map"].items() if target not in known}

    assert data["type_map"], f"{file_name} maps nothing"
    assert unknown == {}


@pytest.mark.parametrize("name", list(ProfileName))
def test_every_loaded_profile_maps_only_to_known_asset_types(name: ProfileName) -> None:
    profile = load_profile(name)

    assert set(profile.type_map.values()) <= set(default_mapping())
    assert profile.status == "approved"
    assert profile.visible is True


def test_the_esploro_profile_knows_every_asset_type_of_the_seed_table(shared_dir: Path) -> None:
    with (shared_dir / "esploro-work-types.csv").open(encoding="utf-8") as handle:
        asset_types = [row["esploro_asset_type"] for row in csv.DictReader(handle)]
    profile = load_profile(ProfileName.ESPLORO)

    assert asset_types
    assert {asset_type: profile.asset_type(asset_type) for asset_type in asset_types} == {t: t for t in asset_types}
    assert set(asset_types) == set(default_mapping())


def test_a_mapped_asset_is_what_post_assets_accepts() -> None:
    result = mapped(fixture("esploro_oai_datacite_article.xml"), ProfileName.ESPLORO, prefix="oai_datacite")

    assert result.asset is not None
    assert AssetInput.model_validate(result.asset.model_dump(exclude_none=True)) == result.asset
