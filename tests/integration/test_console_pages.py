"""The console's pages through the console handler, in-process against moto (tables, queues, rules, bucket).

A session cookie is minted with the console's own session code (what the callback issues after Cognito): the
sign-in itself is tested on the local stack (tests/stack/test_console_sign_in.py). Every page renders for an admin
and a viewer; every POST is refused for a viewer and without the CSRF token; the toggle flips the EventBridge rule;
a dry run starts for two researchers; settings problems show next to their fields and the preview comes before
saving; a token file with a bad row shows that row's error. Every change is in the audit log.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from orcid_sync import composition
from orcid_sync.domain.console.session import Role, csrf_token, issue_session, session_cookie_value
from orcid_sync.domain.console.sign_in import LoginSite
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import Job, JobCounts, JobEvent, JobState, JobTrigger, JobType
from orcid_sync.domain.models import OrcidStatus, ResearcherInput, utc_now
from tests.integration.test_jobs_api import create_job_resources
from tests.support.apigw import http_event, lambda_context
from tests.support.aws import AwsEnv, template_resources

ADMIN = "admin@example.edu"
VIEWER = "viewer@example.edu"
EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def console(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    # The managed login's address comes from an SSM parameter the stack provisions; this tier has no pool.
    monkeypatch.setattr(
        composition, "console_login_site", lambda: LoginSite("https://login.example.edu", "console-client")
    )
    env = create_job_resources(monkeypatch)
    if "REMIND_RULE_NAME" not in env:  # the invitation reminders' schedule (issue 19), as the template has it
        props = template_resources()["RemindRule"]["Properties"]
        name = "orcid-sync-remind-schedule"
        boto3.client("events").put_rule(Name=name, ScheduleExpression=props["ScheduleExpression"], State=props["State"])
        env["REMIND_RULE_NAME"] = name
        monkeypatch.setenv("REMIND_RULE_NAME", name)
    sqs = boto3.client("sqs")
    dead_letters = {
        role: sqs.create_queue(QueueName=f"{role}-dlq")["QueueUrl"] for role in ("push", "pull", "job-control", "feed")
    }
    env["dead_letters"] = json.dumps(dead_letters)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URLS", ",".join(f"{role}={url}" for role, url in dead_letters.items()))
    composition.reset()
    store = composition.researcher_store()
    for rid, given, family in (("r1", "Ada", "Lovelace"), ("r2", "Alan", "Turing"), ("r3", "Grace", "Hopper")):
        store.upsert_profile(ResearcherInput(id=rid, given_names=given, family_name=family))
    store.set_status("r3", OrcidStatus.REVOKED)
    yield env
    composition.reset()


class Browser:
    """One signed-in person: their cookie, and their CSRF token as the pages embed it."""

    def __init__(self, email: str, role: Role) -> None:
        self.user = issue_session(subject=uuid.uuid4().hex, email=email, role=role, now=utc_now())
        self.cookie = session_cookie_value(composition.link_signer(), self.user)
        self.csrf = csrf_token(composition.link_signer(), self.user)

    def call(self, method: str, path: str, *, form: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        from functions.console import app

        headers = {"accept": "text/html", **kwargs.pop("headers", {})}
        body = kwargs.pop("body", None)
        if form is not None:
            body = urlencode(form)
            headers["content-type"] = "application/x-www-form-urlencoded"
        event = http_event(method, path, body=body, headers=headers, **kwargs)
        del event["requestContext"]["authorizer"]  # the console's routes are Auth NONE: no IAM identity
        event["cookies"] = [f"orcid_sync_console={self.cookie}"]
        answer: dict[str, Any] = app.lambda_handler(event, lambda_context())
        if answer.get("isBase64Encoded"):
            answer["body"] = base64.b64decode(answer["body"]).decode()
        return answer

    def get(self, path: str, **query: str) -> dict[str, Any]:
        return self.call("GET", path, query=query or None)

    def post(self, path: str, form: dict[str, str] | None = None, *, csrf: bool = True) -> dict[str, Any]:
        return self.call("POST", path, form={**({"csrf": self.csrf} if csrf else {}), **(form or {})})


def text_of(answer: dict[str, Any]) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", answer["body"])))


def audit_actions() -> list[tuple[str, str, str]]:
    entries = composition.audit_log().recent(limit=50, cursor=None).entries
    return [(entry.actor, entry.action, entry.target) for entry in entries]


def _seed_runs() -> Job:
    jobs = composition.job_store()
    started = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    finished = Job(
        job_id="push-20250301-abc",
        type=JobType.PUSH,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        started_at=started,
        state=JobState.RUNNING,
    )
    jobs.create(finished)
    jobs.add_events(
        finished.job_id,
        [JobEvent(researcher_id="r2", level="error", action="skipped", message="ORCID said no", at=started)],
    )
    counts = JobCounts(researchers_processed=3, researchers_failed=1, works_created=4, works_unchanged=6)
    return jobs.finish(
        finished.job_id, JobState.COMPLETED_WITH_ERRORS, ended_at=started + timedelta(minutes=3), counts=counts
    )


# --- every page, both roles ----------------------------------------------------------------------


PAGES = (
    "/console",
    "/console/jobs",
    "/console/jobs/push-20250301-abc",
    "/console/jobs/push-20250301-abc/progress",
    "/console/researchers",
    "/console/researchers/r1",
    "/console/researchers/r1/disconnect",
    "/console/researchers/attention",
    "/console/settings",
    "/console/tokens",
    "/console/about",
)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_every_page_renders_for_both_roles_and_only_an_admin_gets_forms(console: dict[str, str], role: Role) -> None:
    _seed_runs()
    browser = Browser(ADMIN if role is Role.ADMIN else VIEWER, role)
    for path in PAGES:
        answer = browser.get(path)
        assert answer["statusCode"] == 200, (path, answer["body"][:2000])
        assert answer["headers"]["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in answer["headers"]["Content-Security-Policy"]
        forms = re.findall(r'<form method="post" action="([^"]+)"', answer["body"])
        changing = [action for action in forms if action != "/console/signout"]
        if role is Role.VIEWER:
            assert changing == [], (path, changing)
    dashboard = text_of(browser.get("/console"))
    assert "Researchers by ORCID status" in dashboard and "Needs attention" in dashboard
    assert "1 researchers must connect again" in dashboard  # r3, revoked
    assert "10 works on 3 ORCID records" in dashboard  # the last full push: 4 created + 6 unchanged
    assert "ORCID said no" in dashboard  # the failed researcher of the last push


def test_pages_in_spanish(console: dict[str, str]) -> None:
    browser = Browser(ADMIN, Role.ADMIN)
    answer = browser.get("/console", lang="es")
    assert 'lang="es"' in answer["body"]
    assert "Investigadores por estado en ORCID" in text_of(answer)


def test_signed_out_pages_redirect_to_sign_in(console: dict[str, str]) -> None:
    from functions.console import app

    for path in PAGES:
        event = http_event("GET", path, headers={"accept": "text/html"})
        del event["requestContext"]["authorizer"]
        answer = app.lambda_handler(event, lambda_context())
        assert answer["statusCode"] == 303, path
        assert answer["headers"]["Location"].startswith("/console/signin?next=")


# --- every change: refused for a viewer and without CSRF ------------------------------------------------------


POSTS = (
    ("/console/schedules/push", {"enabled": "true"}),
    ("/console/jobs", {"type": "push", "dry_run": "true"}),
    ("/console/researchers/r1/connect-link", {}),
    ("/console/researchers/r1/disconnect", {}),
    ("/console/researchers/r1/push", {}),
    ("/console/settings/preview", {"send_assets": "on"}),
    ("/console/settings", {"confirm": "save", "send_assets": "on"}),
)


def test_every_change_is_refused_for_a_viewer_and_without_the_csrf_token(console: dict[str, str]) -> None:
    viewer, admin = Browser(VIEWER, Role.VIEWER), Browser(ADMIN, Role.ADMIN)
    for path, form in POSTS:
        refused = viewer.post(path, form)
        assert refused["statusCode"] == 403, path
        assert "cannot change anything" in text_of(refused)
        forged = admin.post(path, form, csrf=False)
        assert forged["statusCode"] == 403, path
        wrong = admin.call("POST", path, form={**form, "csrf": viewer.csrf})  # another session's token
        assert wrong["statusCode"] == 403, path
    upload = viewer.call("POST", "/console/tokens", **_multipart(viewer.csrf, "x.csv", b"orcid\n"))
    assert upload["statusCode"] == 403
    assert boto3.client("events").describe_rule(Name=console["PUSH_RULE_NAME"])["State"] == "DISABLED"
    assert composition.job_store().list(limit=10).items == []
    assert audit_actions() == []


# --- the dashboard's toggle ------------------------------------------------------------------------------------


def test_the_toggle_flips_the_eventbridge_rule_and_is_audited(console: dict[str, str]) -> None:
    admin = Browser(ADMIN, Role.ADMIN)
    events = boto3.client("events")
    assert events.describe_rule(Name=console["PUSH_RULE_NAME"])["State"] == "DISABLED"
    answer = admin.post("/console/schedules/push", {"enabled": "true"})
    assert answer["statusCode"] == 303
    # send_assets is off by default: activated, with the warning as the notice
    assert answer["headers"]["Location"] == "/console?notice=schedule_activated_send_assets_off"
    assert events.describe_rule(Name=console["PUSH_RULE_NAME"])["State"] == "ENABLED"
    page = text_of(admin.get("/console", notice="schedule_activated_send_assets_off"))
    assert "it will run without sending any works" in page
    assert "Deactivate Push" in page
    assert admin.post("/console/schedules/push", {"enabled": "false"})["statusCode"] == 303
    assert events.describe_rule(Name=console["PUSH_RULE_NAME"])["State"] == "DISABLED"
    entries = composition.audit_log().recent(limit=10, cursor=None).entries
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("schedule.deactivate", {"enabled": True}, {"enabled": False}),
        ("schedule.activate", {"enabled": False}, {"enabled": True}),
    ]
    assert {e.actor for e in entries} == {ADMIN} and {e.actor_kind for e in entries} == {"console"}
    assert admin.post("/console/schedules/upload", {"enabled": "true"})["statusCode"] == 400


# --- jobs --------------------------------------------------------------------------------------------------------


def test_run_now_starts_a_dry_run_for_two_researchers(console: dict[str, str]) -> None:
    admin = Browser(ADMIN, Role.ADMIN)
    answer = admin.post("/console/jobs", {"type": "push", "researchers": "r1, r2", "dry_run": "true"})
    assert answer["statusCode"] == 303
    job_id = answer["headers"]["Location"].split("/console/jobs/")[1].split("?")[0]
    job = composition.job_store().get(job_id)
    assert job is not None and job.dry_run and job.options["researcher_ids"] == ["r1", "r2"]
    assert job.started_by == ADMIN and job.trigger is JobTrigger.MANUAL
    sqs = boto3.client("sqs")
    sent = sqs.receive_message(QueueUrl=console["JOB_CONTROL_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["job_id"] for m in sent] == [job_id]
    page = admin.get(f"/console/jobs/{job_id}")
    assert 'hx-trigger="every 3s"' in page["body"]  # running: the progress refreshes itself
    assert f'href="/console/jobs/{job_id}"' in page["body"]  # and a plain reload link without JS
    assert ("admin@example.edu", "job.start", job_id) in audit_actions()
    # An unknown researcher: the form comes back with the reason, nothing starts
    refused = admin.post("/console/jobs", {"type": "push", "researchers": "r1 nobody"})
    assert refused["statusCode"] == 400
    assert "no researcher with id 'nobody'" in text_of(refused)
    assert len(composition.job_store().list(limit=10).items) == 1


def test_job_page_lists_errors_first_and_filters_by_level(console: dict[str, str]) -> None:
    job = _seed_runs()
    composition.job_store().add_events(
        job.job_id, [JobEvent(researcher_id="r1", level="info", action="pushed", message="fine", at=job.started_at)]
    )
    admin = Browser(ADMIN, Role.ADMIN)
    page = text_of(admin.get(f"/console/jobs/{job.job_id}"))
    assert page.index("ORCID said no") < page.index("fine")
    assert "3 min 0 s" in page
    only_info = text_of(admin.get(f"/console/jobs/{job.job_id}", level="info"))
    assert "fine" in only_info and "ORCID said no" not in only_info
    assert admin.get("/console/jobs/push-20250301-abc/csv")["statusCode"] == 404  # not a pull run
    assert admin.get("/console/jobs/nope")["statusCode"] == 404


# --- researchers -------------------------------------------------------------------------------------------------


def test_researcher_search_connect_link_and_push(console: dict[str, str]) -> None:
    admin = Browser(ADMIN, Role.ADMIN)
    found = text_of(admin.get("/console/researchers", q="turing"))
    assert "Turing, Alan" in found and "Lovelace" not in found
    assert "Lovelace, Ada" in text_of(admin.get("/console/researchers", q="r1"))
    assert "Hopper" in text_of(admin.get("/console/researchers", status="revoked"))
    link = admin.post("/console/researchers/r1/connect-link")
    assert link["statusCode"] == 200
    url = re.search(r'id="connect-link" type="text" readonly value="([^"]+)"', link["body"])
    assert url is not None and unescape(url.group(1)).startswith("https://orcid-sync.example.edu/connect?link=")
    pushed = admin.post("/console/researchers/r1/push", {"dry_run": "true"})
    assert pushed["statusCode"] == 303
    actions = [action for _, action, target in audit_actions() if target == "r1"]
    assert actions == ["researcher.push", "researcher.connect_link"]
    # The audit entry of the link says when it expires, never the link itself
    entries = composition.audit_log().recent(limit=10, cursor=None).entries
    assert unescape(url.group(1)) not in json.dumps([e.model_dump(mode="json") for e in entries])


# --- settings ----------------------------------------------------------------------------------------------------


def test_settings_problems_are_shown_next_to_their_fields(console: dict[str, str]) -> None:
    admin = Browser(ADMIN, Role.ADMIN)
    answer = admin.post(
        "/console/settings/preview",
        {
            "version": "0",
            "send_affiliation": "on",
            "organization.name": "Example University",
            "organization.city": "London",
            "organization.country": "UK",
            "organization.identifier_type": "ROR",
            "organization.identifier": "not-a-ror",
            "accent_color": "#ffff00",
            "override.publication.journalArticle": "not-a-type",
        },
    )
    assert answer["statusCode"] == 400
    body = answer["body"]
    country = re.search(r'id="error-organization.country">([^<]+)<', body)
    assert country is not None and "the United Kingdom is GB" in unescape(country.group(1))
    assert re.search(r'id="error-organization.identifier">[^<]*not a ROR id', unescape(body))
    assert re.search(r'id="error-accent_color">[^<]*contrast ratio', body)
    assert re.search(r'id="error-type_overrides"[^>]*>[^<]*not-a-type', unescape(body))
    assert 'aria-invalid="true"' in body
    # What was typed is kept
    assert 'value="Example University"' in body
    assert IntegrationSettings() == composition.integration_settings_store().get().settings


def test_settings_preview_comes_before_saving_and_a_newer_save_is_a_conflict(console: dict[str, str]) -> None:
    admin = Browser(ADMIN, Role.ADMIN)
    form = {"version": "0", "send_assets": "on", "asset_types.exclude": "publication.letter"}
    preview = admin.post("/console/settings/preview", form)
    assert preview["statusCode"] == 200
    page = text_of(preview)
    assert "What the next push would do" in page and "send_assets" in page
    assert composition.integration_settings_store().get().version == 0  # nothing saved by the preview
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', preview["body"]))
    assert hidden["send_assets"] == "on" and hidden["asset_types.exclude"] == "publication.letter"
    hidden.pop("csrf")
    saved = admin.post("/console/settings", {**hidden, "confirm": "save"})
    assert saved["statusCode"] == 303 and saved["headers"]["Location"] == "/console/settings?notice=settings_saved"
    stored = composition.integration_settings_store().get()
    assert stored.version == 1 and stored.settings.send_assets and stored.updated_by == ADMIN
    entry = composition.audit_log().recent(limit=1, cursor=None).entries[0]
    assert entry.action == "settings.update"
    assert entry.before == {"version": 0, "send_assets": False, "asset_types": {"include": ["all"], "exclude": []}}
    assert entry.after is not None and entry.after["send_assets"] is True
    # The same form again (read at version 0) is refused: someone saved version 1 since
    conflict = admin.post("/console/settings", {**hidden, "confirm": "save"})
    assert conflict["statusCode"] == 409
    assert "changed since you read them" in text_of(conflict)
    assert composition.integration_settings_store().get().version == 1


def test_the_mapping_table_has_every_asset_type_with_its_override(console: dict[str, str]) -> None:
    from orcid_sync.domain.type_mapping import default_mapping

    admin = Browser(ADMIN, Role.ADMIN)
    page = admin.get("/console/settings")["body"]
    rows = re.findall(r'<input name="override\.([^"]+)"', page)
    assert len(rows) == len(default_mapping()) == 86


# --- token batches -----------------------------------------------------------------------------------------------


def _multipart(csrf: str, filename: str, content: bytes, **fields: str) -> dict[str, Any]:
    boundary = "----console-test-boundary"
    parts = [
        *(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in {"csrf": csrf, "format": "csv", **fields}.items()
        ),
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return {
        "body": b"".join(parts),
        "headers": {"content-type": f"multipart/form-data; boundary={boundary}"},
        "base64_body": True,
    }


def test_a_token_file_with_a_bad_row_shows_that_rows_error(console: dict[str, str]) -> None:
    from functions.token_import import app as token_import

    composition.researcher_store().upsert_profile(
        ResearcherInput(id="r9", given_names="Josiah", family_name="Carberry", orcid="0000-0002-1825-0097")
    )
    admin = Browser(ADMIN, Role.ADMIN)
    csv_file = (
        b"orcid,access_token,scope,expires_in\n"
        b"0000-0002-1825-0097,5d0c1a7e-acce-55ed-8a11-c0ffee000001,/read-limited /activities/update,631138518\n"
        b"0000-0002-1825-0098,5d0c1a7e-acce-55ed-8a11-c0ffee000002,/activities/update,631138518\n"
    )
    answer = admin.call("POST", "/console/tokens", **_multipart(admin.csrf, "tokens.csv", csv_file))
    assert answer["statusCode"] == 303, answer["body"][:2000]
    upload_id = answer["headers"]["Location"].split("/console/tokens/")[1].split("?")[0]
    assert "waiting to be imported" in text_of(admin.get(f"/console/tokens/{upload_id}"))
    # The bucket's notification runs the import as for a presigned upload (same key, same function)
    s3 = boto3.client("s3")
    key = f"uploads/{upload_id}.csv"
    assert s3.get_object(Bucket="orcid-sync-data", Key=key)["Body"].read() == csv_file
    event = json.loads((EVENTS / "token_import_s3.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = "orcid-sync-data"
    event["Records"][0]["s3"]["object"].update({"key": key, "versionId": None})
    token_import.lambda_handler(copy.deepcopy(event), lambda_context())
    page = admin.get(f"/console/tokens/{upload_id}")
    text = text_of(page)
    assert "done" in text
    row = re.search(r"<tr><th scope=\"row\">2</th>(.*?)</tr>", page["body"])
    assert row is not None and "check character" in unescape(row.group(1))
    assert "5d0c1a7e" not in page["body"]  # never a token
    rejected = admin.get(f"/console/tokens/{upload_id}/rejected.csv")
    assert rejected["statusCode"] == 200 and rejected["headers"]["Content-Type"].startswith("text/csv")
    lines = rejected["body"].splitlines()
    assert lines[0] == "row_number,researcher_id,orcid,field,reason" and lines[1].startswith("2,")
    assert "5d0c1a7e" not in rejected["body"]
    assert "Token upload" in text_of(admin.get("/console/tokens"))  # the batch in the list
    assert ("admin@example.edu", "tokens.upload", upload_id) in audit_actions()


# --- the dashboard stays cheap ---------------------------------------------------------------------------------


def test_the_dashboard_reads_the_same_number_of_times_for_10_or_300_researchers(
    console: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.client import BaseClient

    calls: list[str] = []
    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(f"{self.meta.service_model.service_name}:{operation}")
        return original(self, operation, params)

    _seed_runs()
    admin = Browser(ADMIN, Role.ADMIN)
    store = composition.researcher_store()

    def measure() -> list[str]:
        calls.clear()
        monkeypatch.setattr(BaseClient, "_make_api_call", counting)
        assert admin.get("/console")["statusCode"] == 200
        monkeypatch.setattr(BaseClient, "_make_api_call", original)
        return sorted(calls)

    small = measure()
    for number in range(300):
        store.upsert_profile(ResearcherInput(id=f"bulk{number}", given_names="Many", family_name=f"People {number}"))
    large = measure()
    assert small == large
    dynamodb = [call for call in large if call.startswith("dynamodb:")]
    assert len(dynamodb) <= 15, dynamodb
    assert not any(call.endswith((":Scan", ":BatchGetItem")) for call in large)
