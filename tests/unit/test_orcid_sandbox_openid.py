"""The local ORCID sandbox signs researchers in like ORCID's OpenID Connect: the ``openid`` scope, ``nonce``, a signed
``id_token`` in the token answer, its keys at ``/oauth/jwks``, discovery and userinfo."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from orcid_sync_local.orcid_sandbox.testing import ALL_SCOPES, FakeClock

CLIENT = RegisteredClient(
    "APP-ABCDEFGHIJKLMNOP", "repo-secret", ["https://repo.example/me/callback"], "Demo Repository"
)
CALLBACK = "https://repo.example/me/callback"
SITE = "http://127.0.0.1:8090"


@pytest.fixture
def clock() -> FakeClock:
    # Five minutes ago, so that PyJWT's exp/iat checks apply after a test moves the clock on a little.
    return FakeClock(now=float(int(time.time()) - 300))


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    sandbox = create_app(SandboxConfig(clients=[CLIENT], clock=clock, rate=0, public_base_url=SITE))
    sandbox.testing = True
    return sandbox


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": CLIENT.client_id,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": CALLBACK,
        "state": "csrf-1",
        "nonce": "n-0S6_WzA2Mj",
    }
    params.update(overrides)
    return params


def sign_in(client: FlaskClient, **overrides: str) -> str:
    """Register at the authorize page and authorize; the code from the redirect."""
    form = authorize_params(**{"action": "authorize", "mode": "register", "given_names": "Ada", **overrides})
    form.setdefault("family_names", "Lovelace")
    response = client.post("/oauth/authorize", data=form)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def exchange(client: FlaskClient, code: str) -> dict[str, Any]:
    form = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
    }
    response = client.post("/oauth/token", data=form, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json
    return body


def verify(client: FlaskClient, id_token: str, **options: Any) -> dict[str, Any]:
    """The id_token's claims, checked with PyJWT against the key set the sandbox publishes."""
    keys = jwt.PyJWKSet.from_dict(client.get("/oauth/jwks").json)
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(key for key in keys.keys if key.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        id_token, key, algorithms=["RS256"], audience=CLIENT.client_id, issuer=SITE, **options
    )
    return claims


# --- the authorize page -------------------------------------------------------------------------------------------


def test_the_authorize_page_offers_openid_and_carries_nonce_prompt_and_max_age(client: FlaskClient) -> None:
    # When a client asks for a sign-in with OpenID Connect's parameters
    params = authorize_params(prompt="login", max_age="3600")
    page = client.get("/oauth/authorize", query_string=params).text

    # Then the consent page shows the scope, and its form sends the parameters back with the decision
    assert "<code>openid</code>" in page
    for name in ("nonce", "prompt", "max_age"):
        assert f'<input type="hidden" name="{name}" value="{params[name]}">' in page


@pytest.mark.parametrize("scope", ["openid /authenticate", "/authenticate openid /read-limited"])
def test_openid_with_authenticate_is_refused_without_redirect(client: FlaskClient, scope: str) -> None:
    response = client.get("/oauth/authorize", query_string=authorize_params(scope=scope))

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert '<code id="error-code">invalid_scope</code>' in response.text


@pytest.mark.parametrize(("overrides"), [{"prompt": "sometimes"}, {"max_age": "-5"}, {"max_age": "soon"}])
def test_bad_prompt_or_max_age_is_an_invalid_request(client: FlaskClient, overrides: dict[str, str]) -> None:
    response = client.get("/oauth/authorize", query_string=authorize_params(**overrides))

    assert response.status_code == 400
    assert '<code id="error-code">invalid_request</code>' in response.text


def test_prompt_none_gets_login_required_as_the_sandbox_has_no_session(client: FlaskClient) -> None:
    response = client.get("/oauth/authorize", query_string=authorize_params(prompt="none"))

    assert response.status_code == 302
    assert response.headers["Location"] == f"{CALLBACK}?error=login_required&state=csrf-1"


# --- the id_token -------------------------------------------------------------------------------------------------


def test_an_openid_code_is_exchanged_for_a_token_with_a_signed_id_token(client: FlaskClient, clock: FakeClock) -> None:
    # Given a researcher who signed in for scope=openid with a nonce, and exchanged the code a minute later
    signed_in_at = int(clock.now)
    code = sign_in(client)
    clock.advance(60)
    body = exchange(client, code)

    # Then the answer is ORCID's usual one plus an RS256 id_token naming its key
    assert body["scope"] == "openid"
    assert body["orcid"]
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == client.get("/oauth/jwks").json["keys"][0]["kid"]

    # And it verifies against the published key, with ORCID's claims
    claims = verify(client, body["id_token"], options={"require": ["exp", "iat", "auth_time", "jti"]})
    assert claims["sub"] == body["orcid"]
    assert claims["aud"] == CLIENT.client_id
    assert claims["iss"] == SITE
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["auth_time"] == signed_in_at
    assert claims["iat"] == signed_in_at + 60
    assert claims["exp"] == claims["iat"] + 600
    assert claims["amr"] == "pwd"
    assert claims["given_name"] == "Ada"
    assert claims["family_name"] == "Lovelace"


