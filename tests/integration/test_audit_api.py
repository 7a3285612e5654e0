"""The admin API records every state-changing call in the audit log (actor = the caller's IAM ARN), and lists it.

In-process against moto: the template's tables, queues and rules, the handler as API Gateway invokes it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from orcid_sync import composition
from orcid_sync.domain.models import ResearcherInput
from tests.integration.test_jobs_api import call, create_job_resources
from tests.support.apigw import CALLER_ARN
from tests.support.aws import AwsEnv

ORCID = "0000-0002-1825-0097"


@pytest.fixture
def jobs_env(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The template's queues and schedule rules in moto (as test_jobs_api has them)."""
    yield create_job_resources(monkeypatch)
    composition.reset()


def _entries(**query: str) -> list[dict[str, Any]]:
    status, page = call("GET", "/audit", query={"limit": "100", **query})
    assert status == 200, page
    entries: list[dict[str, Any]] = page["entries"]
    return entries


def _raw_table(aws: AwsEnv) -> str:
    return json.dumps(aws.table("AUDIT_TABLE").scan()["Items"], default=str)


def test_schedule_changes_are_recorded_with_the_state_before_and_after(jobs_env: dict[str, str]) -> None:
    assert call("PUT", "/jobs/schedules/push", body={"enabled": True})[0] == 200
    assert call("PUT", "/jobs/schedules/push", body={"enabled": True})[0] == 200  # again: recorded, no change
    assert call("PUT", "/jobs/schedules/push", body={"enabled": False})[0] == 200
    newest, again, first = _entries()
    assert (first["action"], first["target"], first["before"], first["after"]) == (
        "schedule.activate",
        "push",
        {"enabled": False},
        {"enabled": True},
    )
    assert (again["before"], again["after"]) == ({"enabled": True}, {"enabled": True})
    assert (newest["action"], newest["before"], newest["after"]) == (
        "schedule.deactivate",
        {"enabled": True},
        {"enabled": False},
    )
    assert {(e["actor"], e["actor_kind"]) for e in (newest, again, first)} == {(CALLER_ARN, "api")}


def test_a_refused_call_records_nothing(jobs_env: dict[str, str]) -> None:
    assert call("PUT", "/jobs/schedules/upload", body={"enabled": True})[0] == 400
    assert call("PUT", "/settings", body={"send_assets": "yes"})[0] == 400
    assert call("POST", "/jobs", body={"type": "push", "researchers": ["nobody"]})[0] == 400
    assert _entries() == []


def test_a_settings_save_records_only_the_fields_it_changed(jobs_env: dict[str, str]) -> None:
    status, saved = call("PUT", "/settings", body={"send_assets": True, "institution_name": "Uni"})
    assert status == 200
    status, _ = call("PUT", "/settings", body={**saved, "type_overrides": {"publication.book": "book"}})
    assert status == 200
    second, first = _entries(action="settings.update")
    assert first["before"] == {"send_assets": False, "institution_name": "", "version": 0}
    assert first["after"] == {"send_assets": True, "institution_name": "Uni", "version": 1}
    assert second["before"] == {"type_overrides": {}, "version": 1}
    assert second["after"] == {"type_overrides": {"publication.book": "book"}, "version": 2}


def test_a_job_start_names_the_job_and_whom_it_runs_for(jobs_env: dict[str, str]) -> None:
    for rid in ("r1", "r2"):
        composition.researcher_store().upsert_profile(ResearcherInput(id=rid, given_names="A", family_name="B"))
    status, job = call("POST", "/jobs", body={"type": "push", "researchers": ["r1", "r2"], "dry_run": True})
    assert status == 202
    (entry,) = _entries()
    assert (entry["action"], entry["target"]) == ("job.start", job["job_id"])
    assert entry["after"] == {"type": "push", "dry_run": True, "researchers": ["r1", "r2"]}


def test_batch_loads_record_counts_never_rows(aws: AwsEnv, jobs_env: dict[str, str]) -> None:
    rows = [{"id": "secret-person-1", "given_names": "Josiah", "family_name": "Carberry"}, {"id": ""}]
    assert call("POST", "/researchers", body=rows)[0] == 200
    asset = {
        "id": "a-hidden",
        "researchers": ["secret-person-1"],
        "title": "On the Tool Marks of Psychoceramics",
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "date": "2020",
    }
    status, loaded = call("POST", "/assets", body=[asset])
    assert (status, loaded["counts"]["created"]) == (200, 1)
    # A batch that changes nothing (here: every row rejected) is no change to record
    assert call("POST", "/assets", body=[{"id": "a-broken"}])[1]["counts"]["rejected"] == 1
    assets_entry, researchers_entry = _entries()
    assert researchers_entry["action"] == "researchers.load"
    assert researchers_entry["after"]["received"] == 2 and researchers_entry["after"]["rejected"] == 1
    assert assets_entry["action"] == "assets.load" and assets_entry["after"]["received"] == 1
    raw = _raw_table(aws)
    assert "secret-person-1" not in raw and "Psychoceramics" not in raw and "a-hidden" not in raw


