"""``orcid-sync feeds …`` against the admin API handler in-process (moto), harvesting a real local OAI-PMH provider.

The provider is ``oaipmh.server`` on a thread (``start_oai_provider``); the CLI's signed requests go to the admin
API handler, which reaches the provider over HTTP as a deployed stack reaches a repository. ``feeds run --wait``
polls while the test delivers the feed queue's messages to the harvester function, as SQS would.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import responses
from click.testing import CliRunner, Result

from orcid_sync import composition
from orcid_sync.domain.models import ResearcherInput
from orcid_sync_cli import jobs_cmd as jobs_cli
from orcid_sync_cli.main import cli
from orcid_sync_local.oai_provider import DEMO_ORCIDS, RunningProvider, start_oai_provider
from tests.integration.test_jobs_api import create_job_resources
from tests.support.apigw import http_event, lambda_context
from tests.support.aws import AwsEnv, template_resources

API_URL = "https://api.orcid-sync.test"
FIXTURES = 60
PAGE_SIZE = 25


@dataclass
class FeedsEnv:
    provider: RunningProvider
    queue_url: str


def _feed_resources(monkeypatch: pytest.MonkeyPatch) -> str:
    """The template's FeedQueue and FeedRule in moto, named in the functions' environment."""
    resources = template_resources()
    props = resources["FeedQueue"]["Properties"]
    queue_url = boto3.client("sqs").create_queue(
        QueueName="FeedQueue", Attributes={"VisibilityTimeout": str(props["VisibilityTimeout"])}
    )["QueueUrl"]
    rule = resources["FeedRule"]["Properties"]
    boto3.client("events").put_rule(
        Name="orcid-sync-feed-schedule", ScheduleExpression=rule["ScheduleExpression"], State=rule["State"]
    )
    monkeypatch.setenv("FEED_QUEUE_URL", queue_url)
    monkeypatch.setenv("FEED_RULE_NAME", "orcid-sync-feed-schedule")
    monkeypatch.setenv("FEED_MAX_RECEIVE_COUNT", "5")
    composition.reset()
    return queue_url


@pytest.fixture
def feeds_api(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedsEnv]:
    """Jobs and feed resources in moto, the demo researchers with their iDs, a provider, the CLI routed in."""
    create_job_resources(monkeypatch)
    queue_url = _feed_resources(monkeypatch)
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables to the terminal width
    for rid, orcid in DEMO_ORCIDS.items():
        composition.researcher_store().upsert_profile(
            ResearcherInput(id=rid, given_names=rid.title(), family_name="Demo", orcid=orcid)
        )
    provider = start_oai_provider(page_size=PAGE_SIZE, fixtures=FIXTURES)

    def handle(request: Any) -> tuple[int, dict[str, str], str]:
        from functions.admin_api import app

        parts = urlsplit(request.url)
        event = http_event(
            request.method,
            parts.path,
            body=json.loads(request.body) if request.body else None,
            query=dict(parse_qsl(parts.query)),
            headers={"accept": request.headers.get("Accept", "application/json")},
        )
        answer = app.lambda_handler(event, lambda_context())
        body = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return answer["statusCode"], {"Content-Type": answer["headers"].get("Content-Type", "text/plain")}, body

    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/"))
            for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
                mock.add_callback(method, re.compile(f"{API_URL}/.*"), callback=handle)
            yield FeedsEnv(provider, queue_url)
    finally:
        provider.stop()
        composition.reset()


def run_cli(*args: str, check: bool = True) -> Result:
    result = CliRunner().invoke(cli, [*args, "--api", API_URL])
    if check:
        assert result.exit_code == 0, result.output
    return result


def data(result: Result) -> Any:
    """The command's JSON (indented): its stdout without the one-line log records and metrics (EMF) the
    in-process handlers wrote there."""
    kept = [line for line in result.stdout.splitlines() if not line.startswith('{"')]
    return json.loads("\n".join(kept))


def deliver_feed_messages(queue_url: str) -> int:
    """What SQS and Lambda do: each message on the feed queue to the harvester (continuations included)."""
    from functions.feed_harvester import app

    sqs = boto3.client("sqs")
    delivered = 0
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return delivered
        message = messages[0]
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {
                        "ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"],
                        "SentTimestamp": message["Attributes"]["SentTimestamp"],
                        "SenderId": "AROAEXAMPLE",
                        "ApproximateFirstReceiveTimestamp": message["Attributes"].get(
                            "ApproximateFirstReceiveTimestamp", message["Attributes"]["SentTimestamp"]
                        ),
                    },
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:FeedQueue",
                    "awsRegion": "us-east-1",
                }
            ]
        }
        answer = app.lambda_handler(event, lambda_context())
        assert not answer.get("batchItemFailures"), answer
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        delivered += 1


def _harvest_on_poll(monkeypatch: pytest.MonkeyPatch, env: FeedsEnv) -> list[int]:
    """``--wait``'s pauses deliver the queued harvest, so the CLI sees the run go from running to its end."""
    polls: list[int] = []

    def poll(_seconds: float) -> None:
        polls.append(deliver_feed_messages(env.queue_url))

    monkeypatch.setattr(jobs_cli, "sleep", poll)
    return polls


