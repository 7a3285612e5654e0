"""What the CLI prints: tables readable at 80 columns and in a pipe, stable JSON, CSV, no forced colour."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from orcid_sync_cli.main import cli

API = "https://admin.orcid-sync.test"
JOB_ID = "push-20261121T020000Z-1a2b3c4d"
PULL_ID = "pull-20261121T040000Z-9f8e7d6c"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|9[0-7]|38;)")


def job(job_id: str, **changes: Any) -> dict[str, Any]:
    counts = {"researchers_processed": 118, "researchers_updated": 40, "researchers_failed": 2, "works_created": 7}
    return {
        "job_id": job_id,
        "type": job_id.split("-")[0],
        "trigger": "schedule",
        "started_by": "schedule",
        "started_at": "2026-11-21T02:00:00+00:00",
        "ended_at": "2026-11-21T03:04:05+00:00",
        "state": "completed_with_errors",
        "dry_run": False,
        "options": {},
        "counts": counts,
        "expected": 120,
        "csv_uri": None,
        "csv_rows": None,
        "report": None,
    } | changes


PULL = job(
    PULL_ID,
    state="succeeded",
    csv_uri=f"s3://orcid-sync-data-123456789012-eu-west-1/pull/{PULL_ID}/orcid-works.csv",
    csv_rows=42,
)
PAGE = {"items": [job(JOB_ID), job(JOB_ID.replace("1a2b", "0000"), dry_run=True, trigger="manual"), PULL]}
EVENTS = {
    "items": [
        {
            "level": "error",
            "researcher_id": "researcher-with-a-long-id-0001",
            "asset_id": "9912345678901234567",
            "action": "marked token revoked",
            "message": "ORCID refused the token: it was revoked by the researcher or expired long ago",
            "orcid_status": 401,
            "orcid_error_code": None,
            "at": "2026-11-21T02:00:05+00:00",
        }
    ],
    "next_cursor": "abc",
}
SCHEDULES = [
    {
        "type": "push",
        "rule_name": "orcid-sync-push",
        "enabled": True,
        "schedule": "cron(0 2 * * ? *)",
        "last_run": job(JOB_ID),
        "warning": None,
    },
    {
        "type": "pull",
        "rule_name": "orcid-sync-pull",
        "enabled": False,
        "schedule": "cron(0 4 * * ? *)",
        "last_run": None,
        "warning": None,
    },
]
WRONG_RECORD = "ORCID says the token belongs to a different ORCID record than the researcher's iD (error 9017)"
TOKENS = {
    "researchers_checked": 3,
    "rows": [
        {
            "researcher_id": "r-0001",
            "given_names": "Josiah Stinkney",
            "family_name": "Carberry",
            "orcid": "0000-0002-1825-0097",
            "orcid_status": "active",
            "problems": ["expiring", "missing_scope"],
            "reason": None,
            "missing_scopes": ["/read-limited"],
            "scopes": ["/activities/update"],
            "expires_at": "2027-01-01T00:00:00+00:00",
        },
        {
            "researcher_id": "r-0002",
            "given_names": "Grace",
            "family_name": "Hopper",
            "orcid": "0000-0002-1825-0097",
            "orcid_status": "token_invalid",
            "problems": ["token_invalid"],
            "reason": WRONG_RECORD,
            "missing_scopes": [],
            "scopes": ["/activities/update", "/person/update", "/read-limited"],
            "expires_at": "2045-01-01T00:00:00+00:00",
        },
    ],
}
RESEARCHER = {
    "id": "ada",
    "given_names": "Ada",
    "family_name": "Lovelace",
    "orcid": "0000-0002-1825-0097",
    "orcid_status": "active",
    "orcid_authenticated": True,
    "orcid_scopes": ["/read-limited", "/activities/update"],
    "connected_at": "2026-11-20T10:00:00+00:00",
    "last_sync_at": None,
    "profile_url": "https://repository.example.edu/esploro/profile/ada-lovelace-with-a-long-path",
}
SETTINGS = {"send_assets": True, "asset_types": {"include": ["all"], "exclude": []}, "organization": None, "version": 3}
ROUTES: dict[str, Any] = {
    "/jobs": PAGE,
    f"/jobs/{PULL_ID}": PULL,
    f"/jobs/{JOB_ID}/events": EVENTS,
    "/jobs/schedules": SCHEDULES,
    "/reports/tokens": TOKENS,
    "/researchers/ada": RESEARCHER,
    "/settings": SETTINGS,
    "/settings/mapping": [
        {"asset_type": "publication.letter", "work_type": "journal-article", "overridden": True, "selected": False}
    ],
}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    """An admin API answering the routes above, and an AWS identity to sign with."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("ORCID_SYNC_API_URL", API)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for path, body in ROUTES.items():
            mock.get(f"{API}{path}", json=body)
        yield mock


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def assert_fits(text: str, width: int = 80) -> None:
    for line in text.splitlines():
        # Only a word that cannot fit anyway (a URL) may go past the edge, whole
        assert len(line) <= width or len(line.split()[-1]) > width // 2, f"{len(line)} columns: {line!r}"
        assert line == line.rstrip(), f"trailing blanks: {line!r}"
    assert "…" not in text


