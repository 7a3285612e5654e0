"""The AWS adapters of the job ports, against recording fakes of the boto3 clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orcid_sync.adapters.messaging import (
    EventBridgeSchedules,
    SnsNotifier,
    SqsControlQueue,
    SqsTaskQueue,
    TaskSendError,
)
from orcid_sync.config import SettingsError
from orcid_sync.domain.jobs.models import Job, JobCounts, JobEvent, JobState, JobTrigger, JobType, ResearcherTask

NOW = datetime(2026, 11, 21, 2, tzinfo=UTC)


class FakeSqs:
    """Fails the listed entry ids on the first attempts, as SendMessageBatch does under throttling."""

    def __init__(self, failures: list[set[str]] | None = None, *, sender_fault: bool = False) -> None:
        self.failures = failures or []
        self.sender_fault = sender_fault
        self.calls: list[list[dict[str, Any]]] = []
        self.sent: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        failing = self.failures.pop(0) if self.failures else set()
        failed = [
            {"Id": e["Id"], "SenderFault": self.sender_fault, "Code": "ThrottlingException"}
            for e in Entries
            if e["Id"] in failing
        ]
        self.sent += [e for e in Entries if e["Id"] not in failing]
        return {"Successful": [], "Failed": failed}

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, Any]:
        self.sent.append({"QueueUrl": QueueUrl, "MessageBody": MessageBody})
        return {}


def _tasks(n: int) -> list[ResearcherTask]:
    return [ResearcherTask(job_id="j", job_type=JobType.PUSH, researcher_id=f"r{i}") for i in range(n)]


def test_tasks_go_out_ten_per_batch() -> None:
    sqs = FakeSqs()
    SqsTaskQueue(sqs, "https://sqs/push", backoff_seconds=0).send_tasks(_tasks(23))  # type: ignore[arg-type]
    assert [len(c) for c in sqs.calls] == [10, 10, 3]
    assert [json.loads(e["MessageBody"])["researcher_id"] for e in sqs.sent] == [f"r{i}" for i in range(23)]


def test_failed_entries_are_resent_alone() -> None:
    sqs = FakeSqs([{"2", "7"}, {"7"}])
    SqsTaskQueue(sqs, "https://sqs/push", backoff_seconds=0).send_tasks(_tasks(10))  # type: ignore[arg-type]
    assert [[e["Id"] for e in c] for c in sqs.calls][1:] == [["2", "7"], ["7"]]
    assert sorted(json.loads(e["MessageBody"])["researcher_id"] for e in sqs.sent) == sorted(f"r{i}" for i in range(10))


def test_entries_that_keep_failing_raise() -> None:
    sqs = FakeSqs([{"0"}] * 10)
    with pytest.raises(TaskSendError, match="1 task\\(s\\) could not be sent"):
        SqsTaskQueue(sqs, "https://sqs/push", backoff_seconds=0).send_tasks(_tasks(3))  # type: ignore[arg-type]
    assert len(sqs.calls) == 5


def test_a_sender_fault_is_not_retried() -> None:
    sqs = FakeSqs([{"1"}], sender_fault=True)
    with pytest.raises(TaskSendError):
        SqsTaskQueue(sqs, "https://sqs/push", backoff_seconds=0).send_tasks(_tasks(3))  # type: ignore[arg-type]
    assert len(sqs.calls) == 1


def test_the_control_queue_names_the_job() -> None:
    sqs = FakeSqs()
    SqsControlQueue(sqs, "https://sqs/control").request_start("push-1")  # type: ignore[arg-type]
    assert sqs.sent == [{"QueueUrl": "https://sqs/control", "MessageBody": '{"job_id":"push-1"}'}]


class FakeSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": "m1"}


def test_the_notification_is_plain_text_with_a_short_subject_and_no_token() -> None:
    sns = FakeSns()
    job = Job(
        job_id="push-20261121-0f1e2d3c4b5a",
        type=JobType.PUSH,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        started_at=NOW,
        ended_at=NOW.replace(minute=7),
        state=JobState.COMPLETED_WITH_ERRORS,
        expected=120,
        counts=JobCounts(researchers_processed=120, researchers_failed=3, works_created=40),
    )
    error = JobEvent(
        researcher_id="r9",
        level="error",
        action="marked token revoked",
        message="ORCID answered 401 invalid_token for Bearer 9f8e7d6c-aaaa-bbbb-cccc-1234567890ab",
        orcid_status=401,
        at=NOW,
    )
    SnsNotifier(sns, "arn:aws:sns:us-east-1:123456789012:jobs").job_finished(job, [error])  # type: ignore[arg-type]
    [message] = sns.published
    assert message["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:jobs"
    assert message["Subject"] == "orcid-sync push job 2026-11-21 completed with errors: 120 researchers, 3 failed"
    assert len(message["Subject"]) < 100
    body = message["Message"]
    assert "Duration: 7m 00s" in body
    assert "researcher r9: marked token revoked" in body
    assert "9f8e7d6c-aaaa-bbbb-cccc-1234567890ab" not in body
    assert "orcid-sync jobs events push-20261121-0f1e2d3c4b5a" in body
    assert message["MessageAttributes"]["state"]["StringValue"] == "completed_with_errors"


class FakeEvents:
    def __init__(self) -> None:
        self.state = {"stack-push-schedule": "DISABLED"}

    def describe_rule(self, *, Name: str) -> dict[str, Any]:
        return {"Name": Name, "State": self.state[Name], "ScheduleExpression": "cron(0 2 * * ? *)"}

    def enable_rule(self, *, Name: str) -> None:
        self.state[Name] = "ENABLED"

    def disable_rule(self, *, Name: str) -> None:
        self.state[Name] = "DISABLED"


def test_schedules_flip_the_named_rule_and_refuse_an_unconfigured_one() -> None:
    events = FakeEvents()
    rules = EventBridgeSchedules(events, {JobType.PUSH: "stack-push-schedule", JobType.PULL: ""})  # type: ignore[arg-type]
    rules.set_enabled(JobType.PUSH, True)
    assert rules.describe(JobType.PUSH).enabled
    rules.set_enabled(JobType.PUSH, False)
    assert events.state["stack-push-schedule"] == "DISABLED"
    with pytest.raises(SettingsError):
        rules.describe(JobType.PULL)
