"""``/assets`` through the admin API handler, in-process against moto."""

from __future__ import annotations

from typing import Any

import pytest

from orcid_sync import composition
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import AwsEnv


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    return response["statusCode"], response_json(response)


def asset(aid: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": aid,
        "researchers": ["r1"],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": "On the Psychoceramics of Cracked Pots",
        "doi": "https://doi.org/10.1234/pots.1",
        "date": "2024-05",
        **extra,
    }


def test_put_creates_then_replaces_and_moves_researcher_copies(aws: AwsEnv) -> None:
    # Given / When
    status, body = call("PUT", "/assets/a1", body=asset("a1"))
    # Then
    assert status == 201
    assert body["doi"] == "10.1234/pots.1"
    assert body["updated_at"]
    status, body = call("PUT", "/assets/a1", body=asset("a1", researchers=["r2"], title="Revised"))
    assert status == 200
    store = composition.asset_store()
    assert store.list_for_researcher("r1") == []
    assert [a.title for a in store.list_for_researcher("r2")] == ["Revised"]
    status, body = call("GET", "/assets/a1")
    assert status == 200
    assert body["title"] == "Revised"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"type": "publication.scroll"}, "body.type", "not a known Esploro asset type"),
        ({"doi": "doi:11.1234/x"}, "body.doi", "is not a DOI"),
        ({"date": "2024-13"}, "body.date", "months run from 01 to 12"),
        ({"date": "2023-02-29"}, "body.date", "is not a real date"),
        ({"contributors": [{"name": "J. Carberry", "orcid": "0000-0002-1825-0098"}]}, "body.contributors.0.orcid", "7"),
        ({"isbn": "978-3-16-148410-1"}, "body.isbn", "check digit"),
        ({"visible": "perhaps"}, "body.visible", "boolean"),
        ({"colour": "red"}, "body.colour", "Extra inputs"),
    ],
)
def test_put_names_the_invalid_field(aws: AwsEnv, change: dict[str, Any], field: str, reason: str) -> None:
    status, body = call("PUT", "/assets/a1", body=asset("a1", **change))
    assert status == 400
    assert [p["field"] for p in body["problems"]] == [field]
    assert reason in body["problems"][0]["reason"]
    assert composition.asset_store().get("a1") is None


def test_put_path_and_body_ids_must_agree(aws: AwsEnv) -> None:
    status, body = call("PUT", "/assets/a1", body=asset("a2"))
    assert status == 400
    assert body["problems"] == [{"field": "body.id", "reason": "is 'a2' but the path says 'a1'"}]
    assert composition.asset_store().get("a2") is None


def test_delete_then_404(aws: AwsEnv) -> None:
    call("PUT", "/assets/a1", body=asset("a1"))
    status, body = call("DELETE", "/assets/a1")
    assert status == 204
    assert not body
    assert composition.asset_store().list_for_researcher("r1") == []
    status, body = call("DELETE", "/assets/a1")
    assert status == 404
    status, body = call("GET", "/assets/a1")
    assert status == 404
    assert "a1" in body["message"]


def test_batch_stores_valid_rows_and_reports_the_others(aws: AwsEnv) -> None:
    call("PUT", "/assets/a0", body=asset("a0"))
    rows = [
        asset("a0", title="Updated"),
        asset("a1"),
        asset("a2", type="nonsense"),
        asset("a3", doi="not a doi", date="20245"),
        asset("a1", title="duplicate"),
        42,
        asset("a4", researchers=[]),
    ]
    status, body = call("POST", "/assets", body=rows)
    assert status == 200
    # The researchers these assets name are not loaded: stored anyway, with a warning each
    assert body["counts"] == {
        "received": 7,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "rejected": 5,
        "with_warnings": 2,
    }
    rows_out = body["rows"]
    assert [r["outcome"] for r in rows_out] == [
        "updated",
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert rows_out[2]["problems"][0]["field"] == "type"
    assert {p["field"] for p in rows_out[3]["problems"]} == {"doi", "date"}
    assert all(p["row"] == 3 for p in rows_out[3]["problems"])
    assert "row 1" in rows_out[4]["problems"][0]["reason"]
    assert rows_out[5]["problems"] == [{"row": 5, "field": "row", "reason": "expected a JSON object, got a number"}]
    assert rows_out[6]["problems"][0]["field"] == "researchers"
    store = composition.asset_store()
    assert store.get("a0").title == "Updated"  # type: ignore[union-attr]
    assert store.get("a1").title != "duplicate"  # type: ignore[union-attr]
    assert store.get("a2") is None and store.get("a3") is None


def test_batch_limits(aws: AwsEnv) -> None:
    status, body = call("POST", "/assets", body=[asset(f"a{i}") for i in range(1001)])
    assert status == 413
    assert "1,001" in body["message"]
    status, body = call("POST", "/assets", body={"not": "a list"})
    assert status == 400
    assert body["problems"][0]["field"] == "body"
    assert composition.asset_store().list_for_researcher("r1") == []


def test_openapi_documents_the_asset_routes(aws: AwsEnv) -> None:
    status, doc = call("GET", "/openapi.json")
    assert status == 200
    assert {"put", "get", "delete"} <= set(doc["paths"]["/assets/{asset_id}"])
    body = doc["paths"]["/assets"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["items"] == {"$ref": "#/components/schemas/AssetInput"}
    assert "BatchReport" in doc["components"]["schemas"]
