"""The OAI-PMH adapter against a real provider that is not ours (pyoai's server, the local provider) over HTTP, and
against misbehaving endpoints: paging, incremental ``from``, sets, deletions, 503 + Retry-After, bad tokens,
``noRecordsMatch``, ``describe``, network errors and hostile XML."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree

from orcid_sync import composition
from orcid_sync.adapters.oai_pmh import OaiPmhHarvester, _retry_after_seconds
from orcid_sync.domain.feeds.ports import BadResumptionTokenError, HarvestedRecord, OaiEndpointError, RecordPage
from orcid_sync_local.lambda_glue import WsgiServerThread
from orcid_sync_local.oai_provider import DEMO_ORCIDS, RunningProvider, fixture_record, start_oai_provider
from orcid_sync_local.oai_provider.fixtures import DELETED_EVERY

NS = {
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcite": "http://datacite.org/schema/kernel-4",
}


@pytest.fixture
def provider() -> Iterator[RunningProvider]:
    running = start_oai_provider(page_size=100)
    try:
        yield running
    finally:
        running.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def harvester(sleeps: Sleeps) -> OaiPmhHarvester:
    return OaiPmhHarvester(sleep=sleeps, attempts=4, connect_timeout=2, read_timeout=10)


def harvest_all(harvester: OaiPmhHarvester, url: str, **first: Any) -> tuple[list[HarvestedRecord], list[RecordPage]]:
    pages = [harvester.list_records(url, **first)]
    while pages[-1].resumption_token is not None:
        pages.append(
            harvester.list_records(
                url, metadata_prefix=first["metadata_prefix"], resumption_token=pages[-1].resumption_token
            )
        )
    return [record for page in pages for record in page.records], pages


def test_a_first_harvest_of_300_records_takes_three_pages(
    provider: RunningProvider, harvester: OaiPmhHarvester
) -> None:
    provider.app.load_fixtures(300)
    records, pages = harvest_all(harvester, provider.url, metadata_prefix="oai_dc")

    assert [len(page.records) for page in pages] == [100, 100, 100]
    assert pages[-1].resumption_token is None and all(page.resumption_token for page in pages[:-1])
    assert [r.identifier for r in records] == [fixture_record(n).identifier for n in range(1, 301)]
    assert all(page.response_date.endswith("Z") for page in pages)
    first = records[0]
    assert first.datestamp == "2019-01-07T10:07:00Z"
    assert first.set_specs == ("com_123456789_1", fixture_record(1).sets[1])
    assert first.metadata_xml is not None
    dc = etree.fromstring(first.metadata_xml)
    assert dc.tag == "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"
    assert dc.findtext("dc:title", namespaces=NS) == fixture_record(1).title
    deleted = [r for r in records if r.deleted]
    assert [r.identifier for r in deleted] == [
        fixture_record(n).identifier for n in range(DELETED_EVERY, 301, DELETED_EVERY)
    ]
    assert all(r.metadata_xml is None for r in deleted)
    assert provider.app.stats()["by_verb"] == {"ListRecords": 3}


def test_oai_datacite_carries_the_creators_orcid_ids(provider: RunningProvider, harvester: OaiPmhHarvester) -> None:
    provider.app.load_fixtures(28)
    page = harvester.list_records(provider.url, metadata_prefix="oai_datacite")
    found: set[str] = set()
    for record in page.records:
        if record.metadata_xml:
            tree = etree.fromstring(record.metadata_xml)
            assert tree.tag == "{http://schema.datacite.org/oai/oai-1.1/}oai_datacite"
            found |= {
                str(value).removeprefix("https://orcid.org/")
                for value in tree.xpath("//dcite:nameIdentifier[@nameIdentifierScheme='ORCID']/text()", namespaces=NS)
            }
    assert found == set(DEMO_ORCIDS.values())


def test_an_incremental_harvest_from_the_last_response_date_picks_up_the_change_and_the_deletion(
    provider: RunningProvider, harvester: OaiPmhHarvester
) -> None:
    provider.app.load_fixtures(300)
    _, pages = harvest_all(harvester, provider.url, metadata_prefix="oai_dc")
    since = pages[0].response_date
    changed, deleted = fixture_record(42).identifier, fixture_record(250).identifier
    provider.app.store.change(changed, {"title": "Corrected title"})
    provider.app.store.delete(deleted)

    records, later = harvest_all(harvester, provider.url, metadata_prefix="oai_dc", from_=since)

    assert len(later) == 1
    assert {(r.identifier, r.deleted) for r in records} == {(changed, False), (deleted, True)}
    assert provider.app.stats()["recent"][-1]["args"] == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "from": since,
    }


def test_a_set_limits_the_harvest(provider: RunningProvider, harvester: OaiPmhHarvester) -> None:
    provider.app.load_fixtures(300)
    records, pages = harvest_all(harvester, provider.url, metadata_prefix="oai_datacite", set_spec="EXAMPLE.REPO")
    assert len(records) == 75 and len(pages) == 1
    assert all("EXAMPLE.REPO" in r.set_specs for r in records)


def test_503_with_retry_after_is_retried_after_the_time_it_asks(
    provider: RunningProvider, harvester: OaiPmhHarvester, sleeps: Sleeps
) -> None:
    provider.app.load_fixtures(150)
    first = harvester.list_records(provider.url, metadata_prefix="oai_dc")
    provider.app.make_unavailable(2, retry_after=3)

    second = harvester.list_records(provider.url, metadata_prefix="oai_dc", resumption_token=first.resumption_token)

    assert sleeps == [3, 3]
    assert len(second.records) == 50 and second.resumption_token is None
    stats = provider.app.stats()
    assert stats["unavailable_answered"] == 2
    assert [entry["status"] for entry in stats["recent"]] == [200, 503, 503, 200]


def test_a_long_retry_after_is_capped_and_a_503_that_never_ends_fails_clearly(
    provider: RunningProvider, sleeps: Sleeps
) -> None:
    provider.app.load_fixtures(5)
    harvester = OaiPmhHarvester(sleep=sleeps, attempts=3, max_retry_after=10)
    provider.app.make_unavailable(1, retry_after=3600)
    assert len(harvester.list_records(provider.url, metadata_prefix="oai_dc").records) == 5
    assert sleeps == [10]

    sleeps.clear()
    provider.app.make_unavailable(10, retry_after=2)
    with pytest.raises(OaiEndpointError, match=r"HTTP 503.*after 3 attempts"):
        harvester.describe(provider.url)
    assert sleeps == [2, 2]


def test_retries_stop_when_the_next_wait_would_overrun_the_budget(provider: RunningProvider, sleeps: Sleeps) -> None:
    provider.app.load_fixtures(5)
    harvester = OaiPmhHarvester(sleep=sleeps, attempts=10, max_retry_after=60, retry_budget=25)
    provider.app.make_unavailable(10, retry_after=10)
    with pytest.raises(OaiEndpointError, match=r"HTTP 503.*after 3 attempts"):
        harvester.list_records(provider.url, metadata_prefix="oai_dc")
    assert sleeps == [10, 10]


def test_a_token_the_endpoint_forgot_is_a_bad_resumption_token(
    provider: RunningProvider, harvester: OaiPmhHarvester
) -> None:
    provider.app.load_fixtures(300)
    first = harvester.list_records(provider.url, metadata_prefix="oai_dc")
    provider.app.store.expire_tokens()
    with pytest.raises(BadResumptionTokenError, match="badResumptionToken"):
        harvester.list_records(provider.url, metadata_prefix="oai_dc", resumption_token=first.resumption_token)
    with pytest.raises(BadResumptionTokenError):
        harvester.list_records(provider.url, metadata_prefix="oai_dc", resumption_token="made-up")


def test_no_records_match_is_an_empty_last_page(provider: RunningProvider, harvester: OaiPmhHarvester) -> None:
    provider.app.load_fixtures(10)
    page = harvester.list_records(provider.url, metadata_prefix="oai_dc", from_="2100-01-01T00:00:00Z")
    assert page.records == [] and page.resumption_token is None and page.response_date.startswith("20")
    empty = harvester.list_records(provider.url, metadata_prefix="oai_dc", set_spec="EXAMPLE.REPO", from_="2100-01-01")
    assert empty.records == []


def test_other_oai_errors_name_their_code(provider: RunningProvider, harvester: OaiPmhHarvester) -> None:
    provider.app.load_fixtures(10)
    with pytest.raises(OaiEndpointError, match="cannotDisseminateFormat") as caught:
        harvester.list_records(provider.url, metadata_prefix="marc21")
    assert not isinstance(caught.value, BadResumptionTokenError)
    with pytest.raises(ValueError, match="not an OAI-PMH datestamp"):
        harvester.list_records(provider.url, metadata_prefix="oai_dc", from_="06/12/2026")


def test_describe_reads_identify_formats_and_sets(provider: RunningProvider, harvester: OaiPmhHarvester) -> None:
    provider.app.load_fixtures(40)
    described = harvester.describe(provider.url)
    assert described.repository_name.startswith("Example University")
    assert described.base_url == provider.url
    assert (described.protocol_version, described.granularity, described.deleted_record) == (
        "2.0",
        "YYYY-MM-DDThh:mm:ssZ",
        "persistent",
    )
    assert described.earliest_datestamp == "2019-01-07T10:07:00Z"
    assert described.metadata_prefixes == ("oai_dc", "oai_datacite")
    assert ("EXAMPLE.REPO", "Example University Data Repository") in described.sets
    assert ("com_123456789_1", "Faculty of Science") in described.sets

    provider.app.reset()
    assert harvester.describe(provider.url).sets == ()  # noSetHierarchy: no sets


def test_the_composition_root_builds_the_harvester() -> None:
    assert isinstance(composition.oai_harvester(), OaiPmhHarvester)


# --- endpoints that misbehave -----------------------------------------------------------------------


def serve(body: bytes | Callable[[], bytes], status: str = "200 OK", delay: float = 0) -> WsgiServerThread:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if delay:
            time.sleep(delay)
        start_response(status, [("Content-Type", "text/xml")])
        return [body() if callable(body) else body]

    server = WsgiServerThread(app)
    server.start()
    return server


@pytest.fixture
def hostile() -> Iterator[Callable[..., str]]:
    servers: list[WsgiServerThread] = []

    def start(body: bytes, status: str = "200 OK", delay: float = 0) -> str:
        servers.append(serve(body, status, delay))
        return servers[-1].url + "/oai"

    yield start
    for server in servers:
        server.stop()


ENTITY_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01T00:00:00Z</responseDate>
<ListRecords><record><header><identifier>&b;</identifier><datestamp>2026-01-01</datestamp></header></record>
</ListRecords></OAI-PMH>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>&x;</responseDate></OAI-PMH>"""