def test_test_prints_what_would_be_imported_and_changes_nothing(feeds_api: FeedsEnv) -> None:
    # When an administrator tries the endpoint with the DSpace profile
    table = run_cli("feeds", "test", feeds_api.provider.url, "--profile", "dspace", "--limit", "30")
    # Then the endpoint is described and its records classified, nothing stored
    assert "oai_datacite" in table.stdout and "persistent" in table.stdout
    assert "A feed would use" in table.stdout
    assert "nothing was imported" in table.stdout
    report = data(
        run_cli("feeds", "test", feeds_api.provider.url, "--profile", "dspace", "--limit", "60", "-o", "json")
    )
    assert report["chosen_prefix"] == "oai_datacite"
    assert ["com_123456789_1", "Faculty of Science"] in report["sets"]
    records = report["records"]
    assert len(records) == FIXTURES
    imported = [r for r in records if r["asset"] is not None]
    assert imported, records
    assert all(set(r["matched_researchers"]) <= set(DEMO_ORCIDS) for r in imported)
    assert any(r["withdraw"] for r in records)  # record 53 was deleted in the repository
    assert composition.asset_store().get(imported[0]["asset"]["id"]) is None
    assert data(run_cli("feeds", "list", "-o", "json")) == {"feeds": []}
    # And the CSV names an outcome per record
    csv_text = run_cli("feeds", "test", feeds_api.provider.url, "--profile", "dspace", "-o", "csv").stdout
    assert csv_text.splitlines()[0].startswith("oai_identifier,outcome,asset_id")
    assert "import" in csv_text and "no researcher" in csv_text


