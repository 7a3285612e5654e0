"""``POST /tokens`` through the admin API handler, in-process against moto."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from orcid_sync import composition
from orcid_sync.adapters.token_encryption import KmsDataKeys
from orcid_sync.domain.models import OrcidStatus, ResearcherInput
from orcid_sync.domain.tokens.importing import ProbeResult
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import AwsEnv

ORCIDS = ["0000-0002-1825-0097", "0000-0002-9079-593X", "0000-0001-2345-6789", "0000-0003-1415-9269"]
EVERYTHING = "/activities/update /read-limited /person/update"


def orcid_for(n: int) -> str:
    from orcid_sync.domain.identifiers import orcid_check_character

    base = f"0009{n:011d}"
    digits = base + orcid_check_character(base)
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any, str]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    return response["statusCode"], response_json(response), response.get("body") or ""


def post_json(rows: Any, **query: str) -> tuple[int, Any, str]:
    return call("POST", "/tokens", body=rows, query=query or None)


def post_csv(text: str, **kwargs: Any) -> tuple[int, Any, str]:
    return call("POST", "/tokens", body=text, headers={"content-type": "text/csv; charset=utf-8"}, **kwargs)


def researcher(rid: str, orcid: str | None = None) -> None:
    composition.researcher_store().upsert_profile(
        ResearcherInput(id=rid, given_names="Josiah", family_name="Carberry", orcid=orcid)
    )


def token_row(orcid: str, **extra: Any) -> dict[str, Any]:
    return {
        "orcid": orcid,
        "access_token": str(uuid.uuid4()),
        "refresh_token": str(uuid.uuid4()),
        "scope": EVERYTHING,
        "expires_in": 631138518,
        **extra,
    }


def secrets_of(rows: list[dict[str, Any]]) -> list[str]:
    keys = ("access_token", "refresh_token", "access.token", "refresh.token")
    return [str(row[k]) for row in rows if isinstance(row, dict) for k in keys if row.get(k)]


def assert_no_secrets(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.fixture
def kms_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts GenerateDataKey calls (one per sealed chunk)."""
    calls: list[int] = []
    original = KmsDataKeys.generate_data_key

    def counting(self: KmsDataKeys) -> tuple[bytes, bytes]:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(KmsDataKeys, "generate_data_key", counting)
    yield calls


