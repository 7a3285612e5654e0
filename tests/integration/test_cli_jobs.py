"""``orcid-sync jobs …`` and ``orcid-sync report tokens`` against the admin API handler in-process (moto)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import responses
from click.testing import CliRunner, Result

from orcid_sync import composition
from orcid_sync.domain.jobs.models import Job, JobCounts, JobEvent, JobState, JobTrigger, JobType, ResearcherOutcome
from orcid_sync.domain.jobs.runs import complete_researcher
from orcid_sync.domain.jobs.schedules import SEND_ASSETS_OFF_WARNING
from orcid_sync.domain.models import OrcidStatus, ResearcherInput
from orcid_sync_cli import jobs_cmd as jobs_cli
from orcid_sync_cli.main import cli
from tests.integration.test_jobs_api import create_job_resources
from tests.support.apigw import http_event, lambda_context
from tests.support.aws import AwsEnv

API_URL = "https://api.orcid-sync.test"


@pytest.fixture
def cli_api(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The job resources in moto, and the CLI's signed requests routed to the admin API handler."""
    env = create_job_resources(monkeypatch)
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables to the terminal width

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
        return answer["statusCode"], {"Content-Type": answer["headers"]["Content-Type"]}, body

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in (responses.GET, responses.POST, responses.PUT):
            mock.add_callback(method, re.compile(f"{API_URL}/.*"), callback=handle)
        yield env
    composition.reset()


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api", API_URL], catch_exceptions=False)


class NullNotifier:
    def job_finished(self, job: Job, first_errors: object) -> None:
        """The CLI tests are about the CLI; notifications have their own tests."""


def _researchers(*ids: str) -> None:
    for rid in ids:
        composition.researcher_store().upsert_profile(
            ResearcherInput(id=rid, given_names="Josiah", family_name="Carberry")
        )


