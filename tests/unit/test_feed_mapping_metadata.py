"""Reading records' metadata (oai_dc, oai_datacite, oai_openaire), identifiers by their form, dates, languages and
the asset ids derived from OAI identifiers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcid_sync.domain.feeds.mapping import asset_id_for
from orcid_sync.domain.feeds.metadata import MetadataError, parse_record_metadata
from orcid_sync.domain.feeds.record_fields import language_code, publication_date
from orcid_sync.domain.feeds.record_identifiers import IdRelation, IdScheme, RecordIdentifier, recognise_identifier

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oai"
ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@~-]*$")


def test_oai_dc_is_read_in_the_records_order() -> None:
    metadata = parse_record_metadata((FIXTURES / "dspace_oai_dc_article.xml").read_bytes(), "oai_dc")

    assert metadata.format == "oai_dc"
    assert metadata.titles == ("Tidal mixing and nutrient supply on a temperate continental shelf",)
    assert [c.name for c in metadata.creators] == ["Okafor, Chidi", "Lindqvist, Maja", "Haddad, Samir"]
    assert metadata.types == ("Article", "info:eu-repo/semantics/publishedVersion")
    assert metadata.dates == ("2020-11", "2021-03-04T09:12:44Z", "2021-03-04T09:12:44Z")
    # The citation (free text) is not an identifier; the bare ISSN names the journal.
    assert metadata.identifiers == (
        RecordIdentifier(IdScheme.ISSN, "0278-4343", IdRelation.PART_OF),
        RecordIdentifier(IdScheme.HANDLE, "http://hdl.handle.net/10023/21457"),
        RecordIdentifier(IdScheme.DOI, "https://doi.org/10.1016/j.jso.2020.104215"),
    )
    assert metadata.language == "en_US"


def test_oai_datacite_is_read_inside_its_payload_with_name_identifiers() -> None:
    metadata = parse_record_metadata((FIXTURES / "esploro_oai_datacite_article.xml").read_bytes(), "oai_datacite")

    assert metadata.format == "datacite"
    whitfield, rivera, kowalczyk = metadata.creators
    assert (whitfield.orcid, whitfield.local_ids("local")) == (None, ("E1002",))
    assert (rivera.orcid, rivera.local_ids("Local")) == ("0000-0001-5109-3700", ("E1001",))
    assert kowalczyk.orcid == "0000-0003-4236-901X"
    assert metadata.types == ("publication.journalArticle", "JournalArticle")
    # Issued first, then publicationYear, then Available.
    assert metadata.dates == ("2022-04-15", "2022", "2022-05-02")
    # relatedIdentifier References (another work's DOI) is not taken; IsPublishedIn ISSN is, as part-of.
    assert RecordIdentifier(IdScheme.DOI, "10.7273/000001234") not in metadata.identifiers
    assert RecordIdentifier(IdScheme.ISSN, "0378-4290", IdRelation.PART_OF) in metadata.identifiers


def test_a_bare_datacite_resource_is_read_too() -> None:
    xml = (FIXTURES / "datacite_oai_datacite_software.xml").read_bytes()
    resource = xml[xml.index(b"<resource ") : xml.index(b"</resource>") + len(b"</resource>")]
    resource = resource.replace(
        b"xsi:schemaLocation", b"xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:schemaLocation"
    )

    metadata = parse_record_metadata(resource, "datacite")

    assert metadata.titles == ("tidekit: harmonic analysis of tide-gauge records",)
    assert metadata.types == ("Software",)


def test_the_early_openaire_v4_layout_without_wrappers_is_read() -> None:
    # As in the OpenAIRE guidelines' own sample: creators and identifiers straight under the resource, dc:type.
    xml = b"""<resource xmlns="http://namespace.openaire.eu/schema/oaire/" xmlns:dc="http://purl.org/dc/elements/1.1/"
        xmlns:datacite="http://datacite.org/schema/kernel-4" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <datacite:creator><datacite:creatorName>Wallentin, Carl-Johan</datacite:creatorName>
        <datacite:nameIdentifier nameIdentifierScheme="ORCID" schemeURI="">http://orcid.org/0000-0002-1825-0097</datacite:nameIdentifier>
      </datacite:creator>
      <datacite:alternateIdentifier alternateIdentifierType="DOI">10.1002/chem.201701589</datacite:alternateIdentifier>
      <datacite:alternateIdentifier alternateIdentifierType="PMCID">PMC5574022</datacite:alternateIdentifier>
      <dc:title xml:lang="eng">Redox-Neutral Dual Functionalization of Electron-Deficient Alkenes</dc:title>
      <dc:date>2017-05-10</dc:date>
      <dc:type rdf:resource="http://purl.org/coar/resource_type/c_6501">journal article</dc:type>
      <journalTitle>Chemistry</journalTitle>
    </resource>"""

    metadata = parse_record_metadata(xml, "oai_openaire")

    assert metadata.creators[0].orcid == "0000-0002-1825-0097"
    assert metadata.types == ("http://purl.org/coar/resource_type/c_6501", "journal article")
    assert metadata.titles == ("Redox-Neutral Dual Functionalization of Electron-Deficient Alkenes",)
    assert metadata.dates == ("2017-05-10",)
    assert metadata.first(IdScheme.PMCID) == "PMC5574022"


@pytest.mark.parametrize(
    "xml",
    [
        b'<!DOCTYPE x SYSTEM "http://attacker.example/x.dtd"><x/>',
        b'<?xml version="1.0"?><!doctype lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>',
        b"<x><!ENTITY y 'z'></x>",
    ],
)
def test_dtds_and_entities_are_refused(xml: bytes) -> None:
    with pytest.raises(MetadataError, match="DOCTYPE or an ENTITY"):
        parse_record_metadata(xml)


def test_an_undeclared_entity_is_not_well_formed() -> None:
    xml = b"<oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/'>&ext;</oai_dc:dc>"

    with pytest.raises(MetadataError, match="not well-formed"):
        parse_record_metadata(xml)


def test_oversized_and_empty_metadata_are_refused() -> None:
    with pytest.raises(MetadataError, match="at most"):
        parse_record_metadata(b"<x>" + b"a" * 2_000_001 + b"</x>")
    with pytest.raises(MetadataError, match="no metadata"):
        parse_record_metadata(b"  ")


def test_an_oai_datacite_envelope_without_a_resource_is_refused() -> None:
    xml = b"<oai_datacite xmlns='http://schema.datacite.org/oai/oai-1.1/'><payload/></oai_datacite>"

    with pytest.raises(MetadataError, match="no DataCite <resource>"):
        parse_record_metadata(xml)


def test_an_orcid_url_written_in_a_dc_creator_is_taken_as_the_creators_id() -> None:
    xml = b"""<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
        xmlns:dc="http://purl.org/dc/elements/1.1/">
      <dc:creator>Lovelace, Ada (https://orcid.org/0000-0002-1825-0097)</dc:creator>
      <dc:creator>Babbage, Charles</dc:creator>
      <dc:creator>Somerville, Mary https://orcid.org/0000-0002-1825-0098</dc:creator>
    </oai_dc:dc>"""

    ada, charles, mary = parse_record_metadata(xml).creators

    assert (ada.name, ada.orcid) == ("Lovelace, Ada", "0000-0002-1825-0097")
    assert (charles.name, charles.orcid) == ("Babbage, Charles", None)
    assert (mary.name, mary.orcid) == ("Somerville, Mary", None)
    assert mary.orcid_problem is not None
    assert "check character" in mary.orcid_problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://doi.org/10.1000/182", (IdScheme.DOI, IdRelation.SELF)),
        ("http://dx.doi.org/10.1000/182", (IdScheme.DOI, IdRelation.SELF)),
        ("doi:10.1000/182", (IdScheme.DOI, IdRelation.SELF)),
        ("10.1000/182", (IdScheme.DOI, IdRelation.SELF)),
        ("doi:garbage", (IdScheme.DOI, IdRelation.SELF)),  # a DOI claim, refused later, never a URL
        ("http://hdl.handle.net/10023/21457", (IdScheme.HANDLE, IdRelation.SELF)),
        ("hdl:10023/21457", (IdScheme.HANDLE, IdRelation.SELF)),
        ("ISBN 978-0-306-40615-7", (IdScheme.ISBN, IdRelation.SELF)),
        ("urn:isbn:9780306406157", (IdScheme.ISBN, IdRelation.SELF)),
        ("978-0-306-40615-7", (IdScheme.ISBN, IdRelation.SELF)),
        ("9780306406157", (IdScheme.ISBN, IdRelation.SELF)),
        ("0378-4290", (IdScheme.ISSN, IdRelation.PART_OF)),
        ("ISSN: 0378-4290", (IdScheme.ISSN, IdRelation.PART_OF)),
        ("PMID: 35442158", (IdScheme.PMID, IdRelation.SELF)),
        ("https://pubmed.ncbi.nlm.nih.gov/35442158/", (IdScheme.PMID, IdRelation.SELF)),
        ("PMC5574022", (IdScheme.PMCID, IdRelation.SELF)),
        ("https://eprints.example.ac.uk/id/eprint/48213/", (IdScheme.URI, IdRelation.SELF)),
        ("Okafor, C. (2020) Tidal mixing. J. Shelf Oceanogr. 41(6).", None),
        ("12345678", None),
        ("", None),
    ],
)
def test_identifiers_are_recognised_by_their_form(value: str, expected: tuple[IdScheme, IdRelation] | None) -> None:
    found = recognise_identifier(value)

    assert (None if found is None else (found.scheme, found.relation)) == expected


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (("2020-11",), "2020-11"),
        (("2021-03-04T09:12:44Z",), "2021-03-04"),
        (("2019-01-01/2019-12-31",), "2019-01-01"),
        (("2019-2-3",), "2019-02-03"),
        (("2019-02-30",), "2019-02"),  # as precise as it is valid
        (("2019-13",), "2019"),
        (("circa 1850", "1851"), "1851"),
        (("Spring 2020",), None),
        ((), None),
    ],
)
def test_the_publication_date_is_the_first_candidate_that_is_a_date(
    candidates: tuple[str, ...], expected: str | None
) -> None:
    assert publication_date(candidates) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("en", "en"), ("EN", "en"), ("en_US", "en_US"), ("en-GB", "en_GB"), ("eng", "en"), ("ger", "de"),
     ("English", "en"), ("Klingon", None), ("", None), (None, None)],
)  # fmt: skip
def test_languages_become_the_codes_post_assets_takes(value: str | None, expected: str | None) -> None:
    assert language_code(value) == expected


@pytest.mark.parametrize(
    ("oai_identifier", "asset_id"),
    [
        ("oai:zenodo.org:7654321", "oai:zenodo.org:7654321"),
        ("oai:dspace.example.edu:10023/21457", "oai:dspace.example.edu:10023~2F21457"),
        ("oai:alma.01ALLIANCE_WSU:11333494070001842", "oai:alma.01ALLIANCE_WSU:11333494070001842"),
        ("oai:x:a~b", "oai:x:a~7Eb"),
        ("oai:x:café", "oai:x:caf~C3~A9"),
    ],
)
def test_asset_ids_are_the_oai_identifiers_escaped(oai_identifier: str, asset_id: str) -> None:
    assert asset_id_for(oai_identifier) == asset_id


def test_identifiers_that_cannot_be_ids_are_hashed_within_the_length() -> None:
    long_id = "oai:repo.example.edu:" + "x" * 200

    hashed = asset_id_for(long_id)

    assert hashed.startswith("oai~x")
    assert len(hashed) == 69
    assert asset_id_for("_odd") != asset_id_for("-odd")
    assert asset_id_for(long_id) == hashed  # stable


@given(st.text(min_size=1, max_size=300))
def test_every_asset_id_is_a_valid_entity_id(oai_identifier: str) -> None:
    asset_id = asset_id_for(oai_identifier)

    assert ENTITY_ID.match(asset_id)
    assert len(asset_id) <= 128


@given(st.text(min_size=1, max_size=160), st.text(min_size=1, max_size=160))
def test_distinct_oai_identifiers_give_distinct_asset_ids(first: str, second: str) -> None:
    if first != second:
        assert asset_id_for(first) != asset_id_for(second)
