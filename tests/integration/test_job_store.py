"""DynamoJobStore against moto's JobsTable built from template.yaml: exactly-once counting and one finisher."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from orcid_sync.adapters.dynamodb.job_store import FINISH_CLAIM_STALE_AFTER, DynamoJobStore
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError
from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.jobs.models import Job, JobCounts, JobEvent, JobState, JobTrigger, JobType, ResearcherOutcome
from orcid_sync.domain.jobs.runs import complete_researcher
from tests.support.aws import AwsEnv

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def store(aws: AwsEnv) -> DynamoJobStore:
    return DynamoJobStore(boto3.resource("dynamodb").Table(aws.env["JOBS_TABLE"]))


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each moto request atomic, as each DynamoDB request is.

    moto runs a cancelled transaction by restoring a snapshot of the whole table, which under
    threads erases other requests' writes. Serialising single requests gives moto DynamoDB's
    guarantee while leaving every interleaving *between* requests (what the test is about) open.
    """
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


def _job(job_id: str = "push-1", job_type: JobType = JobType.PUSH, started_at: datetime = NOW, **extra: object) -> Job:
    return Job.model_validate(
        {
            "job_id": job_id,
            "type": job_type,
            "trigger": JobTrigger.MANUAL,
            "started_by": "arn:aws:iam::123456789012:user/admin",
            "started_at": started_at,
            **extra,
        }
    )


def _event(rid: str | None, level: str = "error", message: str = "refused") -> JobEvent:
    return JobEvent.model_validate(
        {"researcher_id": rid, "level": level, "action": "skipped asset", "message": message, "at": NOW}
    )


class NullNotifier:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def job_finished(self, job: Job, first_errors: Sequence[JobEvent]) -> None:
        with self.lock:
            self.calls += 1


def test_create_get_and_refuse_a_duplicate(store: DynamoJobStore) -> None:
    job = _job(options={"researcher_ids": ["r1", "r2"], "weight": 0.5}, dry_run=True)
    store.create(job)
    assert store.get("push-1") == job
    assert store.get("nope") is None
    with pytest.raises(ConflictError):
        store.create(job)


def test_every_item_expires(store: DynamoJobStore, aws: AwsEnv) -> None:
    store.create(_job())
    store.set_expected("push-1", 1)
    store.add_events("push-1", [_event("r1")])
    store.record_outcome("push-1", ResearcherOutcome(researcher_id="r1"))
    items = aws.table("JOBS_TABLE").scan()["Items"]
    assert {i["sk"].split("#")[0] for i in items} == {"META", "EVENT", "DONE"}
    assert all(int(i["expires_at"]) > NOW.timestamp() + 399 * 86400 for i in items)


def test_list_is_newest_first_filtered_and_paginated(store: DynamoJobStore) -> None:
    for i in range(7):
        job_type = JobType.PULL if i % 2 else JobType.PUSH
        store.create(_job(f"job-{i}", job_type, started_at=NOW + timedelta(hours=i)))
    store.finish("job-6", JobState.SUCCEEDED, ended_at=NOW + timedelta(hours=7))
    first = store.list(limit=3)
    assert [j.job_id for j in first.items] == ["job-6", "job-5", "job-4"]
    second = store.list(limit=3, cursor=first.next_cursor)
    third = store.list(limit=3, cursor=second.next_cursor)
    assert [j.job_id for j in second.items + third.items] == ["job-3", "job-2", "job-1", "job-0"]
    assert third.next_cursor is None
    pushes = store.list(job_type=JobType.PUSH, limit=2)
    assert [j.job_id for j in pushes.items] == ["job-6", "job-4"]
    more = store.list(job_type=JobType.PUSH, limit=2, cursor=pushes.next_cursor)
    assert [j.job_id for j in more.items] == ["job-2", "job-0"]
    running_pushes = store.list(job_type=JobType.PUSH, state=JobState.RUNNING, limit=10)
    assert [j.job_id for j in running_pushes.items] == ["job-4", "job-2", "job-0"]
    assert running_pushes.next_cursor is None
    with pytest.raises(InvalidCursorError):
        store.list(limit=3, cursor="garbage")