def test_a_tampered_id_token_fails_verification(client: FlaskClient) -> None:
    # Given a genuine id_token whose payload is changed to another iD
    id_token = exchange(client, sign_in(client))["id_token"]
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "0000-0002-1825-0097"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    # Then the signature no longer matches
    with pytest.raises(jwt.InvalidSignatureError):
        verify(client, f"{header}.{forged}.{signature}")


def test_without_a_nonce_the_id_token_has_none(client: FlaskClient) -> None:
    params = authorize_params()
    del params["nonce"]
    form = {**params, "action": "authorize", "mode": "register", "given_names": "Ada"}
    location = client.post("/oauth/authorize", data=form).headers["Location"]

    claims = verify(client, exchange(client, parse_qs(urlsplit(location).query)["code"][0])["id_token"])

    assert "nonce" not in claims


def test_openid_beside_member_scopes_still_gets_an_id_token(client: FlaskClient) -> None:
    body = exchange(client, sign_in(client, scope=f"openid {ALL_SCOPES}"))

    assert set(body["scope"].split()) == {"openid", *ALL_SCOPES.split()}
    assert verify(client, body["id_token"])["sub"] == body["orcid"]


def test_the_connect_flow_without_openid_gets_no_id_token(client: FlaskClient) -> None:
    body = exchange(client, sign_in(client, scope=ALL_SCOPES))

    assert "id_token" not in body
    assert set(body) == {"access_token", "token_type", "refresh_token", "expires_in", "scope", "name", "orcid"}


def test_a_refreshed_openid_token_gets_no_new_id_token(client: FlaskClient) -> None:
    body = exchange(client, sign_in(client))
    form = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
    }

    refreshed = client.post("/oauth/token", data=form).json

    assert refreshed["access_token"] != body["access_token"]
    assert "id_token" not in refreshed


def test_the_issuer_is_the_request_url_when_no_public_url_is_configured(clock: FakeClock) -> None:
    app = create_app(SandboxConfig(clients=[CLIENT], clock=clock, rate=0))
    client = app.test_client()

    id_token = exchange(client, sign_in(client))["id_token"]

    assert jwt.decode(id_token, options={"verify_signature": False})["iss"] == "http://localhost"
    assert client.get("/.well-known/openid-configuration").json["issuer"] == "http://localhost"


def test_issued_id_tokens_show_their_claims_and_join_the_leak_scan(client: FlaskClient) -> None:
    body = exchange(client, sign_in(client))

    issued = client.get("/_sandbox/issued-tokens").json

    # The claims are there for inspection; the token value only in the leak-scan list
    assert [claims["sub"] for claims in issued["id_tokens"]] == [body["orcid"]]
    assert issued["id_tokens"][0]["nonce"] == "n-0S6_WzA2Mj"
    assert body["id_token"] not in json.dumps(issued["id_tokens"])
    assert issued["tokens"] == [body["access_token"], body["refresh_token"], body["id_token"]]
    # And a reset forgets the claims but not the values
    assert client.post("/_sandbox/reset").status_code == 204
    after = client.get("/_sandbox/issued-tokens").json
    assert after == {"tokens": issued["tokens"], "id_tokens": []}


# --- keys, discovery, userinfo ------------------------------------------------------------------------------------


def test_jwks_publishes_one_rsa_signing_key(client: FlaskClient) -> None:
    response = client.get("/oauth/jwks")

    assert response.status_code == 200
    (key,) = response.json["keys"]
    assert {name: key[name] for name in ("kty", "e", "use", "alg")} == {
        "kty": "RSA",
        "e": "AQAB",
        "use": "sig",
        "alg": "RS256",
    }
    assert key["kid"] and len(key["n"]) > 300
    assert "d" not in key and "p" not in key  # no private part


def test_discovery_names_the_sandbox_own_endpoints(client: FlaskClient) -> None:
    config = client.get("/.well-known/openid-configuration").json

    assert config["issuer"] == SITE
    assert config["authorization_endpoint"] == f"{SITE}/oauth/authorize"
    assert config["token_endpoint"] == f"{SITE}/oauth/token"
    assert config["jwks_uri"] == f"{SITE}/oauth/jwks"
    assert config["userinfo_endpoint"] == f"{SITE}/oauth/userinfo"
    assert config["response_types_supported"] == ["code"]
    assert config["subject_types_supported"] == ["public"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["scopes_supported"] == ["openid"]


def test_userinfo_answers_who_an_openid_token_is_for(client: FlaskClient) -> None:
    body = exchange(client, sign_in(client))

    response = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})

    assert response.status_code == 200
    assert response.json == {
        "sub": body["orcid"],
        "name": "Ada Lovelace",
        "family_name": "Lovelace",
        "given_name": "Ada",
    }


def test_userinfo_needs_a_live_token_with_the_openid_scope(client: FlaskClient) -> None:
    member = exchange(client, sign_in(client, scope=ALL_SCOPES))
    signed_in = exchange(client, sign_in(client))
    revoke = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "token": signed_in["access_token"]}
    assert client.post("/oauth/revoke", data=revoke).status_code == 200

    def status(authorization: str | None) -> int:
        headers = {"Authorization": authorization} if authorization else {}
        return client.get("/oauth/userinfo", headers=headers).status_code

    assert status(None) == 401
    assert status("Bearer not-a-token") == 401
    assert status(f"Bearer {signed_in['access_token']}") == 401  # revoked
    assert status(f"Bearer {member['access_token']}") == 403  # no openid scope
