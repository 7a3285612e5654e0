"""The push for one researcher against in-memory fakes: the diff, the requests it costs, and every ORCID answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import JobTrigger, JobType, ResearcherTask
from orcid_sync.domain.jobs.runs import open_job
from orcid_sync.domain.models import (
    Asset,
    OrcidStatus,
    Researcher,
    SealedSecret,
    StoredToken,
    TokenInvalidReason,
    TokenSource,
)
from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import (
    Employment,
    OrcidError,
    OrcidIdentifier,
    ResearcherUrl,
    ResearcherUrls,
    Source,
    Work,
)
from orcid_sync.domain.push import (
    REQUEST_TIME_MARGIN_SECONDS,
    OutOfTimeError,
    PushContext,
    PushPorts,
    RetryLaterError,
    process_push_task,
    push_researcher,
    select_push_researchers,
)
from orcid_sync.domain.push.ledger import (
    EmploymentEntry,
    EntryState,
    LedgerChanges,
    PushLedger,
    ResearcherUrlEntry,
    WorkEntry,
)
from orcid_sync.domain.push.works import content_hash
from tests.unit.test_jobs import FakeJobStore, FakeNotifier

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
ORCID_ID = "0000-0002-1825-0097"
CLIENT_ID = "APP-TESTCLIENT000001"
TOKEN = "secret-access-token"
ORG = {"name": "Example U", "city": "Boston", "country": "US", "identifier_type": "ROR", "identifier": "05qwgg493"}
SENDING = IntegrationSettings(send_assets=True)
EVERYTHING = IntegrationSettings(
    institution_name="Example U",
    send_assets=True,
    send_affiliation=True,
    organization=ORG,  # type: ignore[arg-type]
    researcher_url={"send": True},  # type: ignore[arg-type]
)


# --- fakes ----------------------------------------------------------------------------------------------------


def orcid_failure(kind: str, status: int, code: int | None, message: str) -> orcid_errors.OrcidApiError:
    """An exception as the ORCID client raises it for this answer."""
    cls: type[orcid_errors.OrcidApiError] = getattr(orcid_errors, kind)
    return cls(status=status, error_code=code, developer_message=message)


def duplicate(put_code: int | None) -> orcid_errors.DuplicateWorkError:
    return orcid_errors.DuplicateWorkError(
        existing_put_code=put_code, status=409, error_code=9021, developer_message=f"see put-code {put_code}"
    )


@dataclass
class FakeOrcid:
    """ORCID's rules for our client's works, researcher URLs and employments, in memory."""

    works: dict[int, Work] = field(default_factory=dict)
    urls: dict[int, ResearcherUrl] = field(default_factory=dict)
    employments: dict[int, Employment] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    revoked: bool = False
    next_put_code: int = 1000
    # Per call name, exceptions to raise (one per call, first first).
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    # Per-item bulk errors by asset id (source-work-id).
    item_errors: dict[str, OrcidError] = field(default_factory=dict)

    def _call(self, name: str, token: SecretStr) -> None:
        self.calls.append(name)
        assert token.get_secret_value() == TOKEN
        if self.revoked and name != "delete_work":
            raise orcid_failure("InvalidTokenError", 401, None, "invalid_token")
        if self.failures.get(name):
            raise self.failures[name].pop(0)

    def _pc(self) -> int:
        self.next_put_code += 1
        return self.next_put_code

    @staticmethod
    def _self_keys(work: Work) -> set[tuple[str, str]]:
        return {
            (eid.external_id_type, eid.external_id_value.lower())
            for eid in work.external_ids.external_id
            if eid.external_id_relationship == "self"
        }

    def _store_work(self, work: Work) -> int | OrcidError:
        asset_id = next(
            e.external_id_value for e in work.external_ids.external_id if e.external_id_type == "source-work-id"
        )
        if asset_id in self.item_errors:
            return self.item_errors[asset_id]
        keys = self._self_keys(work)
        for put_code, existing in self.works.items():
            if keys & self._self_keys(existing):
                return OrcidError(
                    response_code=409,
                    error_code=9021,
                    developer_message=f"409 Conflict: You have already added this activity (matched by external "
                    f"identifiers), please see element with put-code {put_code}. If you are trying to edit the item, "
                    "please use PUT instead of POST.",
                )
        put_code = self._pc()
        self.works[put_code] = work.model_copy(update={"put_code": put_code})
        return put_code

    def create_works(self, orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        self._call("create_works", token)
        assert len(works) <= 100
        return [self._store_work(work) for work in works]

    def create_work(self, orcid: str, token: SecretStr, work: Work) -> int:
        self._call("create_work", token)
        result = self._store_work(work)
        if isinstance(result, int):
            return result
        if result.error_code == 9021:
            raise duplicate(result.duplicate_put_code)
        raise orcid_failure(
            "ValidationFailedError", result.response_code, result.error_code, result.developer_message or ""
        )

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        self._call("read_works", token)
        return [
            self.works[pc].model_copy(update={"source": Source(source_client=OrcidIdentifier(path=CLIENT_ID))})
            if pc in self.works
            else OrcidError(response_code=404, error_code=9016)
            for pc in put_codes
        ]

    def update_work(self, orcid: str, token: SecretStr, put_code: int, work: Work) -> Work:
        self._call("update_work", token)
        assert work.put_code in (None, put_code)
        if put_code not in self.works:
            raise orcid_failure("NotFoundError", 404, 9016, "404 Not Found: The resource was not found.")
        self.works[put_code] = work.model_copy(update={"put_code": put_code})
        return self.works[put_code]

    def delete_work(self, orcid: str, token: SecretStr, put_code: int) -> None:
        self._call("delete_work", token)
        if self.works.pop(put_code, None) is None:
            raise orcid_failure("NotFoundError", 404, 9016, "404 Not Found")

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls:
        self._call("read_researcher_urls", token)
        return ResearcherUrls(researcher_url=list(self.urls.values()))

    def create_researcher_url(self, orcid: str, token: SecretStr, url: ResearcherUrl) -> int:
        self._call("create_researcher_url", token)
        if any(existing.url.value == url.url.value for existing in self.urls.values()):
            raise orcid_failure("ConflictError", 409, 9030, f"The element '{url.url.value}' is duplicated.")
        put_code = self._pc()
        self.urls[put_code] = url.model_copy(
            update={"put_code": put_code, "source": Source(source_client=OrcidIdentifier(path=CLIENT_ID))}
        )
        return put_code

    def update_researcher_url(self, orcid: str, token: SecretStr, put_code: int, url: ResearcherUrl) -> ResearcherUrl:
        self._call("update_researcher_url", token)
        if put_code not in self.urls:
            raise orcid_failure("NotFoundError", 404, 9016, "404 Not Found")
        self.urls[put_code] = url.model_copy(update={"put_code": put_code, "source": self.urls[put_code].source})
        return self.urls[put_code]

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int:
        self._call("create_employment", token)
        ours = {(e.external_id_type, e.external_id_value) for e in (employment.external_ids or _no_ids()).external_id}
        for put_code, existing in self.employments.items():
            if ours & {
                (e.external_id_type, e.external_id_value) for e in (existing.external_ids or _no_ids()).external_id
            }:
                raise duplicate(put_code)
        put_code = self._pc()
        self.employments[put_code] = employment
        return put_code

    @property
    def request_count(self) -> int:
        return len(self.calls)


def _no_ids() -> Any:
    from orcid_sync.domain.orcid.models import ExternalIds

    return ExternalIds()


class FakeResearchers:
    def __init__(self, *researchers: Researcher) -> None:
        self.items = {r.id: r for r in researchers}
        self.synced: list[tuple[str, datetime]] = []

    def get(self, researcher_id: str) -> Researcher | None:
        return self.items.get(researcher_id)

    def set_status(self, researcher_id: str, status: OrcidStatus, *, scopes: Sequence[str] | None = None) -> None:
        self.items[researcher_id] = self.items[researcher_id].model_copy(update={"orcid_status": status})

    def mark_synced(self, researcher_id: str, at: datetime) -> None:
        self.synced.append((researcher_id, at))

    def mark_authenticated(self, researcher_id: str, *, orcid: str) -> bool:
        if self.items[researcher_id].orcid != orcid:
            return False
        self.items[researcher_id] = self.items[researcher_id].model_copy(update={"orcid_authenticated": True})
        return True


class FakeTokens:
    def __init__(self, *tokens: StoredToken) -> None:
        self.items = {t.researcher_id: t for t in tokens}

    def get(self, researcher_id: str) -> StoredToken | None:
        return self.items.get(researcher_id)

    def mark_revoked(self, researcher_id: str, at: datetime) -> None:
        self.items[researcher_id] = self.items[researcher_id].model_copy(update={"revoked_at": at})

    def mark_invalid(self, researcher_id: str, *, at: datetime, reason: TokenInvalidReason, fingerprint: str) -> bool:
        token = self.items.get(researcher_id)
        if token is None or token.fingerprint != fingerprint:
            return False
        update: dict[str, Any] = {"invalid_at": at, "invalid_reason": reason}
        if reason is TokenInvalidReason.INVALID_TOKEN:
            update["revoked_at"] = token.revoked_at or at
        self.items[researcher_id] = token.model_copy(update=update)
        return True


class FakeAssets:
    def __init__(self, assets: Sequence[Asset] = ()) -> None:
        self.items = {a.id: a for a in assets}

    def list_for_researcher(self, researcher_id: str) -> list[Asset]:
        return [a for a in self.items.values() if researcher_id in a.researchers]


class FakeLedger:
    """The LedgerStore in memory; ``fail_after_writes`` makes it crash like a Lambda dying mid-run.

    ``write`` applies a batch item by item, so a crash can land in the middle of one (as it can between two
    BatchWriteItem calls); ``batches`` records the size of each write call, in order.
    """

    def __init__(self) -> None:
        self.works: dict[str, dict[str, WorkEntry]] = {}
        self.urls: dict[str, ResearcherUrlEntry] = {}
        self.employments: dict[str, EmploymentEntry] = {}
        self.fingerprints: dict[str, str] = {}
        self.opted_out: dict[str, set[str]] = {}
        self.writes = 0
        self.batches: list[int] = []
        self.fail_after_writes: int | None = None

    def _write(self) -> None:
        if self.fail_after_writes is not None and self.writes >= self.fail_after_writes:
            raise RuntimeError("the ledger is unreachable")
        self.writes += 1

    def load(self, researcher_id: str) -> PushLedger:
        return PushLedger(
            works=dict(self.works.get(researcher_id, {})),
            researcher_url=self.urls.get(researcher_id),
            employment=self.employments.get(researcher_id),
            fingerprint=self.fingerprints.get(researcher_id),
            opted_out=frozenset(self.opted_out.get(researcher_id, set())),
        )

    def write(self, researcher_id: str, changes: LedgerChanges) -> None:
        self.batches.append(len(changes))
        for asset_id, entry in changes.works.items():
            self._write()
            if entry is None:
                self.works.get(researcher_id, {}).pop(asset_id, None)
            else:
                self.works.setdefault(researcher_id, {})[asset_id] = entry
        if changes.researcher_url is not None:
            self._write()
            self.urls[researcher_id] = changes.researcher_url
        if changes.employment is not None:
            self._write()
            self.employments[researcher_id] = changes.employment
        if changes.fingerprint is not None:
            self.set_fingerprint(researcher_id, *changes.fingerprint)

    def delete_work(self, researcher_id: str, asset_id: str) -> None:
        self._write()
        self.works.get(researcher_id, {}).pop(asset_id, None)

    def set_fingerprint(self, researcher_id: str, fingerprint: str | None, at: datetime) -> None:
        if fingerprint is None:
            self.fingerprints.pop(researcher_id, None)
        else:
            self.fingerprints[researcher_id] = fingerprint

    def set_opted_out(self, researcher_id: str, asset_id: str, opted_out: bool, *, at: datetime) -> None:
        self._write()
        chosen = self.opted_out.setdefault(researcher_id, set())
        if opted_out:
            chosen.add(asset_id)
        else:
            chosen.discard(asset_id)


def researcher(**fields: Any) -> Researcher:
    base: dict[str, Any] = {
        "id": "r1",
        "given_names": "Josiah",
        "family_name": "Carberry",
        "orcid": ORCID_ID,
        "orcid_status": "active",
        "department": "Psychoceramics",
        "position": "Professor",
    }
    return Researcher.model_validate(base | fields)


def token(
    researcher_id: str = "r1",
    scopes: Sequence[str] = ("/read-limited", "/activities/update", "/person/update"),
    **fields: Any,
) -> StoredToken:
    sealed = SealedSecret(data_key=b"k", nonce=b"n", ciphertext=b"c")
    base: dict[str, Any] = {
        "researcher_id": researcher_id,
        "orcid": ORCID_ID,
        "access_token": sealed,
        "scopes": list(scopes),
        "expires_at": NOW + timedelta(days=3650),
        "source": TokenSource.OAUTH,
        "stored_at": NOW,
        "fingerprint": "f",
    }
    return StoredToken.model_validate(base | fields)


def asset(number: int, **fields: Any) -> Asset:
    base: dict[str, Any] = {
        "id": f"a{number:03d}",
        "researchers": ["r1"],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": f"Output {number}",
        "doi": f"10.1234/output.{number}",
        "updated_at": NOW - timedelta(days=10),
    }
    return Asset.model_validate(base | fields)


@dataclass
class World:
    orcid: FakeOrcid = field(default_factory=FakeOrcid)
    researchers: FakeResearchers = field(default_factory=lambda: FakeResearchers(researcher()))
    tokens: FakeTokens = field(default_factory=lambda: FakeTokens(token()))
    assets: FakeAssets = field(default_factory=FakeAssets)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    settings: IntegrationSettings = SENDING
    opened: int = 0

    def ports(self) -> PushPorts:
        def open_token(stored: StoredToken) -> SecretStr:
            self.opened += 1
            return SecretStr(TOKEN)

        return PushPorts(
            researchers=self.researchers,  # type: ignore[arg-type]
            tokens=self.tokens,  # type: ignore[arg-type]
            assets=self.assets,  # type: ignore[arg-type]
            ledger=self.ledger,
            settings=lambda: self.settings,
            open_token=open_token,
            orcid=self.orcid,
            context=PushContext(
                client_id=CLIENT_ID, sandbox=True, profile_url=lambda rid: f"https://repo.example.edu/profiles/{rid}"
            ),
            request_count=lambda: self.orcid.request_count,
        )

    def push(self, **options: Any) -> Any:
        dry_run = options.pop("dry_run", False)
        task = ResearcherTask(job_id="job", job_type=JobType.PUSH, researcher_id="r1", dry_run=dry_run, options=options)
        before = len(self.orcid.calls)
        outcome = push_researcher(task, self.ports(), now=NOW)
        self.last_calls = self.orcid.calls[before:]
        return outcome

    def entry(self, asset_id: str) -> WorkEntry:
        return self.ledger.works["r1"][asset_id]


def world(*assets: Asset, settings: IntegrationSettings = SENDING) -> World:
    return World(assets=FakeAssets(assets), settings=settings)


# --- eligibility -----------------------------------------------------------------------------------------------


def test_select_push_researchers_applies_every_rule() -> None:
    people = [
        researcher(id="ok"),
        researcher(id="no-orcid", orcid=None),
        researcher(id="revoked", orcid_status="revoked"),
        researcher(id="former", active=False),
        researcher(id="opted-out", update_orcid_profile=False),
        researcher(id="no-token"),
        researcher(id="dead-token"),
        researcher(id="read-only"),
        researcher(id="other-id"),
    ]
    tokens = {
        t.researcher_id: t
        for t in (
            token("ok"),
            token("no-orcid"),
            token("revoked"),
            token("former"),
            token("opted-out"),
            token("dead-token", revoked_at=NOW),
            token("read-only", scopes=["/read-limited"]),
            token("other-id", orcid="0000-0002-9079-593X"),
        )
    }
    assert select_push_researchers(people, tokens, IntegrationSettings(), None) == ["ok", "opted-out"]
    selected = IntegrationSettings(update_researchers="selected")  # type: ignore[arg-type]
    assert select_push_researchers(people, tokens, selected, None) == ["ok"]
    assert select_push_researchers(people, tokens, IntegrationSettings(), {"opted-out", "former"}) == ["opted-out"]


# --- the first push and the ones after ---------------------------------------------------------------------------


def test_first_push_of_120_works_is_two_bulk_posts_then_nothing() -> None:
    w = world(*(asset(n) for n in range(120)), settings=EVERYTHING)
    outcome = w.push()
    assert w.last_calls == ["create_works", "create_works", "create_researcher_url", "create_employment"]
    assert outcome.counts.works_created == 120
    assert outcome.counts.orcid_requests == 4
    assert outcome.updated and not outcome.failed
    assert len(w.orcid.works) == 120
    assert all(entry.state is EntryState.SYNCED and entry.put_code for entry in w.ledger.works["r1"].values())
    assert w.researchers.synced == [("r1", NOW)]
    # When nothing changed, the next run makes no request and does not even decrypt the token
    opened = w.opened
    again = w.push()
    assert w.last_calls == []
    assert again.counts.orcid_requests == 0
    assert again.counts.works_unchanged == 120
    assert not again.updated
    assert w.opened == opened
    assert len(w.researchers.synced) == 2


def test_a_changed_asset_costs_one_put_and_nothing_else() -> None:
    w = world(*(asset(n) for n in range(5)))
    w.push()
    w.assets.items["a002"] = asset(2, title="Output 2, corrected", updated_at=NOW)
    outcome = w.push()
    assert w.last_calls == ["update_work"]
    assert outcome.counts.works_updated == 1
    assert outcome.counts.works_unchanged == 4
    put_code = w.entry("a002").put_code
    assert put_code is not None
    assert w.orcid.works[put_code].title.title.value == "Output 2, corrected"


def test_a_bookkeeping_change_that_does_not_change_the_work_costs_nothing() -> None:
    w = world(asset(1))
    w.push()
    w.assets.items["a001"] = asset(1, updated_at=NOW)  # saved again, same content
    outcome = w.push()
    assert w.last_calls == []
    assert outcome.counts.works_unchanged == 1


@pytest.mark.parametrize(
    "change",
    [
        {"status": "withdrawn"},
        {"status": "draft"},
        {"visible": False},
        {"type": "teaching.syllabus"},
        {"researchers": ["someone-else"]},
    ],
)
def test_works_leave_orcid_when_their_asset_does(change: dict[str, Any]) -> None:
    w = world(
        asset(1), asset(2), settings=IntegrationSettings(send_assets=True, asset_types={"include": ["publication"]})
    )  # type: ignore[arg-type]
    w.push()
    put_code = w.entry("a001").put_code
    w.assets.items["a001"] = asset(1, **change)
    outcome = w.push()
    assert w.last_calls == ["delete_work"]
    assert outcome.counts.works_deleted == 1
    assert put_code not in w.orcid.works
    assert "a001" not in w.ledger.works["r1"]


def test_a_deleted_asset_is_deleted_from_orcid() -> None:
    w = world(asset(1), asset(2))
    w.push()
    del w.assets.items["a002"]
    outcome = w.push()
    assert w.last_calls == ["delete_work"]
    assert outcome.counts.works_deleted == 1
    assert len(w.orcid.works) == 1


def test_excluding_a_type_in_the_settings_deletes_its_works() -> None:
    w = world(asset(1), asset(2, type="dataset.dataset"))
    w.push()
    w.settings = IntegrationSettings(send_assets=True, asset_types={"include": ["all"], "exclude": ["dataset"]})  # type: ignore[arg-type]
    outcome = w.push()
    assert w.last_calls == ["delete_work"]
    assert outcome.counts.works_deleted == 1
    assert [work.type for work in w.orcid.works.values()] == ["journal-article"]


def test_a_type_override_updates_the_works_it_touches() -> None:
    w = world(asset(1), asset(2, type="publication.letter"))
    w.push()
    w.settings = IntegrationSettings(send_assets=True, type_overrides={"publication.letter": "journal-article"})
    outcome = w.push()
    assert w.last_calls == ["update_work"]
    assert outcome.counts.works_updated == 1


def test_turning_send_assets_off_leaves_the_works_on_orcid() -> None:
    w = world(asset(1), asset(2))
    w.push()
    w.settings = IntegrationSettings(send_assets=False)
    outcome = w.push()
    assert w.last_calls == []
    assert len(w.orcid.works) == 2
    assert outcome.counts.works_deleted == 0


def test_one_post_per_work_when_bulk_is_off() -> None:
    w = world(*(asset(n) for n in range(3)))
    outcome = w.push(bulk=False)
    assert w.last_calls == ["create_work"] * 3
    assert outcome.counts.works_created == 3


# --- recovering what we wrote but did not record ----------------------------------------------------------------


def test_a_crash_after_orcid_accepted_is_recovered_without_duplicates() -> None:
    # Given a ledger that dies after recording 30 of the 120 works ORCID accepted in the first two bulk POSTs
    w = world(*(asset(n) for n in range(120)))
    w.ledger.fail_after_writes = 30
    with pytest.raises(RuntimeError, match="ledger"):
        w.push()
    assert len(w.orcid.works) == 100
    # When the message is redelivered
    w.ledger.fail_after_writes = None
    outcome = w.push()
    # Then the 70 unrecorded works are adopted from ORCID's 409s (read in one bulk GET, no PUT: same content)
    assert w.last_calls == ["create_works", "read_works"]
    assert outcome.counts.works_adopted == 70
    assert outcome.counts.works_created == 20
    assert len(w.orcid.works) == 120
    assert len({entry.put_code for entry in w.ledger.works["r1"].values()}) == 120


def recorded_at_each_call(w: World) -> list[tuple[str, int]]:
    """Watch the fake ORCID: each request's name and how many work entries the ledger held when it went out."""
    seen: list[tuple[str, int]] = []
    original = w.orcid._call

    def watched(name: str, token: SecretStr) -> None:
        seen.append((name, len(w.ledger.works.get("r1", {}))))
        original(name, token)

    w.orcid._call = watched  # type: ignore[method-assign]
    return seen


