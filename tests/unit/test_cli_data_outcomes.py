"""What ``tokens import`` and ``researchers|assets load`` write and print for the API's rejected rows and warnings.

A fake admin API answers with the documents the real one sends (row, row_number, orcid, researcher_id,
problems, warnings), including the ones a stack before issue 13 sent, so each rule is checked on its own.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from orcid_sync_cli import token_files
from orcid_sync_cli.main import cli

API = "https://admin.orcid-sync.test"
TOKEN = "4f1c1f7e-token-in-the-wrong-column"
NO_RESEARCHER = {"field": "orcid", "reason": "no researcher has ORCID iD 0000-0002-1825-0097"}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("ORCID_SYNC_API_URL", API)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def answer(api: responses.RequestsMock, path: str, body: dict[str, Any]) -> None:
    api.post(f"{API}{path}", json=body)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def rejected_token(row: int, **fields: Any) -> dict[str, Any]:
    return {"row": row, "outcome": "rejected", "problems": [{"row": row, **NO_RESEARCHER}], **fields}


# --- tokens import ----------------------------------------------------------------------------


def test_a_rejected_token_row_has_its_number_line_and_the_apis_id_and_researcher(
    api: responses.RequestsMock, tmp_path: Path
) -> None:
    # Given a JSON Lines file with a blank line; the API sends the iD of the first row (valid) and its researcher,
    # none for the second (its check character is wrong) nor the third (a token stands where the iD goes)
    rows = [
        {"orcid": "https://orcid.org/0000-0002-1825-0097", "access_token": "a", "researcher_id": "r1"},
        {"orcid": "0000-0002-1825-0098", "access_token": "b"},
        {"orcid": TOKEN, "access_token": "c"},
    ]
    path = tmp_path / "tokens.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n\n" + "".join(json.dumps(row) + "\n" for row in rows[1:]))
    answer(
        api,
        "/tokens",
        {
            "verified": False,
            "counts": {"received": 3, "stored": 0, "replaced": 0, "unchanged": 0, "rejected": 3, "without_pull": 0},
            "rows": [
                rejected_token(0, row_number=1, orcid="0000-0002-1825-0097", researcher_id="r1"),
                rejected_token(1, row_number=2),
                rejected_token(2, row_number=3),
            ],
        },
    )
    # When it is imported
    result = run("tokens", "import", str(path))
    # Then the rejected file numbers rows from 1, gives their lines, the API's iD (canonical), the file's only
    # where the API could not accept it, and never a value that is not an iD
    assert result.exit_code == 0, result.output
    rejected = path.with_name("tokens.jsonl.rejected.jsonl")
    assert lines_of(rejected) == [
        {
            "row_number": 1,
            "line": 1,
            "orcid": "0000-0002-1825-0097",
            "researcher_id": "r1",
            "problems": [NO_RESEARCHER],
        },
        {"row_number": 2, "line": 3, "orcid": "0000-0002-1825-0098", "problems": [NO_RESEARCHER]},
        {"row_number": 3, "line": 4, "problems": [NO_RESEARCHER]},
    ]
    assert TOKEN not in rejected.read_text() and TOKEN not in result.output


def test_a_stack_before_row_number_still_gets_rows_numbered_from_one(
    api: responses.RequestsMock, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(
        "orcid,access_token,scope,expires_in\n"
        "0000-0002-1825-0097,a,/activities/update,60\n"
        "0000-0002-1825-0097,b,/activities/update,60\n"
    )
    counts = {"received": 2, "stored": 1, "replaced": 0, "unchanged": 0, "rejected": 1, "without_pull": 0}
    stored = {"row": 0, "outcome": "stored", "orcid": "0000-0002-1825-0097", "researcher_id": "r1", "problems": []}
    answer(api, "/tokens", {"verified": False, "counts": counts, "rows": [stored, rejected_token(1)]})
    result = run("tokens", "import", str(path), "--fail-on-rejected")
    assert result.exit_code == 1
    [line] = lines_of(path.with_name("tokens.csv.rejected.jsonl"))
    assert (line["row_number"], line["line"], line["orcid"]) == (2, 3, "0000-0002-1825-0097")


def test_row_places_count_rows_as_the_stack_does(tmp_path: Path) -> None:
    # A CSV: blank lines are no rows, a quoted cell may span lines; JSON Lines end at \n only (a string may hold
    # U+2028, which str.splitlines() would break at); a JSON array has no lines
    path = tmp_path / "tokens.csv"
    path.write_text('orcid,access_token\n\n0000-0002-1825-0097,"a\nb"\n,\n' + f"{TOKEN},c\n")
    assert token_files.row_places(path) == [
        token_files.RowPlace(3, "0000-0002-1825-0097"),
        token_files.RowPlace(6, None),
    ]
    path = tmp_path / "tokens.jsonl"
    path.write_text('{"orcid": "0000-0002-1825-0097", "note": "a\u2028b"}\r\n\n["not an object"]\n')
    assert token_files.row_places(path) == [
        token_files.RowPlace(1, "0000-0002-1825-0097"),
        token_files.RowPlace(3, None),
    ]
    assert token_files.count_rows(path) == 2
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([{"orcid": "0000-0002-1825-0097"}, {"orcid": TOKEN}]))
    assert token_files.row_places(path) == [
        token_files.RowPlace(None, "0000-0002-1825-0097"),
        token_files.RowPlace(None, None),
    ]


# --- researchers and assets -------------------------------------------------------------------


def stored_with_warnings(row: int, rid: str, *fields: str) -> dict[str, Any]:
    warnings = [{"row": row, "field": field, "reason": f"{field} of {rid} looks odd"} for field in fields]
    return {"row": row, "id": rid, "outcome": "created", "problems": [], "warnings": warnings}


def test_a_load_shows_the_first_warnings_and_writes_them_all(api: responses.RequestsMock, tmp_path: Path) -> None:
    # Given a JSON array of five researchers, four of which the API stores with warnings (five in all)
    people = [{"id": f"r{n}", "given_names": "J", "family_name": "C"} for n in range(5)]
    path = tmp_path / "people.json"
    path.write_text(json.dumps(people))
    outcomes = [
        stored_with_warnings(0, "r0", "email", "orcid"),
        stored_with_warnings(1, "r1", "email"),
        {"row": 2, "id": "r2", "outcome": "updated", "problems": [], "warnings": []},
        stored_with_warnings(3, "r3", "email"),
        stored_with_warnings(4, "r4", "email") | {"outcome": "updated"},
    ]
    counts = {"received": 5, "created": 3, "updated": 2, "rejected": 0, "with_warnings": 4}
    answer(api, "/researchers", {"counts": counts, "rows": outcomes})
    # When they are loaded
    result = run("researchers", "load", str(path), "--fail-on-rejected")
    # Then the command succeeds, counts the rows with warnings, shows the first three by id, and says where all are
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "4 rows stored with warnings:",
        "  r0: email: email of r0 looks odd",
        "  r0: orcid: orcid of r0 looks odd",
        "  r1: email: email of r1 looks odd",
        "  … and 2 more",
        f"All warnings, with their rows, are in {path.with_name('people.json.warnings.jsonl')}",
    ]
    warnings = lines_of(path.with_name("people.json.warnings.jsonl"))
    assert [(w["row"], w["id"], w["field"]) for w in warnings] == [
        (0, "r0", "email"),
        (0, "r0", "orcid"),
        (1, "r1", "email"),
        (3, "r3", "email"),
        (4, "r4", "email"),
    ]
    assert all("line" not in w for w in warnings)  # a JSON array's rows have no line


def test_a_loads_csv_summary_has_the_warnings_count_and_file(api: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,given_names,family_name\nr0,J,C\n")
    counts = {"received": 1, "created": 1, "updated": 0, "rejected": 0, "with_warnings": 1}
    answer(api, "/researchers", {"counts": counts, "rows": [stored_with_warnings(0, "r0", "email")]})
    result = run("researchers", "load", str(path), "--output", "csv")
    summary = dict(csv.reader(io.StringIO(result.stdout)))
    assert (summary["with_warnings"], summary["warnings_file"]) == (
        "1",
        str(path.with_name("people.csv.warnings.jsonl")),
    )
    assert (
        "1 row stored with warnings:" in result.stderr and "  line 2, r0: email: email of r0 looks odd" in result.stderr
    )
