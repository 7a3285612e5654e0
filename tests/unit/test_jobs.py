"""Job runs: fan-out, exactly-once completion, finishing once, notification text — against in-memory fakes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orcid_sync.adapters.dynamodb.job_store import FINISH_CLAIM_STALE_AFTER, event_sort_key
from orcid_sync.adapters.job_email import notification_body, notification_subject
from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.jobs.models import (
    Job,
    JobCounts,
    JobEvent,
    JobState,
    JobTrigger,
    JobType,
    ResearcherOutcome,
    ResearcherTask,
)
from orcid_sync.domain.jobs.runs import (
    JobFinisher,
    JobFinishPendingError,
    complete_researcher,
    fan_out,
    open_job,
)
from orcid_sync.domain.jobs.store import outcome_delta
from orcid_sync.domain.ports import Page
from orcid_sync.domain.redaction import redact

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class FakeJobStore:
    """The JobStore contract in memory, with the same exactly-once and claim rules as DynamoDB."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.done: dict[str, set[str]] = {}
        self.events: dict[str, dict[str, JobEvent]] = {}
        self.claims: dict[str, datetime] = {}
        self.lock = threading.Lock()

    def create(self, job: Job) -> None:
        if job.job_id in self.jobs:
            raise ConflictError("exists")
        self.jobs[job.job_id] = job.model_copy(deep=True)
        self.done[job.job_id] = set()
        self.events[job.job_id] = {}

    def get(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        return job.model_copy(deep=True) if job else None

    def list(
        self, *, job_type: JobType | None = None, state: JobState | None = None, limit: int, cursor: str | None = None
    ) -> Page[Job]:
        jobs = sorted(self.jobs.values(), key=lambda j: j.started_at, reverse=True)
        jobs = [j for j in jobs if (job_type is None or j.type is job_type) and (state is None or j.state is state)]
        start = int(cursor or 0)
        more = start + limit < len(jobs)
        return Page[Job](items=jobs[start : start + limit], next_cursor=str(start + limit) if more else None)

    def _existing(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise NotFoundError(job_id)
        return self.jobs[job_id]

    def set_expected(self, job_id: str, expected: int) -> Job:
        with self.lock:
            job = self._existing(job_id)
            job.expected = expected
            job.counts.researchers_eligible = expected
            return job.model_copy(deep=True)

    def set_csv(self, job_id: str, *, csv_uri: str, csv_rows: int) -> Job:
        job = self._existing(job_id)
        job.csv_uri, job.csv_rows = csv_uri, csv_rows
        return job.model_copy(deep=True)

    def record_outcome(self, job_id: str, outcome: ResearcherOutcome) -> Job | None:
        with self.lock:
            job = self._existing(job_id)
            if outcome.researcher_id in self.done[job_id]:
                return None
            self.done[job_id].add(outcome.researcher_id)
            job.counts = job.counts + outcome_delta(outcome)
            return job.model_copy(deep=True)

    def add_events(self, job_id: str, events: Sequence[JobEvent]) -> None:
        for event in events:
            self.events[job_id][event_sort_key(event)] = event

    def list_events(
        self, job_id: str, *, limit: int, cursor: str | None = None, level: str | None = None
    ) -> Page[JobEvent]:
        keys = sorted(self.events[job_id])
        items = [self.events[job_id][k] for k in keys if level is None or self.events[job_id][k].level == level]
        return Page[JobEvent](items=items[:limit])

    def claim_finish(self, job_id: str, *, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        with self.lock:
            job = self._existing(job_id)
            claimed = self.claims.get(job_id)
            if job.state is not JobState.RUNNING or (claimed and claimed >= now - FINISH_CLAIM_STALE_AFTER):
                return False
            self.claims[job_id] = now
            return True

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        ended_at: datetime,
        csv_uri: str | None = None,
        csv_rows: int | None = None,
        report: dict[str, Any] | None = None,
        counts: JobCounts | None = None,
    ) -> Job:
        job = self._existing(job_id)
        job.state, job.ended_at = state, ended_at
        job.csv_uri = csv_uri or job.csv_uri
        job.csv_rows = csv_rows if csv_rows is not None else job.csv_rows
        job.report = report if report is not None else job.report
        job.counts = counts or job.counts
        return job.model_copy(deep=True)


class FakeQueue:
    def __init__(self) -> None:
        self.batches: list[list[ResearcherTask]] = []

    def send_tasks(self, tasks: Sequence[ResearcherTask]) -> None:
        self.batches.append(list(tasks))


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[Job, list[JobEvent]]] = []
        self.lock = threading.Lock()

    def job_finished(self, job: Job, first_errors: Sequence[JobEvent]) -> None:
        with self.lock:
            self.sent.append((job, list(first_errors)))


class CountingFinisher:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.error = error

    def finish(self, job: Job) -> None:
        self.calls.append(job.job_id)
        if self.error:
            raise self.error


def _open(store: FakeJobStore, job_type: JobType = JobType.PUSH, **kwargs: Any) -> Job:
    return open_job(store, job_type=job_type, trigger=JobTrigger.MANUAL, started_by="admin", now=NOW, **kwargs)


def _event(rid: str, level: str = "error", message: str = "ORCID refused the work") -> JobEvent:
    return JobEvent.model_validate(
        {
            "researcher_id": rid,
            "asset_id": "a1",
            "level": level,
            "action": "skipped asset",
            "message": message,
            "orcid_status": 400,
            "orcid_error_code": 9001,
            "at": NOW,
        }
    )


def test_counts_add_field_by_field() -> None:
    total = JobCounts(works_created=2, orcid_requests=3) + JobCounts(works_created=1, works_deleted=4)
    assert total == JobCounts(works_created=3, works_deleted=4, orcid_requests=3)
    assert total.nonzero() == {"works_created": 3, "works_deleted": 4, "orcid_requests": 3}


def test_the_delta_takes_processed_updated_and_failed_from_the_outcome_flags() -> None:
    outcome = ResearcherOutcome(
        researcher_id="r1", counts=JobCounts(researchers_updated=7, works_created=2), updated=False, failed=True
    )
    delta = outcome_delta(outcome)
    assert (delta.researchers_processed, delta.researchers_updated, delta.researchers_failed) == (1, 0, 1)
    assert delta.works_created == 2


def test_a_job_is_complete_only_once_fanned_out_and_all_processed() -> None:
    job = Job(job_id="j", type=JobType.PUSH, trigger=JobTrigger.MANUAL, started_by="a", started_at=NOW)
    assert not job.is_complete
    job.counts.researchers_processed = 3
    assert not job.is_complete
    job.expected = 4
    assert not job.is_complete
    job.expected = 3
    assert job.is_complete


def test_open_job_with_a_given_id_returns_the_existing_run() -> None:
    store = FakeJobStore()
    first = _open(store, job_id="push-schedule-1")
    again = _open(store, job_id="push-schedule-1", dry_run=True)
    assert again.job_id == first.job_id
    assert not again.dry_run
    assert len(store.jobs) == 1
    assert _open(store).job_id.startswith("push-20261121T020000Z-")


def test_fan_out_sends_every_researcher_once_then_sets_expected() -> None:
    # Given a job for 23 researchers (one listed twice) and a long run-level option
    store, queue, notifier = FakeJobStore(), FakeQueue(), FakeNotifier()
    ids = [f"r{i:02d}" for i in range(23)]
    job = _open(store, options={"researcher_ids": ids, "resend_deleted": True}, dry_run=True)
    # When it is fanned out
    fanned = fan_out(store, queue, job, [*ids, "r05"], finishers={}, notifier=notifier, now=NOW)
    # Then the tasks go to the queue (which batches them for SQS), each once, without the run-level id list
    assert [len(b) for b in queue.batches] == [23]
    tasks = [t for b in queue.batches for t in b]
    assert [t.researcher_id for t in tasks] == ids
    assert all(t.dry_run and t.options == {"resend_deleted": True} and t.job_type is JobType.PUSH for t in tasks)
    assert fanned.expected == 23
    assert fanned.counts.researchers_eligible == 23
    assert fanned.state is JobState.RUNNING
    assert notifier.sent == []


def test_fan_out_to_nobody_finishes_the_job_at_once() -> None:
    store, queue, notifier = FakeJobStore(), FakeQueue(), FakeNotifier()
    finisher = CountingFinisher()
    job = _open(store, JobType.PULL)
    finished = fan_out(store, queue, job, [], finishers={JobType.PULL: finisher}, notifier=notifier, now=NOW)
    assert queue.batches == []
    assert finished.state is JobState.SUCCEEDED
    assert finished.expected == 0
    assert finisher.calls == [job.job_id]
    assert [j.job_id for j, _ in notifier.sent] == [job.job_id]


def test_fan_out_finishes_when_the_workers_were_faster() -> None:
    # Given workers that recorded every researcher before the fan-out set `expected`
    store, notifier = FakeJobStore(), FakeNotifier()
    job = _open(store)

    class RecordingQueue(FakeQueue):
        def send_tasks(self, tasks: Sequence[ResearcherTask]) -> None:
            super().send_tasks(tasks)
            for task in tasks:
                complete_researcher(
                    store,
                    task.job_id,
                    ResearcherOutcome(researcher_id=task.researcher_id, updated=True),
                    finishers={},
                    notifier=notifier,
                    now=NOW,
                )

    # When the fan-out ends
    finished = fan_out(store, RecordingQueue(), job, ["r1", "r2"], finishers={}, notifier=notifier, now=NOW)
    # Then the fan-out finished the job itself, once
    assert finished.state is JobState.SUCCEEDED
    assert finished.counts.researchers_updated == 2
    assert len(notifier.sent) == 1


def test_a_redelivered_outcome_is_counted_once() -> None:
    store, notifier = FakeJobStore(), FakeNotifier()
    job = _open(store)
    store.set_expected(job.job_id, 2)
    outcome = ResearcherOutcome(
        researcher_id="r1", counts=JobCounts(works_created=3), updated=True, events=[_event("r1")]
    )
    first = complete_researcher(store, job.job_id, outcome, finishers={}, notifier=notifier, now=NOW)
    again = complete_researcher(store, job.job_id, outcome, finishers={}, notifier=notifier, now=NOW)
    assert first is not None and first.counts.works_created == 3
    assert again is None
    current = store.get(job.job_id)
    assert current is not None
    assert (current.counts.researchers_processed, current.counts.works_created) == (1, 3)
    assert len(store.list_events(job.job_id, limit=10).items) == 1
    assert notifier.sent == []


def test_concurrent_last_outcomes_finish_the_job_exactly_once() -> None:
    # Given a job expecting 20 researchers and 20 threads each recording one (some twice)
    store, notifier = FakeJobStore(), FakeNotifier()
    finisher = CountingFinisher()
    job = _open(store)
    store.set_expected(job.job_id, 20)
    barrier = threading.Barrier(20)
    results: list[Job | None] = []

    def work(i: int) -> None:
        outcome = ResearcherOutcome(researcher_id=f"r{i}", counts=JobCounts(works_created=i), updated=i % 2 == 0)
        barrier.wait()
        for _ in range(2):
            results.append(
                complete_researcher(
                    store, job.job_id, outcome, finishers={JobType.PUSH: finisher}, notifier=notifier, now=NOW
                )
            )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the finisher and the notifier ran once, with exact counts
    assert finisher.calls == [job.job_id]
    assert len(notifier.sent) == 1
    assert sum(r is None for r in results) == 20
    final = store.get(job.job_id)
    assert final is not None and final.state is JobState.SUCCEEDED
    assert final.counts.researchers_processed == 20
    assert final.counts.researchers_updated == 10
    assert final.counts.works_created == sum(range(20))


def test_failed_researchers_or_error_events_complete_with_errors() -> None:
    store, notifier = FakeJobStore(), FakeNotifier()
    job = _open(store)
    store.set_expected(job.job_id, 2)
    complete_researcher(
        store,
        job.job_id,
        ResearcherOutcome(researcher_id="r1", updated=True, events=[_event("r1", "warning")]),
        finishers={},
        notifier=notifier,
        now=NOW,
    )
    finished = complete_researcher(
        store,
        job.job_id,
        ResearcherOutcome(researcher_id="r2", events=[_event("r2")]),
        finishers={},
        notifier=notifier,
        now=NOW + timedelta(minutes=3),
    )
    assert finished is not None and finished.state is JobState.COMPLETED_WITH_ERRORS
    assert finished.ended_at == NOW + timedelta(minutes=3)
    assert finished.report == {"duration_seconds": 180.0}
    [(_, first_errors)] = notifier.sent
    assert [e.researcher_id for e in first_errors] == ["r2"]  # the warning is not an error


def test_a_raising_finisher_fails_the_job_and_still_notifies() -> None:
    store, notifier = FakeJobStore(), FakeNotifier()
    job = _open(store, JobType.PULL)
    store.set_expected(job.job_id, 1)
    finisher = CountingFinisher(RuntimeError("S3 said no; Authorization: Bearer abc123secret"))
    finished = complete_researcher(
        store,
        job.job_id,
        ResearcherOutcome(researcher_id="r1"),
        finishers={JobType.PULL: finisher},
        notifier=notifier,
        now=NOW,
    )
    assert finished is not None and finished.state is JobState.FAILED
    assert finished.report is not None
    assert "S3 said no" in finished.report["error"]
    assert "abc123secret" not in finished.report["error"]
    assert [j.state for j, _ in notifier.sent] == [JobState.FAILED]


def test_a_notifier_failure_does_not_undo_the_finish() -> None:
    store = FakeJobStore()
    job = _open(store)
    store.set_expected(job.job_id, 1)

    class BrokenNotifier:
        def job_finished(self, job: Job, first_errors: Sequence[JobEvent]) -> None:
            raise RuntimeError("SNS is down")

    finished = complete_researcher(
        store, job.job_id, ResearcherOutcome(researcher_id="r1"), finishers={}, notifier=BrokenNotifier(), now=NOW
    )
    assert finished is not None and finished.state is JobState.SUCCEEDED


def test_a_redelivery_finishes_a_run_whose_finisher_crashed() -> None:
    # Given the last researcher was recorded and the job claimed, but the finisher died
    store, notifier = FakeJobStore(), FakeNotifier()
    job = _open(store)
    store.set_expected(job.job_id, 1)
    outcome = ResearcherOutcome(researcher_id="r1")
    store.record_outcome(job.job_id, outcome)
    assert store.claim_finish(job.job_id, now=NOW)
    # When the message comes back while the claim is fresh, it asks to be retried later
    with pytest.raises(JobFinishPendingError):
        complete_researcher(store, job.job_id, outcome, finishers={}, notifier=notifier, now=NOW + timedelta(minutes=1))
    # And once the claim is stale, the redelivery finishes the job
    later = NOW + FINISH_CLAIM_STALE_AFTER + timedelta(minutes=1)
    assert complete_researcher(store, job.job_id, outcome, finishers={}, notifier=notifier, now=later) is None
    final = store.get(job.job_id)
    assert final is not None and final.state is JobState.SUCCEEDED
    assert len(notifier.sent) == 1
    # And a further redelivery of a finished job is a quiet no-op
    assert complete_researcher(store, job.job_id, outcome, finishers={}, notifier=notifier, now=later) is None


def test_event_keys_are_deterministic_and_ignore_the_time() -> None:
    a = _event("r1")
    b = a.model_copy(update={"at": NOW + timedelta(hours=1)})
    c = _event("r1", message="another problem")
    assert event_sort_key(a) == event_sort_key(b)
    assert event_sort_key(a) != event_sort_key(c)
    assert event_sort_key(a).startswith("EVENT#1-error#r1#")
    assert event_sort_key(_event("r1", "info")).startswith("EVENT#3-info#r1#")


def _finished_job(**changes: Any) -> Job:
    job = Job(
        job_id="push-20261121T020000Z-1a2b3c4d",
        type=JobType.PUSH,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        started_at=NOW,
        ended_at=NOW + timedelta(minutes=12, seconds=5),
        state=JobState.COMPLETED_WITH_ERRORS,
        expected=120,
        counts=JobCounts(
            researchers_eligible=120,
            researchers_processed=120,
            researchers_updated=40,
            researchers_failed=3,
            works_created=57,
            orcid_requests=300,
        ),
    )
    return job.model_copy(update=changes)


def test_the_subject_says_type_date_state_and_counts() -> None:
    assert notification_subject(_finished_job(state=JobState.SUCCEEDED)) == (
        "orcid-sync push job 2026-11-21 succeeded: 120 researchers, 3 failed"
    )
    assert "completed with errors" in notification_subject(_finished_job())
    long = notification_subject(_finished_job(dry_run=True, counts=JobCounts(researchers_processed=10**40)))
    assert len(long) == 99


def test_the_body_has_counts_duration_first_errors_and_the_events_command() -> None:
    errors = [_event(f"r{i}", message=f"problem {i}") for i in range(10)]
    errors[0] = _event("r0", message='ORCID said 401 for {"access_token": "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"}')
    body = notification_body(_finished_job(), errors)
    assert "completed with errors" in body
    assert "Duration: 12m 05s" in body
    assert "works created" in body and "57" in body
    assert "works deleted" not in body  # zero counters other than the researcher ones are left out
    assert "First 10 errors:" in body
    assert "- researcher r9 asset a1: skipped asset: problem 9 [ORCID 400/9001]" in body
    assert "orcid-sync jobs events push-20261121T020000Z-1a2b3c4d" in body
    assert "f5af9f51-07e6-4332-8f1a-c0c11c1e3728" not in body


def test_redact_blanks_bearer_and_token_values() -> None:
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer [redacted]"
    assert redact("refresh_token=xyz&a=1") == "refresh_token=[redacted]"
    assert redact("put-code 1234 is not ours") == "put-code 1234 is not ours"


def test_finisher_protocol_is_satisfied_by_a_plain_class() -> None:
    finisher: JobFinisher = CountingFinisher()
    finisher.finish(_finished_job())
    assert isinstance(finisher, CountingFinisher) and finisher.calls