TABLES = [
    ("jobs", "list"),
    ("jobs", "show", PULL_ID),
    ("jobs", "events", JOB_ID),
    ("jobs", "status"),
    ("report", "tokens"),
    ("researchers", "show", "ada"),
    ("settings", "show", "--output", "table"),
    ("mapping", "--output", "table"),
]


@pytest.mark.parametrize("args", TABLES, ids=" ".join)
def test_tables_fit_80_columns_in_a_pipe_without_cut_headers(
    api: responses.RequestsMock, args: tuple[str, ...]
) -> None:
    # When a table is printed to a pipe 80 columns wide (CliRunner's stdout is not a terminal)
    result = run(*args)
    # Then it fits, nothing is cut to "…", no escape codes are written, and every header is whole
    assert result.exit_code == 0, result.output
    assert_fits(result.stdout)
    assert not ANSI.search(result.stdout)
    header = next(line for line in result.stdout.splitlines()[1:] if line.strip())
    assert "  " in header or args[:2] in (("jobs", "show"), ("researchers", "show"))  # columns, none blank


def test_jobs_list_at_80_columns_keeps_whole_ids_and_headers(api: responses.RequestsMock) -> None:
    lines = run("jobs", "list").stdout.splitlines()
    header = lines[1].split()
    assert header[:2] == ["Job", "Type"] and {"State", "Processed", "Failed"} <= set(header)
    for job_id in (JOB_ID, PULL_ID):
        assert any(line.startswith(job_id + " ") for line in lines), f"{job_id} not whole on one line"
    first_row = lines[3:6]  # the state wraps at its spaces, in its own column
    state = lines[1].index("State")
    assert [line[state:].split()[0] for line in first_row] == ["completed", "with", "errors"]
    # A wide terminal shows the columns left out at 80
    wide = run("jobs", "list", env={"COLUMNS": "160"}).stdout
    assert "Trigger" in wide and "Started (UTC)" in wide and "2026-11-21 02:00" in wide
    assert_fits(wide, 160)


def test_a_shown_object_keeps_labels_and_urls_whole(api: responses.RequestsMock) -> None:
    lines = run("researchers", "show", "ada").stdout.splitlines()
    labels = {line.split("   ")[0] for line in lines[1:] if line and not line.startswith(" ")}
    assert {"Authenticated", "Updates ORCID profile", "Profile", "Scopes"} <= labels
    assert any(line.endswith(" " + RESEARCHER["profile_url"]) for line in lines)


def test_events_keep_ids_whole_and_wrap_the_message(api: responses.RequestsMock) -> None:
    result = run("jobs", "events", JOB_ID)
    assert "researcher-with-a-long-id-0001" in result.stdout
    assert "(ORCID 401)" in " ".join(result.stdout.split())
    assert f"More: orcid-sync jobs events {JOB_ID} --cursor abc" in result.stderr


