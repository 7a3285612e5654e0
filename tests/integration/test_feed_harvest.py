"""Feed harvests through the feed harvester's handler, in-process against moto, with a scripted OAI-PMH endpoint.

The endpoint here is a fake with the protocol's behaviour that matters to the harvest (``from`` filtering by
datestamp, resumption tokens, deleted records, ``badResumptionToken``, failures on demand). The last test harvests
the real local provider (pyoai's server) with the real client, and pushes the assets to the local ORCID sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orcid_sync import composition
from orcid_sync.domain.feeds.config import RunFeedRequest, request_feed_run, start_scheduled_feed_runs
from orcid_sync.domain.feeds.mapping import ProfileName, asset_id_for
from orcid_sync.domain.feeds.models import FeedConfig, FeedSchedule, StoredFeed
from orcid_sync.domain.feeds.ports import (
    BadResumptionTokenError,
    OaiEndpointError,
)
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import Job, JobState, JobType
from orcid_sync.domain.models import ResearcherInput
from orcid_sync_local.oai_provider import RunningProvider, start_oai_provider
from tests.integration.test_push_worker import Stack, sandbox, stack  # noqa: F401 - the push tests' fixtures
from tests.support.apigw import FakeLambdaContext
from tests.support.aws import AwsEnv, template_resources
from tests.support.oai import ORCID_ADA, ORCID_GRACE, ORCID_NOBODY, ScriptedEndpoint, datacite

BASE_URL = "http://127.0.0.1:8999/oai/request"


@pytest.fixture
def endpoint(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedEndpoint]:
    """The FeedQueue from the template, two researchers with iDs, a feed, and the scripted endpoint."""
    props = template_resources()["FeedQueue"]["Properties"]
    url = boto3.client("sqs").create_queue(
        QueueName="FeedQueue", Attributes={"VisibilityTimeout": str(props["VisibilityTimeout"])}
    )["QueueUrl"]
    monkeypatch.setenv("FEED_QUEUE_URL", url)
    scripted = ScriptedEndpoint()
    monkeypatch.setattr(composition, "oai_harvester", lambda: scripted)
    composition.reset()
    researchers = composition.researcher_store()
    for rid, orcid in (("ada", ORCID_ADA), ("grace", ORCID_GRACE)):
        researchers.upsert_profile(ResearcherInput(id=rid, given_names=rid.title(), family_name="Example", orcid=orcid))
    # Hourly: the schedule tests fire at any hour (each feed's own schedule is tested on its own below).
    config = FeedConfig(
        feed_id="repo", base_url=BASE_URL, profile=ProfileName.DATACITE, schedule=FeedSchedule(every="hourly")
    )
    composition.feed_store().create(StoredFeed(config=config, created_at=datetime.now(UTC)))
    yield scripted
    composition.reset()


def _queued() -> list[str]:
    sqs = boto3.client("sqs")
    url = composition.settings().feed_queue_url
    job_ids: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            job_ids.append(json.loads(message["Body"])["job_id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return job_ids


def _event(job_id: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{job_id}",
                "receiptHandle": f"handle-{job_id}",
                "body": json.dumps({"job_id": job_id}),
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1795320000000",
                    "SenderId": "AROAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795320000050",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orcid-sync-FeedQueue",
                "awsRegion": "us-east-1",
            }
        ]
    }


def deliver(job_id: str, *, receive_count: int = 1, remaining_millis: int = 900_000) -> bool:
    """One invocation of the harvester for one message; False if the message failed (SQS would redeliver)."""
    from functions.feed_harvester import app

    context = FakeLambdaContext(remaining_millis=remaining_millis)
    try:
        answer = app.lambda_handler(_event(job_id, receive_count), context)
    except BatchProcessingError:
        return False
    return not answer["batchItemFailures"]


def open_run(*, full: bool = False) -> Job:
    """Open a harvest of the feed "repo" as POST /feeds/repo/run does (its message queued, not delivered)."""
    return request_feed_run(
        composition.feed_store(),
        composition.job_store(),
        composition.feed_queue(),
        "repo",
        RunFeedRequest(full=full),
        started_by="test",
        now=datetime.now(UTC),
    )


def run(full: bool = False, **delivery: Any) -> Job:
    """Open a harvest as POST /feeds/repo/run does, deliver its messages until the queue is empty."""
    job = open_run(full=full)
    for _ in range(100):
        pending = _queued()
        if not pending:
            break
        for job_id in pending:
            assert deliver(job_id, **delivery)
    stored = composition.job_store().get(job.job_id)
    assert stored is not None
    return stored


def _events(job_id: str) -> list[Any]:
    return composition.job_store().list_events(job_id, limit=1000).items


def _seed(endpoint: ScriptedEndpoint, count: int, *, datestamp: str = "2026-01-10T00:00:00Z") -> None:
    for n in range(count):
        orcids = (ORCID_ADA, ORCID_NOBODY) if n % 2 == 0 else (ORCID_GRACE,)
        endpoint.put(
            f"oai:repo.example.edu:{n:05d}", datestamp, datacite(f"10.1234/rec.{n}", f"Record number {n}", orcids)
        )


def test_a_first_harvest_of_three_pages_then_an_incremental_one_picks_up_a_change_and_a_deletion(
    endpoint: ScriptedEndpoint,
) -> None:
    # Given 250 records matched by their creators' iDs, in pages of 100
    _seed(endpoint, 250)
    # When the feed is harvested for the first time
    job = run()
    # Then three pages were read, the first with the format and no from, the next ones by token alone
    assert [call["resumption_token"] is None for call in endpoint.calls] == [True, False, False]
    assert endpoint.calls[0] == {"metadata_prefix": "oai_datacite", "from_": None, "resumption_token": None}
    assert (job.state, job.type) == (JobState.SUCCEEDED, JobType.FEED)
    assert (job.counts.records_harvested, job.counts.assets_created) == (250, 250)
    assert job.counts.creators_unmatched == 125  # every even record has a creator who is none of ours
    assert job.report is not None and job.report["pages"] == 3
    ada = composition.asset_store().get(asset_id_for("oai:repo.example.edu:00000"))
    assert ada is not None and ada.researchers == ["ada"] and ada.doi == "10.1234/rec.0"
    assert ada.status == "approved" and ada.visible is True
    assert len(composition.asset_store().list_for_researcher("grace")) == 125
    feed = composition.feed_store().get("repo")
    assert feed is not None and feed.state.last_harvest_from == "2026-03-01T00:00:00Z"
    assert feed.state.chosen_prefix == "oai_datacite" and feed.state.checkpoint is None
    assert feed.state.last_job_id == job.job_id

    # Given one record changed and one deleted after that harvest
    endpoint.calls.clear()
    endpoint.response_date = "2026-03-02T00:00:00Z"
    endpoint.put(
        "oai:repo.example.edu:00001", "2026-03-01T12:00:00Z", datacite("10.1234/rec.1", "A new title", (ORCID_GRACE,))
    )
    endpoint.put("oai:repo.example.edu:00002", "2026-03-01T13:00:00Z", None, deleted=True)
    # When the feed is harvested again (incremental)
    again = run()
    # Then only what changed since the last harvest's responseDate was asked for and touched
    assert endpoint.calls == [
        {"metadata_prefix": "oai_datacite", "from_": "2026-03-01T00:00:00Z", "resumption_token": None}
    ]
    assert again.state is JobState.SUCCEEDED
    counts = again.counts
    assert (counts.records_harvested, counts.assets_updated, counts.assets_withdrawn) == (2, 1, 1)
    assert counts.assets_created == 0
    changed = composition.asset_store().get(asset_id_for("oai:repo.example.edu:00001"))
    assert changed is not None and changed.title == "A new title"
    assert composition.asset_store().get(asset_id_for("oai:repo.example.edu:00002")) is None
    withdrawn = [e for e in _events(again.job_id) if e.action == "withdrew asset"]
    assert [e.asset_id for e in withdrawn] == [asset_id_for("oai:repo.example.edu:00002")]

    # And a full harvest reads everything again but writes nothing that did not change
    endpoint.calls.clear()
    full = run(full=True)
    assert endpoint.calls[0]["from_"] is None
    assert (full.counts.records_harvested, full.counts.assets_unchanged, full.counts.assets_created) == (250, 249, 0)


def test_a_crash_after_the_second_page_resumes_from_the_checkpoint_without_duplicates(
    endpoint: ScriptedEndpoint,
) -> None:
    # Given 250 records, and an endpoint that fails (after the adapter's retries) on the third page request
    _seed(endpoint, 250)
    endpoint.fail_on_call[3] = RuntimeError("the Lambda died")
    job = open_run()
    [job_id] = _queued()
    # When the invocation crashes after two pages
    assert deliver(job_id) is False
    # Then the checkpoint holds the third page's token and the counts of two pages, and the run shows them
    feed = composition.feed_store().get("repo")
    assert feed is not None and feed.state.checkpoint is not None
    assert (feed.state.checkpoint.pages, feed.state.checkpoint.resumption_token) == (2, "200|")
    running = composition.job_store().get(job.job_id)
    assert running is not None and running.state is JobState.RUNNING
    assert running.counts.records_harvested == 200
    # When SQS delivers the message again
    assert deliver(job_id, receive_count=2) is True
    # Then the harvest goes on from the third page (no page read twice) and counts each record once
    assert [call["resumption_token"] for call in endpoint.calls] == [None, "100|", "200|", "200|"]
    done = composition.job_store().get(job.job_id)
    assert done is not None and done.state is JobState.SUCCEEDED
    assert (done.counts.records_harvested, done.counts.assets_created, done.counts.assets_unchanged) == (250, 250, 0)
    assert len(composition.asset_store().list_for_researcher("ada")) == 125


def test_a_harvest_hands_itself_on_before_the_deadline(endpoint: ScriptedEndpoint) -> None:
    # Given 250 records and invocations with less than a page's margin left after each page
    _seed(endpoint, 250)
    # When harvested with 30 s left per invocation
    job = run(remaining_millis=30_000)
    # Then each invocation took one page and sent a message for the next; the run completed once
    assert len(endpoint.calls) == 3
    assert job.state is JobState.SUCCEEDED and job.counts.assets_created == 250


def test_a_bad_doi_and_an_unknown_type_are_events_naming_the_record_and_field(endpoint: ScriptedEndpoint) -> None:
    # Given a good record, one with a bad DOI, one with a type the profile does not know, one by nobody of ours
    endpoint.put("oai:repo.example.edu:good", "2026-01-01", datacite("10.1234/ok", "Fine", (ORCID_ADA,)))
    endpoint.put("oai:repo.example.edu:baddoi", "2026-01-01", datacite("10.1234 broken", "Bad DOI", (ORCID_ADA,)))
    endpoint.put(
        "oai:repo.example.edu:hologram",
        "2026-01-01",
        datacite("10.1234/holo", "A hologram", (ORCID_GRACE,), type_general="Hologram"),
    )
    endpoint.put("oai:repo.example.edu:stranger", "2026-01-01", datacite("10.1234/s", "Not ours", (ORCID_NOBODY,)))
    # When harvested
    job = run()
    # Then the harvest completed (with errors), the good record is stored, the two are events
    assert job.state is JobState.COMPLETED_WITH_ERRORS
    counts = job.counts
    assert (counts.records_harvested, counts.assets_created, counts.records_refused) == (4, 1, 2)
    assert (counts.records_unmatched, counts.creators_unmatched) == (1, 1)
    errors = {e.asset_id: e for e in _events(job.job_id) if e.level == "error"}
    bad_doi = errors[asset_id_for("oai:repo.example.edu:baddoi")]
    assert bad_doi.message.startswith("record oai:repo.example.edu:baddoi: doi: ")
    assert "is not a DOI" in bad_doi.message
    hologram = errors[asset_id_for("oai:repo.example.edu:hologram")]
    assert hologram.message.startswith("record oai:repo.example.edu:hologram: type: ")
    assert "type_overrides" in hologram.message
    # And the next harvest starts after this one: refused records are not a failed harvest
    feed = composition.feed_store().get("repo")
    assert feed is not None and feed.state.last_harvest_from == endpoint.response_date


def test_bad_resumption_token_restarts_once_then_fails_the_run(endpoint: ScriptedEndpoint) -> None:
    _seed(endpoint, 250)
    # Given an endpoint that forgets the first page's token once
    endpoint.fail_on_call[2] = BadResumptionTokenError("badResumptionToken: expired")
    job = run()
    # Then the pages started again from the harvest's from (None: a first harvest), with a warning
    assert [call["resumption_token"] for call in endpoint.calls] == [None, "100|", None, "100|", "200|"]
    assert (job.counts.records_harvested, job.counts.assets_created, job.counts.assets_unchanged) == (350, 250, 100)
    assert job.state is JobState.SUCCEEDED, _events(job.job_id)
    assert [e.action for e in _events(job.job_id) if e.level == "warning"] == ["restarted the harvest"]

    # Given an endpoint that never knows its tokens
    endpoint.calls.clear()
    endpoint.response_date = "2026-04-01T00:00:00Z"
    _seed(endpoint, 250, datestamp="2026-03-15T00:00:00Z")
    endpoint.fail_on_call |= {2: BadResumptionTokenError("gone"), 4: BadResumptionTokenError("gone again")}
    failed = run()
    # Then after one restart the run fails with an event naming the feed; the next harvest keeps the old from
    assert failed.state is JobState.FAILED
    [error] = [e for e in _events(failed.job_id) if e.level == "error"]
    assert error.message.startswith("feed repo: the endpoint refused its resumption token again")
    feed = composition.feed_store().get("repo")
    assert feed is not None and feed.state.checkpoint is None
    assert feed.state.last_harvest_from == "2026-03-01T00:00:00Z"


def test_an_unreachable_endpoint_fails_the_run_and_frees_the_feed(endpoint: ScriptedEndpoint) -> None:
    _seed(endpoint, 10)
    endpoint.fail_on_call[1] = OaiEndpointError("http://127.0.0.1:8999/oai/request answered 503 six times")
    job = run()
    assert job.state is JobState.FAILED
    assert job.report is not None and "503 six times" in job.report["error"]
    feed = composition.feed_store().get("repo")
    assert feed is not None and feed.state.checkpoint is None and feed.state.last_harvest_from is None
    # And the next run harvests normally
    assert run().state is JobState.SUCCEEDED


def test_a_harvest_that_keeps_failing_fails_on_the_last_delivery(endpoint: ScriptedEndpoint) -> None:
    _seed(endpoint, 10)
    endpoint.fail_on_call[1] = RuntimeError("boom")
    job = open_run()
    [job_id] = _queued()
    assert deliver(job_id, receive_count=5) is True  # handled: the run failed, the message is not retried
    failed = composition.job_store().get(job.job_id)
    assert failed is not None and failed.state is JobState.FAILED
    assert "RuntimeError: boom" in (failed.report or {}).get("error", "")
    feed = composition.feed_store().get("repo")
    assert feed is not None and feed.state.checkpoint is None


def test_a_second_run_while_one_is_running_is_refused_and_the_schedule_skips_it(endpoint: ScriptedEndpoint) -> None:
    from orcid_sync.domain.errors import ConflictError

    _seed(endpoint, 250)
    endpoint.fail_on_call[2] = RuntimeError("the Lambda died")
    first = open_run()
    [job_id] = _queued()
    assert deliver(job_id) is False  # one page done, the harvest is in progress
    with pytest.raises(ConflictError, match=f"being harvested by job {first.job_id}"):
        open_run()
    jobs = start_scheduled_feed_runs(
        composition.feed_store(),
        composition.job_store(),
        composition.feed_queue(),
        invocation_id="inv-1",
        now=datetime.now(UTC),
    )
    assert jobs == []


def test_the_schedule_opens_one_run_per_enabled_feed_once_per_firing(endpoint: ScriptedEndpoint) -> None:
    _seed(endpoint, 5)
    off = FeedConfig(feed_id="off@repo", base_url=BASE_URL, profile=ProfileName.DATACITE, enabled=False)
    composition.feed_store().create(StoredFeed(config=off, created_at=datetime.now(UTC)))
    now = datetime(2026, 3, 1, 1, tzinfo=UTC)
    args = (composition.feed_store(), composition.job_store(), composition.feed_queue())
    opened = start_scheduled_feed_runs(*args, invocation_id="1b2c3d4e-aaaa-bbbb", now=now)
    again = start_scheduled_feed_runs(*args, invocation_id="1b2c3d4e-aaaa-bbbb", now=now + timedelta(seconds=5))
    assert [job.options["feed_id"] for job in opened] == ["repo"]
    assert [job.job_id for job in again] == [job.job_id for job in opened]
    [job_id, duplicate] = _queued()
    assert job_id == duplicate == opened[0].job_id  # a retried firing: the same run, its second message harmless
    assert deliver(job_id) and deliver(duplicate)
    done = composition.job_store().get(job_id)
    assert done is not None and done.state is JobState.SUCCEEDED and done.counts.assets_created == 5


def test_the_hourly_schedule_harvests_each_feed_when_its_own_schedule_is_due(endpoint: ScriptedEndpoint) -> None:
    weekly = FeedConfig(
        feed_id="weekly",
        base_url=BASE_URL,
        profile=ProfileName.DATACITE,
        schedule=FeedSchedule(every="weekly", hour_utc=3, weekday="sun"),
    )
    daily = FeedConfig(feed_id="daily", base_url=BASE_URL, profile=ProfileName.DATACITE)  # the default: 01:00 UTC
    for config in (weekly, daily):
        composition.feed_store().create(StoredFeed(config=config, created_at=datetime.now(UTC)))
    args = (composition.feed_store(), composition.job_store(), composition.feed_queue())

    def fired_at(when: datetime) -> list[str]:
        opened = start_scheduled_feed_runs(*args, invocation_id=f"inv-{when:%d%H}", now=when)
        return sorted(job.options["feed_id"] for job in opened)

    # 2026-03-01 is a Sunday; "repo" (the fixture's feed) is hourly
    assert fired_at(datetime(2026, 3, 1, 1, tzinfo=UTC)) == ["daily", "repo"]
    assert fired_at(datetime(2026, 3, 1, 2, tzinfo=UTC)) == ["repo"]
    assert fired_at(datetime(2026, 3, 1, 3, tzinfo=UTC)) == ["repo", "weekly"]
    assert fired_at(datetime(2026, 3, 2, 3, tzinfo=UTC)) == ["repo"]  # Monday


def test_the_feed_rule_fires_the_scheduler_which_hands_each_harvest_to_the_harvester(
    endpoint: ScriptedEndpoint,
) -> None:
    from functions.job_scheduler import app as scheduler

    _seed(endpoint, 3)
    rule_input = json.loads(template_resources()["FeedRule"]["Properties"]["Targets"][0]["Input"])
    answer = scheduler.lambda_handler(rule_input, FakeLambdaContext(aws_request_id="5e6f7a8b-0000-1111-2222"))
    [job_id] = answer["job_ids"]
    assert job_id.startswith("feed-") and _queued() == [job_id]
    assert deliver(job_id)
    done = composition.job_store().get(job_id)
    assert done is not None and (done.state, done.trigger.value, done.counts.assets_created) == (
        JobState.SUCCEEDED,
        "schedule",
        3,
    )


# --- the real thing: the local OAI-PMH provider, the OAI-PMH adapter, the push to the local ORCID sandbox ----------


@pytest.fixture
def provider_stack(
    stack: Stack,  # noqa: F811 - the push tests' fixture, imported above
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Stack, RunningProvider, str]]:
    """Ada connected on the local ORCID sandbox; the provider's fixture records name her with that iD."""
    props = template_resources()["FeedQueue"]["Properties"]
    url = boto3.client("sqs").create_queue(
        QueueName="FeedQueue", Attributes={"VisibilityTimeout": str(props["VisibilityTimeout"])}
    )["QueueUrl"]
    monkeypatch.setenv("FEED_QUEUE_URL", url)
    composition.reset()
    orcid = stack.researcher("ada")
    provider = start_oai_provider(page_size=25, fixtures=150, orcids={"ada": orcid})
    try:
        config = FeedConfig(feed_id="repo", base_url=provider.url, profile=ProfileName.DATACITE)
        composition.feed_store().create(StoredFeed(config=config, created_at=datetime.now(UTC)))
        yield stack, provider, orcid
    finally:
        provider.stop()


