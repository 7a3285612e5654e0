"""The pull's rules: who is pulled, and which of their ORCID works become rows (against in-memory fakes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr

from orcid_sync.domain.jobs.models import JobType, ResearcherTask
from orcid_sync.domain.models import Asset, Researcher, SealedSecret, StoredToken, TokenSource
from orcid_sync.domain.orcid.models import OrcidError, Work, Works
from orcid_sync.domain.pull.csv_file import part_key, read_rows
from orcid_sync.domain.pull.ledger import PulledEntry
from orcid_sync.domain.pull.selection import (
    SkipReason,
    WorkIds,
    WorkSelection,
    asset_keys,
    build_row,
    needs_full_work,
    select_pull_researchers,
    select_works,
)
from orcid_sync.domain.pull.worker import PullPorts, pull_researcher_works

NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0002-9079-593X"
SEALED = SealedSecret(data_key=b"k", nonce=b"n" * 12, ciphertext=b"c")


def researcher(rid: str, orcid: str | None = ORCID) -> Researcher:
    return Researcher(id=rid, given_names="Josiah", family_name="Carberry", orcid=orcid)


def token(
    rid: str,
    *,
    orcid: str = ORCID,
    scopes: tuple[str, ...] = ("/read-limited", "/activities/update"),
    revoked: bool = False,
    expired: bool = False,
) -> StoredToken:
    return StoredToken(
        researcher_id=rid,
        orcid=orcid,
        access_token=SEALED,
        scopes=list(scopes),
        expires_at=datetime.now(UTC) + (timedelta(days=-1) if expired else timedelta(days=3650)),
        source=TokenSource.OAUTH,
        stored_at=NOW,
        revoked_at=NOW if revoked else None,
        fingerprint="f",
    )


# --- eligibility -------------------------------------------------------------------------------------


def test_only_researchers_with_an_id_and_a_live_read_limited_token_are_pulled() -> None:
    # Given
    people = [
        researcher("ok"),
        researcher("no-orcid", orcid=None),
        researcher("no-token"),
        researcher("revoked"),
        researcher("expired"),
        researcher("push-only"),
        researcher("wrong-record"),
        researcher("ok-2"),
    ]
    tokens = {
        "ok": token("ok"),
        "no-orcid": token("no-orcid"),
        "revoked": token("revoked", revoked=True),
        "expired": token("expired", expired=True),
        "push-only": token("push-only", scopes=("/activities/update",)),
        "wrong-record": token("wrong-record", orcid=OTHER_ORCID),
        "ok-2": token("ok-2", scopes=("/read-limited",)),
    }
    # When
    selected = select_pull_researchers(people, tokens, None)
    # Then
    assert selected == ["ok", "ok-2"]


def test_a_manual_run_is_limited_to_the_researchers_asked_for() -> None:
    people = [researcher("a"), researcher("b"), researcher("c")]
    tokens = {rid: token(rid) for rid in ("a", "b", "c")}
    assert select_pull_researchers(people, tokens, {"c", "a", "unknown"}) == ["a", "c"]
    assert select_pull_researchers(people, tokens, set()) == []


# --- which works become rows -------------------------------------------------------------------------------

OUR_CLIENT = "APP-OURREPOSITORY001"
CROSSREF = "APP-CROSSREFSEARCH01"
SCOPUS = "APP-SCOPUSWIZARD0001"
T0 = 1_700_000_000_000  # epoch ms


def ext_id(kind: str, value: str, relationship: str = "self", *, normalized: str | None = None) -> dict[str, Any]:
    eid: dict[str, Any] = {
        "external-id-type": kind,
        "external-id-value": value,
        "external-id-relationship": relationship,
    }
    if normalized is not None:
        eid["external-id-normalized"] = {"value": normalized, "transient": True}
    return eid


def source(by: str, *, on_behalf_of: str | None = None) -> dict[str, Any]:
    """``by`` is "researcher" or a client id; ``on_behalf_of`` sets the assertion-origin client."""
    if by == "researcher":
        src: dict[str, Any] = {
            "source-orcid": {"uri": f"https://sandbox.orcid.org/{ORCID}", "path": ORCID, "host": "sandbox.orcid.org"},
            "source-name": {"value": "Josiah Carberry"},
        }
    else:
        src = {
            "source-client-id": {
                "uri": f"https://sandbox.orcid.org/client/{by}",
                "path": by,
                "host": "sandbox.orcid.org",
            },
            "source-name": {"value": {OUR_CLIENT: "Our Repository", CROSSREF: "Crossref", SCOPUS: "Scopus"}[by]},
        }
    if on_behalf_of is not None:
        src["assertion-origin-client-id"] = {"path": on_behalf_of}
    return src


def summary(
    put_code: int,
    *ids: dict[str, Any],
    by: str = "researcher",
    on_behalf_of: str | None = None,
    modified: int = T0,
    title: str | None = "A work",
    work_type: str | None = "journal-article",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "put-code": put_code,
        "last-modified-date": {"value": modified},
        "source": source(by, on_behalf_of=on_behalf_of),
        "external-ids": {"external-id": list(ids)},
        "type": work_type,
        "publication-date": {"year": {"value": "2012"}, "month": {"value": "10"}, "day": None},
        "journal-title": {"value": "Journal of Psychoceramics"},
        "url": {"value": f"https://example.org/{put_code}"},
        "visibility": "public",
        "display-index": "0",
    }
    if title is not None:
        data["title"] = {"title": {"value": title}}
    return data


def works(*groups: list[dict[str, Any]]) -> Works:
    return Works.model_validate({"group": [{"work-summary": group} for group in groups]})


def select(data: Works, **kwargs: Any) -> WorkSelection:
    return select_works(data, orcid=ORCID, client_id=OUR_CLIENT, **kwargs)


def kept_put_codes(selection: WorkSelection) -> list[int | None]:
    return [w.chosen.put_code for w in selection.kept]


def test_a_work_needs_a_self_doi_or_pmid() -> None:
    # Given
    data = works(
        [summary(1, ext_id("doi", "10.1234/a"))],
        [summary(2, ext_id("pmid", "31452104"))],
        [summary(3, ext_id("isbn", "9780306406157"))],  # a book with only an ISBN
        [summary(4, ext_id("doi", "10.1234/book", "part-of"), ext_id("isbn", "9780306406157", "part-of"))],
        [summary(5, ext_id("doi", "10.1234/preprint", "version-of"), ext_id("uri", "https://x.org/5"))],
        [summary(6)],  # no identifiers at all
        [summary(7, ext_id("doi", "not a doi"))],  # ORCID: external-id-normalized-error 8001
    )
    # When
    selection = select(data)
    # Then
    assert kept_put_codes(selection) == [1, 2]
    assert selection.skipped == Counter({SkipReason.NO_DOI_OR_PMID: 5})


def test_works_we_wrote_are_skipped_whether_we_are_the_source_or_the_assertion_origin() -> None:
    data = works(
        [summary(1, ext_id("doi", "10.1234/ours"), by=OUR_CLIENT)],
        [summary(2, ext_id("doi", "10.1234/delegated"), by=SCOPUS, on_behalf_of=OUR_CLIENT)],
        [summary(3, ext_id("doi", "10.1234/scopus"), by=SCOPUS)],
        [summary(4, ext_id("doi", "10.1234/crossref"), by=CROSSREF, on_behalf_of=SCOPUS)],
    )
    selection = select(data)
    assert kept_put_codes(selection) == [3, 4]
    assert selection.skipped == Counter({SkipReason.OURS: 2})


def test_other_versions_of_a_work_we_wrote_are_the_same_work() -> None:
    # Given our work grouped with Crossref's, and the researcher's copy of it in a group of its own
    data = works(
        [
            summary(1, ext_id("doi", "10.1234/ours"), by=OUR_CLIENT),
            summary(2, ext_id("doi", "10.1234/OURS"), by=CROSSREF),
        ],
        [summary(3, ext_id("doi", "https://doi.org/10.1234/ours"), ext_id("pmid", "123"))],
        # Grouped with ours by a shared PMID although its own DOI differs (ORCID groups on any shared id)
        [summary(4, ext_id("pmid", "555"), by=OUR_CLIENT), summary(5, ext_id("doi", "10.1234/other"), by=SCOPUS)],
        [summary(6, ext_id("doi", "10.1234/new"))],
    )
    # When
    selection = select(data)
    # Then
    assert kept_put_codes(selection) == [6]
    assert selection.skipped == Counter({SkipReason.OURS: 2, SkipReason.GROUPED_WITH_OURS: 3})


def test_works_already_in_the_repository_are_skipped_however_the_identifier_is_written() -> None:
    # Given the researcher's assets hold a bare DOI and a bare PMID
    assets = [
        Asset.model_validate(
            {
                "id": "a1",
                "researchers": ["r1"],
                "type": "publication.journalArticle",
                "status": "approved",
                "visible": True,
                "title": "Cracked pots",
                "doi": "10.1234/Pots.1",
                "pmid": "31452104",
            }
        )
    ]
    # ... and ORCID has them as a DOI URL, a doi: prefix and a PMID with a prefix
    data = works(
        [summary(1, ext_id("doi", "https://doi.org/10.1234/POTS.1"))],
        [summary(2, ext_id("doi", "doi:10.1234/pots.1"))],
        [summary(3, ext_id("pmid", "PMID:31452104"))],
        [summary(4, ext_id("pmid", "https://pubmed.ncbi.nlm.nih.gov/31452104/"))],
        [summary(5, ext_id("doi", "10.1234/pots.2"))],
    )
    # When
    selection = select(data, repository_keys=asset_keys(assets))
    # Then
    assert asset_keys(assets) == {"doi:10.1234/pots.1", "pmid:31452104"}
    assert kept_put_codes(selection) == [5]
    assert selection.skipped == Counter({SkipReason.IN_REPOSITORY: 4})


def test_works_pulled_before_are_skipped_by_doi_or_pmid() -> None:
    data = works(
        [summary(1, ext_id("doi", "10.1234/a"))],
        [summary(2, ext_id("doi", "10.1234/b"), ext_id("pmid", "42"))],
        [summary(3, ext_id("doi", "10.1234/c"))],
    )
    selection = select(data, pulled_keys=frozenset({"doi:10.1234/a", "pmid:42"}))
    assert kept_put_codes(selection) == [3]
    assert selection.skipped == Counter({SkipReason.PULLED_BEFORE: 2})


def test_orcids_normalised_value_is_preferred_to_the_raw_one() -> None:
    # Given a raw value our parser would not read, and ORCID's normalised form of it
    data = works(
        [summary(1, ext_id("doi", "DOI 10.1234/ABC (publisher page)", normalized="10.1234/abc"))],
        [summary(2, ext_id("pmid", "pubmed 0042", normalized="42"))],
    )
    selection = select(data)
    assert [w.ids for w in selection.kept] == [WorkIds(dois=("10.1234/abc",)), WorkIds(pmids=("42",))]


def test_the_same_doi_in_two_groups_or_two_sources_is_one_row() -> None:
    # Given one article three times: the researcher's own (oldest), Crossref's and Scopus's (newest),
    # with the DOI as a URL in one and bare in the others; Scopus's copy landed in a group of its own.
    data = works(
        [
            summary(1, ext_id("doi", "https://doi.org/10.1234/ABC"), modified=T0),
            summary(2, ext_id("doi", "10.1234/abc"), ext_id("pmid", "777"), by=CROSSREF, modified=T0 + 1000),
        ],
        [summary(3, ext_id("doi", "doi:10.1234/abc"), ext_id("pmc", "pmc123"), by=SCOPUS, modified=T0 + 2000)],
        [summary(4, ext_id("doi", "10.1234/other"))],
    )
    # When
    selection = select(data)
    # Then the researcher's own version is the row, with the PMID and PMCID of the others
    assert kept_put_codes(selection) == [1, 4]
    first = selection.kept[0]
    assert first.ids == WorkIds(dois=("10.1234/abc",), pmids=("777",), pmcids=("PMC123",))
    assert first.keys == {"doi:10.1234/abc", "pmid:777"}
    assert [v.put_code for v in first.versions] == [1, 3, 2]
    assert selection.skipped == Counter({SkipReason.DUPLICATE: 2})


def test_without_the_researchers_own_version_the_most_recently_modified_wins() -> None:
    data = works(
        [
            summary(1, ext_id("doi", "10.1234/abc"), by=CROSSREF, modified=T0 + 5000),
            summary(2, ext_id("doi", "10.1234/ABC"), by=SCOPUS, modified=T0),
        ]
    )
    assert kept_put_codes(select(data)) == [1]


def test_works_sharing_only_a_pmid_are_one_work_and_a_pulled_key_skips_all_of_it() -> None:
    # Given two versions linked by a PMID, one of whose DOIs was pulled before
    data = works(
        [summary(1, ext_id("doi", "10.1234/x"), ext_id("pmid", "9"))],
        [summary(2, ext_id("doi", "10.1234/y"), ext_id("pmid", "PMID: 9"), by=CROSSREF)],
    )
    assert select(data, pulled_keys=frozenset({"doi:10.1234/y"})).skipped == Counter({SkipReason.PULLED_BEFORE: 2})
    kept = select(data).kept
    assert len(kept) == 1 and kept[0].keys == {"doi:10.1234/x", "doi:10.1234/y", "pmid:9"}


def test_every_summary_is_either_kept_or_counted_under_one_reason() -> None:
    data = works(
        [summary(1, ext_id("doi", "10.1/a"), by=OUR_CLIENT), summary(2, ext_id("doi", "10.1/a"), by=CROSSREF)],
        [summary(3, ext_id("isbn", "9780306406157"))],
        [summary(4, ext_id("doi", "10.1/b")), summary(5, ext_id("doi", "10.1/b"), by=SCOPUS)],
        [summary(6, ext_id("doi", "10.1/c"))],
        [summary(7, ext_id("doi", "10.1/d"))],
    )
    selection = select(data, repository_keys=frozenset({"doi:10.1/c"}), pulled_keys=frozenset({"doi:10.1/d"}))
    assert len(selection.kept) + selection.skipped_total == 7
    assert selection.skipped == Counter(
        {
            SkipReason.OURS: 1,
            SkipReason.GROUPED_WITH_OURS: 1,
            SkipReason.NO_DOI_OR_PMID: 1,
            SkipReason.DUPLICATE: 1,
            SkipReason.IN_REPOSITORY: 1,
            SkipReason.PULLED_BEFORE: 1,
        }
    )


# --- rows ------------------------------------------------------------------------------------------------


def test_a_row_takes_every_column_from_the_summary() -> None:
    data = works([summary(1001, ext_id("doi", "https://doi.org/10.1234/ABC"), ext_id("pmc", "PMC77"), title="Pots")])
    [work] = select(data).kept
    assert not needs_full_work(work.chosen)
    row = build_row("r1", ORCID, work)
    assert row.model_dump() == {
        "researcher_id": "r1",
        "orcid": ORCID,
        "put_code": 1001,
        "doi": "10.1234/abc",
        "pmid": None,
        "pmcid": "PMC77",
        "title": "Pots",
        "work_type": "journal-article",
        "publication_year": "2012",
        "publication_month": "10",
        "publication_day": None,
        "journal_title": "Journal of Psychoceramics",
        "url": "https://example.org/1001",
        "source_name": "Josiah Carberry",
        "last_modified": datetime.fromtimestamp(T0 / 1000, tz=UTC),
    }


def test_a_summary_without_title_or_type_needs_the_full_work() -> None:
    data = works(
        [summary(1, ext_id("doi", "10.1/a"), title=None)], [summary(2, ext_id("doi", "10.1/b"), work_type=None)]
    )
    first, second = select(data).kept
    assert needs_full_work(first.chosen) and needs_full_work(second.chosen)
    full = Work.model_validate(
        {
            "put-code": 1,
            "title": {"title": {"value": "The full title"}},
            "type": "book",
            "external-ids": {"external-id": [ext_id("doi", "10.1/a")]},
        }
    )
    row = build_row("r1", ORCID, first, full)
    assert (row.title, row.work_type, row.doi, row.put_code) == ("The full title", "book", "10.1/a", 1)


# --- one researcher against fakes: full works only where the summary is short ------------------------------


class FakeApi:
    """``GET /works`` answers with the given summaries; ``GET /works/{pcs}`` with full works, counted."""

    def __init__(self, summaries: Works) -> None:
        self.summaries = summaries
        self.requests: list[list[int]] = []

    def read_works(self, orcid: str, token: SecretStr) -> Works:
        assert token.get_secret_value() == "plain-token"
        self.requests.append([])
        return self.summaries

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        assert len(put_codes) <= 100
        self.requests.append(list(put_codes))
        return [
            OrcidError(response_code=404, error_code=9016)
            if pc == 1013
            else Work.model_validate(
                {
                    "put-code": pc,
                    "title": {"title": {"value": f"Full title {pc}"}},
                    "type": "book",
                    "external-ids": {"external-id": [ext_id("doi", f"10.1/{pc}")]},
                }
            )
            for pc in put_codes
        ]


class MemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, PulledEntry]] = {}

    def load(self, researcher_id: str) -> dict[str, PulledEntry]:
        return dict(self.entries.get(researcher_id, {}))

    def mark_pulled(self, researcher_id: str, entries: Sequence[PulledEntry]) -> None:
        self.entries.setdefault(researcher_id, {}).update({e.key: e for e in entries})


class MemoryParts:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


def pull_ports(api: FakeApi, ledger: MemoryLedger, parts: MemoryParts) -> PullPorts:
    class Cipher:
        def open(self, researcher_id: str, sealed: SealedSecret) -> str:
            return "plain-token"

    ada = researcher("r1")
    return PullPorts(
        researchers=SimpleNamespace(  # type: ignore[arg-type]
            get=lambda rid: ada if rid == "r1" else None, mark_authenticated=lambda rid, orcid: True
        ),
        tokens=SimpleNamespace(get=token),  # type: ignore[arg-type]
        assets=SimpleNamespace(list_for_researcher=lambda rid: []),  # type: ignore[arg-type]
        ledger=ledger,
        files=parts,  # type: ignore[arg-type]
        jobs=SimpleNamespace(get=lambda job_id: None),  # type: ignore[arg-type]
        cipher=Cipher(),
        api=api,
        finishers={},
        notifier=SimpleNamespace(),  # type: ignore[arg-type]
        client_id=OUR_CLIENT,
        deliveries=SimpleNamespace(delivered=lambda job_id: True),  # type: ignore[arg-type]
        request_count=lambda: len(api.requests),
    )


def test_a_summary_with_every_column_costs_one_request() -> None:
    api = FakeApi(works(*[[summary(1000 + n, ext_id("doi", f"10.1/{n}"))] for n in range(150)]))
    parts = MemoryParts()
    task = ResearcherTask(job_id="pull-1", job_type=JobType.PULL, researcher_id="r1")
    report = pull_researcher_works(task, pull_ports(api, MemoryLedger(), parts), now=NOW)
    assert (report.rows, report.requests, api.requests) == (150, 1, [[]])
    assert len(read_rows(parts.objects[part_key("pull-1", "r1")])) == 150


def test_short_summaries_are_completed_from_full_works_read_a_hundred_at_a_time() -> None:
    # Given 150 kept summaries without a title (ORCID always sends one; a stand-in might not)
    api = FakeApi(works(*[[summary(1000 + n, ext_id("doi", f"10.1/{1000 + n}"), title=None)] for n in range(150)]))
    parts, ledger = MemoryParts(), MemoryLedger()
    task = ResearcherTask(job_id="pull-1", job_type=JobType.PULL, researcher_id="r1")
    # When
    report = pull_researcher_works(task, pull_ports(api, ledger, parts), now=NOW)
    # Then two bulk reads (100 + 50) after the summary; the work ORCID could not return keeps the summary's columns
    assert [len(r) for r in api.requests] == [0, 100, 50]
    assert report.requests == 3 and report.rows == 150
    rows = {r.put_code: r for r in read_rows(parts.objects[part_key("pull-1", "r1")])}
    assert rows[1000].title == "Full title 1000" and rows[1000].work_type == "book"
    assert rows[1013].title is None and rows[1013].work_type == "journal-article"
    assert len(ledger.entries["r1"]) == 150
    assert {e.job_id for e in ledger.entries["r1"].values()} == {"pull-1"}