def test_add_show_list_and_remove(feeds_api: FeedsEnv) -> None:
    url = feeds_api.provider.url
    added = run_cli(
        "feeds",
        "add",
        "dspace-main",
        "--url",
        url,
        "--profile",
        "dspace",
        "--set",
        "com_123456789_1",
        "--type-override",
        "Technical Report=publication.report",
        "--local-id-field",
        "local",
        "-o",
        "json",
    )
    feed = data(added)
    assert feed["feed_id"] == "dspace-main" and feed["base_url"] == url
    assert (feed["profile"], feed["metadata_prefix"], feed["set_spec"]) == ("dspace", "auto", "com_123456789_1")
    assert feed["type_overrides"] == {"Technical Report": "publication.report"}
    assert feed["local_id_field"] == "local" and feed["enabled"] is True
    # A second feed, disabled, and the listing in each format
    run_cli(
        "feeds", "add", "data", "--url", url, "--profile", "datacite", "--format", "oai_datacite", "--disabled",
        "--schedule", "weekly", "--at", "3", "--weekday", "sun",
    )  # fmt: skip
    listed = run_cli("feeds", "list")
    assert "dspace-main" in listed.stdout and "data" in listed.stdout and "datacite" in listed.stdout
    assert [f["feed_id"] for f in data(run_cli("feeds", "list", "-o", "json"))["feeds"]] == [
        "data",
        "dspace-main",
    ]
    csv_lines = run_cli("feeds", "list", "-o", "csv").stdout.splitlines()
    assert csv_lines[0].startswith("feed_id,base_url,metadata_prefix,chosen_prefix")
    shown = run_cli("feeds", "show", "dspace-main")
    assert "Technical Report → publication.report" in shown.stdout
    assert "the beginning: a full harvest" in shown.stdout
    assert "no (the schedule skips it" in run_cli("feeds", "show", "data").stdout
    assert "weekly on sun at 03:00 UTC" in run_cli("feeds", "show", "data").stdout
    assert "daily at 01:00 UTC" in shown.stdout
    assert feed["schedule"] == {"every": "daily", "hour_utc": 1, "weekday": None}
    # A weekday for a daily harvest is refused by the API, naming the field
    refused_day = run_cli(
        "feeds", "add", "x", "--url", url, "--profile", "dspace", "--weekday", "mon", check=False
    )  # fmt: skip
    assert refused_day.exit_code != 0 and "schedule.weekday" in refused_day.output
    # Remove: refused without a terminal and without --yes; with --yes it goes, and a second time is a 404
    refused = run_cli("feeds", "remove", "data", check=False)
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert run_cli("feeds", "show", "data", check=False).exit_code == 0
    assert "Feed data removed" in run_cli("feeds", "remove", "data", "--yes").stdout
    gone = run_cli("feeds", "show", "data", check=False)
    assert gone.exit_code == 1 and "HTTP 404" in gone.output


def test_bad_input_is_refused_naming_the_field(feeds_api: FeedsEnv) -> None:
    # An override that is not SRC=TYPE: a usage error before any request
    bad_pair = run_cli(
        "feeds", "add", "f", "--url", feeds_api.provider.url, "--profile", "dspace", "--type-override", "x", check=False
    )
    assert bad_pair.exit_code == 2 and "SRC=TYPE" in bad_pair.output
    # An asset type we do not know, and a plain-http repository that is not this machine: the API names the field
    unknown = run_cli(
        "feeds", "add", "f", "--url", feeds_api.provider.url, "--profile", "dspace", "--type-override", "x=nope",
        check=False,
    )  # fmt: skip
    assert unknown.exit_code == 1 and "type_overrides" in unknown.output and "'nope'" in unknown.output
    remote = run_cli(
        "feeds", "add", "f", "--url", "http://repository.example.edu/oai", "--profile", "dspace", check=False
    )
    assert remote.exit_code == 1 and "base_url" in remote.output and "https" in remote.output
    # An unknown profile: click's choice
    assert run_cli("feeds", "add", "f", "--url", "u", "--profile", "pure", check=False).exit_code == 2
    # The same id twice: 409
    run_cli("feeds", "add", "f", "--url", feeds_api.provider.url, "--profile", "dspace")
    again = run_cli("feeds", "add", "f", "--url", feeds_api.provider.url, "--profile", "dspace", check=False)
    assert again.exit_code == 1 and "HTTP 409" in again.output


