"""The local ORCID sandbox's inbox permission requests refuse what ORCID refuses: only a 2-legged
/premium-notification token, a body valid against notification-permission-3.0.xsd, a parseable authorization URL,
a well-formed and known iD; accepted ones answer 201 + Location and show in the inspection endpoints."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from orcid_sync_local.orcid_sandbox.testing import ALL_SCOPES, ORCID_HEADERS

CLIENT = RegisteredClient("APP-OURREPOSITORY001", "our-secret", ["https://repo.example"], "Our Repository")
OTHER = RegisteredClient("APP-OTHERREPOSITORY1", "other-secret", ["https://other.example"], "Other Repository")
UNKNOWN_BUT_VALID_ORCID = "0000-0002-1825-0097"


def permission(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notification-type": "permission",
        "authorization-url": {"uri": "https://repo.example/connect?link=abc.def"},
        "notification-subject": "your research outputs",
        "notification-intro": "Our Repository would like to add your research outputs to your ORCID record.",
        "items": {"item": [{"item-type": "work", "item-name": "Research outputs from Our Repository"}]},
    }
    body.update(changes)
    return body


@pytest.fixture
def app() -> Flask:
    sandbox = create_app(SandboxConfig(clients=[CLIENT, OTHER], rate=0, public_base_url="http://sandbox.test:8090"))
    sandbox.testing = True
    return sandbox


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def orcid(client: FlaskClient) -> str:
    answer = client.post("/_sandbox/researchers", json={"given_names": "Ada", "family_name": "Lovelace"})
    assert answer.status_code == 201
    return str(answer.json["orcid"])  # type: ignore[index]


def two_legged(client: FlaskClient, registered: RegisteredClient = CLIENT, scope: str = "/premium-notification") -> str:
    answer = client.post(
        "/oauth/token",
        data={
            "client_id": registered.client_id,
            "client_secret": registered.client_secret,
            "grant_type": "client_credentials",
            "scope": scope,
        },
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["orcid"] is None  # type: ignore[index]
    return str(answer.json["access_token"])  # type: ignore[index]


def send(client: FlaskClient, orcid: str, token: str, body: Any) -> Any:
    headers = {**ORCID_HEADERS, "Authorization": f"Bearer {token}"}
    return client.post(f"/v3.0/{orcid}/notification-permission", json=body, headers=headers)


def test_a_permission_request_is_created_readable_and_shown_in_the_inspection_endpoints(
    client: FlaskClient, orcid: str
) -> None:
    token = two_legged(client)
    answer = send(client, orcid, token, permission())
    assert answer.status_code == 201
    location = answer.headers["Location"]
    assert location.startswith(f"http://sandbox.test:8090/v3.0/{orcid}/notification-permission/")
    put_code = int(location.rsplit("/", 1)[1])

    read = client.get(
        f"/v3.0/{orcid}/notification-permission/{put_code}",
        headers={**ORCID_HEADERS, "Authorization": f"Bearer {token}"},
    )
    assert read.status_code == 200
    body = read.json
    assert body["put-code"] == put_code
    assert body["authorization-url"] == {
        "uri": "https://repo.example/connect?link=abc.def",
        "path": "/connect?link=abc.def",
        "host": "sandbox.test",
    }
    assert body["source"]["source-client-id"]["path"] == CLIENT.client_id

    listed = client.get("/_sandbox/notifications").json["notifications"]
    assert [(item["orcid"], item["put-code"], item["notification-subject"]) for item in listed] == [
        (orcid, put_code, "your research outputs")
    ]
    record = client.get(f"/_sandbox/records/{orcid}").json
    assert [item["put-code"] for item in record["notifications"]] == [put_code]

    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/notifications").json["notifications"] == []


def test_a_path_only_authorization_url_is_completed_with_orcids_own_host(client: FlaskClient, orcid: str) -> None:
    token = two_legged(client)
    path = "/oauth/authorize?client_id=APP-OURREPOSITORY001&response_type=code&scope=/activities/update"
    answer = send(client, orcid, token, permission(**{"authorization-url": {"path": path}}))
    assert answer.status_code == 201
    stored = client.get("/_sandbox/notifications").json["notifications"][0]
    assert stored["authorization-url"]["uri"] == f"http://sandbox.test:8090{path}"


def test_a_malformed_id_is_a_bad_request_and_an_unknown_one_is_not_found(client: FlaskClient, orcid: str) -> None:
    token = two_legged(client)
    malformed = send(client, "0000-0002-1825-0098", token, permission())  # wrong check digit
    assert malformed.status_code == 400
    assert malformed.json["error-code"] == 9006
    assert "Invalid ORCID iD" in malformed.json["developer-message"]
    unknown = send(client, UNKNOWN_BUT_VALID_ORCID, token, permission())
    assert unknown.status_code == 404
    assert unknown.json["error-code"] == 9016
    assert client.get("/_sandbox/notifications").json["notifications"] == []


def test_a_researchers_three_legged_token_or_a_read_public_token_is_refused(client: FlaskClient) -> None:
    created = client.post(
        "/_sandbox/researchers",
        json={"given_names": "Grace", "grant": {"client_id": CLIENT.client_id, "scope": ALL_SCOPES}},
    ).json
    three_legged = send(client, created["orcid"], created["access_token"], permission())
    assert three_legged.status_code == 403
    assert set(three_legged.json) == {"response-code", "developer-message", "user-message", "error-code", "more-info"}
    assert "Insufficient or wrong scope" in three_legged.json["developer-message"]
    read_public = send(client, created["orcid"], two_legged(client, scope="/read-public"), permission())
    assert read_public.status_code == 403
    no_token = client.post(f"/v3.0/{created['orcid']}/notification-permission", json=permission())
    assert no_token.status_code == 401
    assert client.get("/_sandbox/notifications").json["notifications"] == []


def test_premium_notification_is_only_a_two_legged_scope(client: FlaskClient) -> None:
    answer = client.get(
        "/oauth/authorize",
        query_string={
            "client_id": CLIENT.client_id,
            "response_type": "code",
            "scope": "/premium-notification",
            "redirect_uri": "https://repo.example/cb",
        },
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"notification-type": "amended"}, "value must be one of"),
        ({"notification-intro": "x" * 1001}, "length"),
        ({"items": {"item": []}}, ""),
        ({"items": {"item": [{"item-type": "book", "item-name": "A book"}]}}, "value must be one of"),
        ({"items": {"item": [{"item-type": "work", "item-name": "y" * 1001}]}}, "length"),
        ({"notification-subject": {"value": "wrapped"}}, "Cannot deserialize"),
        ({"surprise": "field"}, 'Unrecognized field "surprise"'),
        ({"authorization-url": {"host": "orcid.org"}}, ""),
    ],
)
def test_a_body_invalid_against_the_xsd_is_refused_with_orcids_error(
    client: FlaskClient, orcid: str, change: dict[str, Any], reason: str
) -> None:
    answer = send(client, orcid, two_legged(client), permission(**change))
    assert answer.status_code == 400
    assert answer.json["error-code"] == 9047
    assert answer.json["response-code"] == 400
    assert reason in answer.json["developer-message"]


def test_a_missing_mandatory_element_is_refused(client: FlaskClient, orcid: str) -> None:
    body = permission()
    del body["items"]
    answer = send(client, orcid, two_legged(client), body)
    assert answer.status_code == 400
    assert answer.json["error-code"] == 9047


@pytest.mark.parametrize(
    "url",
    [
        "https://repo.example/connect?link=abc    ",  # ORCID's test: a trailing space
        "https://repo.example/connect?scope=/read-limited /activities/update",  # an unencoded space
        "https://repo.example/{link}",
        "not a url",
    ],
)
def test_an_unparseable_authorization_uri_is_refused(client: FlaskClient, orcid: str, url: str) -> None:
    answer = send(client, orcid, two_legged(client), permission(**{"authorization-url": {"uri": url}}))
    assert answer.status_code == 400
    assert "Bad authorization uri" in answer.json["developer-message"]


def test_an_item_with_an_unknown_external_id_type_is_refused(client: FlaskClient, orcid: str) -> None:
    item = {
        "item-type": "work",
        "item-name": "An article",
        "external-id": {
            "external-id-type": "invalid",
            "external-id-value": "x",
            "external-id-relationship": "self",
        },
    }
    answer = send(client, orcid, two_legged(client), permission(items={"item": [item]}))
    assert answer.status_code == 400
    valid = copy.deepcopy(item)
    valid["external-id"]["external-id-type"] = "doi"
    valid["external-id"]["external-id-value"] = "10.1234/abc"
    assert send(client, orcid, two_legged(client), permission(items={"item": [valid]})).status_code == 201


def test_another_client_cannot_read_the_notification_and_an_unknown_put_code_is_not_found(
    client: FlaskClient, orcid: str
) -> None:
    location = send(client, orcid, two_legged(client), permission()).headers["Location"]
    path = location.removeprefix("http://sandbox.test:8090")
    others = client.get(path, headers={**ORCID_HEADERS, "Authorization": f"Bearer {two_legged(client, OTHER)}"})
    assert others.status_code == 403
    missing = client.get(
        f"/v3.0/{orcid}/notification-permission/999999",
        headers={**ORCID_HEADERS, "Authorization": f"Bearer {two_legged(client)}"},
    )
    assert missing.status_code == 404


def test_notification_requests_share_the_rate_limit(client: FlaskClient, orcid: str) -> None:
    token = two_legged(client)
    client.put("/_sandbox/rate-limit", json={"rate": 0.001, "burst": 2})
    answers = [send(client, orcid, token, permission()).status_code for _ in range(3)]
    assert answers == [201, 201, 503]
    stats = client.get("/_sandbox/stats").json
    assert stats["rate_limited"] == 1
    routes = {(row["route"], row["status"]): row["count"] for row in stats["requests"]}
    assert routes[("/v3.0/{orcid}/notification-permission", 201)] == 2