def test_a_doctype_is_refused(hostile: Callable[..., str], harvester: OaiPmhHarvester) -> None:
    for body in (ENTITY_BOMB, EXTERNAL_ENTITY):
        with pytest.raises(OaiEndpointError, match="DOCTYPE"):
            harvester.list_records(hostile(body), metadata_prefix="oai_dc")


def test_html_and_broken_xml_are_not_oai_pmh(hostile: Callable[..., str], harvester: OaiPmhHarvester) -> None:
    with pytest.raises(OaiEndpointError, match="did not answer OAI-PMH"):
        harvester.describe(hostile(b"<html><body>Login</body></html>"))
    with pytest.raises(OaiEndpointError, match="not well-formed"):
        harvester.list_records(hostile(b"<OAI-PMH><ListRecords>"), metadata_prefix="oai_dc")
    with pytest.raises(OaiEndpointError, match="HTTP 404"):
        harvester.describe(hostile(b"gone", status="404 Not Found"))


def test_network_errors_back_off_exponentially_then_fail(sleeps: Sleeps) -> None:
    closed = WsgiServerThread(lambda environ, start_response: [])
    url = closed.url + "/oai"
    closed.stop()  # nothing listens there any more
    harvester = OaiPmhHarvester(sleep=sleeps, attempts=4, backoff_initial=0.5)
    with pytest.raises(OaiEndpointError, match=r"network error.*after 4 attempts"):
        harvester.list_records(url, metadata_prefix="oai_dc")
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_read_timeout_is_retried(hostile: Callable[..., str], sleeps: Sleeps) -> None:
    url = hostile(b"<late/>", delay=1.0)
    harvester = OaiPmhHarvester(sleep=sleeps, attempts=2, read_timeout=0.2)
    with pytest.raises(OaiEndpointError, match="ReadTimeout"):
        harvester.list_records(url, metadata_prefix="oai_dc")
    assert sleeps == [1.0]


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert _retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", lambda: now) == 30
    assert _retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", lambda: now) == 0
    assert _retry_after_seconds("120", lambda: now) == 120
    assert _retry_after_seconds("soon", lambda: now) is None
    assert _retry_after_seconds(None, lambda: now) is None