def test_single_puts_are_recorded_when_they_change_something(jobs_env: dict[str, str]) -> None:
    person = {"id": "r1", "given_names": "Josiah", "family_name": "Carberry"}
    assert call("PUT", "/researchers/r1", body=person)[0] == 201
    assert call("PUT", "/researchers/r1", body=person)[0] == 200  # unchanged: nothing to record
    entries = _entries()
    assert [(e["action"], e["target"], e["after"]) for e in entries] == [
        ("researcher.put", "r1", {"outcome": "created"})
    ]


def test_token_imports_and_uploads_record_counts_never_a_token_or_the_upload_url(
    aws: AwsEnv, jobs_env: dict[str, str]
) -> None:
    composition.researcher_store().upsert_profile(
        ResearcherInput(id="r1", given_names="Josiah", family_name="Carberry", orcid=ORCID)
    )
    access, refresh = str(uuid.uuid4()), str(uuid.uuid4())
    row = {
        "orcid": ORCID,
        "access_token": access,
        "refresh_token": refresh,
        "scope": "/activities/update /read-limited",
        "expires_in": 631138518,
    }
    status, report = call("POST", "/tokens", body=[row, {"orcid": "bad"}])
    assert status == 200, report
    status, ticket = call("POST", "/tokens/uploads", body={"format": "csv"})
    assert status == 201
    upload, imported = _entries()
    assert imported["action"] == "tokens.import"
    assert imported["after"] == {"verified": False, **report["counts"]}
    assert (upload["action"], upload["target"], upload["after"]) == (
        "tokens.upload",
        ticket["upload_id"],
        {"format": "csv", "verify": False},
    )
    raw = _raw_table(aws)
    assert access not in raw and refresh not in raw and ticket["url"] not in raw


def test_feed_changes_are_recorded(jobs_env: dict[str, str]) -> None:
    feed = {"feed_id": "dspace-main", "base_url": "https://repository.example.edu/oai/request", "profile": "dspace"}
    assert call("POST", "/feeds", body=feed)[0] == 201
    status, job = call("POST", "/feeds/dspace-main/run", body={"full": True})
    assert status == 202
    assert call("DELETE", "/feeds/dspace-main")[0] == 204
    deleted, run, created = _entries()
    assert (created["action"], created["target"]) == ("feed.create", "dspace-main")
    assert created["after"]["base_url"] == feed["base_url"]
    assert (run["action"], run["after"]) == ("feed.run", {"job_id": job["job_id"], "full": True})
    assert (deleted["action"], deleted["target"]) == ("feed.delete", "dspace-main")


def test_the_list_pages_newest_first_and_filters(jobs_env: dict[str, str]) -> None:
    for enabled in (True, False, True, False, True):
        assert call("PUT", "/jobs/schedules/pull", body={"enabled": enabled})[0] == 200
    status, first = call("GET", "/audit", query={"limit": "2"})
    assert status == 200 and len(first["entries"]) == 2 and first["next_cursor"]
    seen = [e["entry_id"] for e in first["entries"]]
    cursor = first["next_cursor"]
    while cursor:
        status, page = call("GET", "/audit", query={"limit": "2", "cursor": cursor})
        seen += [e["entry_id"] for e in page["entries"]]
        cursor = page["next_cursor"]
    assert [e["entry_id"] for e in _entries()] == seen and len(seen) == 5
    assert [e["action"] for e in _entries(action="schedule.deactivate")] == ["schedule.deactivate"] * 2
    assert len(_entries(actor=CALLER_ARN)) == 5 and _entries(actor="someone-else") == []


@pytest.mark.parametrize("query", [{"cursor": "nonsense"}, {"limit": "0"}, {"limit": "101"}])
def test_bad_list_requests_are_400(jobs_env: dict[str, str], query: dict[str, str]) -> None:
    assert call("GET", "/audit", query=query)[0] == 400


def test_the_rule_state_matches_what_was_recorded(jobs_env: dict[str, str]) -> None:
    call("PUT", "/jobs/schedules/push", body={"enabled": True})
    (entry,) = _entries()
    state = boto3.client("events").describe_rule(Name=jobs_env["PUSH_RULE_NAME"])["State"]
    assert entry["after"] == {"enabled": state == "ENABLED"} == {"enabled": True}
