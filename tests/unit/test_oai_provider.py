"""The local OAI-PMH provider in-process (werkzeug's test client): the protocol as pyoai's server speaks it over our
store, the admin endpoints, and fixtures shaped like DSpace, EPrints, Esploro and DataCite output."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from lxml import etree
from werkzeug.test import Client

from orcid_sync_local.oai_provider import (
    BAD_DOI_NUMBER,
    DEMO_ORCIDS,
    OAI_PATH,
    UNKNOWN_TYPE,
    UNKNOWN_TYPE_NUMBER,
    OaiProvider,
    fixture_record,
    fixture_records,
)
from orcid_sync_local.oai_provider.fixtures import DELETED_EVERY
from orcid_sync_local.orcid_sandbox.identifiers import orcid_check_digit

NS = {
    "oai": "http://www.openarchives.org/OAI/2.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "od": "http://schema.datacite.org/oai/oai-1.1/",
    "dcite": "http://datacite.org/schema/kernel-4",
}
BASE = "http://oai.test/oai/request"


@pytest.fixture
def provider() -> OaiProvider:
    app = OaiProvider(page_size=50)
    app.base_url = BASE
    return app


def oai(app: OaiProvider, **params: str) -> Any:
    response = Client(app).get(OAI_PATH, query_string=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/xml")
    return etree.fromstring(response.data)


def admin(app: OaiProvider, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = Client(app).open(f"/_provider{path}", method=method, data=json.dumps(body) if body is not None else None)
    return response.status_code, json.loads(response.data)


def error_code(tree: Any) -> str | None:
    found = tree.find("oai:error", NS)
    return None if found is None else found.get("code")


def identifiers(tree: Any) -> list[str]:
    return [str(text) for text in tree.xpath("//oai:record/oai:header/oai:identifier/text()", namespaces=NS)]


def token(tree: Any) -> str | None:
    text = tree.xpath("string(//oai:resumptionToken)", namespaces=NS).strip()
    return text or None


def harvest(app: OaiProvider, **first: str) -> tuple[list[str], int]:
    tree = oai(app, verb="ListRecords", **first)
    seen, pages = identifiers(tree), 1
    while (next_token := token(tree)) is not None:
        tree = oai(app, verb="ListRecords", resumptionToken=next_token)
        seen += identifiers(tree)
        pages += 1
    return seen, pages


def test_identify_says_persistent_deletions_at_second_granularity(provider: OaiProvider) -> None:
    provider.load_fixtures(10)
    tree = oai(provider, verb="Identify")
    ident = tree.find("oai:Identify", NS)
    assert ident.findtext("oai:baseURL", namespaces=NS) == BASE
    assert ident.findtext("oai:deletedRecord", namespaces=NS) == "persistent"
    assert ident.findtext("oai:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert ident.findtext("oai:earliestDatestamp", namespaces=NS) == "2019-01-07T10:07:00Z"
    formats = oai(provider, verb="ListMetadataFormats").xpath("//oai:metadataPrefix/text()", namespaces=NS)
    assert formats == ["oai_dc", "oai_datacite"]


def test_pages_of_the_configured_size_cover_every_record_once(provider: OaiProvider) -> None:
    provider.load_fixtures(120)
    seen, pages = harvest(provider, metadataPrefix="oai_dc")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert seen == [record.identifier for record in fixture_records(120)]


def test_a_set_and_from_select_records(provider: OaiProvider) -> None:
    provider.load_fixtures(100)
    seen, _ = harvest(provider, metadataPrefix="oai_dc", set="esploro_public")
    assert len(seen) == 25 and all(identifier.startswith("oai:alma.01EXAMPLE_INST:") for identifier in seen)
    # Record n has datestamp 2019-01-07T09:30Z + 37 min * n: from record 90's on there are 11.
    stamp = fixture_record(90).datestamp
    assert stamp is not None
    seen, _ = harvest(provider, metadataPrefix="oai_dc", **{"from": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert seen == [record.identifier for record in fixture_records(100)[89:]]
    assert (
        error_code(oai(provider, verb="ListRecords", metadataPrefix="oai_dc", until="2019-01-01")) == "noRecordsMatch"
    )


def test_a_change_gets_a_new_datestamp_and_a_deletion_stays_deleted(provider: OaiProvider) -> None:
    provider.load_fixtures(60)
    target = fixture_record(3).identifier
    status, body = admin(provider, "PATCH", f"/records/{target}", {"title": "A corrected title"})
    assert status == 200 and body["title"] == "A corrected title"
    changed_at = body["datestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", changed_at)
    gone = fixture_record(4).identifier
    status, body = admin(provider, "DELETE", f"/records/{gone}")
    assert status == 200 and body["deleted"] is True

    tree = oai(provider, verb="ListRecords", metadataPrefix="oai_dc", **{"from": changed_at})
    assert set(identifiers(tree)) == {target, gone}
    deleted = tree.xpath("//oai:header[@status='deleted']/oai:identifier/text()", namespaces=NS)
    assert deleted == [gone]
    record = tree.xpath("//oai:record[oai:header/oai:identifier/text()=$id]", id=gone, namespaces=NS)[0]
    assert record.find("oai:metadata", NS) is None
    assert tree.xpath("string(//dc:title)", namespaces=NS) == "A corrected title"
    # Persistent: still there, still deleted, in a full harvest and by GetRecord
    again = oai(provider, verb="GetRecord", metadataPrefix="oai_datacite", identifier=gone)
    assert again.find(".//oai:header", NS).get("status") == "deleted"


def test_fixture_deletions_are_deleted_headers(provider: OaiProvider) -> None:
    provider.load_fixtures(DELETED_EVERY)
    tree = oai(provider, verb="GetRecord", metadataPrefix="oai_dc", identifier=fixture_record(DELETED_EVERY).identifier)
    assert tree.find(".//oai:header", NS).get("status") == "deleted"


def test_bad_tokens_and_arguments_are_oai_errors(provider: OaiProvider) -> None:
    provider.load_fixtures(120)
    first = token(oai(provider, verb="ListRecords", metadataPrefix="oai_dc"))
    assert first is not None
    assert error_code(oai(provider, verb="ListRecords", resumptionToken="nonsense")) == "badResumptionToken"
    assert error_code(oai(provider, verb="ListIdentifiers", resumptionToken=first)) == "badResumptionToken"
    status, _ = admin(provider, "POST", "/expire-tokens", {})
    assert status == 200
    assert error_code(oai(provider, verb="ListRecords", resumptionToken=first)) == "badResumptionToken"
    assert error_code(oai(provider, verb="ListRecords", metadataPrefix="marc21")) == "cannotDisseminateFormat"
    assert error_code(oai(provider, verb="ListRecords")) == "badArgument"
    assert error_code(oai(provider, verb="Nope")) == "badVerb"
    assert (
        error_code(oai(provider, verb="ListRecords", metadataPrefix="oai_dc", **{"from": "yesterday"})) == "badArgument"
    )
    repeated = Client(provider).get(f"{OAI_PATH}?verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc")
    assert error_code(etree.fromstring(repeated.data)) == "badArgument"


def test_an_empty_repository_has_no_records_and_no_sets(provider: OaiProvider) -> None:
    assert error_code(oai(provider, verb="ListRecords", metadataPrefix="oai_dc")) == "noRecordsMatch"
    assert error_code(oai(provider, verb="ListSets")) == "noSetHierarchy"


def test_503_with_retry_after_for_the_next_requests_then_normal(provider: OaiProvider) -> None:
    provider.load_fixtures(5)
    status, body = admin(provider, "POST", "/unavailable", {"requests": 2, "retry_after": 7})
    assert (status, body) == (200, {"unavailable_pending": 2, "retry_after": 7})
    client = Client(provider)
    for _ in range(2):
        answer = client.get(OAI_PATH, query_string={"verb": "Identify"})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "7"
    assert client.get(OAI_PATH, query_string={"verb": "Identify"}).status_code == 200
    _, stats = admin(provider, "GET", "/stats")
    assert stats["requests"] == 3 and stats["by_verb"] == {"Identify": 3}
    assert stats["unavailable_answered"] == 2 and stats["unavailable_pending"] == 0
    assert [entry["status"] for entry in stats["recent"]] == [503, 503, 200]


def test_admin_loads_records_and_names_bad_fields(provider: OaiProvider) -> None:
    record = {
        "identifier": "oai:repository.example.edu:123456789/7",
        "platform": "dspace",
        "type": "Article",
        "title": "Hand-made",
        "datestamp": "2024-05-01T12:00:00Z",
        "sets": ["col_1"],
        "creators": [{"name": "Hopper, Grace", "orcid": DEMO_ORCIDS["grace"]}],
        "doi": "https://doi.org/10.5555/7",
    }
    status, body = admin(provider, "PUT", "/records", {"records": [record], "set_names": {"col_1": "One"}})
    assert (status, body) == (200, {"records": 1})
    sets = oai(provider, verb="ListSets")
    assert sets.xpath("//oai:setName/text()", namespaces=NS) == ["One"]
    datacite = oai(provider, verb="ListRecords", metadataPrefix="oai_datacite")
    assert (
        datacite.xpath("string(//dcite:nameIdentifier[@nameIdentifierScheme='ORCID'])", namespaces=NS)
        == (DEMO_ORCIDS["grace"])
    )
    status, body = admin(provider, "POST", "/records", {"records": [{**record, "platform": "moodle"}]})
    assert status == 400 and body["details"][0]["field"] == "records.0.platform"
    status, body = admin(provider, "PATCH", "/records/oai:nope:1", {"title": "x"})
    assert status == 404 and "oai:nope:1" in body["error"]
    status, body = admin(provider, "PATCH", f"/records/{record['identifier']}", {"identifier": "other"})
    assert status == 400 and "identifier" in body["error"]
    status, body = admin(provider, "POST", "/reset", {})
    assert status == 200 and body["records"] == 0 and body["requests"] == 0


def test_page_size_is_configurable_over_admin(provider: OaiProvider) -> None:
    provider.load_fixtures(30)
    assert admin(provider, "PUT", "/config", {"page_size": 10}) == (200, {"page_size": 10})
    _, pages = harvest(provider, metadataPrefix="oai_dc")
    assert pages == 3
    status, body = admin(provider, "PUT", "/config", {"page_size": 0})
    assert status == 400 and body["details"][0]["field"] == "page_size"


# --- the fixtures look like their platforms ---------------------------------------------------------


def test_dspace_records_carry_handle_doi_url_and_coar_types(provider: OaiProvider) -> None:
    provider.load_fixtures(40)
    tree = oai(provider, verb="ListRecords", metadataPrefix="oai_dc", set="com_123456789_1")
    idents = tree.xpath("//dc:identifier/text()", namespaces=NS)
    assert any(re.fullmatch(r"http://hdl\.handle\.net/123456789/\d+", value) for value in idents)
    assert any(value.startswith("https://doi.org/10.5555/") for value in idents)
    types = set(tree.xpath("//dc:type/text()", namespaces=NS))
    assert types & {"Article", "Book chapter", "Conference paper", "Book", "Thesis", "Dataset", "Preprint"}
    assert any(value.startswith("http://purl.org/coar/resource_type/") for value in types)


def test_eprints_esploro_and_datacite_types(provider: OaiProvider) -> None:
    records = fixture_records(80)
    eprints = {r.type for r in records if r.platform == "eprints"}
    assert eprints <= {"article", "book_section", "conference_item", "monograph", "book", "thesis", UNKNOWN_TYPE}
    esploro = {r.type for r in records if r.platform == "esploro"}
    assert "publication.journalArticle" in esploro and all("." in value for value in esploro)
    datacite = {r.type for r in records if r.platform == "datacite"}
    assert datacite <= {"Dataset", "Software", "JournalArticle", "Text", "Image"}


def test_the_deliberately_bad_records_and_the_demo_creators() -> None:
    assert " " in (fixture_record(BAD_DOI_NUMBER).doi or "")
    assert fixture_record(UNKNOWN_TYPE_NUMBER).type == UNKNOWN_TYPE
    with_demo = [r for r in fixture_records(84) if any(c.local_id in DEMO_ORCIDS for c in r.creators)]
    assert len(with_demo) == 12
    orcids = {c.orcid.removeprefix("https://orcid.org/") for r in with_demo for c in r.creators if c.orcid}
    assert orcids == set(DEMO_ORCIDS.values())
    for orcid in DEMO_ORCIDS.values():
        digits = orcid.replace("-", "")
        assert orcid_check_digit(digits[:15]) == digits[15]
    mine = fixture_records(84, orcids={"ada": "0009-0000-0000-0001"})
    assert {c.orcid for r in mine for c in r.creators if c.orcid and "0009" in c.orcid}
    assert not {c.orcid for r in mine for c in r.creators if c.orcid and DEMO_ORCIDS["alan"] in c.orcid}


def test_fixtures_are_deterministic() -> None:
    assert fixture_records(20, seed=3) == fixture_records(20, seed=3)
    assert fixture_records(20, seed=3) != fixture_records(20, seed=4)
