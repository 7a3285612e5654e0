"""``/feeds`` through the admin API handler, in-process against moto (the FeedsTable, FeedQueue and FeedRule from
template.yaml), with a scripted OAI-PMH endpoint standing in for ``composition.oai_harvester()``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from orcid_sync import composition
from orcid_sync.domain.feeds.mapping import asset_id_for
from orcid_sync.domain.feeds.models import HarvestCheckpoint
from orcid_sync.domain.feeds.ports import OaiEndpointError
from orcid_sync.domain.models import ResearcherInput, utc_now
from tests.integration.test_jobs_api import call, create_job_resources
from tests.support.aws import AwsEnv
from tests.support.oai import ORCID_ADA, ORCID_NOBODY, ScriptedEndpoint, datacite

FEED = {"feed_id": "dspace-main", "base_url": "https://repository.example.edu/oai/request", "profile": "dspace"}


@pytest.fixture
def feeds_env(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedEndpoint]:
    create_job_resources(monkeypatch)
    scripted = ScriptedEndpoint(page_size=3)
    monkeypatch.setattr(composition, "oai_harvester", lambda: scripted)
    yield scripted
    composition.reset()


def _problems(body: dict[str, Any]) -> dict[str, str]:
    return {p["field"]: p["reason"] for p in body["problems"]}


def test_a_feed_is_added_listed_shown_and_removed(feeds_env: ScriptedEndpoint) -> None:
    status, feed = call("POST", "/feeds", body={**FEED, "set_spec": "com_123456789_1", "type_overrides": {}})
    assert status == 201
    assert feed == {
        "feed_id": "dspace-main",
        "base_url": "https://repository.example.edu/oai/request",
        "metadata_prefix": "auto",
        "set_spec": "com_123456789_1",
        "profile": "dspace",
        "local_id_field": None,
        "type_overrides": {},
        "enabled": True,
        "schedule": {"every": "daily", "hour_utc": 1, "weekday": None},
        "chosen_prefix": None,
        "last_harvest_from": None,
        "last_harvest_at": None,
        "last_job_id": None,
        "harvest_in_progress": False,
        "harvest_job_id": None,
        "created_at": feed["created_at"],
    }
    assert call("POST", "/feeds", body=FEED) == (409, {"message": "a feed with id dspace-main exists already"})
    local = {"feed_id": "local", "base_url": "http://127.0.0.1:8123/oai", "profile": "datacite", "enabled": False}
    assert call("POST", "/feeds", body=local)[0] == 201
    status, listed = call("GET", "/feeds")
    assert status == 200
    assert [(f["feed_id"], f["enabled"]) for f in listed["feeds"]] == [("dspace-main", True), ("local", False)]
    assert call("GET", "/feeds/dspace-main") == (200, feed)
    assert call("DELETE", "/feeds/dspace-main")[0] == 204
    assert call("GET", "/feeds/dspace-main")[0] == 404
    assert call("DELETE", "/feeds/dspace-main") == (404, {"message": "there is no feed dspace-main"})


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"base_url": "http://repository.example.edu/oai"}, "body.base_url", "plain http is only allowed"),
        ({"base_url": "ftp://repository.example.edu/oai"}, "body.base_url", "must be an absolute https:// URL"),
        ({"base_url": "https://repository.example.edu/oai?verb=Identify"}, "body.base_url", "without ?query"),
        ({"base_url": "https://user:pw@repository.example.edu/oai"}, "body.base_url", "user name or password"),
        ({"profile": "figshare"}, "body.profile", "dspace"),
        ({"metadata_prefix": "marc21"}, "body.metadata_prefix", "oai_openaire"),
        ({"feed_id": "has space"}, "body.feed_id", "pattern"),
        ({"set_spec": "not a set"}, "body.set_spec", "pattern"),
        ({"type_overrides": {"Thesis": "publication.nonsense"}}, "body.type_overrides", "not a known Esploro asset"),
        ({"schedule": {"every": "monthly"}}, "body.schedule.every", "'hourly', 'daily' or 'weekly'"),
        ({"schedule": {"every": "daily", "weekday": "mon"}}, "body.schedule.weekday", "only for weekly"),
        ({"schedule": {"every": "daily", "hour_utc": 24}}, "body.schedule.hour_utc", "less than or equal to 23"),
        ({"enabled": True, "color": "red"}, "body.color", "Extra inputs"),
    ],
)
def test_a_bad_feed_is_a_400_naming_the_field(
    feeds_env: ScriptedEndpoint, change: dict[str, Any], field: str, reason: str
) -> None:
    status, body = call("POST", "/feeds", body={**FEED, **change})
    assert status == 400, body
    problems = _problems(body)
    assert field in problems, problems
    assert reason in problems[field]


def test_running_a_feed_opens_a_feed_job_and_hands_it_to_the_harvester(
    feeds_env: ScriptedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    call("POST", "/feeds", body=FEED)
    status, job = call("POST", "/feeds/dspace-main/run", body={"full": True})
    assert status == 202
    assert (job["type"], job["trigger"], job["state"]) == ("feed", "manual", "running")
    assert job["options"] == {"feed_id": "dspace-main", "full": True}
    assert job["counts"]["records_harvested"] == 0
    # The harvester's queue has "start job J"
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=composition.settings().feed_queue_url, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]) for m in messages["Messages"]] == [{"job_id": job["job_id"]}]
    # The run is in the job history like push and pull
    status, page = call("GET", "/jobs", query={"type": "feed"})
    assert [j["job_id"] for j in page["items"]] == [job["job_id"]]
    # Without a body it is an incremental run
    assert call("POST", "/feeds/dspace-main/run")[1]["options"] == {"feed_id": "dspace-main", "full": False}
    assert call("POST", "/feeds/nope/run") == (404, {"message": "there is no feed nope"})
    assert call("POST", "/feeds/dspace-main/run", body={"full": "yes"})[0] == 400


def test_a_run_while_a_harvest_is_running_is_a_409(feeds_env: ScriptedEndpoint) -> None:
    call("POST", "/feeds", body=FEED)
    _, job = call("POST", "/feeds/dspace-main/run", body={})
    checkpoint = HarvestCheckpoint(job_id=job["job_id"], metadata_prefix="oai_dc", started_at=utc_now())
    assert composition.feed_store().begin_harvest(
        "dspace-main", checkpoint, chosen_prefix="oai_dc", granularity="YYYY-MM-DD"
    )
    status, body = call("POST", "/feeds/dspace-main/run", body={})
    assert status == 409
    assert body["message"].startswith(f"feed dspace-main is being harvested by job {job['job_id']}")
    _, shown = call("GET", "/feeds/dspace-main")
    assert (shown["harvest_in_progress"], shown["harvest_job_id"], shown["chosen_prefix"]) == (
        True,
        job["job_id"],
        "oai_dc",
    )


def test_testing_an_endpoint_shows_what_would_be_imported_and_changes_nothing(feeds_env: ScriptedEndpoint) -> None:
    composition.researcher_store().upsert_profile(
        ResearcherInput(id="ada", given_names="Ada", family_name="Lovelace", orcid=ORCID_ADA)
    )
    for n in range(5):
        feeds_env.put(f"oai:r:{n}", "2026-01-01", datacite(f"10.1234/t{n}", f"Title {n}", (ORCID_ADA, ORCID_NOBODY)))
    feeds_env.put("oai:r:bad", "2026-01-01", datacite("10.1234 x", "Broken", (ORCID_ADA,)))
    feeds_env.put("oai:r:gone", "2026-01-01", None, deleted=True)
    request = {"base_url": "http://localhost:8999/oai", "profile": "datacite", "set_spec": "com_123456789_1"}
    status, report = call("POST", "/feeds/test", body={**request, "limit": 7})
    assert status == 200, report
    assert {k: v for k, v in report.items() if k != "records"} == {
        "repository_name": "Example Repository",
        "granularity": "YYYY-MM-DDThh:mm:ssZ",
        "deleted_record": "persistent",
        "metadata_prefixes": ["oai_dc", "oai_datacite"],
        "chosen_prefix": "oai_datacite",
        "sets": [["com_123456789_1", "Faculty of Science"]],
    }
    # Pages of three: the limit of seven followed the resumption token across three pages
    assert len(report["records"]) == 7
    assert feeds_env.calls[0]["set_spec"] == "com_123456789_1"
    by_id = {r["oai_identifier"]: r for r in report["records"]}
    first = by_id["oai:r:0"]
    assert first["asset"]["id"] == asset_id_for("oai:r:0") and first["asset"]["doi"] == "10.1234/t0"
    assert (first["withdraw"], first["problems"], first["matched_researchers"], first["unmatched_creators"]) == (
        False,
        [],
        ["ada"],
        1,
    )
    assert by_id["oai:r:bad"]["asset"] is None
    assert by_id["oai:r:bad"]["problems"][0]["field"] == "doi"
    assert "is not a DOI" in by_id["oai:r:bad"]["problems"][0]["why"]
    assert by_id["oai:r:gone"]["withdraw"] is True
    # Nothing was stored
    assert composition.asset_store().get(asset_id_for("oai:r:0")) is None
    assert call("GET", "/feeds")[1] == {"feeds": []}
    # The default limit is ten records
    assert len(call("POST", "/feeds/test", body=request)[1]["records"]) == 7


def test_testing_an_endpoint_that_cannot_be_harvested_is_a_400(
    feeds_env: ScriptedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = {"base_url": "https://repository.example.edu/oai", "profile": "dspace"}
    feeds_env.prefixes = ("marc21",)
    status, body = call("POST", "/feeds/test", body=request)
    assert status == 400
    assert _problems(body) == {
        "body.metadata_prefix": "the endpoint offers none of oai_openaire, oai_datacite, oai_dc (it offers marc21)"
    }
    status, body = call("POST", "/feeds/test", body={**request, "metadata_prefix": "oai_dc"})
    assert _problems(body) == {"body.metadata_prefix": "the endpoint does not offer oai_dc (it offers marc21)"}

    def unreachable(base_url: str) -> None:
        raise OaiEndpointError(f"{base_url} did not answer (connection refused)")

    monkeypatch.setattr(feeds_env, "describe", unreachable)
    status, body = call("POST", "/feeds/test", body=request)
    assert (status, _problems(body)) == (
        400,
        {"body.base_url": "https://repository.example.edu/oai did not answer (connection refused)"},
    )
    status, body = call("POST", "/feeds/test", body={**request, "base_url": "http://example.edu/oai", "limit": 0})
    assert status == 400 and set(_problems(body)) == {"body.base_url", "body.limit"}


def test_the_feed_routes_are_in_the_openapi_document(feeds_env: ScriptedEndpoint) -> None:
    status, document = call("GET", "/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert set(paths["/feeds"]) == {"get", "post"}
    assert set(paths["/feeds/{feed_id}"]) == {"get", "delete"}
    assert "409" in paths["/feeds/{feed_id}/run"]["post"]["responses"]
    assert "400" in paths["/feeds/test"]["post"]["responses"]
