"""``/jobs`` through the admin API handler, in-process against moto (tables, queues and rules from template.yaml)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.institution_settings import DynamoIntegrationSettingsStore
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobTrigger, JobType
from orcid_sync.domain.jobs.schedules import SEND_ASSETS_OFF_WARNING
from orcid_sync.domain.models import ResearcherInput
from tests.support.apigw import CALLER_ARN, http_event, lambda_context, response_json
from tests.support.aws import AwsEnv, template_resources

STACK = "orcid-sync"


def create_job_resources(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The template's job queues and schedule rules in moto, and the functions' env naming them."""
    resources = template_resources()
    sqs, events = boto3.client("sqs"), boto3.client("events")
    env: dict[str, str] = {}
    for logical_id, variable in (
        ("JobControlQueue", "JOB_CONTROL_QUEUE_URL"),
        ("PushQueue", "PUSH_QUEUE_URL"),
        ("PullQueue", "PULL_QUEUE_URL"),
        ("FeedQueue", "FEED_QUEUE_URL"),
    ):
        props = resources[logical_id]["Properties"]
        attributes = {"VisibilityTimeout": str(props["VisibilityTimeout"])}
        env[variable] = sqs.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"]
    for logical_id, variable, job_type in (
        ("PushScheduleRule", "PUSH_RULE_NAME", "push"),
        ("PullScheduleRule", "PULL_RULE_NAME", "pull"),
        ("FeedRule", "FEED_RULE_NAME", "feed"),
        ("RemindRule", "REMIND_RULE_NAME", "remind"),
    ):
        props = resources[logical_id]["Properties"]
        name = f"{STACK}-{job_type}-schedule"
        events.put_rule(Name=name, ScheduleExpression=props["ScheduleExpression"], State=props["State"])
        env[variable] = name
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    composition.reset()
    return env


