"""The job scheduler handler in-process against moto: the daily schedule and the admin API's control message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orcid_sync import composition
from orcid_sync.domain.jobs.models import JobState, JobTrigger, JobType, ResearcherTask
from orcid_sync.domain.jobs.starts import StartJobRequest, request_job
from orcid_sync.domain.models import ResearcherInput, SealedSecret, StoredToken, TokenSource
from tests.integration.test_jobs_api import create_job_resources
from tests.support.apigw import lambda_context
from tests.support.aws import AwsEnv

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORCIDS = ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-9079-593X"]


@pytest.fixture
def scheduler(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = create_job_resources(monkeypatch)
    # The notification topic, read back through an SQS subscription (what an email subscriber would get).
    sqs = boto3.client("sqs")
    inbox = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=aws.env["NOTIFICATION_TOPIC_ARN"], Protocol="sqs", Endpoint=inbox_arn)
    composition.reset()

    yield env | {"INBOX": inbox}
    composition.reset()


def invoke(event: dict[str, Any], request_id: str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") -> Any:
    from functions.job_scheduler import app

    return app.lambda_handler(event, lambda_context(aws_request_id=request_id))


def _connected(rid: str, orcid: str, *, scopes: list[str] | None = None) -> None:
    researchers = composition.researcher_store()
    researchers.upsert_profile(ResearcherInput(id=rid, given_names="Josiah", family_name="Carberry", orcid=orcid))
    now = datetime.now(UTC)
    scopes = scopes or ["/activities/update", "/person/update", "/read-limited"]
    researchers.record_connection(rid, orcid=orcid, scopes=scopes, connected_at=now)
    sealed = SealedSecret(data_key=b"k" * 16, nonce=b"n" * 12, ciphertext=b"c" * 48)
    composition.token_store().put(
        StoredToken(
            researcher_id=rid,
            orcid=orcid,
            access_token=sealed,
            scopes=scopes,
            expires_at=now + timedelta(days=7000),
            source=TokenSource.OAUTH,
            stored_at=now,
            fingerprint="f" * 64,
        )
    )


def _tasks(queue_url: str) -> list[ResearcherTask]:
    sqs = boto3.client("sqs")
    tasks: list[ResearcherTask] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        tasks += [ResearcherTask.model_validate_json(m["Body"]) for m in batch]
    return tasks


def _notifications(inbox: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def _control_event(job_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "job_control.json").read_text())
    event["Records"][0]["body"] = json.dumps({"job_id": job_id})
    return event


def test_the_daily_push_fans_out_to_eligible_researchers_once_per_firing(scheduler: dict[str, str]) -> None:
    # Given three connected researchers (one without the push scope) and one never connected
    _connected("r1", ORCIDS[0])
    _connected("r2", ORCIDS[1])
    _connected("r3", ORCIDS[2], scopes=["/read-limited"])
    composition.researcher_store().upsert_profile(ResearcherInput(id="r4", given_names="Ada", family_name="Lovelace"))
    # When the push schedule fires
    schedule = json.loads((EVENTS / "schedule_push.json").read_text())
    answer = invoke(schedule)
    # Then one run is open, expecting the two eligible researchers, and each has a task
    job = composition.job_store().get(answer["job_id"])
    assert job is not None
    assert (job.type, job.trigger, job.started_by, job.state) == (
        JobType.PUSH,
        JobTrigger.SCHEDULE,
        "schedule",
        JobState.RUNNING,
    )
    assert answer["expected"] == job.expected == 2
    assert job.counts.researchers_eligible == 2
    tasks = _tasks(scheduler["PUSH_QUEUE_URL"])
    assert sorted(t.researcher_id for t in tasks) == ["r1", "r2"]
    assert {(t.job_id, t.job_type, t.dry_run) for t in tasks} == {(job.job_id, JobType.PUSH, False)}
    # And Lambda's retry of the same invocation neither opens a second run nor resends
    again = invoke(schedule)
    assert again["job_id"] == job.job_id
    assert _tasks(scheduler["PUSH_QUEUE_URL"]) == []
    assert len(composition.job_store().list(limit=10).items) == 1


def test_a_run_requested_through_the_api_is_fanned_out_from_its_control_message(scheduler: dict[str, str]) -> None:
    # Given a pull requested for two researchers, one of whom may not be read
    _connected("r1", ORCIDS[0])
    composition.researcher_store().upsert_profile(ResearcherInput(id="r2", given_names="Ada", family_name="Lovelace"))
    job = request_job(
        composition.job_store(),
        composition.control_queue(),
        composition.researcher_store(),
        StartJobRequest(type=JobType.PULL, researchers=["r1", "r2"], dry_run=True),
        started_by="arn:aws:iam::123456789012:user/admin",
        now=datetime.now(UTC),
    )
    # When its control message reaches the scheduler
    answer = invoke(_control_event(job.job_id))
    # Then the batch succeeded and only the readable researcher got a task
    assert answer == {"batchItemFailures": []}
    [task] = _tasks(scheduler["PULL_QUEUE_URL"])
    assert (task.job_id, task.researcher_id, task.job_type, task.dry_run) == (job.job_id, "r1", JobType.PULL, True)
    assert "researcher_ids" not in task.options
    current = composition.job_store().get(job.job_id)
    assert current is not None and current.expected == 1
    # And a redelivery sends nothing more
    assert invoke(_control_event(job.job_id)) == {"batchItemFailures": []}
    assert _tasks(scheduler["PULL_QUEUE_URL"]) == []


def test_a_run_with_nobody_eligible_finishes_at_once_and_emails(scheduler: dict[str, str]) -> None:
    # Given nobody connected
    composition.researcher_store().upsert_profile(ResearcherInput(id="r1", given_names="Ada", family_name="Lovelace"))
    # When the pull schedule fires
    answer = invoke(json.loads((EVENTS / "schedule_pull.json").read_text()))
    # Then the run finished right there: succeeded, with its (empty) CSV, and one email
    job = composition.job_store().get(answer["job_id"])
    assert job is not None
    assert (job.state, job.expected, job.counts.researchers_processed) == (JobState.SUCCEEDED, 0, 0)
    assert job.ended_at is not None
    assert job.csv_uri is not None and job.csv_rows == 0
    assert _tasks(scheduler["PULL_QUEUE_URL"]) == []
    [note] = _notifications(scheduler["INBOX"])
    assert note["Subject"] == f"orcid-sync pull job {job.started_at:%Y-%m-%d} succeeded: 0 researchers, 0 failed"
    assert f"orcid-sync jobs events {job.job_id}" in note["Message"]
    assert job.csv_uri in note["Message"]


def test_a_malformed_control_message_fails_only_its_record(scheduler: dict[str, str]) -> None:
    # Given a batch with a good message and a malformed one
    job = request_job(
        composition.job_store(),
        composition.control_queue(),
        composition.researcher_store(),
        StartJobRequest(type=JobType.PUSH),
        started_by="admin",
        now=datetime.now(UTC),
    )
    event = _control_event(job.job_id)
    bad = dict(event["Records"][0], messageId="bad-1", body="not json")
    event["Records"].append(bad)
    # When the scheduler gets it, only the malformed record is reported failed (to be retried, then dead-lettered)
    assert invoke(event) == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    started = composition.job_store().get(job.job_id)
    assert started is not None and started.expected == 0
    # And alone (the queue's batch size is 1) it fails the invocation, which the errors alarm counts
    with pytest.raises(BatchProcessingError):
        invoke({"Records": [bad]})


def test_an_unknown_schedule_input_is_rejected(scheduler: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="job_type"):
        invoke({"job_type": "upload"})
    assert composition.job_store().list(limit=10).items == []