def test_jobs_show_names_the_download_command_not_the_s3_uri(api: responses.RequestsMock) -> None:
    table = run("jobs", "show", PULL_ID).stdout
    assert "s3://" not in table
    assert f"42 rows: orcid-sync pull download {PULL_ID}" in " ".join(table.split())
    shown = json.loads(run("jobs", "show", PULL_ID, "--output", "json").stdout)
    assert shown == PULL


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("jobs", "list"), PAGE),
        (("jobs", "show", PULL_ID), PULL),
        (("jobs", "events", JOB_ID), EVENTS),
        (("jobs", "status"), SCHEDULES),
        (("report", "tokens"), TOKENS),
        (("researchers", "show", "ada"), RESEARCHER),
        (("settings", "show"), SETTINGS),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_json_is_the_apis_document(api: responses.RequestsMock, args: tuple[str, ...], expected: Any) -> None:
    result = run(*args, "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected
    # the global option before the command says the same
    assert json.loads(run("--output", "json", *args).stdout) == expected


def test_csv_of_a_listing_has_a_row_per_item_and_of_an_object_a_row_per_field(api: responses.RequestsMock) -> None:
    rows = list(csv.DictReader(io.StringIO(run("jobs", "list", "--output", "csv").stdout)))
    assert [row["job_id"] for row in rows] == [item["job_id"] for item in PAGE["items"]]
    assert rows[1]["dry_run"] == "true" and rows[0]["researchers_failed"] == "2"
    fields = dict(csv.reader(io.StringIO(run("researchers", "show", "ada", "-o", "csv").stdout)))
    assert fields["field"] == "value"
    assert fields["orcid_scopes"] == '["/read-limited", "/activities/update"]'
    assert fields["last_sync_at"] == ""
    settings = dict(csv.reader(io.StringIO(run("settings", "show", "-o", "csv").stdout)))
    assert settings["asset_types.include"] == '["all"]' and settings["send_assets"] == "true"
    statuses = list(csv.DictReader(io.StringIO(run("jobs", "status", "-o", "csv").stdout)))
    assert [(s["type"], s["enabled"], s["last_job_id"]) for s in statuses] == [
        ("push", "true", JOB_ID),
        ("pull", "false", ""),
    ]


def test_hints_go_to_stderr_so_stdout_is_only_data(api: responses.RequestsMock) -> None:
    api.get(f"{API}/jobs", json={"items": [], "next_cursor": "next-page"})
    result = run("jobs", "list", "-o", "json")
    assert json.loads(result.stdout) == PAGE  # the first registered answer
    empty = run("jobs", "list")
    assert "No job runs yet." in empty.stderr and "No job runs yet." not in empty.stdout
    assert "More: orcid-sync jobs list --cursor next-page" in empty.stderr


def test_no_color_is_honoured_even_when_colour_is_forced(api: responses.RequestsMock) -> None:
    # Given a terminal that forces colour (FORCE_COLOR): states are coloured
    coloured = run("jobs", "list", env={"FORCE_COLOR": "1"}).stdout
    assert COLOUR.search(coloured)
    # When NO_COLOR is set as well, no colour is written (bold headers may stay)
    plain = run("jobs", "list", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert not COLOUR.search(plain)
    assert JOB_ID in ANSI.sub("", plain)


def test_mapping_without_a_stack_is_the_default_table_in_every_format() -> None:
    as_csv = list(csv.DictReader(io.StringIO(run("mapping").stdout)))
    as_json = json.loads(run("mapping", "--output", "json").stdout)
    assert [(r["esploro_asset_type"], r["orcid_work_type"]) for r in as_csv] == [
        (r["asset_type"], r["work_type"]) for r in as_json
    ]
    table = run("mapping", "--output", "table", env={"COLUMNS": "80"}).stdout
    assert "etdexternal.doctoral_external" in table and "dissertation-thesis" in table
    assert_fits(table)


def test_report_tokens_at_80_columns_keeps_orcids_reason_and_hints_a_new_link(api: responses.RequestsMock) -> None:
    result = run("report", "tokens")
    header = result.stdout.splitlines()[1].split()
    assert {"Researcher", "ORCID", "Problems", "Reason"} <= set(header)  # what matters stays; Status goes first
    assert "Status" not in header
    lines = result.stdout.splitlines()
    reason, row = lines[1].index("Reason"), next(n for n, line in enumerate(lines) if line.startswith("r-0002 "))
    assert " ".join(line[reason:].strip() for line in lines[row:]) == WRONG_RECORD  # the Reason column, whole
    assert_fits(result.stdout)
    # Only the refused token gets the hint, on stderr
    assert "orcid-sync connect-link r-0002" in result.stderr and "r-0001" not in result.stderr
    assert "connect-link" not in result.stdout
    # A wide terminal has every column
    wide = run("report", "tokens", env={"COLUMNS": "160"}).stdout.splitlines()[1].split()
    assert wide == ["Researcher", "Name", "ORCID", "iD", "Status", "Problems", "Reason", "Expires"]


def test_report_tokens_without_a_reason_has_no_reason_column(api: responses.RequestsMock) -> None:
    api.replace(responses.GET, f"{API}/reports/tokens", json={"researchers_checked": 3, "rows": TOKENS["rows"][:1]})
    result = run("report", "tokens")
    header = result.stdout.splitlines()[1].split()
    assert "Reason" not in header and {"Researcher", "Name", "ORCID", "Problems"} <= set(header)
    assert "connect-link" not in result.stderr
    assert_fits(result.stdout)


@pytest.mark.parametrize(
    ("status", "meaning"),
    [("token_invalid", "belongs to another ORCID record"), ("revoked", "revoked, expired or never valid")],
)
def test_researchers_show_explains_a_refused_token(api: responses.RequestsMock, status: str, meaning: str) -> None:
    api.replace(responses.GET, f"{API}/researchers/ada", json=RESEARCHER | {"orcid_status": status})
    result = run("researchers", "show", "ada")
    assert f"{status}: " in result.stdout and meaning in " ".join(result.stdout.split())
    assert "Send a new connect link: orcid-sync connect-link ada" in result.stderr
    assert "connect-link" not in run("researchers", "show", "ada", "-o", "json").stderr