def test_mixed_batch_reports_every_rejection_and_stores_the_valid_rows(
    aws: AwsEnv, kms_calls: list[int], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given
    researcher("r-ok", ORCIDS[0])
    researcher("r-push-only", ORCIDS[1])
    researcher("r-by-id", ORCIDS[2])
    researcher("r-no-orcid")
    researcher("twin-a", ORCIDS[3])
    researcher("twin-b", ORCIDS[3])
    researcher("r-revoked", orcid_for(1))
    researcher("r-other", orcid_for(2))
    revoked = token_row(orcid_for(1))
    post_json([revoked])
    composition.token_store().mark_revoked("r-revoked", datetime.now(UTC))
    kms_calls.clear()
    rows: list[Any] = [
        token_row(ORCIDS[0]),  # 0 stored
        token_row(ORCIDS[1], scope="/activities/update"),  # 1 stored, can_pull false
        token_row(ORCIDS[2], researcher_id="r-by-id"),  # 2 stored
        token_row("0000-0002-1825-0098"),  # 3 bad check character
        token_row(orcid_for(3)),  # 4 nobody has this iD
        token_row(orcid_for(4), researcher_id="ghost"),  # 5 unknown researcher id
        token_row(orcid_for(5), researcher_id="r-other"),  # 6 researcher has another iD
        token_row(orcid_for(6), researcher_id="r-no-orcid"),  # 7 researcher has no iD
        token_row(ORCIDS[3]),  # 8 two researchers share the iD
        token_row(orcid_for(7), scope="/read-limited /person/update"),  # 9 cannot push
        token_row(orcid_for(8), expires_in=None, expires_at="2020-01-01T00:00:00Z"),  # 10 expired
        token_row(orcid_for(9), expires_in=None),  # 11 no expiry
        token_row(ORCIDS[0]),  # 12 duplicate of row 0
        revoked,  # 13 revoked token sent again
        {k: v for k, v in token_row(orcid_for(10)).items() if k != "access_token"},  # 14 no access token
        "a string",  # 15 not an object
        token_row(ORCIDS[3], researcher_id="twin-b", scope="/activities/update /read-limited"),  # 16 dup iD of row 8
    ]
    # When
    status, body, raw = post_json(rows)
    # Then
    assert status == 200
    outcomes = body["rows"]
    assert [o["row"] for o in outcomes] == list(range(len(rows)))
    assert [o["outcome"] for o in outcomes[:3]] == ["stored"] * 3
    assert [o["can_pull"] for o in outcomes[:3]] == [True, False, True]
    expected_fields = {
        3: ("orcid", "check character should be 7"),
        4: ("orcid", f"no researcher has ORCID iD {orcid_for(3)}"),
        5: ("researcher_id", "no researcher has the id"),
        6: ("orcid", f"researcher r-other has ORCID iD {orcid_for(2)}, not {orcid_for(5)}"),
        7: ("orcid", "researcher r-no-orcid has no ORCID iD"),
        8: ("researcher_id", "researchers twin-a, twin-b share ORCID iD"),
        9: ("scope", "lacks /activities/update"),
        10: ("expires_at", "expired on 2020-01-01"),
        11: ("expires_in", "give expires_in"),
        12: ("orcid", "already appears in row 0"),
        13: ("access_token", "was revoked on"),
        14: ("access_token", "Field required"),
        15: ("row", "expected an object, got a string"),
        16: ("orcid", "already appears in row 8"),
    }
    for index, (field, reason) in expected_fields.items():
        outcome = outcomes[index]
        assert outcome["outcome"] == "rejected", index
        assert outcome["problems"][0]["field"] == field, (index, outcome)
        assert reason in outcome["problems"][0]["reason"], (index, outcome)
        assert outcome["problems"][0]["row"] == index
    assert body["counts"] == {
        "received": 17,
        "stored": 3,
        "replaced": 0,
        "unchanged": 0,
        "rejected": 14,
        "without_pull": 1,
    }
    assert body["verified"] is False
    assert len(kms_calls) == 1  # one data key for the whole batch

    tokens = composition.token_store()
    assert set(tokens.get_many(["r-ok", "r-push-only", "r-by-id", "twin-a", "twin-b", "r-other", "r-no-orcid"])) == {
        "r-ok",
        "r-push-only",
        "r-by-id",
    }
    stored = tokens.get("r-ok")
    assert stored is not None
    assert composition.token_cipher().open("r-ok", stored.access_token) == rows[0]["access_token"]
    assert stored.refresh_token is not None
    assert composition.token_cipher().open("r-ok", stored.refresh_token) == rows[0]["refresh_token"]
    assert stored.source == "import"
    assert stored.expires_at > datetime.now(UTC) + timedelta(days=365 * 19)
    people = composition.researcher_store()
    ok = people.get("r-ok")
    # Active, but not authenticated: only ORCID accepting the token for the iD proves whose it is
    assert ok is not None and ok.orcid_status is OrcidStatus.ACTIVE and not ok.orcid_authenticated
    assert ok.orcid_scopes == sorted(EVERYTHING.split())
    assert people.get("r-push-only").orcid_scopes == ["/activities/update"]  # type: ignore[union-attr]
    assert people.get("twin-a").orcid_status is OrcidStatus.NONE  # type: ignore[union-attr]

    # No token value in the response or any log line.
    logs = capsys.readouterr()
    assert_no_secrets([raw, logs.out, logs.err, caplog.text], secrets_of([r for r in rows if isinstance(r, dict)]))


def test_csv_with_the_legacy_esploro_keys(aws: AwsEnv, kms_calls: list[int]) -> None:
    researcher("r1", ORCIDS[0])
    researcher("r2", ORCIDS[1])
    access = [str(uuid.uuid4()), str(uuid.uuid4())]
    text = (
        "orcid,access.token,refresh.token,token.type,expiry,scopes\r\n"
        f"{ORCIDS[0]},{access[0]},{uuid.uuid4()},bearer,2039-05-01T00:00:00Z,/activities/update /read-limited\r\n"
        f"https://orcid.org/{ORCIDS[1]},{access[1]},,Bearer,2187820800,/activities/update\r\n"
    )
    status, body, raw = post_csv(text)
    assert status == 200, body
    assert [o["outcome"] for o in body["rows"]] == ["stored", "stored"]
    assert [o["can_pull"] for o in body["rows"]] == [True, False]
    second = composition.token_store().get("r2")
    assert second is not None and second.refresh_token is None
    assert second.expires_at == datetime(2039, 5, 1, tzinfo=UTC)
    assert len(kms_calls) == 1
    assert_no_secrets([raw], access)


def test_a_base64_encoded_csv_body(aws: AwsEnv) -> None:
    researcher("r1", ORCIDS[0])
    text = f"orcid,access_token,scope,expires_in\n{ORCIDS[0]},{uuid.uuid4()},/activities/update,600\n"
    # API Gateway base64-encodes bodies whose media type it does not treat as text.
    status, body, _ = post_csv(text.encode(), base64_body=True)
    assert status == 200
    assert body["counts"]["stored"] == 1


def test_replacing_a_token_and_sending_the_same_batch_again(aws: AwsEnv, kms_calls: list[int]) -> None:
    # Given stored tokens
    researcher("r1", ORCIDS[0])
    researcher("r2", ORCIDS[1])
    first = [token_row(ORCIDS[0]), token_row(ORCIDS[1], scope="/activities/update")]
    assert post_json(first)[1]["counts"]["stored"] == 2
    table = aws.table("TOKENS_TABLE")
    before = {item["researcher_id"]: item for item in table.scan()["Items"]}
    researcher_before = composition.researcher_store().get("r1")
    kms_calls.clear()

    # When the same batch comes again (as CSV this time: the format does not matter)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(first[0]))
    writer.writeheader()
    writer.writerows(first)
    status, body, _ = post_csv(out.getvalue())

    # Then nothing is written: same items, no KMS call, researcher untouched
    assert status == 200
    assert [o["outcome"] for o in body["rows"]] == ["unchanged", "unchanged"]
    assert body["counts"]["unchanged"] == 2 and body["counts"]["without_pull"] == 1
    after = {item["researcher_id"]: item for item in table.scan()["Items"]}
    assert after == before
    assert composition.researcher_store().get("r1") == researcher_before
    assert kms_calls == []

    # When a new token arrives for r1 and r2's scopes change
    newer = [token_row(ORCIDS[0]), {**first[1], "scope": EVERYTHING}]
    status, body, _ = post_json(newer)
    assert [o["outcome"] for o in body["rows"]] == ["replaced", "replaced"]
    r1 = composition.token_store().get("r1")
    assert r1 is not None
    assert composition.token_cipher().open("r1", r1.access_token) == newer[0]["access_token"]
    assert r1.stored_at.isoformat() != before["r1"]["stored_at"]
    assert composition.researcher_store().get("r2").orcid_scopes == sorted(EVERYTHING.split())  # type: ignore[union-attr]
    assert len(kms_calls) == 1


def test_an_imported_token_reconnects_a_revoked_researcher(aws: AwsEnv) -> None:
    researcher("r1", ORCIDS[0])
    post_json([token_row(ORCIDS[0])])
    composition.researcher_store().set_status("r1", OrcidStatus.REVOKED)
    composition.token_store().mark_revoked("r1", datetime.now(UTC))
    status, body, _ = post_json([token_row(ORCIDS[0])])
    assert status == 200
    assert body["rows"][0]["outcome"] == "replaced"
    assert composition.researcher_store().get("r1").orcid_status is OrcidStatus.ACTIVE  # type: ignore[union-attr]
    assert composition.token_store().get("r1").revoked_at is None  # type: ignore[union-attr]


def test_an_authenticated_different_orcid_is_not_overwritten(aws: AwsEnv) -> None:
    researcher("r1")
    composition.researcher_store().record_connection("r1", orcid=ORCIDS[1], scopes=[], connected_at=datetime.now(UTC))
    status, body, _ = post_json([token_row(ORCIDS[0], researcher_id="r1")])
    assert status == 200
    assert body["rows"][0]["outcome"] == "rejected"
    assert ORCIDS[1] in body["rows"][0]["problems"][0]["reason"]
    assert composition.researcher_store().get("r1").orcid == ORCIDS[1]  # type: ignore[union-attr]
    assert composition.token_store().get("r1") is None


def test_too_many_rows_or_bytes(aws: AwsEnv, kms_calls: list[int]) -> None:
    researcher("r1", ORCIDS[0])
    status, body, _ = post_json([token_row(ORCIDS[0])] * 1001)
    assert status == 413
    assert "POST /tokens/uploads" in body["message"]
    header = "orcid,access_token,scope,expires_in\n"
    status, body, _ = post_csv(header + f"{ORCIDS[0]},{'x' * 100},/activities/update,60\n" * 70_000)
    assert status == 413
    assert "bytes" in body["message"]
    assert composition.token_store().get("r1") is None
    assert kms_calls == []


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ('[{"orcid": ', "application/json", "body"),
        ('{"orcid": "0000-0002-1825-0097"}', "application/json", "body"),
        ("orcid,access_token,expires_in\n0000-0002-1825-0097,abc,60\n", "text/csv", "header"),
        ("orcid,access_token,scope,expires_in\n", "application/xml", "header.content-type"),
        ("[]", "application/json", "body"),
    ],
)
def test_malformed_bodies_store_nothing(aws: AwsEnv, body: str, content_type: str, field: str) -> None:
    researcher("r1", ORCIDS[0])
    status, answer, _ = call("POST", "/tokens", body=body, headers={"content-type": content_type})
    assert status == 400
    assert answer["problems"][0]["field"] == field
    assert composition.token_store().get("r1") is None