def _control_messages(env: dict[str, str]) -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(QueueUrl=env["JOB_CONTROL_QUEUE_URL"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_run_requests_a_job_for_some_researchers(cli_api: dict[str, str]) -> None:
    _researchers("r1", "r2")
    result = run_cli("jobs", "run", "push", "--researchers", "r1,r2", "--researchers", "r1", "--dry-run")
    assert result.exit_code == 0, result.output
    [message] = _control_messages(cli_api)
    job = composition.job_store().get(message["job_id"])
    assert job is not None
    assert (job.type, job.dry_run, job.options) == (JobType.PUSH, True, {"researcher_ids": ["r1", "r2"]})
    assert f"Started push job {job.job_id} (dry run)" in result.output
    assert f"orcid-sync jobs show {job.job_id}" in result.output


def test_run_explains_a_refusal(cli_api: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["jobs", "run", "pull", "--researchers", "ghost", "--api", API_URL])
    assert result.exit_code == 1
    assert "HTTP 400" in result.output and "no researcher with id 'ghost'" in result.output
    assert run_cli_error("jobs", "run", "pull", "--resend-deleted").exit_code == 2


def run_cli_error(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api", API_URL])


def test_run_wait_follows_the_run_to_its_end(cli_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a pull run whose researchers are processed while the CLI polls
    _researchers("r1", "r2")
    store = composition.job_store()
    polls: list[int] = []

    def progress(seconds: float) -> None:
        job_id = store.list(limit=1).items[0].job_id
        if not polls:
            store.set_expected(job_id, 2)  # what the scheduler does
        else:
            complete_researcher(
                store,
                job_id,
                ResearcherOutcome(researcher_id=f"r{len(polls)}", counts=JobCounts(rows_pulled=3), updated=True),
                finishers={},
                notifier=NullNotifier(),
                now=datetime.now(UTC),
            )
        polls.append(len(polls))

    monkeypatch.setattr(jobs_cli, "sleep", progress)
    # When the administrator runs it and waits
    result = run_cli("jobs", "run", "pull", "--wait", "--interval", "0")
    # Then the CLI polled until the end and printed the summary
    assert result.exit_code == 0, result.output
    assert len(polls) == 3
    assert "succeeded" in result.output
    assert "Rows pulled" in result.output and "6" in result.output


def test_run_wait_exits_non_zero_when_the_run_fails(cli_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    store = composition.job_store()

    def fail(seconds: float) -> None:
        job_id = store.list(limit=1).items[0].job_id
        assert store.claim_finish(job_id)
        store.finish(job_id, JobState.FAILED, ended_at=datetime.now(UTC), report={"error": "RuntimeError: boom"})

    monkeypatch.setattr(jobs_cli, "sleep", fail)
    result = CliRunner().invoke(cli, ["jobs", "run", "push", "--wait", "--interval", "0", "--api", API_URL])
    assert result.exit_code == 1
    assert "RuntimeError: boom" in result.output


def _finished_pull() -> Job:
    store = composition.job_store()
    started = datetime(2026, 11, 21, 4, tzinfo=UTC)
    job = Job(
        job_id="pull-20261121-abc",
        type=JobType.PULL,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        started_at=started,
    )
    store.create(job)
    store.set_expected(job.job_id, 1)
    store.record_outcome(
        job.job_id, ResearcherOutcome(researcher_id="r1", counts=JobCounts(rows_pulled=12), updated=True)
    )
    store.add_events(
        job.job_id,
        [
            JobEvent(researcher_id="r1", level="warning", action="skipped work", message="no DOI or PMID", at=started),
            JobEvent(
                researcher_id="r1",
                level="error",
                action="skipped work",
                message="ORCID 500",
                orcid_status=500,
                at=started,
            ),
        ],
    )
    return store.finish(
        job.job_id,
        JobState.COMPLETED_WITH_ERRORS,
        ended_at=started + timedelta(minutes=3, seconds=7),
        csv_uri="s3://orcid-sync-data/pulls/pull-20261121-abc.csv",
        csv_rows=12,
    )


def test_list_show_and_events(cli_api: dict[str, str]) -> None:
    _finished_pull()
    listed = run_cli("jobs", "list")
    assert listed.exit_code == 0, listed.output
    assert "pull-20261121-abc" in listed.output and "completed with errors" in listed.output
    shown = run_cli("jobs", "show", "pull-20261121-abc")
    assert shown.exit_code == 0, shown.output
    # The table says how to get the CSV; its S3 URI is in the JSON (a script's business, not a person's)
    assert "12 rows: orcid-sync pull download pull-20261121-abc" in shown.stdout
    assert "s3://" not in shown.stdout
    assert "3m 07s" in shown.stdout
    assert "orcid-sync jobs events pull-20261121-abc" in shown.stderr
    as_json = json.loads(run_cli("jobs", "show", "pull-20261121-abc", "--output", "json").stdout)
    assert as_json["csv_uri"] == "s3://orcid-sync-data/pulls/pull-20261121-abc.csv" and as_json["csv_rows"] == 12
    listed_events = run_cli("jobs", "events", "pull-20261121-abc")
    assert listed_events.exit_code == 0
    assert listed_events.output.index("ORCID 500") < listed_events.output.index("no DOI or PMID")  # errors first
    as_csv = run_cli("jobs", "events", "pull-20261121-abc", "--csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [(r["level"], r["message"]) for r in rows] == [("error", "ORCID 500"), ("warning", "no DOI or PMID")]
    missing = CliRunner().invoke(cli, ["jobs", "show", "nope", "--api", API_URL])
    assert missing.exit_code == 1 and "HTTP 404" in missing.output


def test_activate_warns_about_send_assets_and_status_shows_the_schedules(cli_api: dict[str, str]) -> None:
    _finished_pull()
    activated = CliRunner().invoke(cli, ["jobs", "activate", "push", "--api", API_URL])
    assert activated.exit_code == 0
    assert "The daily push job is active (cron(0 2 * * ? *), UTC)." in activated.stdout
    assert SEND_ASSETS_OFF_WARNING in activated.stderr
    assert boto3.client("events").describe_rule(Name=cli_api["PUSH_RULE_NAME"])["State"] == "ENABLED"
    status = CliRunner().invoke(cli, ["jobs", "status", "--api", API_URL])
    assert status.exit_code == 0
    [push_line] = [line for line in status.stdout.splitlines() if line.startswith("push ")]
    [pull_line] = [line for line in status.stdout.splitlines() if line.startswith("pull ")]
    assert "yes" in push_line and "cron(0 2 * * ? *)" in push_line
    assert "pull-20261121-abc" in pull_line and "no" in pull_line
    deactivated = run_cli("jobs", "deactivate", "push")
    assert deactivated.exit_code == 0
    assert boto3.client("events").describe_rule(Name=cli_api["PUSH_RULE_NAME"])["State"] == "DISABLED"


def test_report_tokens_as_table_and_csv(cli_api: dict[str, str]) -> None:
    _researchers("r1", "r2")
    composition.researcher_store().set_status("r1", OrcidStatus.REVOKED)
    table = run_cli("report", "tokens")
    assert table.exit_code == 0, table.output
    assert "Tokens needing attention (1 of 2 researchers)" in table.output
    assert "r1" in table.output and "revoked" in table.output
    as_csv = run_cli("report", "tokens", "--csv")
    assert [r["researcher_id"] for r in csv.DictReader(io.StringIO(as_csv.output))] == ["r1"]


def test_report_tokens_gives_orcids_reason_and_suggests_a_new_link(cli_api: dict[str, str]) -> None:
    # Given one researcher whose token ORCID said belongs to another record, one whose token it refused, one healthy
    _researchers("r1", "r2", "r3")
    composition.researcher_store().set_status("r1", OrcidStatus.TOKEN_INVALID)
    composition.researcher_store().set_status("r2", OrcidStatus.REVOKED)
    # When the report is printed as a table
    table = run_cli("report", "tokens")
    # Then each row says the problem and ORCID's reason, and stderr says how to mend both
    assert table.exit_code == 0, table.output
    words = " ".join(table.stdout.split())
    assert "Reason" in table.stdout.splitlines()[1]
    assert "token invalid" in words and "different ORCID record" in words and "(error 9017)" in words
    assert "(invalid_token)" in words
    assert "orcid-sync connect-link r1" in table.stderr and "orcid-sync connect-link r2" in table.stderr
    assert "connect-link" not in table.stdout and "r3" not in table.stderr
    # And the CSV has the reason after the problems
    rows = list(csv.DictReader(io.StringIO(run_cli("report", "tokens", "--output", "csv").stdout)))
    assert list(rows[0])[6:8] == ["problems", "reason"]
    assert {r["researcher_id"]: (r["problems"], "9017" in r["reason"]) for r in rows} == {
        "r1": ("token_invalid", True),
        "r2": ("revoked", False),
    }
    # And the JSON is the API's, reason included
    shown = json.loads(run_cli("report", "tokens", "--output", "json").stdout)
    assert [(r["researcher_id"], r["problems"], bool(r["reason"])) for r in shown["rows"]] == [
        ("r1", ["token_invalid"], True),
        ("r2", ["revoked"], True),
    ]
