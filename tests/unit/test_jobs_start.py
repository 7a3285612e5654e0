"""Starting runs (admin request, schedule, control message), schedules and token-upload runs, with fakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from orcid_sync.domain.errors import InvalidInputError, NotFoundError
from orcid_sync.domain.institution_settings import IntegrationSettings, StoredIntegrationSettings
from orcid_sync.domain.jobs.models import Job, JobCounts, JobEvent, JobState, JobTrigger, JobType, ScheduleRule
from orcid_sync.domain.jobs.ports import ResearcherSelector
from orcid_sync.domain.jobs.queries import export_job_events
from orcid_sync.domain.jobs.runs import close_upload_job, open_upload_job
from orcid_sync.domain.jobs.schedules import SEND_ASSETS_OFF_WARNING, ScheduledTypeError, list_schedules, set_schedule
from orcid_sync.domain.jobs.starts import (
    StartJobRequest,
    StoredResearcherSelector,
    request_job,
    run_scheduled_job,
    scheduled_job_id,
    start_requested_job,
)
from orcid_sync.domain.models import OrcidStatus, Researcher, StoredToken
from tests.unit.test_jobs import FakeJobStore, FakeNotifier, FakeQueue

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class FakeResearchers:
    def __init__(self, *researchers: Researcher) -> None:
        self.by_id = {r.id: r for r in researchers}
        self.scans = 0

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, Researcher]:
        return {rid: self.by_id[rid] for rid in researcher_ids if rid in self.by_id}

    def iter_all(self) -> list[Researcher]:
        self.scans += 1
        return list(self.by_id.values())


class FakeTokens:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, StoredToken]:
        self.asked.append(list(researcher_ids))
        return {}


class FakeControl:
    def __init__(self, error: Exception | None = None) -> None:
        self.started: list[str] = []
        self.error = error

    def request_start(self, job_id: str) -> None:
        if self.error:
            raise self.error
        self.started.append(job_id)


class FakeRules:
    def __init__(self) -> None:
        self.enabled = {JobType.PUSH: False, JobType.PULL: False, JobType.FEED: False, JobType.REMIND: False}

    def describe(self, job_type: JobType) -> ScheduleRule:
        return ScheduleRule(
            name=f"stack-{job_type.value}-schedule", enabled=self.enabled[job_type], schedule="cron(0 2 * * ? *)"
        )

    def set_enabled(self, job_type: JobType, enabled: bool) -> None:
        self.enabled[job_type] = enabled


class FakeIntegration:
    def __init__(self, send_assets: bool) -> None:
        self.stored = StoredIntegrationSettings(settings=IntegrationSettings(send_assets=send_assets), version=1)

    def get(self) -> StoredIntegrationSettings:
        return self.stored


def _researcher(
    rid: str, status: OrcidStatus = OrcidStatus.ACTIVE, orcid: str | None = "0000-0002-1825-0097"
) -> Researcher:
    return Researcher.model_validate(
        {"id": rid, "given_names": "Josiah", "family_name": "Carberry", "orcid": orcid, "orcid_status": status}
    )


def _select_all(job: Job) -> list[str]:
    return [f"r{i}" for i in range(12)]


def _fail_selection(job: Job) -> list[str]:
    raise RuntimeError("DynamoDB is unhappy")


def test_a_request_opens_a_manual_run_and_queues_it() -> None:
    store, control = FakeJobStore(), FakeControl()
    researchers = FakeResearchers(_researcher("r1"), _researcher("r2"))
    request = StartJobRequest(type=JobType.PUSH, researchers=["r2", "r1", "r2"], dry_run=True, resend_deleted=True)
    job = request_job(store, control, researchers, request, started_by="arn:user/admin", now=NOW)
    assert control.started == [job.job_id]
    assert (job.type, job.trigger, job.state, job.dry_run) == (JobType.PUSH, JobTrigger.MANUAL, JobState.RUNNING, True)
    assert job.options == {"researcher_ids": ["r2", "r1"], "resend_deleted": True}
    assert job.expected is None


def test_a_request_for_unknown_researchers_is_refused_before_opening_a_run() -> None:
    store, control = FakeJobStore(), FakeControl()
    request = StartJobRequest(type=JobType.PULL, researchers=["r1", "ghost"])
    with pytest.raises(InvalidInputError) as excinfo:
        request_job(store, control, FakeResearchers(_researcher("r1")), request, started_by="a", now=NOW)
    assert [p.reason for p in excinfo.value.problems] == ["no researcher with id 'ghost'"]
    assert store.jobs == {}
    assert control.started == []


def test_resend_deleted_is_only_for_push_and_upload_is_not_requestable() -> None:
    with pytest.raises(ValidationError, match="resend_deleted only applies to push"):
        StartJobRequest(type=JobType.PULL, resend_deleted=True)
    with pytest.raises(ValidationError):
        StartJobRequest.model_validate({"type": "upload"})
    with pytest.raises(ValidationError):
        StartJobRequest.model_validate({"type": "push", "researchers": []})


def test_a_run_that_cannot_be_queued_is_closed_as_failed() -> None:
    store = FakeJobStore()
    with pytest.raises(ConnectionError):
        request_job(
            store,
            FakeControl(ConnectionError("sqs down")),
            FakeResearchers(),
            StartJobRequest(type=JobType.PUSH),
            started_by="a",
            now=NOW,
        )
    [job] = store.jobs.values()
    assert job.state is JobState.FAILED
    assert job.report is not None and "could not be queued" in job.report["error"]


def test_a_scheduled_firing_opens_one_run_even_when_retried() -> None:
    store, queue, notifier = FakeJobStore(), FakeQueue(), FakeNotifier()
    selectors: dict[JobType, ResearcherSelector] = {JobType.PUSH: _select_all}
    kwargs = {"selectors": selectors, "queues": {JobType.PUSH: queue}, "finishers": {}, "notifier": notifier}
    first = run_scheduled_job(
        store, JobType.PUSH, invocation_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", now=NOW, **kwargs
    )
    again = run_scheduled_job(
        store,
        JobType.PUSH,
        invocation_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        now=NOW + timedelta(minutes=1),
        **kwargs,
    )
    assert first.job_id == again.job_id == "push-20261121-0f1e2d3c4b5a"
    assert (first.trigger, first.started_by, first.expected) == (JobTrigger.SCHEDULE, "schedule", 12)
    assert [len(b) for b in queue.batches] == [12]  # the retry found the run fanned out and sent nothing
    assert len(store.jobs) == 1
    assert scheduled_job_id(JobType.PULL, NOW, "abc") == "pull-20261121-abc"


def test_a_control_message_fans_out_the_requested_run_once() -> None:
    store, queue, notifier = FakeJobStore(), FakeQueue(), FakeNotifier()
    job = request_job(
        store, FakeControl(), FakeResearchers(), StartJobRequest(type=JobType.PULL), started_by="a", now=NOW
    )
    kwargs = {
        "selectors": {JobType.PULL: _select_all},
        "queues": {JobType.PULL: queue},
        "finishers": {},
        "notifier": notifier,
    }
    started = start_requested_job(store, job.job_id, now=NOW, **kwargs)  # type: ignore[arg-type]
    redelivered = start_requested_job(store, job.job_id, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert started is not None and started.expected == 12
    assert redelivered is not None and redelivered.expected == 12
    assert sum(len(b) for b in queue.batches) == 12
    assert start_requested_job(store, "gone", now=NOW, **kwargs) is None  # type: ignore[arg-type]


def test_a_failed_selection_fails_the_run_notifies_and_reraises() -> None:
    store, notifier = FakeJobStore(), FakeNotifier()
    with pytest.raises(RuntimeError):
        run_scheduled_job(
            store,
            JobType.PUSH,
            invocation_id="abc",
            now=NOW,
            selectors={JobType.PUSH: _fail_selection},
            queues={JobType.PUSH: FakeQueue()},
            finishers={},
            notifier=notifier,
        )
    [job] = store.jobs.values()
    assert job.state is JobState.FAILED
    assert job.report is not None and job.report["error"] == "RuntimeError: DynamoDB is unhappy"
    assert [j.state for j, _ in notifier.sent] == [JobState.FAILED]


def test_the_selector_reads_everyone_or_only_the_requested_researchers() -> None:
    researchers = FakeResearchers(
        _researcher("r1"), _researcher("r2", orcid=None, status=OrcidStatus.NONE), _researcher("r3")
    )
    tokens = FakeTokens()
    seen: list[tuple[list[str], set[str] | None]] = []

    def rule(people: Sequence[Researcher], held: object, only: set[str] | None) -> list[str]:
        seen.append(([p.id for p in people], only))
        return [p.id for p in people if p.orcid]

    selector = StoredResearcherSelector(researchers, tokens, rule)  # type: ignore[arg-type]
    everyone = Job(job_id="j", type=JobType.PUSH, trigger=JobTrigger.SCHEDULE, started_by="s", started_at=NOW)
    assert selector(everyone) == ["r1", "r3"]
    some = everyone.model_copy(update={"options": {"researcher_ids": ["r3", "r2", "ghost"]}})
    assert selector(some) == ["r3"]
    assert seen == [(["r1", "r2", "r3"], None), (["r3", "r2"], {"r3", "r2", "ghost"})]
    assert tokens.asked == [["r1", "r3"], ["r3"]]  # no token reads for researchers without an iD
    assert researchers.scans == 1


def test_schedules_show_state_last_run_and_warn_about_send_assets() -> None:
    store, rules = FakeJobStore(), FakeRules()
    older = Job(job_id="push-old", type=JobType.PUSH, trigger=JobTrigger.SCHEDULE, started_by="s", started_at=NOW)
    newer = older.model_copy(update={"job_id": "push-new", "started_at": NOW + timedelta(days=1)})
    store.create(older)
    store.create(newer)
    status = set_schedule(rules, store, FakeIntegration(send_assets=False), JobType.PUSH, enabled=True)
    assert status.enabled and rules.enabled[JobType.PUSH]
    assert status.warning == SEND_ASSETS_OFF_WARNING
    assert status.last_run is not None and status.last_run.job_id == "push-new"
    assert set_schedule(rules, store, FakeIntegration(send_assets=True), JobType.PUSH, enabled=True).warning is None
    off = set_schedule(rules, store, FakeIntegration(send_assets=False), JobType.PUSH, enabled=False)
    assert (off.enabled, off.warning) == (False, None)
    pull = set_schedule(rules, store, FakeIntegration(send_assets=False), JobType.PULL, enabled=True)
    assert (pull.enabled, pull.warning, pull.last_run) == (True, None, None)
    listed = list_schedules(rules, store, FakeIntegration(send_assets=True))
    assert [(s.type, s.enabled, s.rule_name) for s in listed] == [
        (JobType.PUSH, False, "stack-push-schedule"),
        (JobType.PULL, True, "stack-pull-schedule"),
        (JobType.FEED, False, "stack-feed-schedule"),
        (JobType.REMIND, False, "stack-remind-schedule"),
    ]
    feed = set_schedule(rules, store, FakeIntegration(send_assets=False), JobType.FEED, enabled=True)
    assert (feed.enabled, feed.warning, rules.enabled[JobType.FEED]) == (True, None, True)
    with pytest.raises(ScheduledTypeError):
        set_schedule(rules, store, FakeIntegration(send_assets=True), JobType.UPLOAD, enabled=True)


def _row_error(row: int) -> JobEvent:
    return JobEvent(level="error", action="rejected row", message=f"row {row}: unknown ORCID iD", at=NOW)


def test_an_upload_run_opens_and_closes_once_with_its_counts() -> None:
    store, notifier = FakeJobStore(), FakeNotifier()
    job = open_upload_job(store, started_by="arn:user/admin", now=NOW, options={"rows": 3}, job_id="upload-u1")
    assert open_upload_job(store, started_by="x", now=NOW, job_id="upload-u1").job_id == job.job_id
    counts = JobCounts(researchers_processed=3, researchers_updated=2, researchers_failed=1)
    closed = close_upload_job(
        store,
        "upload-u1",
        counts=counts,
        events=[_row_error(2)],
        notifier=notifier,
        now=NOW + timedelta(seconds=4),
        report={"file": "uploads/u1.csv"},
    )
    assert (closed.type, closed.trigger, closed.state) == (
        JobType.UPLOAD,
        JobTrigger.UPLOAD,
        JobState.COMPLETED_WITH_ERRORS,
    )
    assert closed.counts == counts
    assert closed.report == {"duration_seconds": 4.0, "file": "uploads/u1.csv"}
    again = close_upload_job(store, "upload-u1", counts=JobCounts(), events=[], notifier=notifier, now=NOW)
    assert again.counts == counts
    assert len(notifier.sent) == 1
    assert [e.message for e in notifier.sent[0][1]] == ["row 2: unknown ORCID iD"]
    with pytest.raises(NotFoundError):
        close_upload_job(store, "nope", counts=counts, events=[], notifier=notifier, now=NOW)


def test_an_unreadable_upload_fails_its_run() -> None:
    store, notifier = FakeJobStore(), FakeNotifier()
    open_upload_job(store, started_by="a", now=NOW, job_id="upload-u2")
    failed = close_upload_job(
        store, "upload-u2", counts=JobCounts(), events=[], notifier=notifier, now=NOW, error="not a CSV file"
    )
    assert failed.state is JobState.FAILED
    assert failed.report is not None and failed.report["error"] == "not a CSV file"


def test_export_reads_every_page_and_404s_for_an_unknown_run() -> None:
    store = FakeJobStore()
    job = open_upload_job(store, started_by="a", now=NOW, job_id="upload-u3")
    store.add_events(job.job_id, [_row_error(i) for i in range(25)])
    assert len(export_job_events(store, job.job_id)) == 25
    with pytest.raises(NotFoundError):
        export_job_events(store, "missing")


@pytest.mark.parametrize("field", ["dry_run", "resend_deleted"])
def test_run_options_are_json_booleans_not_text(field: str) -> None:
    # "dry_run": "no" would have been read as a real run; a boolean must be a JSON boolean
    with pytest.raises(ValidationError) as caught:
        StartJobRequest.model_validate({"type": "push", field: "no"})
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