def test_verification_rejects_dead_and_foreign_tokens(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    researcher("r1", ORCIDS[0])
    researcher("r2", ORCIDS[1])
    researcher("r3", ORCIDS[2])
    researcher("r4", ORCIDS[3])
    rows = [token_row(ORCIDS[0]), token_row(ORCIDS[1]), token_row(ORCIDS[2]), token_row(ORCIDS[3])]
    verdicts = {
        rows[0]["access_token"]: ProbeResult.VALID,
        rows[1]["access_token"]: ProbeResult.INVALID_TOKEN,
        rows[2]["access_token"]: ProbeResult.WRONG_RECORD,
        rows[3]["access_token"]: ProbeResult.UNAVAILABLE,
    }
    probed: list[str] = []

    def probe(orcid: str, token: SecretStr) -> ProbeResult:
        probed.append(orcid)
        return verdicts[token.get_secret_value()]

    monkeypatch.setattr(composition, "token_probe", lambda: probe)
    status, body, raw = post_json(rows, verify="true")
    assert status == 200
    assert body["verified"] is True
    assert [o["outcome"] for o in body["rows"]] == ["stored", "rejected", "rejected", "rejected"]
    assert [o["problems"][0]["field"] for o in body["rows"][1:]] == ["access_token", "orcid", "access_token"]
    assert "invalid_token" in body["rows"][1]["problems"][0]["reason"]
    assert "9017" in body["rows"][2]["problems"][0]["reason"]
    assert probed == ORCIDS
    assert set(composition.token_store().get_many(["r1", "r2", "r3", "r4"])) == {"r1"}
    assert_no_secrets([raw], secrets_of(rows))

    status, body, _ = post_json([token_row(orcid_for(n)) for n in range(101)], verify="true")
    assert status == 413
    assert "100" in body["message"]


def test_openapi_documents_the_token_routes(aws: AwsEnv) -> None:
    status, doc, _ = call("GET", "/openapi.json")
    assert status == 200
    post = doc["paths"]["/tokens"]["post"]
    assert "access.token" in post["description"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenBatchReport"
    }
    assert {"post"} <= set(doc["paths"]["/tokens/uploads"])
    assert {"get"} <= set(doc["paths"]["/tokens/uploads/{upload_id}"])
    assert json.dumps(doc).count("access_token") >= 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("admin_put_researcher", 200),
        ("admin_load_researchers", 200),
        ("admin_get_researcher", 200),
        ("admin_list_researchers", 200),
        ("admin_put_asset", 200),
        ("admin_load_assets", 200),
        ("admin_get_asset", 200),
        ("admin_delete_asset", 204),
        ("admin_import_tokens_json", 200),
        ("admin_import_tokens_csv", 200),
        ("admin_create_token_upload", 201),
        ("admin_get_token_upload", 404),
    ],
)
def test_the_sample_events_reach_their_routes(aws: AwsEnv, name: str, expected: int) -> None:
    from functions.admin_api import app

    # Given what the samples refer to
    researcher("researcher-0001", "0000-0002-1825-0097")
    call("POST", "/assets", body=[{"id": "asset-0001", "researchers": ["r1"], "type": "dataset.dataset",
                                   "status": "approved", "visible": True, "title": "Data"}])  # fmt: skip
    call("PUT", "/assets/asset-0002", body={"id": "asset-0002", "researchers": ["r1"], "type": "dataset.dataset",
                                            "status": "approved", "visible": True, "title": "Data"})  # fmt: skip
    event = json.loads((Path(__file__).resolve().parents[2] / "events" / f"{name}.json").read_text())
    # When
    response = app.lambda_handler(event, lambda_context())
    # Then
    assert response["statusCode"] == expected, response.get("body")
    if name.startswith("admin_import_tokens"):
        assert response_json(response)["counts"]["stored"] + response_json(response)["counts"]["replaced"] == 1
    if name == "admin_get_token_upload":
        assert "no upload has id" in response_json(response)["message"]
