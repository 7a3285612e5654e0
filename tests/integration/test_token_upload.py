"""Large token files: presigned upload, the import function on the S3 event, the report, redelivery."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from pydantic import SecretStr

from orcid_sync import composition
from orcid_sync.adapters.token_encryption import KmsDataKeys
from orcid_sync.domain.identifiers import orcid_check_character
from orcid_sync.domain.jobs.models import JobState, JobType
from orcid_sync.domain.models import OrcidStatus, ResearcherInput
from orcid_sync.domain.tokens.importing import ProbeResult
from tests.support.apigw import FakeLambdaContext, http_event, lambda_context, response_json
from tests.support.aws import AwsEnv, template_resources

EVENTS = Path(__file__).resolve().parents[2] / "events"
BUCKET = "orcid-sync-data"
UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def orcid_for(n: int) -> str:
    base = f"0009{n:011d}"
    digits = base + orcid_check_character(base)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def api(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    return response["statusCode"], response_json(response)


def view_of(upload_id: str) -> dict[str, Any]:
    status, view = api("GET", f"/tokens/uploads/{upload_id}")
    assert status == 200, view
    return view  # type: ignore[no-any-return]


def s3_event(key: str, version_id: str | None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "token_import_s3.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = BUCKET
    record["bucket"]["arn"] = f"arn:aws:s3:::{BUCKET}"
    record["object"]["key"] = key
    if version_id:
        record["object"]["versionId"] = version_id
    else:
        record["object"].pop("versionId")
    return event


def run_import(event: dict[str, Any], context: FakeLambdaContext | None = None) -> dict[str, Any]:
    from functions.token_import import app

    result: dict[str, Any] = app.lambda_handler(event, context or lambda_context())
    return result


@pytest.fixture(autouse=True)
def fresh_adapters() -> Iterator[None]:
    """The job store and notifier are cached per container; each test has its own moto."""
    composition.reset()
    yield
    composition.reset()


@pytest.fixture
def bucket(aws: AwsEnv) -> str:
    # As in the template: versioned, so deleting the upload must remove its version, not hide it.
    boto3.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return BUCKET


@pytest.fixture
def kms_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls: list[int] = []
    original = KmsDataKeys.generate_data_key

    def counting(self: KmsDataKeys) -> tuple[bytes, bytes]:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(KmsDataKeys, "generate_data_key", counting)
    yield calls


def researchers(*pairs: tuple[str, str | None]) -> None:
    for rid, orcid in pairs:
        composition.researcher_store().upsert_profile(
            ResearcherInput(id=rid, given_names="Josiah", family_name="Carberry", orcid=orcid)
        )


def token_row(orcid: str, **extra: Any) -> dict[str, Any]:
    return {
        "orcid": orcid,
        "access_token": str(uuid.uuid4()),
        "refresh_token": str(uuid.uuid4()),
        "scope": "/activities/update /read-limited",
        "expires_in": 631138518,
        **extra,
    }


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def start_upload(file_format: str = "csv", **extra: Any) -> dict[str, Any]:
    status, ticket = api("POST", "/tokens/uploads", body={"format": file_format, **extra})
    assert status == 201, ticket
    return ticket  # type: ignore[no-any-return]


def put_file(ticket: dict[str, Any], body: bytes) -> str | None:
    response = requests.put(ticket["url"], data=body, timeout=30)
    assert response.status_code == 200
    return response.headers.get("x-amz-version-id")


def versions_of(key: str) -> list[Any]:
    listing = boto3.client("s3").list_object_versions(Bucket=BUCKET, Prefix=key)
    return listing.get("Versions", []) + listing.get("DeleteMarkers", [])


def report_of(view: dict[str, Any]) -> tuple[dict[str, Any], str]:
    text = requests.get(view["report_url"], timeout=30).text
    return json.loads(text), text


def test_upload_import_report_and_redelivery(
    bucket: str, kms_calls: list[int], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given researchers and a CSV with good and bad rows
    researchers(("r1", orcid_for(1)), ("r2", orcid_for(2)))
    rows = [
        token_row(orcid_for(1)),
        token_row(orcid_for(2), scope="/activities/update"),
        token_row(orcid_for(3)),
        token_row(orcid_for(1)),
        token_row("0000-0002-1825-0098"),
    ]
    ticket = start_upload("csv")
    assert ticket["key"] == f"uploads/{ticket['upload_id']}.csv"
    assert ticket["expires_in"] == 900 and ticket["method"] == "PUT"
    status, view = api("GET", f"/tokens/uploads/{ticket['upload_id']}")
    assert status == 200 and view["status"] == "pending"

    # When the file is PUT to the presigned URL and S3 notifies the import function
    version = put_file(ticket, as_csv(rows))
    event = s3_event(ticket["key"], version)
    result = run_import(copy.deepcopy(event))

    # Then
    assert result == {"uploads": [{"key": ticket["key"], "status": "done"}]}
    status, view = api("GET", f"/tokens/uploads/{ticket['upload_id']}")
    assert status == 200
    assert view["status"] == "done"
    assert view["rows"] == 5
    assert view["counts"] == {
        "received": 5,
        "stored": 2,
        "replaced": 0,
        "unchanged": 0,
        "rejected": 3,
        "without_pull": 1,
    }
    assert [r["row"] for r in view["rejected"]] == [2, 3, 4]
    assert [r["problems"][0]["field"] for r in view["rejected"]] == ["orcid", "orcid", "orcid"]
    report, report_text = report_of(view)
    assert report["status"] == "done"
    assert report["counts"] == view["counts"]
    assert [r["row"] for r in report["rejected"]] == [2, 3, 4]
    assert len(kms_calls) == 1
    assert composition.researcher_store().get("r1").orcid_status is OrcidStatus.ACTIVE  # type: ignore[union-attr]
    # The plaintext file is gone, every version of it.
    assert versions_of(ticket["key"]) == []
    # The upload is a run in the job history, started by whoever asked for the URL.
    job = composition.job_store().get(f"upload-{ticket['upload_id']}")
    assert job is not None
    assert (job.type, job.state, job.started_by) == (
        JobType.UPLOAD,
        JobState.COMPLETED_WITH_ERRORS,
        "arn:aws:iam::123456789012:user/repository-admin",
    )
    assert (job.counts.researchers_processed, job.counts.researchers_updated, job.counts.researchers_failed) == (
        5,
        2,
        3,
    )
    events = composition.job_store().list_events(job.job_id, limit=10, level="error").items
    assert sorted(e.message.split(":")[0] for e in events) == ["row 3", "row 4", "row 5"]  # 1-based, as in the file

    # When S3 delivers the same event again
    stored_before = aws_items("TOKENS_TABLE")
    result = run_import(copy.deepcopy(event))
    # Then nothing happens, and the report is the same
    assert result["uploads"][0]["status"] == "done"
    assert aws_items("TOKENS_TABLE") == stored_before
    assert len(kms_calls) == 1
    status, again = api("GET", f"/tokens/uploads/{ticket['upload_id']}")
    assert {k: v for k, v in again.items() if k != "report_url"} == {k: v for k, v in view.items() if k != "report_url"}

    # And the same URL used again after the import: the new file is deleted unread
    version = put_file(ticket, as_csv(rows))
    run_import(s3_event(ticket["key"], version))
    assert versions_of(ticket["key"]) == []
    assert aws_items("TOKENS_TABLE") == stored_before

    logs = capsys.readouterr()
    secrets = {str(row[k]) for row in rows for k in ("access_token", "refresh_token")}
    for text in (report_text, json.dumps(view), logs.out, logs.err, caplog.text):
        assert not secrets & set(UUIDS.findall(text))


def aws_items(table_env: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(os.environ[table_env])
    return sorted(table.scan()["Items"], key=lambda item: str(item.get("researcher_id") or item.get("id")))


def write_researchers(count: int) -> None:
    """Researchers r0… with iDs orcid_for(n), straight into the table: the API would only measure moto here."""
    table = boto3.resource("dynamodb").Table(os.environ["RESEARCHERS_TABLE"])
    with table.batch_writer() as writer:
        for n in range(count):
            writer.put_item(
                Item={
                    "id": f"r{n}",
                    "given_names": "J",
                    "family_name": "C",
                    "orcid": orcid_for(n),
                    "orcid_status": "none",
                }
            )


def test_a_50000_row_file_is_imported_in_chunks_with_one_data_key_each(
    bucket: str, kms_calls: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 1,000 researchers and a 50,000-row file: per chunk of 1,000 rows, 20 rows to store and 980
    # rejected for every reason that needs no ORCID. (Each stored row costs moto ~20 ms; a file of
    # 50,000 good rows would test moto's speed, not the import.)
    write_researchers(1000)
    rows: list[dict[str, Any]] = []
    for chunk in range(50):
        for i in range(20):
            n = chunk * 20 + i
            rows.append(token_row(orcid_for(n), researcher_id=f"r{n}"))
        rows += [token_row(orcid_for(100_000 + chunk * 10 + i)) for i in range(2)]  # nobody has the iD
        rows += [token_row(orcid_for(200_000 + chunk * 400 + i), researcher_id=f"x{i}") for i in range(330)]
        rows += [token_row("0000-0002-1825-0098") for _ in range(300)]  # bad check character
        rows += [token_row(orcid_for(300_000 + i), scope="/read-limited") for i in range(200)]
        rows += [token_row(orcid_for(chunk * 20), researcher_id=f"r{chunk * 20}") for _ in range(148)]  # duplicates
    assert len(rows) == 50_000
    ticket = start_upload("csv")
    started = time.monotonic()

    # When
    run_import(s3_event(ticket["key"], put_file(ticket, as_csv(rows))))

    # Then
    elapsed = time.monotonic() - started
    view = view_of(ticket["upload_id"])
    assert view["status"] == "done", view
    assert view["rows"] == 50_000
    assert view["counts"]["stored"] == 1000
    assert view["counts"]["rejected"] == 49_000
    assert view["rejected"] is None  # too many to show inline
    assert len(kms_calls) == 50  # one GenerateDataKey per chunk of 1,000 rows
    report, report_text = report_of(view)
    assert len(report["rejected"]) == 49_000
    assert {r["problems"][0]["field"] for r in report["rejected"]} == {"orcid", "researcher_id", "scope"}
    assert versions_of(ticket["key"]) == []
    secrets = {str(row[k]) for row in rows for k in ("access_token", "refresh_token")}
    logs = capsys.readouterr()
    for text in (report_text, logs.out, logs.err):
        assert not secrets & set(UUIDS.findall(text))
    print(f"50,000 rows imported in {elapsed:.1f} s (moto, in-process)")


def test_json_array_and_json_lines_uploads(bucket: str) -> None:
    researchers(("r1", orcid_for(1)), ("r2", orcid_for(2)))
    array = start_upload("json")
    put = put_file(array, json.dumps([token_row(orcid_for(1)), {"access.token": "x"}]).encode())
    run_import(s3_event(array["key"], put))
    lines = start_upload("json")
    body = "\n".join(json.dumps(r) for r in [token_row(orcid_for(2)), token_row(orcid_for(9))]) + "\n"
    run_import(s3_event(lines["key"], put_file(lines, body.encode())))
    for ticket in (array, lines):
        view = view_of(ticket["upload_id"])
        assert view["status"] == "done"
        assert (view["counts"]["stored"], view["counts"]["rejected"]) == (1, 1)


def test_a_malformed_file_fails_and_stores_nothing(bucket: str, kms_calls: list[int]) -> None:
    researchers(("r1", orcid_for(1)))
    missing_column = start_upload("csv")
    body = b"orcid,access_token,expires_in\n" + f"{orcid_for(1)},{uuid.uuid4()},60\n".encode()
    run_import(s3_event(missing_column["key"], put_file(missing_column, body)))
    broken_json = start_upload("json")
    body = (json.dumps([token_row(orcid_for(1))])[:-1] + ', {"orcid": }]').encode()
    run_import(s3_event(broken_json["key"], put_file(broken_json, body)))

    view = view_of(missing_column["upload_id"])
    assert view["status"] == "failed"
    assert "missing column scope or scopes" in view["message"]
    job = composition.job_store().get(f"upload-{missing_column['upload_id']}")
    assert job is not None and job.state is JobState.FAILED
    assert "nothing was imported" in view["message"]
    view = view_of(broken_json["upload_id"])
    assert view["status"] == "failed"
    assert "row 1" in view["message"]
    assert composition.token_store().get("r1") is None
    assert kms_calls == []
    assert versions_of("uploads/") == []


def test_running_out_of_time_stops_between_chunks(bucket: str) -> None:
    write_researchers(15)
    rows = []
    for chunk in range(3):
        rows += [token_row(orcid_for(chunk * 5 + i), researcher_id=f"r{chunk * 5 + i}") for i in range(5)]
        rows += [token_row("0000-0002-1825-0098") for _ in range(995)]
    ticket = start_upload("csv")
    version = put_file(ticket, as_csv(rows))

    class Clock(FakeLambdaContext):
        calls = 0

        def get_remaining_time_in_millis(self) -> int:
            # Plenty for two chunks, then less than the margin.
            self.calls += 1
            return 800_000 if self.calls <= 2 else 60_000

    run_import(s3_event(ticket["key"], version), Clock())
    view = view_of(ticket["upload_id"])
    assert view["status"] == "failed"
    assert (view["rows"], view["counts"]["received"], view["counts"]["stored"]) == (3000, 2000, 10)
    assert "stopped after 2,000 of 3,000 rows" in view["message"]
    assert composition.token_store().get("r9") is not None and composition.token_store().get("r10") is None
    assert report_of(view)[0]["status"] == "failed"


def test_a_failed_attempt_is_released_for_the_retry(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    researchers(("r1", orcid_for(1)))
    ticket = start_upload("csv")
    event = s3_event(ticket["key"], put_file(ticket, as_csv([token_row(orcid_for(1))])))
    real = composition.token_importer

    def broken(verify: bool) -> Any:
        raise ConnectionError("DynamoDB is having a bad day")

    monkeypatch.setattr(composition, "token_importer", broken)
    with pytest.raises(ConnectionError):
        run_import(copy.deepcopy(event))
    view = view_of(ticket["upload_id"])
    assert view["status"] == "pending"
    assert "ConnectionError" in view["message"]
    assert versions_of(ticket["key"]) != []  # kept for the retry

    monkeypatch.setattr(composition, "token_importer", real)
    run_import(copy.deepcopy(event))
    view = view_of(ticket["upload_id"])
    assert view["status"] == "done" and view["counts"]["stored"] == 1
    assert versions_of(ticket["key"]) == []


def test_verified_upload(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    researchers(("r1", orcid_for(1)), ("r2", orcid_for(2)))
    rows = [token_row(orcid_for(1)), token_row(orcid_for(2))]
    dead = rows[1]["access_token"]

    def probe(orcid: str, token: SecretStr) -> ProbeResult:
        return ProbeResult.INVALID_TOKEN if token.get_secret_value() == dead else ProbeResult.VALID

    monkeypatch.setattr(composition, "token_probe", lambda: probe)
    ticket = start_upload("csv", verify=True)
    run_import(s3_event(ticket["key"], put_file(ticket, as_csv(rows))))
    view = view_of(ticket["upload_id"])
    assert view["verify"] is True
    assert (view["counts"]["stored"], view["counts"]["rejected"]) == (1, 1)
    assert "invalid_token" in view["rejected"][0]["problems"][0]["reason"]


def test_files_nobody_asked_for_are_deleted_unread(bucket: str) -> None:
    s3 = boto3.client("s3")
    for key in (f"uploads/{uuid.uuid4().hex}.csv", "uploads/notes.txt"):
        version = s3.put_object(Bucket=BUCKET, Key=key, Body=b"orcid,access_token\n")["VersionId"]
        assert run_import(s3_event(key, version)) == {"uploads": [{"key": key, "status": "ignored"}]}
        assert versions_of(key) == []


def test_upload_requests_are_validated(bucket: str) -> None:
    status, body = api("POST", "/tokens/uploads", body={"format": "xlsx"})
    assert status == 400
    assert body["problems"][0]["field"] == "body.format"
    status, body = api("GET", f"/tokens/uploads/{uuid.uuid4().hex}")
    assert status == 404
    status, body = api("GET", "/tokens/uploads/not-an-id")
    assert status == 400


def test_template_wires_the_import_without_a_cycle() -> None:
    resources = template_resources()
    function = resources["TokenImportFunction"]["Properties"]
    assert function["Timeout"] == 900
    [event] = function["Events"].values()
    assert event["Type"] == "S3"
    assert event["Properties"]["Bucket"] == {"!Ref": "DataBucket"}
    assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    # The function must not refer to the bucket (bucket → function → role → bucket), and the name it
    # uses instead must be the bucket's own.
    assert "DataBucket" not in json.dumps({k: v for k, v in function.items() if k != "Events"})
    assert function["Environment"]["Variables"]["DATA_BUCKET"] == resources["DataBucket"]["Properties"]["BucketName"]
    # The uploads lifecycle rule stays: plaintext tokens never outlive a day, whatever happens.
    rules = resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("Prefix") == "uploads/" and r["ExpirationInDays"] == 1 for r in rules)
