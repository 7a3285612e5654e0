"""``/researchers`` through the admin API handler, in-process against moto."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orcid_sync import composition
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import AwsEnv

ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0002-9079-593X"


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    return response["statusCode"], response_json(response)


def person(rid: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "given_names": "Josiah", "family_name": "Carberry", **extra}


def test_put_creates_then_updates_and_get_shows_the_connection(aws: AwsEnv) -> None:
    # Given / When
    status, body = call(
        "PUT", "/researchers/r1", body=person("r1", orcid=f"https://orcid.org/{ORCID}", role_title="Prof")
    )
    # Then
    assert status == 201
    assert body["orcid"] == ORCID
    assert body["position"] == "Prof"
    assert body["orcid_status"] == "none"
    assert body["profile_url"] == "https://repository.example.edu/profiles/r1"
    assert body["orcid_url"] == f"https://sandbox.orcid.org/{ORCID}"

    status, body = call("PUT", "/researchers/r1", body=person("r1", orcid=ORCID, department="Psychoceramics"))
    assert status == 200
    assert body["department"] == "Psychoceramics"

    composition.researcher_store().record_connection(
        "r1", orcid=ORCID, scopes=["/activities/update", "/read-limited"], connected_at=datetime.now(UTC)
    )
    status, body = call("GET", "/researchers/r1")
    assert status == 200
    assert body["orcid_status"] == "active"
    assert body["orcid_scopes"] == ["/activities/update", "/read-limited"]
    assert body["can_push"] and body["can_pull"]
    assert body["connected_at"] is not None
    assert "token" not in str(body).lower()


def test_explicit_profile_url_wins_over_the_portal_default(aws: AwsEnv) -> None:
    status, body = call("PUT", "/researchers/r2", body=person("r2", profile_url="https://elsewhere.example/r2"))
    assert status == 201
    assert body["profile_url"] == "https://elsewhere.example/r2"


def test_put_rejects_a_bad_orcid_naming_the_field(aws: AwsEnv) -> None:
    status, body = call("PUT", "/researchers/r1", body=person("r1", orcid="0000-0002-1825-0098"))
    assert status == 400
    [problem] = body["problems"]
    assert problem["field"] == "body.orcid"
    assert "check character should be 7" in problem["reason"]
    assert composition.researcher_store().get("r1") is None


def test_put_path_and_body_ids_must_agree(aws: AwsEnv) -> None:
    status, body = call("PUT", "/researchers/r1", body=person("r2"))
    assert status == 400
    assert body["problems"][0]["field"] == "body.id"
    assert composition.researcher_store().get("r1") is None
    assert composition.researcher_store().get("r2") is None


def test_an_authenticated_orcid_cannot_be_changed_by_an_admin(aws: AwsEnv) -> None:
    # Given a researcher who connected their iD through ORCID
    call("PUT", "/researchers/r1", body=person("r1"))
    composition.researcher_store().record_connection("r1", orcid=ORCID, scopes=[], connected_at=datetime.now(UTC))
    # When an administrator sends another iD
    status, body = call("PUT", "/researchers/r1", body=person("r1", orcid=OTHER_ORCID))
    # Then 409 names both, and nothing changed
    assert status == 409
    assert ORCID in body["message"] and OTHER_ORCID in body["message"]
    assert composition.researcher_store().get("r1").orcid == ORCID  # type: ignore[union-attr]
    # And leaving the iD out keeps the authenticated one instead of erasing it
    status, body = call("PUT", "/researchers/r1", body=person("r1", department="History"))
    assert status == 200
    assert body["orcid"] == ORCID
    assert body["department"] == "History"


def test_an_unauthenticated_orcid_can_be_corrected(aws: AwsEnv) -> None:
    call("PUT", "/researchers/r1", body=person("r1", orcid=ORCID))
    status, body = call("PUT", "/researchers/r1", body=person("r1", orcid=OTHER_ORCID))
    assert status == 200
    assert body["orcid"] == OTHER_ORCID


def test_get_unknown_researcher_is_404(aws: AwsEnv) -> None:
    status, body = call("GET", "/researchers/nobody")
    assert status == 404
    assert "nobody" in body["message"]


def test_batch_stores_valid_rows_and_reports_rejected_ones(aws: AwsEnv) -> None:
    # Given a researcher who authenticated an iD
    call("PUT", "/researchers/r9", body=person("r9"))
    composition.researcher_store().record_connection("r9", orcid=ORCID, scopes=[], connected_at=datetime.now(UTC))
    rows = [
        person("r1", orcid=ORCID),
        person("r2", email="not-an-email"),
        "not an object",
        person("r1", department="dup"),
        person("r9", orcid=OTHER_ORCID),
        person("r9", department="again"),
        {"id": "r3"},
        person("r4", unknown_field=1),
    ]
    # When
    status, body = call("POST", "/researchers", body=rows)
    # Then
    assert status == 200
    assert body["counts"] == {
        "received": 8,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 7,
        "with_warnings": 0,
    }
    outcomes = {row["row"]: row for row in body["rows"]}
    assert [outcomes[i]["outcome"] for i in range(8)] == ["created"] + ["rejected"] * 7
    assert outcomes[1]["problems"] == [{"row": 1, "field": "email", "reason": "is not an email address"}]
    assert outcomes[2]["problems"][0]["field"] == "row"
    assert "row 0" in outcomes[3]["problems"][0]["reason"]
    assert ORCID in outcomes[4]["problems"][0]["reason"] and OTHER_ORCID in outcomes[4]["problems"][0]["reason"]
    assert "row 4" in outcomes[5]["problems"][0]["reason"]
    assert {p["field"] for p in outcomes[6]["problems"]} == {"given_names", "family_name"}
    assert outcomes[7]["problems"][0]["field"] == "unknown_field"
    store = composition.researcher_store()
    assert store.get("r1") is not None and store.get("r2") is None
    assert store.get("r9").department is None  # type: ignore[union-attr]


def test_batch_updates_report_updated(aws: AwsEnv) -> None:
    call("POST", "/researchers", body=[person("r1"), person("r2")])
    status, body = call("POST", "/researchers", body=[person("r1", department="X"), person("r3")])
    assert status == 200
    assert [row["outcome"] for row in body["rows"]] == ["updated", "created"]


def test_batch_limits(aws: AwsEnv) -> None:
    status, body = call("POST", "/researchers", body=[person(f"r{i}") for i in range(1001)])
    assert status == 413
    assert "1,000" in body["message"]
    status, body = call("POST", "/researchers", body=[])
    assert status == 400
    status, body = call("POST", "/researchers", body="[{not json", headers={"content-type": "application/json"})
    assert status == 400
    status, body = call("POST", "/researchers", body={"id": "r1"})
    assert status == 400
    huge = [person(f"r{i}", department="x" * 3999, position="y" * 3999) for i in range(800)]
    status, body = call("POST", "/researchers", body=huge)
    assert status == 413
    assert "bytes" in body["message"]
    assert list(composition.researcher_store().iter_all()) == []


def test_list_by_status_is_paginated(aws: AwsEnv) -> None:
    call("POST", "/researchers", body=[person(f"r{i}") for i in range(5)])
    composition.researcher_store().record_connection("r3", orcid=ORCID, scopes=[], connected_at=datetime.now(UTC))
    status, first = call("GET", "/researchers", query={"status": "none", "limit": "2"})
    assert status == 200
    assert len(first["items"]) == 2
    status, second = call("GET", "/researchers", query={"status": "none", "cursor": first["next_cursor"]})
    assert {r["id"] for r in first["items"] + second["items"]} == {"r0", "r1", "r2", "r4"}
    status, active = call("GET", "/researchers", query={"status": "active"})
    assert [r["id"] for r in active["items"]] == ["r3"]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status": "sleepy"}, "query.status"), ({"limit": "0"}, "query.limit"), ({"cursor": "garbage"}, "query.cursor")],
)
def test_list_rejects_bad_parameters(aws: AwsEnv, query: dict[str, str], field: str) -> None:
    status, body = call("GET", "/researchers", query=query)
    assert status == 400
    assert body["problems"][0]["field"] == field


def test_openapi_documents_the_researcher_routes(aws: AwsEnv) -> None:
    status, doc = call("GET", "/openapi.json")
    assert status == 200
    paths = doc["paths"]
    assert {"put", "get"} <= set(paths["/researchers/{researcher_id}"])
    assert {"post", "get"} <= set(paths["/researchers"])
    body = paths["/researchers"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["items"] == {"$ref": "#/components/schemas/ResearcherInput"}
    assert "ResearcherInput" in doc["components"]["schemas"]
    assert "ResearcherView" in doc["components"]["schemas"]


# --- GET /researchers/{id}/outputs (issue 16: what the researcher's "My ORCID" page shows) -------------------------


def _asset(aid: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": aid,
        "researchers": ["r1"],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": f"Output {aid}",
        "doi": f"10.1234/{aid}",
        "date": "2024-05",
        **extra,
    }


def test_outputs_show_each_asset_its_state_and_the_researchers_opt_out(aws: AwsEnv) -> None:
    from orcid_sync.domain.institution_settings import IntegrationSettings
    from orcid_sync.domain.push.ledger import LedgerChanges, WorkEntry

    # Given a researcher with a work on ORCID, one opted out, one pending and one new, sending switched on
    call("PUT", "/researchers/r1", body=person("r1", orcid=ORCID))
    for aid, extra in (("a1", {}), ("a2", {}), ("a3", {"status": "pending"}), ("a4", {})):
        assert call("PUT", f"/assets/{aid}", body=_asset(aid, **extra))[0] in (200, 201)
    composition.integration_settings_store().save(
        IntegrationSettings(send_assets=True), expected_version=0, at=datetime.now(UTC), by="test"
    )
    ledger = composition.push_ledger_store()
    now = datetime.now(UTC)
    entry = WorkEntry(asset_id="a1", put_code=4711, content_hash="old", last_pushed_at=now)
    ledger.write("r1", LedgerChanges(works={"a1": entry, "a2": entry.model_copy(update={"asset_id": "a2"})}))
    ledger.set_opted_out("r1", "a2", True, at=now)
    # When an administrator looks
    status, body = call("GET", "/researchers/r1/outputs")
    # Then every asset is listed with its state and reason
    assert status == 200
    assert body["researcher_id"] == "r1" and body["orcid"] == ORCID
    states = {o["asset_id"]: o["state"] for o in body["outputs"]}
    assert states == {"a1": "will_be_updated", "a2": "opted_out", "a3": "not_approved", "a4": "will_be_added"}
    opted = next(o for o in body["outputs"] if o["asset_id"] == "a2")
    assert opted["can_opt_in"] and "will be removed" in opted["reason"] and opted["put_code"] == 4711
    assert body["counts"]["opted_out"] == 1 and body["counts"]["on_orcid"] == 0
    assert set(body["counts"]) >= {"on_orcid", "held_back", "deleted_by_researcher"}
    # And opting back in shows at once
    ledger.set_opted_out("r1", "a2", False, at=now)
    assert {o["asset_id"]: o["state"] for o in call("GET", "/researchers/r1/outputs")[1]["outputs"]}["a2"] == (
        "will_be_updated"
    )


def test_outputs_of_an_unknown_researcher_are_404(aws: AwsEnv) -> None:
    status, body = call("GET", "/researchers/nobody/outputs")
    assert status == 404
    assert "nobody" in body["message"]


def test_openapi_documents_the_outputs_route(aws: AwsEnv) -> None:
    _, doc = call("GET", "/openapi.json")
    assert "get" in doc["paths"]["/researchers/{researcher_id}/outputs"]
    assert "OutputsView" in doc["components"]["schemas"]