@pytest.fixture
def jobs_env(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    yield create_job_resources(monkeypatch)
    composition.reset()


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    if "text/csv" in response["headers"].get("Content-Type", ""):
        return response["statusCode"], response["body"]
    return response["statusCode"], response_json(response)


def _messages(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        bodies += [json.loads(m["Body"]) for m in batch]


def _researchers(*ids: str) -> None:
    store = composition.researcher_store()
    for rid in ids:
        store.upsert_profile(ResearcherInput(id=rid, given_names="Josiah", family_name="Carberry"))


def test_post_opens_the_run_and_hands_it_to_the_scheduler(jobs_env: dict[str, str]) -> None:
    # Given two researchers
    _researchers("r1", "r2")
    # When a push is requested for them
    status, body = call("POST", "/jobs", body={"type": "push", "researchers": ["r2", "r1"], "dry_run": True})
    # Then the API answers 202 with the running job and one control message names it
    assert status == 202
    assert body["state"] == "running"
    assert (body["type"], body["trigger"], body["dry_run"], body["expected"]) == ("push", "manual", True, None)
    assert body["started_by"] == CALLER_ARN
    assert body["options"] == {"researcher_ids": ["r2", "r1"]}
    assert _messages(jobs_env["JOB_CONTROL_QUEUE_URL"]) == [{"job_id": body["job_id"]}]
    status, fetched = call("GET", f"/jobs/{body['job_id']}")
    assert status == 200
    assert fetched == body


def test_post_rejects_bad_requests_and_opens_nothing(jobs_env: dict[str, str]) -> None:
    _researchers("r1")
    cases = [
        ({"type": "upload"}, "body.type"),
        ({"type": "pull", "resend_deleted": True}, "body"),
        ({"type": "push", "researchers": ["r1", "ghost"]}, "researchers"),
        ({"type": "push", "unexpected": 1}, "body.unexpected"),
    ]
    for request, field in cases:
        status, body = call("POST", "/jobs", body=request)
        assert status == 400, request
        assert any(p["field"].startswith(field) for p in body["problems"]), body
    assert call("GET", "/jobs")[1]["items"] == []
    assert _messages(jobs_env["JOB_CONTROL_QUEUE_URL"]) == []


def _job(job_id: str, job_type: JobType, started_at: datetime, state: JobState = JobState.RUNNING) -> Job:
    job = Job(job_id=job_id, type=job_type, trigger=JobTrigger.SCHEDULE, started_by="schedule", started_at=started_at)
    composition.job_store().create(job)
    if state is not JobState.RUNNING:
        composition.job_store().finish(job_id, state, ended_at=started_at + timedelta(minutes=5))
    return job


def test_list_filters_and_pages_newest_first(jobs_env: dict[str, str]) -> None:
    start = datetime(2026, 11, 1, 2, tzinfo=UTC)
    for day in range(5):
        job_type = JobType.PUSH if day % 2 == 0 else JobType.PULL
        state = JobState.SUCCEEDED if day < 3 else JobState.RUNNING
        _job(f"{job_type.value}-{day}", job_type, start + timedelta(days=day), state)
    status, first = call("GET", "/jobs", query={"limit": "2"})
    assert status == 200
    assert [j["job_id"] for j in first["items"]] == ["push-4", "pull-3"]
    _, second = call("GET", "/jobs", query={"limit": "2", "cursor": first["next_cursor"]})
    assert [j["job_id"] for j in second["items"]] == ["push-2", "pull-1"]
    _, pushes = call("GET", "/jobs", query={"type": "push", "state": "succeeded"})
    assert [j["job_id"] for j in pushes["items"]] == ["push-2", "push-0"]
    assert call("GET", "/jobs", query={"state": "sleeping"})[0] == 400
    assert call("GET", "/jobs", query={"cursor": "bogus"})[0] == 400


def test_an_unknown_job_is_404(jobs_env: dict[str, str]) -> None:
    assert call("GET", "/jobs/push-nope")[0] == 404
    assert call("GET", "/jobs/push-nope/events")[0] == 404


def test_events_page_as_json_and_download_as_csv(jobs_env: dict[str, str]) -> None:
    job = _job("push-1", JobType.PUSH, datetime(2026, 11, 1, tzinfo=UTC))
    at = datetime(2026, 11, 1, 2, 5, tzinfo=UTC)
    events = [
        JobEvent(
            researcher_id=f"r{i}", level="error" if i < 3 else "info", action="skipped asset", message=f"m{i}", at=at
        )
        for i in range(7)
    ]
    composition.job_store().add_events(job.job_id, events)
    status, page = call("GET", "/jobs/push-1/events", query={"limit": "4"})
    assert status == 200
    _, rest = call("GET", "/jobs/push-1/events", query={"limit": "4", "cursor": page["next_cursor"]})
    assert [e["level"] for e in page["items"] + rest["items"]] == ["error"] * 3 + ["info"] * 4
    _, errors = call("GET", "/jobs/push-1/events", query={"level": "error"})
    assert {e["researcher_id"] for e in errors["items"]} == {"r0", "r1", "r2"}
    status, text = call("GET", "/jobs/push-1/events", query={"format": "csv"})
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 7 and rows[0]["action"] == "skipped asset"
    status, by_accept = call("GET", "/jobs/push-1/events", headers={"Accept": "text/csv"})
    assert (status, by_accept) == (200, text)


def test_schedules_are_listed_and_flipped_with_a_send_assets_warning(aws: AwsEnv, jobs_env: dict[str, str]) -> None:
    # Given the rules as the template creates them (disabled) and a past push run
    events = boto3.client("events")
    _job("push-last", JobType.PUSH, datetime(2026, 11, 20, 2, tzinfo=UTC), JobState.SUCCEEDED)
    status, schedules = call("GET", "/jobs/schedules")
    assert status == 200
    assert [(s["type"], s["enabled"], s["schedule"]) for s in schedules] == [
        ("push", False, "cron(0 2 * * ? *)"),
        ("pull", False, "cron(0 4 * * ? *)"),
        ("feed", False, "cron(0 * * * ? *)"),
        ("remind", False, "cron(0 9 * * ? *)"),
    ]
    assert schedules[0]["last_run"]["job_id"] == "push-last"
    assert schedules[1]["last_run"] is None
    # When push is activated while send_assets is off
    status, push = call("PUT", "/jobs/schedules/push", body={"enabled": True})
    # Then the rule is enabled and the answer warns
    assert status == 200
    assert push["enabled"] is True
    assert push["warning"] == SEND_ASSETS_OFF_WARNING
    assert events.describe_rule(Name=jobs_env["PUSH_RULE_NAME"])["State"] == "ENABLED"
    # And with send_assets on, no warning; deactivating disables the rule again
    settings_store = DynamoIntegrationSettingsStore(aws.table("STATE_TABLE"))
    settings_store.save(IntegrationSettings(send_assets=True), expected_version=0, at=datetime.now(UTC), by="test")
    assert call("PUT", "/jobs/schedules/push", body={"enabled": True})[1]["warning"] is None
    status, off = call("PUT", "/jobs/schedules/push", body={"enabled": False})
    assert (status, off["enabled"]) == (200, False)
    assert events.describe_rule(Name=jobs_env["PUSH_RULE_NAME"])["State"] == "DISABLED"
    status, pull = call("PUT", "/jobs/schedules/pull", body={"enabled": True})
    assert (status, pull["enabled"], pull["warning"]) == (200, True, None)
    assert events.describe_rule(Name=jobs_env["PULL_RULE_NAME"])["State"] == "ENABLED"
    # And the feed schedule (created disabled) is activated the same way: orcid-sync jobs activate feed
    status, feed = call("PUT", "/jobs/schedules/feed", body={"enabled": True})
    assert (status, feed["enabled"], feed["warning"]) == (200, True, None)
    assert events.describe_rule(Name=jobs_env["FEED_RULE_NAME"])["State"] == "ENABLED"
    # And the invitation reminders' schedule too: orcid-sync jobs activate remind
    status, remind = call("PUT", "/jobs/schedules/remind", body={"enabled": True})
    assert (status, remind["enabled"]) == (200, True)
    assert events.describe_rule(Name=jobs_env["REMIND_RULE_NAME"])["State"] == "ENABLED"


def test_schedule_changes_are_validated(jobs_env: dict[str, str]) -> None:
    assert call("PUT", "/jobs/schedules/upload", body={"enabled": True})[0] == 400
    assert call("PUT", "/jobs/schedules/nightly", body={"enabled": True})[0] == 400
    assert call("PUT", "/jobs/schedules/push", body={"enabled": "maybe"})[0] == 400
    assert boto3.client("events").describe_rule(Name=jobs_env["PUSH_RULE_NAME"])["State"] == "DISABLED"
