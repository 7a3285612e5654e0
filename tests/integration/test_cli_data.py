"""``orcid-sync researchers|assets|tokens`` against the admin API and import handlers in-process (moto)."""

from __future__ import annotations

import base64
import copy
import csv
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
import pytest
import responses
from click.testing import CliRunner, Result
from pydantic import SecretStr

from orcid_sync import composition
from orcid_sync.domain.identifiers import orcid_check_character
from orcid_sync.domain.models import OrcidStatus, ResearcherInput
from orcid_sync.domain.tokens.importing import ProbeResult
from orcid_sync_cli import tokens_cmd as tokens_cli
from orcid_sync_cli.main import cli
from tests.support.apigw import http_event, lambda_context
from tests.support.aws import AwsEnv

API_URL = "https://api.orcid-sync.test"
EVENTS = Path(__file__).resolve().parents[2] / "events"
UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def orcid_for(n: int) -> str:
    base = f"0009{n:011d}"
    digits = base + orcid_check_character(base)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def _body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if hasattr(body, "read"):
        return bytes(body.read())
    return body if isinstance(body, bytes) else str(body).encode()


@pytest.fixture
def requests_seen(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """The CLI's requests routed in-process: admin API calls to its handler, presigned S3 URLs to moto.

    A PUT to ``uploads/`` then runs the import function with the S3 notification, as S3 would.
    """
    seen: Counter[str] = Counter()
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=aws.env["DATA_BUCKET"], VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setattr(tokens_cli, "sleep", lambda seconds: None)

    def api(request: Any) -> tuple[int, dict[str, str], str]:
        from functions.admin_api import app

        parts = urlsplit(request.url)
        seen[f"{request.method} {re.sub(r'[0-9a-f]{32}', '{id}', parts.path)}"] += 1
        event = http_event(
            request.method,
            parts.path,
            body=_body_bytes(request) or None,
            query=dict(parse_qsl(parts.query)) or None,
            headers={"content-type": request.headers.get("Content-Type", "application/json")},
        )
        answer = app.lambda_handler(event, lambda_context())
        body = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return answer["statusCode"], {"Content-Type": answer["headers"].get("Content-Type", "")}, body

    def bucket(request: Any) -> tuple[int, dict[str, str], bytes]:
        from functions.token_import import app

        parts = urlsplit(request.url)
        name, key = parts.hostname.split(".")[0], unquote(parts.path.lstrip("/"))  # type: ignore[union-attr]
        seen[f"{request.method} s3"] += 1
        if request.method == "GET":
            return 200, {}, s3.get_object(Bucket=name, Key=key)["Body"].read()
        version = s3.put_object(Bucket=name, Key=key, Body=_body_bytes(request))["VersionId"]
        event = json.loads((EVENTS / "token_import_s3.json").read_text())
        record = event["Records"][0]["s3"]
        record["bucket"]["name"] = name
        record["object"].update({"key": key, "versionId": version})
        app.lambda_handler(copy.deepcopy(event), lambda_context())
        return 200, {"x-amz-version-id": version}, b""

    composition.reset()  # the import records job runs through cached clients; this test has its own moto
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
            mock.add_callback(method, re.compile(f"{API_URL}/.*"), callback=api)
        for method in (responses.GET, responses.PUT):
            mock.add_callback(method, re.compile(r"https://[a-z0-9.-]+\.s3\.amazonaws\.com/.*"), callback=bucket)
        yield seen
    composition.reset()


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--api", API_URL], catch_exceptions=False)


def printed_json(result: Result) -> Any:
    """What the CLI printed as JSON (indented; the handlers run in this process and log one-line JSON to stdout too)."""
    return json.loads("\n".join(line for line in result.stdout.splitlines() if not line.startswith('{"')))


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def rejected_lines(path: Path) -> list[dict[str, Any]]:
    target = path.with_name(path.name + ".rejected.jsonl")
    return [json.loads(line) for line in target.read_text().splitlines()] if target.exists() else []


def researcher(rid: str, orcid: str | None = None) -> None:
    composition.researcher_store().upsert_profile(
        ResearcherInput(id=rid, given_names="Josiah", family_name="Carberry", orcid=orcid)
    )


# --- researchers and assets ------------------------------------------------------------------


def test_researchers_load_csv_reports_rejected_rows(requests_seen: Counter[str], tmp_path: Path) -> None:
    # Given a CSV with a bad iD and a missing name, and a stale rejected file from an earlier run
    path = write_csv(
        tmp_path / "people.csv",
        [
            {"id": "r1", "given_names": "Josiah", "family_name": "Carberry", "orcid": "0000-0002-1825-0097",
             "role_title": "Professor", "update_orcid_profile": "false", "active": ""},
            {"id": "r2", "given_names": "Ada", "family_name": "Lovelace", "orcid": "0000-0002-1825-0098"},
            {"id": "r3", "given_names": "", "family_name": "Nobody"},
        ],
    )  # fmt: skip
    path.with_name("people.csv.rejected.jsonl").write_text('{"row": 99}\n')
    # When
    result = run_cli("researchers", "load", str(path))
    # Then the valid row is stored and the command succeeds, saying what was rejected and where the reasons are
    assert result.exit_code == 0, result.output
    assert "people.csv: 3 rows: created 1, updated 0, unchanged 0, rejected 2" in result.output
    stored = composition.researcher_store().get("r1")
    assert stored is not None and stored.position == "Professor" and stored.update_orcid_profile is False
    rejected = rejected_lines(path)
    assert [(r["row"], r["line"]) for r in rejected] == [(1, 3), (2, 4)]
    assert rejected[0]["problems"][0]["field"] == "orcid"
    assert rejected[1]["problems"][0]["field"] == "given_names"
    assert rejected[1]["data"] == {"id": "r3", "family_name": "Nobody"}


def test_researchers_load_batches_in_thousands(requests_seen: Counter[str], tmp_path: Path) -> None:
    researcher("r1000")
    rows = [{"id": f"r{n}", "given_names": "J", "family_name": "C"} for n in range(1001)]
    path = write_jsonl(tmp_path / "people.jsonl", rows)
    result = run_cli("researchers", "load", str(path))
    assert result.exit_code == 0, result.output
    assert "1,001 rows: created 1,000, updated 1, unchanged 0, rejected 0" in result.output
    assert requests_seen["POST /researchers"] == 2
    assert not path.with_name("people.jsonl.rejected.jsonl").exists()


def test_loading_the_same_files_again_says_unchanged(requests_seen: Counter[str], tmp_path: Path) -> None:
    # Given researchers and assets loaded from files
    people = write_jsonl(
        tmp_path / "people.jsonl", [{"id": f"r{n}", "given_names": "J", "family_name": "C"} for n in range(3)]
    )
    base = {"type": "publication.journalArticle", "status": "approved", "visible": True}
    rows = [{"id": f"a{n}", "researchers": ["r0"], "title": f"Pots {n}", **base} for n in range(4)]
    assets = write_jsonl(tmp_path / "assets.jsonl", rows)
    assert run_cli("researchers", "load", str(people)).exit_code == 0
    assert run_cli("assets", "load", str(assets)).exit_code == 0
    # When the same files are loaded again, one asset corrected
    rows[1]["title"] = "Pots, corrected"
    write_jsonl(assets, rows)
    result = run_cli("researchers", "load", str(people))
    # Then the summary counts them unchanged (nothing was written), and the changed one updated
    assert "people.jsonl: 3 rows: created 0, updated 0, unchanged 3, rejected 0" in result.stdout
    result = run_cli("assets", "load", str(assets), "--output", "json")
    assert {k: printed_json(result)[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 0,
        "updated": 1,
        "unchanged": 3,
        "rejected": 0,
    }


def test_researchers_show(requests_seen: Counter[str]) -> None:
    researcher("r1", "0000-0002-1825-0097")
    composition.researcher_store().set_status("r1", OrcidStatus.ACTIVE, scopes=["/activities/update"])
    result = run_cli("researchers", "show", "r1", "--output", "json")
    assert result.exit_code == 0, result.output
    shown = printed_json(result)
    assert (shown["orcid"], shown["orcid_status"], shown["orcid_scopes"]) == (
        "0000-0002-1825-0097",
        "active",
        ["/activities/update"],
    )
    result = CliRunner().invoke(cli, ["researchers", "show", "nobody", "--api", API_URL])
    assert result.exit_code == 1
    assert "HTTP 404" in result.output


def test_assets_load_json_lines_and_csv(requests_seen: Counter[str], tmp_path: Path) -> None:
    base = {"type": "publication.journalArticle", "status": "approved", "visible": True, "title": "Pots"}
    path = write_jsonl(
        tmp_path / "assets.jsonl",
        [{"id": "a1", "researchers": ["r1"], **base}, {"id": "a2", "researchers": ["r1"], **base, "doi": "nope"}],
    )
    result = run_cli("assets", "load", str(path), "--fail-on-rejected")
    assert result.exit_code == 1
    assert "created 1, updated 0, unchanged 0, rejected 1" in result.output
    assert rejected_lines(path)[0]["problems"] == [
        {"field": "doi", "reason": "'nope' is not a DOI: expected 10.<registrant>/<suffix>, e.g. 10.1234/abc"}
    ]
    contributors = json.dumps([{"name": "J. Carberry", "orcid": "0000-0002-1825-0097", "sequence": 1}])
    path = write_csv(
        tmp_path / "assets.csv",
        [{"id": "a3", "researchers": "r1; r2", **base, "visible": "true", "contributors": contributors}],
    )
    result = run_cli("assets", "load", str(path))
    assert result.exit_code == 0, result.output
    stored = composition.asset_store().get("a3")
    assert stored is not None and stored.researchers == ["r1", "r2"] and stored.contributors[0].sequence == 1


def warning_lines(path: Path) -> list[dict[str, Any]]:
    target = path.with_name(path.name + ".warnings.jsonl")
    return [json.loads(line) for line in target.read_text().splitlines()] if target.exists() else []


def test_assets_naming_researchers_not_loaded_are_stored_with_warnings(
    requests_seen: Counter[str], tmp_path: Path
) -> None:
    # Given assets naming researchers nobody loaded yet, and a stale warnings file from an earlier run
    researcher("r1")
    base = {"type": "publication.journalArticle", "status": "approved", "visible": "true", "title": "Pots"}
    path = write_csv(
        tmp_path / "assets.csv",
        [
            {"id": "a1", "researchers": "r1", **base},
            {"id": "a2", "researchers": "r1; ghost", **base},
            {"id": "a3", "researchers": "ghost; phantom", **base},
        ],
    )
    path.with_name("assets.csv.warnings.jsonl").write_text('{"stale": true}\n')
    # When they are loaded, even with --fail-on-rejected
    result = run_cli("assets", "load", str(path), "--fail-on-rejected")
    # Then every asset is stored, the command succeeds, and says which rows have warnings and why
    assert result.exit_code == 0, result.output
    assert "assets.csv: 3 rows: created 3, updated 0, unchanged 0, rejected 0" in result.stdout
    assert "2 rows stored with warnings:" in result.stdout
    reason = "no researcher has id ghost (yet): the asset is stored, and pushed for them once they are loaded"
    assert f"  line 3, a2: researchers.1: {reason}" in result.stdout
    assert f"All warnings, with their rows, are in {path.with_name('assets.csv.warnings.jsonl')}" in result.stdout
    assert composition.asset_store().get("a3") is not None
    assert warning_lines(path) == [
        {"row": 1, "line": 3, "id": "a2", "field": "researchers.1", "reason": reason},
        {"row": 2, "line": 4, "id": "a3", "field": "researchers.0", "reason": reason},
        {"row": 2, "line": 4, "id": "a3", "field": "researchers.1", "reason": reason.replace("ghost", "phantom")},
    ]
    assert not rejected_lines(path)
    # As JSON: the counts and the file; the warnings for people go to stderr, so stdout stays the document
    result = run_cli("assets", "load", str(path), "--output", "json")
    assert result.exit_code == 0, result.output
    assert printed_json(result) == {
        "file": str(path),
        "received": 3,
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
        "with_warnings": 2,
        "rejected_file": None,
        "warnings_file": str(path.with_name("assets.csv.warnings.jsonl")),
    }
    assert "2 rows stored with warnings:" in result.stderr
    # Once the researchers are loaded, the same file has no warnings, and the old warnings file goes
    researcher("ghost")
    researcher("phantom")
    result = run_cli("assets", "load", str(path), "--output", "json")
    assert (printed_json(result)["with_warnings"], printed_json(result)["warnings_file"]) == (0, None)
    assert "warnings" not in result.stderr
    assert not path.with_name("assets.csv.warnings.jsonl").exists()


# --- tokens ----------------------------------------------------------------------------------


def token_row(orcid: str, **extra: Any) -> dict[str, Any]:
    return {
        "orcid": orcid,
        "access_token": str(uuid.uuid4()),
        "refresh_token": str(uuid.uuid4()),
        "scope": "/activities/update /read-limited",
        "expires_in": 631138518,
        **extra,
    }


def no_token_leaks(rows: list[dict[str, Any]], *texts: str) -> None:
    secrets = {str(row[k]) for row in rows for k in ("access_token", "refresh_token") if k in row}
    for text in texts:
        assert not secrets & set(UUIDS.findall(text))


def test_a_small_token_file_goes_in_one_request(requests_seen: Counter[str], tmp_path: Path) -> None:
    researcher("r1", orcid_for(1))
    researcher("r2", orcid_for(2))
    rows = [token_row(orcid_for(1)), token_row(orcid_for(2), scope="/activities/update"), token_row(orcid_for(3))]
    path = write_csv(tmp_path / "tokens.csv", rows)
    result = run_cli("tokens", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "3 rows: stored 2, replaced 0, unchanged 0, rejected 1, without pull 1" in result.output
    assert requests_seen["POST /tokens"] == 1 and requests_seen["POST /tokens/uploads"] == 0
    [rejected] = rejected_lines(path)
    assert rejected == {
        "row_number": 3,  # the third data row, as a person counts (the API's row_number, not its 0-based row)
        "line": 4,
        "orcid": orcid_for(3),
        "problems": [
            {
                "field": "orcid",
                "reason": f"no researcher has ORCID iD {orcid_for(3)}; load the researcher with this iD first",
            }
        ],
    }
    no_token_leaks(rows, result.output, path.with_name("tokens.csv.rejected.jsonl").read_text())
    # The same file again: nothing changes.
    result = run_cli("tokens", "import", str(path), "--output", "json", "--fail-on-rejected")
    assert result.exit_code == 1
    assert printed_json(result) == {
        "file": str(path),
        "received": 3,
        "stored": 0,
        "replaced": 0,
        "unchanged": 2,
        "rejected": 1,
        "without_pull": 1,
        "rejected_file": str(path.with_name("tokens.csv.rejected.jsonl")),
    }


def test_a_large_token_file_goes_through_an_upload(requests_seen: Counter[str], tmp_path: Path) -> None:
    for n in range(20):
        researcher(f"r{n}", orcid_for(n))
    rows = [token_row(orcid_for(n), researcher_id=f"r{n}") for n in range(20)]
    rows += [token_row(orcid_for(n), researcher_id=f"x{n}") for n in range(1000, 2180)]  # no such researchers
    path = write_jsonl(tmp_path / "tokens.jsonl", rows)
    result = run_cli("tokens", "import", str(path), "--fail-on-rejected")
    assert result.exit_code == 1, result.output
    assert "1,200 rows: stored 20, replaced 0, unchanged 0, rejected 1,180" in result.output
    assert requests_seen["POST /tokens"] == 0
    assert requests_seen["POST /tokens/uploads"] == 1 and requests_seen["PUT s3"] == 1
    assert requests_seen["GET s3"] == 1  # the report: too many rejected rows to show inline
    rejected = rejected_lines(path)
    assert len(rejected) == 1180
    # From the upload's report: 1-based numbers, the file's line, and the iD the API sends for every valid one
    assert rejected[0] == {
        "row_number": 21,
        "line": 21,
        "orcid": orcid_for(1000),
        "problems": [{"field": "researcher_id", "reason": "no researcher has the id given in researcher_id"}],
    }
    assert [r["row_number"] for r in rejected] == list(range(21, 1201))
    assert all(r["orcid"] == orcid_for(1000 + n) for n, r in enumerate(rejected))
    assert composition.token_store().get("r19") is not None
    no_token_leaks(rows, result.output, path.with_name("tokens.jsonl.rejected.jsonl").read_text())


def test_verify_sends_more_than_100_rows_through_an_upload(
    requests_seen: Counter[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(150):
        researcher(f"r{n}", orcid_for(n))
    rows = [token_row(orcid_for(n)) for n in range(150)]
    dead = rows[7]["access_token"]

    def probe(orcid: str, token: SecretStr) -> ProbeResult:
        return ProbeResult.INVALID_TOKEN if token.get_secret_value() == dead else ProbeResult.VALID

    monkeypatch.setattr(composition, "token_probe", lambda: probe)
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(rows))
    result = run_cli("tokens", "import", str(path), "--verify")
    assert "150 rows: stored 149, replaced 0, unchanged 0, rejected 1" in result.output
    assert requests_seen["POST /tokens/uploads"] == 1
    [rejected] = rejected_lines(path)
    # Rejected rows few enough to come inline in the upload's answer; a JSON array has no lines
    assert (rejected["row_number"], rejected["orcid"]) == (8, orcid_for(7)) and "line" not in rejected
    assert "invalid_token" in rejected["problems"][0]["reason"]


def test_a_token_file_with_a_bad_header_is_refused_before_sending(requests_seen: Counter[str], tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("orcid,access_token,expires_in\n0000-0002-1825-0097,abc,60\n")
    result = CliRunner().invoke(cli, ["tokens", "import", str(path), "--api", API_URL])
    assert result.exit_code == 1
    assert "missing column scope or scopes" in result.output
    assert sum(requests_seen.values()) == 0


def test_a_rejected_ids_row_keeps_the_id_from_the_file_but_never_another_value(
    requests_seen: Counter[str], tmp_path: Path
) -> None:
    # Given a token file whose first row has a bad iD checksum and whose second has a token where the iD goes
    stray = str(uuid.uuid4())
    rows = [token_row("0000-0002-1825-0098"), token_row(stray)]
    path = write_csv(tmp_path / "tokens.csv", rows)
    # When it is imported
    result = run_cli("tokens", "import", str(path))
    # Then both rows are rejected; the iD-shaped value is named, the other is not repeated
    assert result.exit_code == 0, result.output
    first, second = rejected_lines(path)
    assert (first["row_number"], first["line"], first["orcid"]) == (1, 2, "0000-0002-1825-0098")
    assert (second["row_number"], second["line"]) == (2, 3) and "orcid" not in second
    no_token_leaks(rows, path.with_name("tokens.csv.rejected.jsonl").read_text())
    assert stray not in path.with_name("tokens.csv.rejected.jsonl").read_text()


def test_rejected_token_rows_carry_the_apis_id_and_the_files_line(requests_seen: Counter[str], tmp_path: Path) -> None:
    # Given a CSV with a blank line, an iD written as a URL (valid, nobody has it) and a second row for one iD
    researcher("r1", orcid_for(1))
    rows = [token_row(orcid_for(1)), token_row(f"https://orcid.org/{orcid_for(2)}"), token_row(orcid_for(1))]
    path = write_csv(tmp_path / "tokens.csv", rows)
    header, *data = path.read_text().splitlines(keepends=True)
    path.write_text("".join([header, data[0], "\n", *data[1:]]))
    # When it is imported
    result = run_cli("tokens", "import", str(path))
    # Then each rejected row has its 1-based number, its line in the file, and the iD as the API sends it
    assert result.exit_code == 0, result.output
    assert "3 rows: stored 1, replaced 0, unchanged 0, rejected 2" in result.output
    second, third = rejected_lines(path)
    assert (second["row_number"], second["line"], second["orcid"]) == (2, 4, orcid_for(2))
    assert (third["row_number"], third["line"], third["orcid"]) == (3, 5, orcid_for(1))
    assert set(second) == {"row_number", "line", "orcid", "problems"}
    assert all(set(problem) == {"field", "reason"} for problem in second["problems"] + third["problems"])
    no_token_leaks(rows, path.with_name("tokens.csv.rejected.jsonl").read_text())


def test_researchers_outputs(requests_seen: Counter[str]) -> None:
    from datetime import UTC, datetime

    from orcid_sync.config import OrcidEnvironment
    from orcid_sync.domain.institution_settings import IntegrationSettings
    from orcid_sync.domain.models import Asset
    from orcid_sync.domain.push.ledger import EntryState, LedgerChanges, WorkEntry
    from orcid_sync.domain.push.works import InvalidWork, build_work

    # Given a researcher with one work on ORCID, one ORCID refused and one opted out
    researcher("r1", "0000-0002-1825-0097")
    base = {"researchers": ["r1"], "type": "publication.journalArticle", "status": "approved", "visible": True}
    for aid in ("a1", "a2", "a3"):
        composition.asset_store().put(Asset.model_validate({"id": aid, "title": f"Pots {aid}", "date": "2023", **base}))
    sending = IntegrationSettings(send_assets=True)
    composition.integration_settings_store().save(sending, expected_version=0, at=datetime.now(UTC), by="test")
    now = datetime.now(UTC)
    # ORCID refused a2 as it is now (the push's own content hash of its work)
    sandbox = composition.settings().orcid_environment is OrcidEnvironment.SANDBOX
    a2 = composition.asset_store().get("a2")
    assert a2 is not None
    built = build_work(a2, sending, sandbox=sandbox)
    assert not isinstance(built, InvalidWork)
    digest = built.content_hash
    refused = WorkEntry(
        asset_id="a2", content_hash=digest, state=EntryState.REJECTED, last_pushed_at=now, message="Invalid work type"
    )
    ledger = composition.push_ledger_store()
    ledger.write("r1", LedgerChanges(works={"a2": refused}))
    ledger.set_opted_out("r1", "a3", True, at=now)
    # When an administrator asks, as JSON
    result = run_cli("researchers", "outputs", "r1", "--output", "json")
    # Then they see the API's document
    assert result.exit_code == 0, result.output
    shown = printed_json(result)
    assert {o["asset_id"]: o["state"] for o in shown["outputs"]} == {
        "a1": "will_be_added",
        "a2": "refused_by_orcid",
        "a3": "opted_out",
    }
    assert shown["counts"]["opted_out"] == 1 and shown["counts"]["refused_by_orcid"] == 1
    assert next(o for o in shown["outputs"] if o["asset_id"] == "a2")["orcid_message"] == "Invalid work type"
    assert requests_seen["GET /researchers/r1/outputs"] == 1
    # And as a table for people, with the counts and the reasons
    table = run_cli("researchers", "outputs", "r1")
    assert table.exit_code == 0, table.output
    words = " ".join(table.stdout.split())
    assert "will be added 1, opted out 1, refused by ORCID 1" in words
    assert "you chose not to send it" in words
    assert "ORCID said: Invalid work type" in words
    # An unknown researcher: the API's 404, exit status 1
    missing = CliRunner().invoke(cli, ["researchers", "outputs", "nobody", "--api", API_URL])
    assert missing.exit_code == 1
    assert "HTTP 404" in missing.output