def _provider_identifiers(provider: RunningProvider) -> list[str]:
    answer = requests.get(f"{provider.admin_url}/records", params={"limit": 1000}, timeout=10)
    answer.raise_for_status()
    return [record["identifier"] for record in answer.json()["records"]]


def test_assets_harvested_from_the_local_provider_reach_the_orcid_sandbox(
    provider_stack: tuple[Stack, RunningProvider, str],
) -> None:
    push, provider, orcid = provider_stack
    # Given a provider that answers 503 + Retry-After to its next two requests (OAI-PMH flow control)
    provider.app.make_unavailable(2, retry_after=1)
    # When the feed is harvested with the real OAI-PMH client
    job = run()
    # Then six pages of oai_datacite (the richest format offered) were read despite the 503s
    assert job.state in {JobState.SUCCEEDED, JobState.COMPLETED_WITH_ERRORS}, _events(job.job_id)
    assert job.report is not None and (job.report["pages"], job.report["metadata_prefix"]) == (6, "oai_datacite")
    assert provider.app.stats()["unavailable_answered"] == 2
    assert job.counts.records_harvested == 150
    ada_assets = composition.asset_store().list_for_researcher("ada")
    harvested = len(ada_assets)  # every 21st record names Ada with her iD (a few are refused: bad type or DOI)
    assert harvested >= 5
    assert job.counts.assets_created == harvested  # Ada is the only researcher here: the others are unmatched
    # And pushing them creates a work per asset on her ORCID record
    push.settings(IntegrationSettings(send_assets=True))
    pushed, _ = push.run(["ada"])
    assert pushed.counts.works_created == harvested
    works = push.sandbox.works(orcid)
    assert sorted(w["work"]["title"]["title"]["value"] for w in works) == sorted(a.title for a in ada_assets)

    # Given one of Ada's records changed and another deleted in the repository
    ours = {asset_id_for(identifier): identifier for identifier in _provider_identifiers(provider)}
    changed_id, deleted_id = (ours[a.id] for a in sorted(ada_assets, key=lambda a: a.id)[:2])
    requests.patch(f"{provider.admin_url}/records/{changed_id}", json={"title": "Retitled"}, timeout=10)
    requests.delete(f"{provider.admin_url}/records/{deleted_id}", timeout=10).raise_for_status()
    # When the feed is harvested again and pushed
    again = run()
    assert (again.counts.records_harvested, again.counts.assets_updated, again.counts.assets_withdrawn) == (2, 1, 1)
    pushed, _ = push.run(["ada"])
    # Then the sandbox has the new title and no longer the withdrawn work
    assert (pushed.counts.works_updated, pushed.counts.works_deleted) == (1, 1)
    titles = [w["work"]["title"]["title"]["value"] for w in push.sandbox.works(orcid)]
    assert len(titles) == harvested - 1 and "Retitled" in titles
