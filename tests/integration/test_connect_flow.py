"""The connect flow through the handlers, in-process, against moto and a mocked ORCID OAuth server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import responses
from click.testing import CliRunner
from pydantic import SecretStr

from functions.admin_api import app as admin_app
from functions.connect import app as connect_app
from orcid_sync import composition
from orcid_sync.adapters.dynamodb.oauth_state import DynamoOAuthStateStore
from orcid_sync.domain.connect.signing import Signer, new_nonce
from orcid_sync.domain.models import ResearcherInput
from orcid_sync_cli.main import cli
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, SIGNING_KEY, AwsEnv

ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0001-5109-3700"
ACCESS = "5d0c1a7e-acce-55ed-8a11-c0ffee000001"
REFRESH = "9b1e2f3a-4e5f-4a6b-8c7d-c0ffee000002"
CODE = "Xy7Qz9"
BASE = "https://orcid-sync.example.edu"
ORCID_SITE = "http://orcid.test"
TOKEN_URL = re.compile(r"^http://(?:api\.)?orcid\.test/oauth/token$")
REVOKE_URL = re.compile(r"^http://(?:api\.)?orcid\.test/oauth/revoke$")
SECRETS = (ACCESS, REFRESH, CODE, CLIENT_SECRET, SIGNING_KEY)

EXPECTED_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


# --- helpers --------------------------------------------------------------------------------------


def _public(path: str, query: dict[str, str] | None = None, **headers: str) -> dict[str, Any]:
    """A public route's event: no IAM authorizer, the route key of the template's event."""
    event = http_event("GET", path, query=query, headers={"accept": "text/html", **headers})
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {path}"
    del event["requestContext"]["authorizer"]
    del event["pathParameters"]
    return event


def _get(path: str, query: dict[str, str] | None = None, **headers: str) -> dict[str, Any]:
    response: dict[str, Any] = connect_app.lambda_handler(_public(path, query, **headers), lambda_context())
    return response


def _headers(response: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}


def _body(response: dict[str, Any]) -> str:
    return str(response.get("body") or "")


def _admin(method: str, path: str, body: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = admin_app.lambda_handler(http_event(method, path, body=body), lambda_context())
    return response


def _assert_secure(response: dict[str, Any]) -> None:
    headers = _headers(response)
    for name, value in EXPECTED_HEADERS.items():
        assert headers.get(name) == value, name
    assert "script" not in headers["content-security-policy"]


def _token_body(scope: str = "/activities/update /read-limited /person/update", orcid: str = ORCID) -> dict[str, Any]:
    return {
        "access_token": ACCESS,
        "token_type": "bearer",
        "refresh_token": REFRESH,
        "expires_in": 631138518,
        "scope": scope,
        "name": "Josiah Carberry",
        "orcid": orcid,
    }


@pytest.fixture
def orcid() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def researcher(aws: AwsEnv) -> str:
    composition.researcher_store().upsert_profile(
        ResearcherInput(id="r1", given_names="Josiah", family_name="Carberry", email="jc@example.edu")
    )
    return "r1"


def _link(researcher_id: str = "r1", days: int = 30) -> str:
    response = _admin("POST", f"/researchers/{researcher_id}/connect-link", {"expires_in_days": days})
    assert response["statusCode"] == 200, response
    url = str(response_json(response)["url"])
    return parse_qs(urlsplit(url).query)["link"][0]


def _start(link: str) -> dict[str, str]:
    response = _get("/connect/start", {"link": link})
    assert response["statusCode"] == 302, _body(response)
    _assert_secure(response)
    location = _headers(response)["location"]
    assert location.startswith(f"{ORCID_SITE}/oauth/authorize?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _all_items(aws: AwsEnv) -> str:
    """Every item of every table, as text."""
    dump = []
    for name in ("RESEARCHERS_TABLE", "TOKENS_TABLE", "STATE_TABLE", "JOBS_TABLE", "ASSETS_TABLE", "LEDGER_TABLE"):
        dump.extend(aws.table(name).scan()["Items"])
    return repr(dump)


# --- connect links --------------------------------------------------------------------------------


def test_the_admin_api_mints_a_signed_expiring_connect_url(aws: AwsEnv, researcher: str) -> None:
    response = _admin("POST", "/researchers/r1/connect-link")
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["url"].startswith(f"{BASE}/connect?link=")
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29, hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=30)
    claims = Signer(SecretStr(SIGNING_KEY)).verify_link(
        parse_qs(urlsplit(body["url"]).query)["link"][0], now=datetime.now(UTC)
    )
    assert claims.researcher_id == "r1"
    assert SIGNING_KEY not in body["url"]


def test_a_connect_link_can_be_short_lived(aws: AwsEnv, researcher: str) -> None:
    body = response_json(_admin("POST", "/researchers/r1/connect-link", {"expires_in_days": 2}))
    assert datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC) <= timedelta(days=2)


@pytest.mark.parametrize(
    "body", [{"expires_in_days": 0}, {"expires_in_days": 400}, {"expires_in_days": "soon"}, {"x": 1}]
)
def test_a_bad_link_lifetime_is_a_400_naming_the_field(aws: AwsEnv, researcher: str, body: dict[str, Any]) -> None:
    response = _admin("POST", "/researchers/r1/connect-link", body)
    assert response["statusCode"] == 400
    assert response_json(response)["problems"]


def test_a_connect_link_for_an_unknown_researcher_is_404(aws: AwsEnv) -> None:
    response = _admin("POST", "/researchers/nobody/connect-link")
    assert response["statusCode"] == 404
    assert "nobody" in response_json(response)["message"]


def test_without_a_public_base_url_the_link_uses_the_apis_own_domain(
    aws: AwsEnv, researcher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    composition.reset()
    body = response_json(_admin("POST", "/researchers/r1/connect-link"))
    assert body["url"].startswith("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/connect?link=")


# --- the connect page -----------------------------------------------------------------------------


def test_the_connect_page_is_for_the_researcher_with_orcid_branding(aws: AwsEnv, researcher: str) -> None:
    link = _link()
    response = _get("/connect", {"link": link})
    assert response["statusCode"] == 200
    _assert_secure(response)
    assert _headers(response)["content-type"].startswith("text/html")
    html = _body(response)
    assert '<html lang="en">' in html
    assert "Josiah Carberry" in html
    assert ">Connect your ORCID iD</span></a>" in html
    assert f'href="{BASE}/connect/start?{urlencode({"link": link})}"' in html
    assert 'fill="#A6CE39"' in html  # the green iD icon, inline
    assert '<a href="https://orcid.org">orcid.org</a>' in html
    assert "What is ORCID?" in html
    assert '<link rel="stylesheet" href="/connect/style.css">' in html
    assert "<script" not in html and "style=" not in html and "<style" not in html
    # Viewing the page creates no state: crawlers cost nothing.
    assert aws.table("STATE_TABLE").scan()["Items"] == []


def test_the_connect_page_speaks_the_browsers_language(aws: AwsEnv, researcher: str) -> None:
    html = _body(_get("/connect", {"link": _link()}, **{"accept-language": "es-ES,es;q=0.9"}))
    assert '<html lang="es">' in html
    assert "Conecte su iD de ORCID" in html


def test_the_stylesheet_is_served_with_the_same_headers(aws: AwsEnv) -> None:
    response = _get("/connect/style.css")
    assert response["statusCode"] == 200
    _assert_secure(response)
    assert _headers(response)["content-type"].startswith("text/css")
    assert ":focus-visible" in _body(response)


@pytest.mark.parametrize(
    ("make_link", "status", "text"),
    [
        (lambda: _link()[:-4] + "AAAA", 400, "This link does not work"),
        (lambda: "garbage", 400, "This link does not work"),
        (
            lambda: Signer(SecretStr(SIGNING_KEY)).sign_link("r1", datetime.now(UTC) - timedelta(minutes=1)),
            410,
            "expired",
        ),
        (
            lambda: Signer(SecretStr(SIGNING_KEY)).sign_link("ghost", datetime.now(UTC) + timedelta(days=1)),
            404,
            "could not find",
        ),
    ],
    ids=["tampered", "garbage", "expired", "unknown-researcher"],
)
def test_a_bad_link_gets_a_clear_page_and_never_an_orcid_redirect(
    aws: AwsEnv, researcher: str, make_link: Any, status: int, text: str
) -> None:
    link = make_link()
    for path in ("/connect", "/connect/start"):
        response = _get(path, {"link": link})
        assert response["statusCode"] == status, path
        _assert_secure(response)
        assert "location" not in _headers(response)
        assert text in _body(response)
        assert ORCID_SITE not in _body(response)
    assert aws.table("STATE_TABLE").scan()["Items"] == []


def test_the_connect_page_without_a_link_is_400(aws: AwsEnv) -> None:
    response = _get("/connect")
    assert response["statusCode"] == 400
    _assert_secure(response)


def test_an_unknown_public_path_is_a_404_page_with_the_headers(aws: AwsEnv) -> None:
    response = _get("/connect/nothing-here")
    assert response["statusCode"] == 404
    _assert_secure(response)
    assert "Page not found" in _body(response)


def test_an_unexpected_failure_is_a_500_page_with_the_headers(
    aws: AwsEnv, researcher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(connect_app, "open_connect_page", broken)
    response = _get("/connect", {"link": _link()})
    assert response["statusCode"] == 500
    _assert_secure(response)
    assert "Something went wrong" in _body(response)
    assert "DynamoDB" not in _body(response)


# --- the start of OAuth ---------------------------------------------------------------------------


def test_the_start_records_a_single_use_state_and_redirects_to_orcid(aws: AwsEnv, researcher: str) -> None:
    params = _start(_link())
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["scope"] == "/read-limited /activities/update /person/update"
    assert params["redirect_uri"] == f"{BASE}/orcid/callback"
    assert (params["given_names"], params["family_names"], params["email"]) == ("Josiah", "Carberry", "jc@example.edu")
    claims = Signer(SecretStr(SIGNING_KEY)).verify_state(params["state"], now=datetime.now(UTC))
    [item] = aws.table("STATE_TABLE").scan()["Items"]
    assert item["id"] == f"oauth-state#{claims.nonce}"
    assert item["researcher_id"] == "r1"
    assert int(item["expiration"]) == int(claims.expires_at.timestamp())
    assert timedelta(minutes=59) < claims.expires_at - datetime.now(UTC) <= timedelta(hours=1)


# --- the callback ---------------------------------------------------------------------------------


def test_the_whole_flow_stores_the_token_encrypted_and_shows_the_id(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given ORCID will exchange the code
    token_call = orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    state = _start(_link())["state"]
    # When ORCID redirects the researcher back with the code
    response = _get("/orcid/callback", {"code": CODE, "state": state})
    # Then the success page shows the authenticated iD as a full link with the icon
    assert response["statusCode"] == 200, _body(response)
    _assert_secure(response)
    html = _body(response)
    assert "Your ORCID iD is connected" in html
    # The link's accessible name starts with the iD as shown; the iD itself never wraps (a break only after the host).
    url = f"https://sandbox.orcid.org/{ORCID}"
    assert f'href="{url}" aria-label="{url} (View ORCID record)"' in html
    assert f'<span class="orcid-url">https://sandbox.orcid.org/<wbr><span class="orcid-number">{ORCID}</span>' in html
    assert 'aria-label="ORCID iD icon"' in html
    # And the code went to ORCID with our credentials and the registered redirect URI
    assert token_call.call_count == 1
    sent = parse_qs(str(orcid.calls[0].request.body))
    assert sent["code"] == [CODE]
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["redirect_uri"] == [f"{BASE}/orcid/callback"]
    # And the token is stored sealed under KMS, opening only for this researcher
    stored = composition.token_store().get("r1")
    assert stored is not None
    assert stored.source.value == "oauth"
    assert stored.scopes == ["/activities/update", "/person/update", "/read-limited"]
    assert stored.refresh_token is not None
    assert composition.token_cipher().open("r1", stored.access_token) == ACCESS
    assert composition.token_cipher().open("r1", stored.refresh_token) == REFRESH
    kms_key = boto3.client("kms").describe_key(KeyId=aws.key_id)["KeyMetadata"]["KeyId"]
    assert kms_key  # the data key came from this KMS key: decrypting it above went through KMS
    # And the researcher is connected
    r = composition.researcher_store().get("r1")
    assert r is not None
    assert (r.orcid, r.orcid_status.value, r.orcid_authenticated) == (ORCID, "active", True)
    assert r.connected_at is not None and r.orcid_scopes == stored.scopes
    # And no secret is in any item, any log line or the page
    everything = _all_items(aws) + capsys.readouterr().out + html + json.dumps(response)
    for secret in SECRETS:
        assert secret not in everything


def test_the_admin_api_shows_the_connection(aws: AwsEnv, researcher: str, orcid: responses.RequestsMock) -> None:
    orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    _get("/orcid/callback", {"code": CODE, "state": _start(_link())["state"]})
    response = _admin("GET", "/researchers/r1")
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["orcid"] == ORCID
    assert body["orcid_status"] == "active"
    assert body["connected_at"]
    assert sorted(body["orcid_scopes"]) == ["/activities/update", "/person/update", "/read-limited"]
    for secret in SECRETS:
        assert secret not in json.dumps(body)


def test_a_replayed_callback_is_refused_and_exchanges_nothing(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock
) -> None:
    token_call = orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    state = _start(_link())["state"]
    assert _get("/orcid/callback", {"code": CODE, "state": state})["statusCode"] == 200
    replay = _get("/orcid/callback", {"code": CODE, "state": state})
    assert replay["statusCode"] == 400
    _assert_secure(replay)
    assert "already been used" in _body(replay)
    assert token_call.call_count == 1


def _refusal(response: dict[str, Any], status: int, text: str) -> str:
    assert response["statusCode"] == status, _body(response)
    _assert_secure(response)
    html = _body(response)
    assert text in html
    return html


def _nothing_stored(aws: AwsEnv) -> None:
    assert aws.table("TOKENS_TABLE").scan()["Items"] == []
    r = composition.researcher_store().get("r1")
    assert r is not None and r.orcid_status.value == "none"


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        (lambda s: {"code": CODE}, 400, "This sign-in cannot be completed"),
        (lambda s: {"code": CODE, "state": s[:-2] + "zz"}, 400, "This sign-in cannot be completed"),
        (
            lambda s: {
                "code": CODE,
                "state": Signer(SecretStr(SIGNING_KEY)).sign_state(
                    "r1", new_nonce(), datetime.now(UTC) - timedelta(seconds=1)
                ),
            },
            400,
            "took too long",
        ),
        (lambda s: {"state": s}, 400, "did not confirm"),
    ],
    ids=["state-missing", "state-forged", "state-expired", "code-missing"],
)
def test_a_callback_without_a_good_state_or_code_is_refused(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock, query: Any, status: int, text: str
) -> None:
    token_call = orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    state = _start(_link())["state"]
    html = _refusal(_get("/orcid/callback", query(state)), status, text)
    assert token_call.call_count == 0
    assert "Nothing was stored" in html
    _nothing_stored(aws)


def test_a_denial_offers_a_fresh_link(aws: AwsEnv, researcher: str, orcid: responses.RequestsMock) -> None:
    token_call = orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    state = _start(_link())["state"]
    query = {"error": "access_denied", "error_description": "User denied access", "state": state}
    html = _refusal(_get("/orcid/callback", query), 200, "You did not authorize access")
    retry = re.search(r'<a class="button" href="([^"]+)"', html)
    assert retry is not None
    retry_url = retry.group(1).replace("&amp;", "&")
    assert retry_url.startswith(f"{BASE}/connect?link=")
    fresh = _get("/connect", {"link": parse_qs(urlsplit(retry_url).query)["link"][0]})
    assert fresh["statusCode"] == 200
    assert token_call.call_count == 0
    _nothing_stored(aws)


def test_a_different_id_on_record_is_refused_revoked_and_nothing_stored(
    aws: AwsEnv, orcid: responses.RequestsMock
) -> None:
    composition.researcher_store().upsert_profile(
        ResearcherInput(id="r1", given_names="Josiah", family_name="Carberry", orcid=OTHER_ORCID)
    )
    orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    revoke_call = orcid.add(responses.POST, REVOKE_URL, body="")
    params = _start(_link())
    assert params["orcid"] == OTHER_ORCID and "given_names" not in params  # only the iD is pre-filled
    html = _refusal(_get("/orcid/callback", {"code": CODE, "state": params["state"]}), 409, "not the ORCID iD")
    assert f"https://sandbox.orcid.org/{ORCID}" in html and f"https://sandbox.orcid.org/{OTHER_ORCID}" in html
    assert revoke_call.call_count == 1
    assert parse_qs(str(revoke_call.calls[0].request.body))["token"] == [ACCESS]
    assert aws.table("TOKENS_TABLE").scan()["Items"] == []
    r = composition.researcher_store().get("r1")
    assert r is not None and r.orcid == OTHER_ORCID and r.orcid_status.value == "none"


@pytest.mark.parametrize(
    ("scope", "named"),
    [
        ("/read-limited /person/update", ["/activities/update"]),
        ("/activities/update /person/update", ["/read-limited"]),
        ("/person/update", ["/activities/update", "/read-limited"]),
    ],
)
def test_a_grant_missing_a_needed_scope_is_refused_naming_it_and_revoked(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock, scope: str, named: list[str]
) -> None:
    orcid.add(responses.POST, TOKEN_URL, json=_token_body(scope=scope))
    revoke_call = orcid.add(responses.POST, REVOKE_URL, body="")
    html = _refusal(
        _get("/orcid/callback", {"code": CODE, "state": _start(_link())["state"]}),
        403,
        "Some permissions were not granted",
    )
    for missing in named:
        assert f"<code>{missing}</code>" in html
    for granted in scope.split():
        assert f"<code>{granted}</code>" not in html
    assert revoke_call.call_count == 1
    _nothing_stored(aws)


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "text"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": f"Invalid authorization code: {CODE}"},
            400,
            "already used or expired",
        ),
        (401, {"error": "invalid_client", "error_description": "Bad client credentials"}, 400, "could not complete"),
        (503, "<html>down</html>", 502, "not responding"),
    ],
    ids=["invalid-grant", "bad-client", "orcid-down"],
)
def test_a_failed_token_exchange_is_refused(
    aws: AwsEnv,
    researcher: str,
    orcid: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: Any,
    expected_status: int,
    text: str,
) -> None:
    if isinstance(body, dict):
        orcid.add(responses.POST, TOKEN_URL, json=body, status=status)
    else:
        orcid.add(responses.POST, TOKEN_URL, body=body, status=status)
    html = _refusal(_get("/orcid/callback", {"code": CODE, "state": _start(_link())["state"]}), expected_status, text)
    assert "Try again" in html
    _nothing_stored(aws)
    # ORCID echoes the code in its error; it must not reach the page or the logs.
    assert CODE not in html + capsys.readouterr().out


# --- disconnect -----------------------------------------------------------------------------------


def _connect(orcid: responses.RequestsMock) -> None:
    orcid.add(responses.POST, TOKEN_URL, json=_token_body())
    assert _get("/orcid/callback", {"code": CODE, "state": _start(_link())["state"]})["statusCode"] == 200


def test_disconnect_revokes_at_orcid_deletes_the_token_and_marks_disconnected(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    _connect(orcid)
    revoke_call = orcid.add(responses.POST, REVOKE_URL, body="")
    response = _admin("DELETE", "/researchers/r1/orcid")
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body == {
        "researcher_id": "r1",
        "orcid": ORCID,
        "orcid_status": "disconnected",
        "token_revocation": "revoked",
    }
    sent = parse_qs(str(revoke_call.calls[0].request.body))
    assert sent["token"] == [ACCESS]
    assert sent["client_id"] == [CLIENT_ID]
    assert composition.token_store().get("r1") is None
    r = composition.researcher_store().get("r1")
    assert r is not None and r.orcid_status.value == "disconnected" and r.orcid == ORCID
    for secret in SECRETS:
        assert secret not in capsys.readouterr().out + json.dumps(response)
    # The audit log says who disconnected whom, and keeps no token.
    (entry,) = composition.audit_log().recent(limit=5).entries
    assert (entry.action, entry.target, entry.actor_kind) == ("researcher.disconnect", "r1", "api")
    assert entry.after == {"orcid_status": "disconnected", "token_revocation": "revoked"}
    assert ACCESS not in json.dumps(aws.table("AUDIT_TABLE").scan()["Items"], default=str)


def test_disconnect_deletes_a_token_orcid_says_is_already_invalid(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock
) -> None:
    _connect(orcid)
    orcid.add(
        responses.POST,
        REVOKE_URL,
        status=401,
        json={"error": "invalid_token", "error_description": f"Invalid access token: {ACCESS}"},
    )
    response = _admin("DELETE", "/researchers/r1/orcid")
    assert response["statusCode"] == 200
    assert response_json(response)["token_revocation"] == "already_invalid"
    assert ACCESS not in json.dumps(response)
    assert composition.token_store().get("r1") is None


def test_disconnect_keeps_the_token_when_orcid_fails(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock
) -> None:
    _connect(orcid)
    orcid.add(responses.POST, REVOKE_URL, status=500, body="oops")
    response = _admin("DELETE", "/researchers/r1/orcid")
    assert response["statusCode"] == 502
    assert "try again" in response_json(response)["message"]
    assert composition.token_store().get("r1") is not None
    r = composition.researcher_store().get("r1")
    assert r is not None and r.orcid_status.value == "active"
    assert composition.audit_log().recent(limit=5).entries == []  # nothing changed, nothing recorded


def test_disconnect_of_a_researcher_who_never_connected_is_409(aws: AwsEnv, researcher: str) -> None:
    assert _admin("DELETE", "/researchers/r1/orcid")["statusCode"] == 409


def test_disconnect_of_an_unknown_researcher_is_404(aws: AwsEnv) -> None:
    assert _admin("DELETE", "/researchers/ghost/orcid")["statusCode"] == 404


# --- the CLI --------------------------------------------------------------------------------------

CLI_API = "https://api.orcid-sync.test"


def _route_cli_to_admin(orcid: responses.RequestsMock) -> list[str]:
    """Send the CLI's (SigV4-signed) requests to the admin handler in-process; returns what was called."""
    seen: list[str] = []

    def api(request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        seen.append(f"{request.method} {parts.path}")
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        answer = _admin(request.method, parts.path, json.loads(body) if body else None)
        return answer["statusCode"], {"Content-Type": "application/json"}, str(answer.get("body") or "")

    for method in (responses.POST, responses.DELETE):
        orcid.add_callback(method, re.compile(f"{CLI_API}/.*"), callback=api)
    return seen


def test_the_cli_prints_a_connect_link_and_disconnects(
    aws: AwsEnv, researcher: str, orcid: responses.RequestsMock
) -> None:
    seen = _route_cli_to_admin(orcid)
    link = CliRunner().invoke(cli, ["connect-link", "r1", "--expires-in-days", "3", "--api", CLI_API])
    assert link.exit_code == 0, link.output
    url = link.stdout.strip()
    assert url.startswith(f"{BASE}/connect?link=")
    assert _get("/connect", {"link": parse_qs(urlsplit(url).query)["link"][0]})["statusCode"] == 200

    _connect(orcid)
    orcid.add(responses.POST, REVOKE_URL, body="")
    gone = CliRunner().invoke(cli, ["disconnect", "r1", "--api", CLI_API])
    assert gone.exit_code == 0, gone.output
    assert gone.stdout.strip() == "r1: disconnected (token revoked)"
    assert seen == ["POST /researchers/r1/connect-link", "DELETE /researchers/r1/orcid"]


def test_the_cli_reports_the_apis_error(aws: AwsEnv, orcid: responses.RequestsMock) -> None:
    _route_cli_to_admin(orcid)
    result = CliRunner().invoke(cli, ["connect-link", "ghost", "--api", CLI_API])
    assert result.exit_code == 1
    assert "HTTP 404: researcher ghost does not exist" in result.output


def test_the_admin_routes_are_in_the_openapi_document(aws: AwsEnv) -> None:
    paths = response_json(_admin("GET", "/openapi.json"))["paths"]
    assert "post" in paths["/researchers/{researcher_id}/connect-link"]
    assert "delete" in paths["/researchers/{researcher_id}/orcid"]


# --- the state store ------------------------------------------------------------------------------


def test_a_state_record_is_consumed_once_and_only_by_its_researcher(aws: AwsEnv) -> None:
    store = DynamoOAuthStateStore(aws.table("STATE_TABLE"))
    now = datetime.now(UTC)
    store.create("n1", researcher_id="r1", expires_at=now + timedelta(hours=1))
    assert not store.consume("n1", researcher_id="r2", at=now)  # issued to someone else
    assert store.consume("n1", researcher_id="r1", at=now)
    assert not store.consume("n1", researcher_id="r1", at=now)  # a replay
    assert not store.consume("never-issued", researcher_id="r1", at=now)
    item = aws.table("STATE_TABLE").get_item(Key={"id": "oauth-state#n1"})["Item"]
    assert item["used_at"] == now.isoformat()
    assert int(item["expiration"]) == int((now + timedelta(hours=1)).timestamp())