def test_a_redelivered_outcome_is_counted_once(store: DynamoJobStore) -> None:
    store.create(_job())
    store.set_expected("push-1", 2)
    outcome = ResearcherOutcome(researcher_id="r1", counts=JobCounts(works_created=3, orcid_requests=4), updated=True)
    first = store.record_outcome("push-1", outcome)
    again = store.record_outcome("push-1", outcome)
    assert first is not None
    assert again is None
    job = store.get("push-1")
    assert job is not None
    assert job.counts == JobCounts(
        researchers_eligible=2, researchers_processed=1, researchers_updated=1, works_created=3, orcid_requests=4
    )
    assert not job.is_complete


def test_recording_for_an_unknown_job_is_not_found(store: DynamoJobStore) -> None:
    with pytest.raises(NotFoundError):
        store.record_outcome("missing", ResearcherOutcome(researcher_id="r1"))
    with pytest.raises(NotFoundError):
        store.set_expected("missing", 1)


def test_events_overwrite_on_redelivery_and_list_errors_first(store: DynamoJobStore) -> None:
    store.create(_job())
    batch = [_event("r2", "info", "done"), _event("r1", "warning", "odd"), _event("r3"), _event(None)]
    store.add_events("push-1", batch)
    store.add_events("push-1", [e.model_copy(update={"at": NOW + timedelta(minutes=5)}) for e in batch])
    page = store.list_events("push-1", limit=3)
    rest = store.list_events("push-1", limit=3, cursor=page.next_cursor)
    levels = [e.level for e in page.items + rest.items]
    assert levels == ["error", "error", "warning", "info"]
    assert rest.next_cursor is None
    errors = store.list_events("push-1", limit=10, level="error")
    assert {e.researcher_id for e in errors.items} == {"r3", None}


def test_only_one_claim_until_it_is_stale_and_none_after_finish(store: DynamoJobStore) -> None:
    store.create(_job())
    assert store.claim_finish("push-1", now=NOW)
    assert not store.claim_finish("push-1", now=NOW + timedelta(minutes=1))
    assert store.claim_finish("push-1", now=NOW + FINISH_CLAIM_STALE_AFTER + timedelta(seconds=1))
    store.set_csv("push-1", csv_uri="s3://bucket/pull.csv", csv_rows=12)
    finished = store.finish("push-1", JobState.SUCCEEDED, ended_at=NOW + timedelta(hours=1), report={"a": 1})
    assert (finished.state, finished.csv_uri, finished.csv_rows, finished.report) == (
        JobState.SUCCEEDED,
        "s3://bucket/pull.csv",
        12,
        {"a": 1},
    )
    assert finished.duration_seconds == 3600
    assert not store.claim_finish("push-1", now=NOW + timedelta(days=1))


class ThreadRecordingFinisher:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def finish(self, job: Job) -> None:
        self.threads.append(threading.current_thread().name)


@pytest.mark.usefixtures("atomic_requests")
def test_twenty_concurrent_researchers_finish_the_job_exactly_once(store: DynamoJobStore) -> None:
    # Given a job expecting 20 researchers
    store.create(_job(started_at=datetime.now(UTC)))
    store.set_expected("push-1", 20)
    notifier, finisher = NullNotifier(), ThreadRecordingFinisher()
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []
    outcomes = [
        ResearcherOutcome(researcher_id=f"r{i:02d}", counts=JobCounts(works_created=i, orcid_requests=2), updated=True)
        for i in range(20)
    ]

    def work(outcome: ResearcherOutcome) -> None:
        try:
            barrier.wait()
            complete_researcher(
                store, "push-1", outcome, finishers={JobType.PUSH: finisher}, notifier=notifier, now=datetime.now(UTC)
            )
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    # When 20 threads record their researcher at once
    threads = [threading.Thread(target=work, args=(o,), name=o.researcher_id) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one of them finished the job, and the counts are exact
    assert errors == []
    assert len(finisher.threads) == 1
    assert notifier.calls == 1
    job = store.get("push-1")
    assert job is not None and job.state is JobState.SUCCEEDED
    assert job.counts.researchers_processed == 20
    assert job.counts.researchers_updated == 20
    assert job.counts.works_created == sum(range(20))
    assert job.counts.orcid_requests == 40
    # And redelivering every message changes nothing
    for outcome in outcomes:
        redelivered = complete_researcher(
            store, "push-1", outcome, finishers={JobType.PUSH: finisher}, notifier=notifier, now=datetime.now(UTC)
        )
        assert redelivered is None
    assert store.get("push-1") == job
    assert (len(finisher.threads), notifier.calls) == (1, 1)
