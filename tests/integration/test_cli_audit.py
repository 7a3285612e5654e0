"""``orcid-sync audit`` against the admin API handler in-process (moto): what the CLI's own changes recorded."""

from __future__ import annotations

import csv
import io
import json

import pytest

from orcid_sync_cli.audit_cmd import change_text
from tests.integration.test_cli_jobs import cli_api, run_cli  # noqa: F401 - cli_api: the fixture, used below
from tests.support.apigw import CALLER_ARN


@pytest.mark.usefixtures("cli_api")
def test_audit_lists_the_clis_changes_newest_first_as_a_table_json_and_csv() -> None:
    assert run_cli("jobs", "activate", "push").exit_code == 0
    assert run_cli("jobs", "deactivate", "push").exit_code == 0

    table = run_cli("audit")
    assert table.exit_code == 0, table.output
    assert table.output.index("schedule.deactivate") < table.output.index("schedule.activate")
    assert "enabled: false → true" in table.output and "enabled: true → false" in table.output
    assert CALLER_ARN in table.output

    page = json.loads(run_cli("audit", "-o", "json").output)
    assert [e["action"] for e in page["entries"]] == ["schedule.deactivate", "schedule.activate"]
    assert page["next_cursor"] is None

    rows = list(csv.DictReader(io.StringIO(run_cli("audit", "-o", "csv").output)))
    assert [(r["action"], r["target"], r["after"]) for r in rows] == [
        ("schedule.deactivate", "push", '{"enabled": false}'),
        ("schedule.activate", "push", '{"enabled": true}'),
    ]


@pytest.mark.usefixtures("cli_api")
def test_audit_filters_and_pages() -> None:
    for command in ("activate", "deactivate", "activate"):
        assert run_cli("jobs", command, "pull").exit_code == 0
    only = json.loads(run_cli("audit", "--action", "schedule.activate", "-o", "json").output)
    assert [e["action"] for e in only["entries"]] == ["schedule.activate"] * 2
    first = run_cli("audit", "--limit", "2")
    assert "More: orcid-sync audit --cursor " in first.output
    cursor = first.output.split("--cursor ")[1].split()[0]
    rest = json.loads(run_cli("audit", "--limit", "2", "--cursor", cursor, "-o", "json").output)
    assert [e["action"] for e in rest["entries"]] == ["schedule.activate"]
    empty = run_cli("audit", "--actor", "nobody@example.edu")
    assert "No entry matches." in empty.output


def test_a_change_reads_field_by_field() -> None:
    assert change_text({"enabled": False}, {"enabled": True}) == "enabled: false → true"
    assert change_text(None, {"rows": 3, "format": "csv"}) == "format: csv\nrows: 3"
    assert change_text({"logo_url": "x"}, {}) == "logo_url: x → (none)"
    assert change_text(None, None) == "-"