def test_run_wait_harvests_then_runs_incrementally(feeds_api: FeedsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a DSpace-profile feed of the provider's 60 records (three pages of 25)
    url = feeds_api.provider.url
    run_cli("feeds", "add", "dspace-main", "--url", url, "--profile", "dspace")
    polls = _harvest_on_poll(monkeypatch, feeds_api)
    # When it is run and followed
    result = run_cli("feeds", "run", "dspace-main", "--wait", "--interval", "0")
    # Then the run ended, its counts printed, and the assets of the demo researchers are stored
    assert "Started feed job feed-" in result.stdout
    assert "succeeded" in result.stdout or "completed with errors" in result.stdout, result.stdout
    assert "Records harvested" in result.stdout and "60" in result.stdout
    assert "everything (the feed's first harvest)" in result.stdout
    assert polls and polls[0] >= 1
    job_id = re.search(r"Started feed job (\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    job = data(run_cli("jobs", "show", job_id, "-o", "json"))
    assert job["type"] == "feed" and job["options"] == {"feed_id": "dspace-main", "full": False}
    assert job["counts"]["records_harvested"] == FIXTURES
    created = job["counts"]["assets_created"]
    assert created >= 5  # every 7th record is a demo researcher's
    ada_assets = composition.asset_store().list_for_researcher("ada")
    assert ada_assets and all(a.status == "approved" and a.visible for a in ada_assets)
    # The feed remembers where the next harvest starts; jobs list shows the harvest
    feed = data(run_cli("feeds", "show", "dspace-main", "-o", "json"))
    assert feed["last_job_id"] == job_id and feed["last_harvest_from"] and feed["chosen_prefix"] == "oai_datacite"
    listed = run_cli("jobs", "list", "--type", "feed")
    assert job_id in listed.stdout and f"{FIXTURES} records" in listed.stdout

    # When one of Ada's records changes in the repository and the feed runs again
    oai_id = _a_record_of(feeds_api, ada_assets[0].id)
    _provider("PATCH", feeds_api, f"/records/{oai_id}", {"title": "A corrected title"})
    second = data(run_cli("feeds", "run", "dspace-main", "--wait", "--interval", "0", "-o", "json"))
    assert second["report"]["from"] == feed["last_harvest_from"]
    shown = run_cli("jobs", "show", second["job_id"])
    assert f"incremental, from {feed['last_harvest_from']}" in shown.stdout and "Researchers" not in shown.stdout
    # Then only the change was harvested
    assert second["counts"]["records_harvested"] == 1
    assert second["counts"]["assets_updated"] == 1
    stored = composition.asset_store().get(ada_assets[0].id)
    assert stored is not None and stored.title == "A corrected title"


def _a_record_of(env: FeedsEnv, asset_id: str) -> str:
    """The OAI identifier whose asset is ``asset_id`` (ids are derived from identifiers)."""
    from orcid_sync.domain.feeds.mapping import asset_id_for

    records = env.provider.app.store.snapshot()
    return next(r.identifier for r in records if asset_id_for(r.identifier) == asset_id)


def _provider(method: str, env: FeedsEnv, path: str, body: Any = None) -> Any:
    """The provider's admin endpoints (``/_provider/…``), over HTTP as a person would call them."""
    import requests

    response = requests.request(method, f"{env.provider.admin_url}{path}", json=body, timeout=30)
    assert response.ok, response.text
    return response.json() if response.content else None


def test_run_without_wait_answers_at_once(feeds_api: FeedsEnv) -> None:
    run_cli("feeds", "add", "dspace-main", "--url", feeds_api.provider.url, "--profile", "dspace")
    started = run_cli("feeds", "run", "dspace-main", "--full", "-o", "json")
    job = data(started)
    assert job["state"] == "running" and job["options"] == {"feed_id": "dspace-main", "full": True}
    assert "(full harvest)" in started.stderr
    assert data(run_cli("jobs", "show", job["job_id"], "-o", "json"))["state"] == "running"
    unknown = run_cli("feeds", "run", "ghost", check=False)
    assert unknown.exit_code == 1 and "HTTP 404" in unknown.output


def test_jobs_activate_feed_flips_the_feed_rule(feeds_api: FeedsEnv) -> None:
    activated = run_cli("jobs", "activate", "feed", "-o", "json")
    assert data(activated)["enabled"] is True
    rule = boto3.client("events").describe_rule(Name="orcid-sync-feed-schedule")
    assert rule["State"] == "ENABLED"
    assert "scheduled feed harvest job is inactive" in run_cli("jobs", "deactivate", "feed").stdout
    assert boto3.client("events").describe_rule(Name="orcid-sync-feed-schedule")["State"] == "DISABLED"