def test_a_bulk_answer_is_in_the_ledger_before_the_next_bulk_post_in_one_write() -> None:
    # Given 120 new works, the researcher-url and the employment
    w = world(*(asset(n) for n in range(120)), settings=EVERYTHING)
    seen = recorded_at_each_call(w)
    w.push()
    # Then the 100 put-codes of the first bulk POST were written before the second went out
    assert seen == [
        ("create_works", 0),
        ("create_works", 100),
        ("create_researcher_url", 100),
        ("create_employment", 100),
    ]
    # And the ledger took two writes: the first answer (100 entries, four BatchWriteItem calls of 25), then
    # the second's 20 with the researcher-url, the employment and the fingerprint (one call) at the end
    assert w.ledger.batches == [100, 23]
    assert len(w.ledger.works["r1"]) == 120
    assert "r1" in w.ledger.fingerprints


def test_one_post_per_work_records_each_answer_before_the_next_post() -> None:
    w = world(*(asset(n) for n in range(3)))
    seen = recorded_at_each_call(w)
    w.push(bulk=False)
    assert seen == [("create_work", 0), ("create_work", 1), ("create_work", 2)]
    assert w.ledger.batches == [1, 1, 2]  # the last work with the fingerprint


def test_a_deletion_is_recorded_before_any_other_request_goes_out() -> None:
    # A DELETE that is not recorded would come back as a 404 on the rerun, read as the researcher's deletion.
    settings = IntegrationSettings(send_assets=True, researcher_url={"send": True})
    w = world(asset(1), asset(2), settings=settings)
    w.push()
    w.assets.items["a001"] = asset(1, status="withdrawn")
    w.researchers.items["r1"] = researcher(profile_url="https://repo.example.edu/people/r1")
    seen = recorded_at_each_call(w)
    w.push()
    assert seen == [("delete_work", 2), ("update_researcher_url", 1)]


