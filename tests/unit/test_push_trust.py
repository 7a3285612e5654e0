"""ORCID's trust rules in the push (issue 13): a researcher's deletion is final, nothing happens silently,
and one researcher is pushed by one worker at a time — against the in-memory fakes of ``test_push_plan``.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

# The use cases new with issue 13 are looked up as module attributes when a test runs, so that on a main
# without them each test fails on its own, for its own rule, instead of the whole module failing to import.
from orcid_sync.domain import push as push_logic
from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import JobState, JobTrigger, JobType, ResearcherTask
from orcid_sync.domain.jobs.runs import open_job
from orcid_sync.domain.orcid.models import Work
from orcid_sync.domain.push import process_push_task
from orcid_sync.domain.push.ledger import EntryState as LedgerState
from tests.support.aws import template_resources
from tests.unit.test_jobs import FakeJobStore, FakeNotifier
from tests.unit.test_push_plan import (
    NOW,
    SENDING,
    World,
    asset,
    world,
)

LETTERS_EXCLUDED = IntegrationSettings(send_assets=True, asset_types={"exclude": ["publication.letter"]})  # type: ignore[arg-type]


def delete_on_orcid(w: World, asset_id: str) -> None:
    """The researcher deletes one of our works on orcid.org."""
    put_code = w.entry(asset_id).put_code
    assert put_code is not None
    del w.orcid.works[put_code]


def ours_for(w: World, asset_id: str) -> list[Work]:
    return [
        work
        for work in w.orcid.works.values()
        if any(
            e.external_id_type == "source-work-id" and e.external_id_value == asset_id
            for e in work.external_ids.external_id
        )
    ]


# --- §2 a researcher's deletion is final ------------------------------------------------------------------------


def test_a_work_the_researcher_deleted_is_never_sent_again_however_often_the_asset_changes() -> None:
    # Given a work the researcher deleted on ORCID, learned from the 404 on our PUT after an edit
    w = world(asset(1), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited once", updated_at=NOW)
    first = w.push()
    assert w.entry("a001").state is LedgerState.DELETED_BY_RESEARCHER
    assert [e.action for e in first.events if e.asset_id == "a001"] == ["stopped sending work"]
    # When the repository edits the asset again, twice
    for edit in (1, 2):
        w.assets.items["a001"] = asset(1, title=f"Edited again {edit}", updated_at=NOW + timedelta(days=edit))
        outcome = w.push()
        # Then the work is not re-created, and no new event is recorded
        assert w.last_calls == []
        assert ours_for(w, "a001") == []
        assert [e for e in outcome.events if e.asset_id == "a001"] == []
        assert outcome.counts.works_withheld_deleted_by_researcher == 1


def test_a_deleted_work_is_not_recreated_after_its_type_is_excluded_and_included_again() -> None:
    # Given a work the researcher deleted, known to us
    w = world(asset(1, type="publication.letter"), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, type="publication.letter", title="Edited", updated_at=NOW)
    w.push()
    # When its type is excluded by the settings, then included again
    w.settings = LETTERS_EXCLUDED
    w.push()
    w.settings = SENDING
    outcome = w.push()
    # Then it stays off ORCID
    assert ours_for(w, "a001") == []
    assert "create_works" not in w.last_calls
    assert outcome.counts.works_withheld_deleted_by_researcher == 1


def test_a_work_found_already_deleted_while_excluding_its_type_is_not_recreated_when_it_comes_back() -> None:
    # Given a work the researcher deleted without our knowing
    w = world(asset(1, type="publication.letter"), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    # When an administrator excludes its type (our DELETE meets 404) and later includes it again
    w.settings = LETTERS_EXCLUDED
    w.push()
    w.settings = SENDING
    w.push()
    # Then it is not sent again: the 404 told us the researcher had removed it
    assert ours_for(w, "a001") == []
    assert w.entry("a001").state is LedgerState.DELETED_BY_RESEARCHER


def test_every_push_counts_the_withheld_work_and_only_the_first_records_an_event() -> None:
    w = world(asset(1), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    learned = w.push()
    assert learned.counts.works_withheld_deleted_by_researcher == 1
    # A night with nothing changed: no request, the work still counted as withheld, no event
    quiet = w.push()
    assert w.last_calls == []
    assert quiet.counts.works_withheld_deleted_by_researcher == 1
    assert quiet.events == []
    # A night where another asset changed: the plan runs, still no event about a001
    w.assets.items["a002"] = asset(2, title="Other edit", updated_at=NOW)
    busy = w.push()
    assert busy.counts.works_withheld_deleted_by_researcher == 1
    assert [e for e in busy.events if e.asset_id == "a001"] == []
    # And the dry run lists it, with the reason
    detail = w.push(dry_run=True).detail
    assert detail is not None
    assert [item["asset_id"] for item in detail["withheld"]] == ["a001"]
    assert "deleted" in detail["withheld"][0]["reason"]


def test_resend_deleted_sends_a_work_back_when_the_researcher_asks() -> None:
    w = world(asset(1), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    w.push()
    leases = FakeLeases()
    # When the researcher asks for it back (the self-service page's use case)
    push_logic.resend_deleted("r1", "a001", ledger=w.ledger, leases=leases, now=NOW)
    outcome = w.push()
    # Then the next push creates it again, once
    assert w.last_calls == ["create_works"]
    assert outcome.counts.works_created == 1
    assert len(ours_for(w, "a001")) == 1
    assert w.entry("a001").state is LedgerState.SYNCED
    assert leases.held == {}


def test_resend_deleted_refuses_a_work_the_researcher_did_not_delete_and_a_busy_researcher() -> None:
    w = world(asset(1))
    w.push()
    with pytest.raises(NotFoundError, match="a001"):
        push_logic.resend_deleted("r1", "a001", ledger=w.ledger, leases=FakeLeases(), now=NOW)
    with pytest.raises(NotFoundError):
        push_logic.resend_deleted("r1", "a999", ledger=w.ledger, leases=FakeLeases(), now=NOW)
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    w.push()
    busy = FakeLeases()
    busy.acquire("r1", job_id="push-nightly", now=NOW, duration=push_logic.LEASE_DURATION)
    with pytest.raises(ConflictError, match="in progress"):
        push_logic.resend_deleted("r1", "a001", ledger=w.ledger, leases=busy, now=NOW)
    assert w.entry("a001").state is LedgerState.DELETED_BY_RESEARCHER


# --- §3 nothing happens silently ---------------------------------------------------------------------------------


def test_excluding_a_type_records_one_event_per_researcher_with_the_count_and_the_reason() -> None:
    w = world(*(asset(n, type="publication.letter") for n in range(1, 4)), asset(4))
    w.push()
    w.settings = LETTERS_EXCLUDED
    outcome = w.push()
    assert outcome.counts.works_deleted == 3
    [event] = [e for e in outcome.events if e.action == "deleted works"]
    assert event.level == "warning"
    assert event.asset_id is None
    assert event.message == "asset type publication.letter excluded by settings: 3 works deleted from ORCID"


def test_a_cut_abstract_is_a_warning_event_naming_the_asset_and_the_field() -> None:
    w = world(asset(1, abstract=("word " * 4000).rstrip() + "s"), asset(2))  # 20,000 characters
    outcome = w.push()
    [event] = [e for e in outcome.events if e.asset_id == "a001"]
    assert event.level == "warning"
    assert event.action == "cut a field"
    assert "abstract" in event.message
    assert "short-description" in event.message
    assert "20,000" in event.message
    assert "5,000" in event.message


def test_a_duplicate_asset_is_counted_on_every_push_and_listed_in_the_dry_run() -> None:
    w = world(asset(1), asset(2, doi="https://doi.org/10.1234/OUTPUT.1"))
    first = w.push()
    assert first.counts.works_duplicate == 1
    assert len(w.orcid.works) == 1
    # Every later push counts it, the quiet ones too
    again = w.push()
    assert again.counts.works_duplicate == 1
    # And the dry run names it and the asset it duplicates
    detail = w.push(dry_run=True).detail
    assert detail is not None
    assert detail["create"] == []
    [duplicate] = detail["duplicate"]
    assert duplicate["asset_id"] == "a002"
    assert "a001" in duplicate["reason"]


# --- §6 one worker per researcher ---------------------------------------------------------------------------------


def test_an_asset_repeating_a_work_the_researcher_deleted_is_not_sent_in_its_place() -> None:
    # Given a work the researcher deleted, and later a second asset with the same DOI
    w = world(asset(1), asset(2))
    w.push()
    delete_on_orcid(w, "a001")
    w.assets.items["a001"] = asset(1, title="Edited", updated_at=NOW)
    w.push()
    w.assets.items["a003"] = asset(3, doi="10.1234/output.1")
    outcome = w.push()
    # Then the output does not come back through the other asset either
    assert w.last_calls == []
    assert ours_for(w, "a003") == []
    assert (outcome.counts.works_withheld_deleted_by_researcher, outcome.counts.works_duplicate) == (1, 1)
    [event] = [e for e in outcome.events if e.asset_id == "a003"]
    assert "a001, whose work the researcher deleted on ORCID" in event.message


class FakeLeases:
    """The LeaseStore contract in memory (thread-safe, like DynamoDB's conditional write)."""

    def __init__(self) -> None:
        self.held: dict[str, Any] = {}
        self.refused: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.counter = 0

    def acquire(self, researcher_id: str, *, job_id: str, now: datetime, duration: timedelta) -> Any:
        from orcid_sync.domain.push.leases import Lease, LeaseHeldError

        with self.lock:
            current = self.held.get(researcher_id)
            if current is not None and current.expires_at > now:
                self.refused.append((job_id, researcher_id))
                raise LeaseHeldError(current)
            self.counter += 1
            lease = Lease(researcher_id, f"{job_id}#{self.counter}", job_id, now + duration)
            self.held[researcher_id] = lease
            return lease

    def release(self, lease: Any) -> None:
        with self.lock:
            if self.held.get(lease.researcher_id) == lease:
                del self.held[lease.researcher_id]


def _job(jobs: FakeJobStore, expected: int = 1) -> str:
    job = open_job(jobs, job_type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="test", now=NOW)
    jobs.set_expected(job.job_id, expected)
    return job.job_id


def _process(w: World, jobs: FakeJobStore, job_id: str, leases: FakeLeases, **kwargs: Any) -> Any:
    task = ResearcherTask(
        job_id=job_id, job_type=JobType.PUSH, researcher_id="r1", dry_run=kwargs.pop("dry_run", False)
    )
    return process_push_task(
        task, w.ports(), jobs, finishers={}, notifier=FakeNotifier(), now=lambda: NOW, leases=leases, **kwargs
    )


def test_the_lease_outlives_the_push_workers_timeout() -> None:
    timeout = int(template_resources()["PushWorkerFunction"]["Properties"]["Timeout"])
    assert timedelta(seconds=timeout) < push_logic.LEASE_DURATION


def test_a_researcher_leased_by_another_job_is_handed_back_without_a_request() -> None:
    # Given the nightly push holds researcher r1
    w = world(asset(1))
    jobs = FakeJobStore()
    leases = FakeLeases()
    nightly = leases.acquire("r1", job_id="push-nightly", now=NOW, duration=push_logic.LEASE_DURATION)
    # When an administrator's run reaches r1
    manual = _job(jobs)
    with pytest.raises(push_logic.ResearcherBusyError) as busy:
        _process(w, jobs, manual, leases)
    # Then nothing is sent or counted; the message is to come back once the nightly push is done
    assert w.orcid.calls == []
    assert jobs.get(manual).counts.researchers_processed == 0  # type: ignore[union-attr]
    assert busy.value.held.job_id == "push-nightly"
    assert 1 <= busy.value.retry_after(0, NOW) <= push_logic.LEASE_DURATION.total_seconds()
    # And once the nightly push released it, the same message pushes r1
    leases.release(nightly)
    outcome = _process(w, jobs, manual, leases)
    assert outcome.counts.works_created == 1
    assert leases.held == {}


def test_two_deliveries_at_the_same_moment_push_the_researcher_once() -> None:
    w = world(*(asset(n) for n in range(30)))
    jobs = FakeJobStore()
    job_id = _job(jobs)
    leases = FakeLeases()
    inside = threading.Event()
    in_flight = {"now": 0, "max": 0}
    guard = threading.Lock()
    original = w.orcid.create_works

    def slow_create(*args: Any) -> Any:
        with guard:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        inside.set()
        # Hold the first delivery inside ORCID until the second one has come and gone (or 2 s passed).
        done.wait(2)
        try:
            return original(*args)
        finally:
            with guard:
                in_flight["now"] -= 1

    w.orcid.create_works = slow_create  # type: ignore[method-assign]
    done = threading.Event()
    results: dict[str, Any] = {}

    def deliver(name: str) -> None:
        try:
            results[name] = _process(w, jobs, job_id, leases)
        except Exception as exc:
            results[name] = exc

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    assert inside.wait(5)
    deliver("second")
    done.set()
    first.join(10)
    assert isinstance(results["second"], push_logic.ResearcherBusyError)
    assert results["first"].counts.works_created == 30
    assert in_flight["max"] == 1
    assert len(w.orcid.works) == 30
    assert jobs.get(job_id).counts.researchers_processed == 1  # type: ignore[union-attr]


def test_on_the_last_attempt_a_researcher_busy_in_another_job_is_counted_already_in_progress() -> None:
    w = world(asset(1))
    jobs = FakeJobStore()
    leases = FakeLeases()
    leases.acquire("r1", job_id="push-nightly", now=NOW, duration=push_logic.LEASE_DURATION)
    manual = _job(jobs)
    outcome = _process(w, jobs, manual, leases, last_attempt=True)
    assert w.orcid.calls == []
    finished = jobs.get(manual)
    assert finished is not None
    assert finished.counts.researchers_processed == 1
    assert finished.counts.researchers_failed == 0
    [event] = outcome.events
    assert event.action == "already in progress"
    assert "push-nightly" in event.message


def test_the_lease_is_released_when_the_push_fails_and_a_dry_run_takes_none() -> None:
    w = world(asset(1))
    w.ledger.fail_after_writes = 0
    jobs = FakeJobStore()
    leases = FakeLeases()
    with pytest.raises(RuntimeError):
        _process(w, jobs, _job(jobs), leases)
    assert leases.held == {}
    # A dry run writes nothing, so it does not wait for a busy researcher
    w.ledger.fail_after_writes = None
    leases.acquire("r1", job_id="push-nightly", now=NOW, duration=push_logic.LEASE_DURATION)
    outcome = _process(w, jobs, _job(jobs), leases, dry_run=True)
    assert outcome.detail is not None


class FakeCompletion:
    """The PushCompletion contract in memory: all of it or nothing, never for a researcher who may end the run."""

    def __init__(self, w: World, jobs: FakeJobStore, leases: FakeLeases) -> None:
        self.w, self.jobs, self.leases = w, jobs, leases
        self.calls: list[bool] = []

    def record_unless_last(self, job_id: str, outcome: Any, *, lease: Any, sync: Any) -> bool:
        job = self.jobs.jobs[job_id]
        held = lease is None or self.leases.held.get(lease.researcher_id) == lease
        last = job.expected is not None and job.counts.researchers_processed + 1 >= job.expected
        done = outcome.researcher_id in self.jobs.done[job_id]
        self.calls.append(held and not last and not done)
        if not self.calls[-1]:
            return False
        self.jobs.record_outcome(job_id, outcome)
        if sync is not None:
            if sync.confirm_orcid is not None:
                self.w.researchers.mark_authenticated(sync.researcher_id, orcid=sync.confirm_orcid)
            self.w.researchers.mark_synced(sync.researcher_id, sync.at)
        if lease is not None:
            self.leases.release(lease)
        return True


class CountingLeases(FakeLeases):
    def __init__(self) -> None:
        super().__init__()
        self.released = 0

    def release(self, lease: Any) -> None:
        self.released += 1
        super().release(lease)


@pytest.mark.parametrize("expected", [2, 1], ids=["not the last researcher", "the run's last researcher"])
def test_a_push_ends_in_one_write_unless_its_researcher_may_end_the_run(expected: int) -> None:
    w = world(asset(1))
    jobs = FakeJobStore()
    leases = CountingLeases()
    completion = FakeCompletion(w, jobs, leases)
    job_id = _job(jobs, expected=expected)
    ports = replace(w.ports(), completion=completion)
    task = ResearcherTask(job_id=job_id, job_type=JobType.PUSH, researcher_id="r1")
    outcome = process_push_task(
        task, ports, jobs, finishers={}, notifier=FakeNotifier(), now=lambda: NOW, leases=leases
    )
    assert outcome.counts.works_created == 1
    # Either way: counted once, the researcher synced and their iD confirmed, the lease free
    job = jobs.get(job_id)
    assert job is not None and job.counts.researchers_processed == 1
    assert w.researchers.synced == [("r1", NOW)]
    assert w.researchers.items["r1"].orcid_authenticated
    assert leases.held == {}
    if expected == 2:
        # In the write that counted r1, which left the run running
        assert completion.calls == [True] and leases.released == 1
        assert job.state is JobState.RUNNING
    else:
        # r1 could end the run: the usual way, a write at a time, and the run finishes
        assert completion.calls == [False] and leases.released == 1
        assert job.state is not JobState.RUNNING