def test_what_orcid_accepted_is_recorded_when_a_later_request_fails() -> None:
    # Given ORCID accepts the first bulk POST, then keeps failing the second
    w = world(*(asset(n) for n in range(150)))
    original = w.orcid.create_works
    calls = {"n": 0}

    def second_fails(orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise orcid_failure("RetryableOrcidError", 503, None, "ORCID is down")
        return original(orcid, token, works)

    w.orcid.create_works = second_fails  # type: ignore[method-assign]
    with pytest.raises(orcid_errors.RetryableOrcidError):
        w.push()
    # Then the first answer's 100 entries are in the ledger, and no fingerprint
    assert len(w.ledger.works["r1"]) == 100
    assert "r1" not in w.ledger.fingerprints


def test_a_push_near_the_invocations_end_stops_before_its_next_request_with_everything_recorded() -> None:
    # Given 150 new works and an invocation with time for one request only
    w = world(*(asset(n) for n in range(150)))
    left = iter([300.0, REQUEST_TIME_MARGIN_SECONDS - 1])
    ports = w.ports()
    ports = PushPorts(**{**ports.__dict__, "time_left": lambda: next(left)})
    task = ResearcherTask(job_id="job", job_type=JobType.PUSH, researcher_id="r1")
    # When the push runs
    with pytest.raises(OutOfTimeError):
        push_researcher(task, ports, now=NOW)
    # Then it sent the first bulk POST, recorded its answer and stopped before the second
    assert w.orcid.calls == ["create_works"]
    assert len(w.ledger.works["r1"]) == 100
    # And the continuation sends only the rest
    outcome = w.push()
    assert w.last_calls == ["create_works"]
    assert outcome.counts.works_created == 50


def test_out_of_time_is_never_counted_as_a_failure_even_on_the_last_attempt() -> None:
    w = world(asset(1))
    ports = PushPorts(**{**w.ports().__dict__, "time_left": lambda: 1.0})
    jobs = FakeJobStore()
    job = open_job(jobs, job_type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="t", now=NOW)
    jobs.set_expected(job.job_id, 1)
    task = ResearcherTask(job_id=job.job_id, job_type=JobType.PUSH, researcher_id="r1")
    with pytest.raises(OutOfTimeError):
        process_push_task(task, ports, jobs, finishers={}, notifier=FakeNotifier(), now=lambda: NOW, last_attempt=True)
    stored = jobs.get(job.job_id)
    assert stored is not None
    assert stored.counts.researchers_processed == 0


def test_an_adopted_work_with_other_content_is_put() -> None:
    w = world(asset(1))
    w.push()
    w.ledger.works["r1"].clear()
    w.ledger.fingerprints.clear()
    w.assets.items["a001"] = asset(1, title="New title", updated_at=NOW)
    outcome = w.push()
    assert w.last_calls == ["create_works", "read_works", "update_work"]
    assert outcome.counts.works_adopted == 1
    assert next(iter(w.orcid.works.values())).title.title.value == "New title"


def test_two_assets_with_one_doi_make_one_work_and_a_warning() -> None:
    w = world(asset(1), asset(2, doi="10.1234/output.1"))
    outcome = w.push()
    assert len(w.orcid.works) == 1
    assert outcome.counts.works_created == 1
    assert outcome.counts.works_skipped == 1
    [event] = [e for e in outcome.events if e.action == "skipped duplicate"]
    assert event.asset_id == "a002"
    assert "a001" in event.message
    # And the existing work is never overwritten by the second asset
    assert w.last_calls == ["create_works"]


# --- what the researcher did on ORCID ----------------------------------------------------------------------------


def test_a_work_the_researcher_deleted_is_not_sent_again_when_the_asset_changes() -> None:
    w = world(asset(1), asset(2))
    w.push()
    del w.orcid.works[w.entry("a001").put_code]  # type: ignore[arg-type]
    w.assets.items["a001"] = asset(1, title="Changed", updated_at=NOW)
    w.assets.items["a002"] = asset(2, title="Changed too", updated_at=NOW)
    outcome = w.push()
    assert w.last_calls == ["update_work", "update_work"]
    assert w.entry("a001").state is EntryState.DELETED_BY_RESEARCHER
    assert [e.action for e in outcome.events if e.asset_id == "a001"] == ["stopped sending work"]
    # Nothing changed since: no request
    assert w.push().counts.orcid_requests == 0
    # Another field change: the researcher's deletion still holds (issue 13; see test_push_trust)
    w.assets.items["a001"] = asset(1, title="Changed again", updated_at=NOW + timedelta(days=1))
    outcome = w.push()
    assert w.last_calls == []
    assert w.entry("a001").state is EntryState.DELETED_BY_RESEARCHER
    assert outcome.counts.works_withheld_deleted_by_researcher == 1


def test_an_administrator_can_resend_works_the_researcher_deleted() -> None:
    w = world(asset(1))
    w.push()
    del w.orcid.works[w.entry("a001").put_code]  # type: ignore[arg-type]
    w.assets.items["a001"] = asset(1, title="Changed", updated_at=NOW)
    w.push()
    w.assets.items["a001"] = asset(1, title="Changed", updated_at=NOW)
    assert w.push().counts.orcid_requests == 0
    outcome = w.push(resend_deleted=True)
    assert w.last_calls == ["create_works"]
    assert outcome.counts.works_created == 1


def test_deleting_a_work_already_gone_records_the_researchers_deletion() -> None:
    w = world(asset(1))
    w.push()
    w.orcid.works.clear()
    w.assets.items["a001"] = asset(1, status="withdrawn")
    outcome = w.push()
    assert w.last_calls == ["delete_work"]
    assert outcome.counts.works_deleted == 0
    assert w.entry("a001").state is EntryState.DELETED_BY_RESEARCHER
    assert w.entry("a001").put_code is None
    # Approved again later, it is not re-created: the researcher had removed it
    w.assets.items["a001"] = asset(1, updated_at=NOW)
    assert w.push().counts.works_withheld_deleted_by_researcher == 1
    assert w.orcid.works == {}


# --- ORCID refusing ----------------------------------------------------------------------------------------------


def test_a_revoked_token_disconnects_the_researcher_and_stops() -> None:
    w = world(*(asset(n) for n in range(150)))
    w.orcid.failures["create_works"] = []
    w.orcid.revoked = True
    outcome = w.push()
    assert w.last_calls == ["create_works"]
    assert outcome.failed
    assert w.tokens.items["r1"].revoked_at == NOW
    assert w.researchers.items["r1"].orcid_status is OrcidStatus.REVOKED
    [event] = outcome.events
    assert event.action == "marked token revoked"
    assert event.orcid_status == 401
    assert TOKEN not in event.message
    # The worker's disconnected-researchers metric reads this, not the event's wording
    assert outcome.token_problem is TokenInvalidReason.INVALID_TOKEN


def test_a_missing_scope_is_reported_and_stops_the_researcher() -> None:
    w = world(asset(1))
    w.orcid.failures["create_works"] = [orcid_failure("InsufficientScopeError", 403, 9038, "409 Conflict: scope")]
    outcome = w.push()
    assert outcome.failed
    assert outcome.token_problem is None  # the token is fine, the researcher only gave us less
    assert outcome.events[-1].orcid_error_code == 9038
    assert "scope" in outcome.events[-1].message
    assert w.researchers.items["r1"].orcid_status is OrcidStatus.ACTIVE


def test_a_token_for_another_record_is_reported() -> None:
    w = world(asset(1))
    w.orcid.failures["create_works"] = [
        orcid_failure("TokenForOtherRecordError", 401, 9017, "401 Unauthorized: not this record")
    ]
    outcome = w.push()
    assert outcome.failed
    assert outcome.events[-1].orcid_error_code == 9017


def test_a_work_orcid_rejects_is_reported_the_others_go_and_it_costs_one_request() -> None:
    w = world(asset(1), asset(2), asset(3))
    w.orcid.item_errors["a002"] = OrcidError(
        response_code=400, error_code=9037, developer_message="Invalid work type, valid values are: …"
    )
    outcome = w.push()
    assert outcome.counts.works_created == 2
    assert outcome.counts.works_skipped == 1
    [event] = [e for e in outcome.events if e.asset_id == "a002"]
    assert event.level == "error"
    assert "Invalid work type" in event.message
    assert event.orcid_error_code == 9037
    assert w.entry("a002").state is EntryState.REJECTED
    # Unchanged, it is not sent again; changed, it is
    assert w.push().counts.orcid_requests == 0
    del w.orcid.item_errors["a002"]
    w.assets.items["a002"] = asset(2, title="Fixed", updated_at=NOW)
    w.push()
    assert w.last_calls == ["create_works"]
    assert w.entry("a002").state is EntryState.SYNCED


def test_orcid_failing_an_item_retries_the_researcher_without_redoing_the_rest() -> None:
    w = world(asset(1), asset(2))
    w.orcid.item_errors["a002"] = OrcidError(
        response_code=500, error_code=9008, developer_message="Something went wrong"
    )
    with pytest.raises(RetryLaterError):
        w.push()
    assert w.entry("a001").state is EntryState.SYNCED
    del w.orcid.item_errors["a002"]
    outcome = w.push()
    assert w.last_calls == ["create_works"]
    assert outcome.counts.works_created == 1


def test_orcid_unavailable_fails_the_message_and_the_rerun_resumes() -> None:
    w = world(*(asset(n) for n in range(150)))
    w.orcid.failures["create_works"] = []
    calls = {"n": 0}
    original = w.orcid.create_works

    def flaky(orcid: str, tok: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise orcid_failure("RetryableOrcidError", 503, None, "503 Service Unavailable")
        return original(orcid, tok, works)

    w.orcid.create_works = flaky  # type: ignore[method-assign]
    with pytest.raises(orcid_errors.RetryableOrcidError):
        w.push()
    assert len(w.ledger.works["r1"]) == 100
    outcome = w.push()
    assert outcome.counts.works_created == 50
    assert len(w.orcid.works) == 150


def test_an_invalid_asset_is_reported_without_a_request() -> None:
    w = world(asset(1), asset(2).model_copy(update={"title": "  "}))
    outcome = w.push()
    assert w.last_calls == ["create_works"]
    assert outcome.counts.works_created == 1
    [event] = [e for e in outcome.events if e.asset_id == "a002"]
    assert "9022" in event.message


# --- researcher-url and employment -------------------------------------------------------------------------------


def test_the_researcher_url_is_sent_once_and_updated_when_it_changes() -> None:
    settings = IntegrationSettings(institution_name="Example U", researcher_url={"send": True})  # type: ignore[arg-type]
    w = world(settings=settings)
    w.push()
    assert w.last_calls == ["create_researcher_url"]
    [url] = w.orcid.urls.values()
    assert url.url.value == "https://repo.example.edu/profiles/r1"
    assert url.url_name == "Example U research profile"
    assert w.push().counts.orcid_requests == 0
    w.researchers.items["r1"] = researcher(profile_url="https://people.example.edu/carberry")
    w.push()
    assert w.last_calls == ["update_researcher_url"]
    [url] = w.orcid.urls.values()
    assert url.url.value == "https://people.example.edu/carberry"


def test_a_researcher_url_already_there_is_adopted() -> None:
    settings = IntegrationSettings(researcher_url={"send": True, "name": "Profile"})  # type: ignore[arg-type]
    w = world(settings=settings)
    w.push()
    w.ledger.urls.clear()
    w.ledger.fingerprints.clear()
    w.push()
    assert w.last_calls == ["create_researcher_url", "read_researcher_urls", "update_researcher_url"]
    assert len(w.orcid.urls) == 1
    assert w.ledger.urls["r1"].state is EntryState.SYNCED


def test_no_researcher_url_without_the_person_scope() -> None:
    settings = IntegrationSettings(researcher_url={"send": True})  # type: ignore[arg-type]
    w = world(settings=settings)
    w.tokens = FakeTokens(token(scopes=["/read-limited", "/activities/update"]))
    outcome = w.push()
    assert w.last_calls == []
    assert "/person/update" in outcome.events[0].message


def test_the_employment_is_sent_once_and_never_updated() -> None:
    settings = IntegrationSettings(send_affiliation=True, organization=ORG)  # type: ignore[arg-type]
    w = world(settings=settings)
    w.push()
    assert w.last_calls == ["create_employment"]
    [employment] = w.orcid.employments.values()
    assert employment.department_name == "Psychoceramics"
    assert employment.role_title == "Professor"
    assert (
        employment.organization.disambiguated_organization.disambiguated_organization_identifier
        == "https://ror.org/05qwgg493"
    )  # type: ignore[union-attr]
    w.researchers.items["r1"] = researcher(position="Emeritus Professor")
    assert w.push().counts.orcid_requests == 0
    assert len(w.orcid.employments) == 1


def test_an_employment_posted_but_not_recorded_is_adopted_not_copied() -> None:
    settings = IntegrationSettings(send_affiliation=True, organization=ORG)  # type: ignore[arg-type]
    w = world(settings=settings)
    w.ledger.fail_after_writes = 0
    with pytest.raises(RuntimeError):
        w.push()
    w.ledger.fail_after_writes = None
    outcome = w.push()
    assert len(w.orcid.employments) == 1
    assert w.ledger.employments["r1"].put_code == next(iter(w.orcid.employments))
    assert [e.action for e in outcome.events] == ["adopted employment"]


# --- dry run -----------------------------------------------------------------------------------------------------


def test_a_dry_run_reports_everything_and_writes_nothing() -> None:
    w = world(asset(1), asset(2), asset(3), asset(4, status="draft"), settings=EVERYTHING)
    w.push()
    w.assets.items["a002"] = asset(2, title="Changed", updated_at=NOW)
    w.assets.items["a003"] = asset(3, visible=False)
    w.assets.items["a005"] = asset(5)
    w.assets.items["a006"] = asset(6, date="1850").model_copy(update={"title": " "})
    ledger_before = w.ledger.load("r1")
    outcome = w.push(dry_run=True)
    assert w.last_calls == []
    assert w.opened == 1  # only the first, real push opened the token
    assert w.ledger.load("r1") == ledger_before
    detail = outcome.detail
    assert detail is not None
    assert detail["create"] == ["a005"]
    assert detail["update"] == ["a002"]
    assert detail["delete"] == [{"asset_id": "a003", "reason": "not visible on the profile"}]
    assert detail["unchanged"] == 1
    assert detail["invalid"][0]["asset_id"] == "a006"
    assert "9022" in detail["invalid"][0]["reason"]
    assert {"asset_id": "a004", "reason": "status is draft, not approved"} in detail["not_sent"]
    assert detail["researcher_url"] == {"step": "unchanged"}
    assert detail["employment"] == {"step": "unchanged"}


# --- the job -----------------------------------------------------------------------------------------------------


def test_each_researcher_is_counted_once_and_the_last_one_finishes_the_job() -> None:
    jobs = FakeJobStore()
    notifier = FakeNotifier()
    job = open_job(jobs, job_type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    jobs.set_expected(job.job_id, 1)
    w = world(asset(1))
    task = ResearcherTask(job_id=job.job_id, job_type=JobType.PUSH, researcher_id="r1")
    process_push_task(task, w.ports(), jobs, finishers={}, notifier=notifier, now=lambda: NOW)
    process_push_task(task, w.ports(), jobs, finishers={}, notifier=notifier, now=lambda: NOW)  # a redelivery
    finished = jobs.get(job.job_id)
    assert finished is not None
    assert finished.state.value == "succeeded"
    assert finished.counts.researchers_processed == 1
    assert finished.counts.works_created == 1
    assert len(notifier.sent) == 1


def test_a_failing_researcher_is_retried_then_counted_failed_on_the_last_attempt() -> None:
    jobs = FakeJobStore()
    job = open_job(jobs, job_type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    jobs.set_expected(job.job_id, 1)
    w = world(asset(1))
    failure: Callable[[], Exception] = lambda: orcid_failure("RetryableOrcidError", 503, None, "503")  # noqa: E731
    w.orcid.failures["create_works"] = [failure(), failure()]
    task = ResearcherTask(job_id=job.job_id, job_type=JobType.PUSH, researcher_id="r1")
    with pytest.raises(orcid_errors.RetryableOrcidError):
        process_push_task(task, w.ports(), jobs, finishers={}, notifier=FakeNotifier(), now=lambda: NOW)
    assert jobs.get(job.job_id).counts.researchers_processed == 0  # type: ignore[union-attr]
    process_push_task(task, w.ports(), jobs, finishers={}, notifier=FakeNotifier(), now=lambda: NOW, last_attempt=True)
    finished = jobs.get(job.job_id)
    assert finished is not None
    assert finished.counts.researchers_failed == 1
    assert finished.state.value == "completed_with_errors"


def test_the_content_hash_of_a_read_work_matches_what_we_sent() -> None:
    # Adoption compares ORCID's copy with ours: read-only keys ORCID adds must not make them differ
    w = world(asset(1))
    w.push()
    stored = w.orcid.read_works_by_put_codes(ORCID_ID, SecretStr(TOKEN), [w.entry("a001").put_code])[0]  # type: ignore[list-item]
    assert isinstance(stored, Work)
    assert content_hash(stored.to_orcid_json()) == w.entry("a001").content_hash
