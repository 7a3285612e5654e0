"""The local ORCID sandbox's OAuth server answers like ORCID's: authorize page, codes, tokens, revocation."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, SandboxState, create_app
from orcid_sync_local.orcid_sandbox.config import redirect_uri_matches
from orcid_sync_local.orcid_sandbox.identifiers import is_valid_orcid, orcid_check_digit
from orcid_sync_local.orcid_sandbox.testing import ALL_SCOPES, FakeClock

CLIENT = RegisteredClient(
    client_id="APP-ABCDEFGHIJKLMNOP",
    client_secret="repo-secret",
    redirect_uris=["https://repo.example/orcid/callback", "http://localhost:8080"],
    name="Demo Repository",
)
OTHER_CLIENT = RegisteredClient("APP-0000111122223333", "other-secret", ["https://other.example"], "Other Member")
CALLBACK = "https://repo.example/orcid/callback"
OAUTH_JSON = "application/json;charset=UTF-8"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Flask:
    sandbox = create_app(SandboxConfig(clients=[CLIENT, OTHER_CLIENT], clock=clock, rate=0))
    sandbox.testing = True
    return sandbox


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def state_of(app: Flask) -> SandboxState:
    state = app.extensions["orcid_sandbox"]
    assert isinstance(state, SandboxState)
    return state


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": CLIENT.client_id,
        "response_type": "code",
        "scope": ALL_SCOPES,
        "redirect_uri": CALLBACK,
        "state": "csrf-123",
    }
    params.update(overrides)
    return params


def consent(client: FlaskClient, action: str = "authorize", **fields: str) -> Any:
    form = authorize_params(**{"action": action, "mode": "register", "given_names": "Ada", **fields})
    return client.post("/oauth/authorize", data=form)


def code_from(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]


def exchange(client: FlaskClient, code: str, **overrides: str) -> Any:
    form = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
    }
    form.update(overrides)
    return client.post("/oauth/token", data=form, headers={"Accept": "application/json"})


def connect(client: FlaskClient, **fields: str) -> dict[str, Any]:
    response = exchange(client, code_from(consent(client, **fields).headers["Location"]))
    assert response.status_code == 200
    body: dict[str, Any] = response.json
    return body


def read_works(client: FlaskClient, token: dict[str, Any], method: str = "GET") -> Any:
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/vnd.orcid+json"}
    return client.open(f"/v3.0/{token['orcid']}/works", method=method, headers=headers)


# --- the authorize page -----------------------------------------------------------------------------------------


def test_authorize_page_shows_client_scopes_and_both_buttons(client: FlaskClient) -> None:
    # Given a registered client asking for the project's scopes, with registration prefill
    params = authorize_params(given_names="Ada", family_names="Lovelace", email="ada@example.org")

    # When the researcher opens the authorize URL
    response = client.get("/oauth/authorize", query_string=params)

    # Then the page names the client and each scope and offers exactly the two decisions
    assert response.status_code == 200
    page = response.text
    assert "Demo Repository" in page
    for scope in ALL_SCOPES.split():
        assert f"<code>{scope}</code>" in page
    assert re.search(r"<button[^>]*value=\"authorize\"[^>]*>Authorize access</button>", page)
    assert re.search(r"<button[^>]*value=\"deny\"[^>]*>Deny access</button>", page)
    assert 'value="Ada"' in page
    assert 'value="Lovelace"' in page
    assert 'value="ada@example.org"' in page
    assert 'name="mode" value="register" checked' in page


def test_authorize_page_prefills_sign_in_for_a_known_orcid_or_email(app: Flask, client: FlaskClient) -> None:
    # Given an existing test researcher
    record = state_of(app).create_record("Grace", "Hopper", "grace@example.org")

    # When the authorize URL carries their iD, or only their email
    by_orcid = client.get("/oauth/authorize", query_string=authorize_params(orcid=record.orcid)).text
    by_email = client.get("/oauth/authorize", query_string=authorize_params(email="GRACE@example.org")).text

    # Then the sign-in choice is selected and filled with their iD
    for page in (by_orcid, by_email):
        assert 'name="mode" value="signin" checked' in page
        assert f'id="signin_id" name="signin_id" value="{record.orcid}"' in page


def test_authorize_page_escapes_what_it_echoes(client: FlaskClient) -> None:
    # Given a prefill parameter carrying markup
    params = authorize_params(given_names='<script>alert("x")</script>')

    # When the page renders
    page = client.get("/oauth/authorize", query_string=params).text

    # Then the markup is escaped, not executed
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "APP-ZZZZZZZZZZZZZZZZ"}, "invalid_client"),
        ({"redirect_uri": "https://evil.example/orcid/callback"}, "redirect_uri_mismatch"),
        ({"redirect_uri": "https://repo.example/other/path"}, "redirect_uri_mismatch"),
        ({"redirect_uri": "http://localhost:9999/callback"}, "redirect_uri_mismatch"),
        ({"scope": "/read-limited /write-everything"}, "invalid_scope"),
        ({"scope": "/read-public"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_bad_authorize_requests_get_an_error_page_and_no_redirect(
    client: FlaskClient, overrides: dict[str, str], error: str
) -> None:
    # When the authorize URL is wrong in one way
    response = client.get("/oauth/authorize", query_string=authorize_params(**overrides))

    # Then ORCID shows an HTML error page instead of redirecting anywhere
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers
    assert f'<code id="error-code">{error}</code>' in response.text


def test_tampered_consent_form_is_rejected_without_redirect(client: FlaskClient) -> None:
    # When the posted form names a redirect URI that is not registered
    response = consent(client, redirect_uri="https://evil.example/steal")

    # Then no code goes anywhere
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        ("https://repo.example/orcid/callback", True),
        ("https://repo.example/orcid/callback/extra", False),
        ("http://localhost:8080/any/path?x=1", True),
        ("http://localhost:8080", True),
        ("http://localhost:8081/any/path", False),
        ("https://localhost:8080/any/path", False),
        ("", False),
    ],
)
def test_redirect_uri_matching_follows_orcid(requested: str, allowed: bool) -> None:
    assert redirect_uri_matches(CLIENT.redirect_uris, requested) is allowed


def test_authorize_redirects_with_a_six_character_code_and_the_state(client: FlaskClient) -> None:
    # When the researcher registers and clicks "Authorize access"
    response = consent(client)

    # Then the browser goes to the redirect URI with a 6-character code and the same state
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert re.fullmatch(r"[A-Z0-9]{6}", query["code"][0])
    assert query["state"] == ["csrf-123"]


def test_deny_redirects_with_access_denied(client: FlaskClient) -> None:
    # When the researcher clicks "Deny access"
    response = consent(client, action="deny")

    # Then the redirect carries ORCID's denial, exactly
    assert response.status_code == 302
    expected = f"{CALLBACK}?error=access_denied&error_description=User%20denied%20access&state=csrf-123"
    assert response.headers["Location"] == expected


def test_redirect_uri_with_a_query_keeps_it(client: FlaskClient) -> None:
    # Given a bare-host registration and a redirect URI that already has a query
    redirect_uri = "http://localhost:8080/callback?tenant=demo"

    # When the researcher authorizes
    response = consent(client, redirect_uri=redirect_uri)

    # Then the code is appended to the existing query
    assert response.headers["Location"].startswith(f"{redirect_uri}&code=")


def test_sign_in_as_existing_researcher_binds_the_code_to_their_record(app: Flask, client: FlaskClient) -> None:
    # Given an existing researcher
    record = state_of(app).create_record("Grace", "Hopper", "grace@example.org")

    # When they sign in by email and authorize
    token = connect(client, mode="signin", signin_id="grace@example.org")

    # Then the token is for their record
    assert token["orcid"] == record.orcid
    assert token["name"] == "Grace Hopper"


def test_sign_in_with_unknown_id_shows_the_form_again(client: FlaskClient) -> None:
    response = consent(client, mode="signin", signin_id="nobody@example.org")

    assert response.status_code == 200
    assert "No test researcher has the ORCID iD or email" in response.text
    assert "Location" not in response.headers


def test_register_needs_given_names(client: FlaskClient) -> None:
    response = consent(client, given_names="")

    assert response.status_code == 200
    assert "Given names are required" in response.text


# --- token exchange ---------------------------------------------------------------------------------------------


def test_code_exchange_returns_orcids_token_response(client: FlaskClient) -> None:
    # Given a code from the authorize page
    code = code_from(consent(client, given_names="Sofia", family_names="Garcia").headers["Location"])

    # When the client exchanges it
    response = exchange(client, code)

    # Then the token response has ORCID's fields and lifetime
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OAUTH_JSON
    body = response.json
    assert set(body) == {"access_token", "token_type", "refresh_token", "expires_in", "scope", "name", "orcid"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 631138518
    assert set(body["scope"].split()) == set(ALL_SCOPES.split())
    assert body["name"] == "Sofia Garcia"
    assert is_valid_orcid(body["orcid"])
    assert body["orcid"].startswith("0009-")


def test_client_credentials_may_come_as_basic_auth(client: FlaskClient) -> None:
    code = code_from(consent(client).headers["Location"])
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}

    response = client.post("/oauth/token", data=form, auth=(CLIENT.client_id, CLIENT.client_secret))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_id": CLIENT.client_id, "client_secret": "wrong"},
        {"client_id": "APP-ZZZZZZZZZZZZZZZZ", "client_secret": CLIENT.client_secret},
        {"client_id": CLIENT.client_id, "client_secret": ""},
    ],
)
def test_bad_client_credentials_get_401_invalid_client(client: FlaskClient, credentials: dict[str, str]) -> None:
    code = code_from(consent(client).headers["Location"])

    response = exchange(client, code, **credentials)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == OAUTH_JSON
    assert response.json == {"error": "invalid_client", "error_description": "Bad client credentials"}


def test_codes_are_single_use(client: FlaskClient) -> None:
    code = code_from(consent(client).headers["Location"])
    assert exchange(client, code).status_code == 200

    again = exchange(client, code)

    assert again.status_code == 400
    assert again.json == {"error": "invalid_grant", "error_description": f"Invalid authorization code: {code}"}


def test_unknown_code_is_an_invalid_grant(client: FlaskClient) -> None:
    response = exchange(client, "NOPE00")

    assert response.status_code == 400
    assert response.json == {"error": "invalid_grant", "error_description": "Invalid authorization code: NOPE00"}


def test_codes_expire_after_ten_minutes(client: FlaskClient, clock: FakeClock) -> None:
    # Given two codes, one used just in time and one just too late
    early = code_from(consent(client).headers["Location"])
    late = code_from(consent(client).headers["Location"])

    clock.advance(599)
    assert exchange(client, early).status_code == 200
    clock.advance(2)
    response = exchange(client, late)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_time_scale_speeds_up_code_expiry(clock: FakeClock) -> None:
    # Given a sandbox running ten times faster than its clock
    app = create_app(SandboxConfig(clients=[CLIENT], clock=clock, time_scale=10, rate=0))
    client = app.test_client()
    code = code_from(consent(client).headers["Location"])

    # When 61 clock seconds pass (610 sandbox seconds)
    clock.advance(61)

    # Then the code has expired
    assert exchange(client, code).status_code == 400


def test_redirect_uri_must_match_the_authorize_request(client: FlaskClient) -> None:
    code = code_from(consent(client).headers["Location"])

    response = exchange(client, code, redirect_uri="http://localhost:8080/elsewhere")

    assert response.status_code == 400
    assert response.json == {"error": "invalid_grant", "error_description": f"Invalid authorization code: {code}"}


def test_code_of_another_client_is_an_invalid_grant(client: FlaskClient) -> None:
    code = code_from(consent(client).headers["Location"])

    response = exchange(client, code, client_id=OTHER_CLIENT.client_id, client_secret=OTHER_CLIENT.client_secret)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_missing_code_and_unknown_grant_type(client: FlaskClient) -> None:
    missing = exchange(client, "")
    unsupported = exchange(client, "ABCDEF", grant_type="password")

    assert missing.status_code == 400
    assert missing.json["error"] == "invalid_request"
    assert unsupported.status_code == 400
    assert unsupported.json == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant type: password",
    }


# --- refresh and revocation -------------------------------------------------------------------------------------


def refresh(client: FlaskClient, refresh_token: str, **fields: str) -> Any:
    form = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        **fields,
    }
    return client.post("/oauth/token", data=form)


def test_refresh_issues_a_new_token_and_keeps_the_old_one_unless_asked(client: FlaskClient) -> None:
    # Given a connected researcher
    token = connect(client)

    # When the client refreshes without revoke_old
    fresh = refresh(client, token["refresh_token"]).json

    # Then both tokens work for the same record
    assert fresh["access_token"] != token["access_token"]
    assert fresh["orcid"] == token["orcid"]
    assert read_works(client, token).status_code == 200
    assert read_works(client, fresh).status_code == 200


def test_refresh_with_revoke_old_kills_the_old_token(client: FlaskClient) -> None:
    token = connect(client)

    fresh = refresh(client, token["refresh_token"], revoke_old="true").json

    assert read_works(client, token).status_code == 401
    assert read_works(client, fresh).status_code == 200


def test_refresh_can_narrow_but_not_widen_the_scope(client: FlaskClient) -> None:
    token = connect(client, scope="/read-limited /activities/update")

    narrowed = refresh(client, token["refresh_token"], scope="/read-limited")
    widened = refresh(client, token["refresh_token"], scope="/read-limited /person/update")

    assert narrowed.status_code == 200
    assert narrowed.json["scope"] == "/read-limited"
    assert widened.status_code == 400
    assert widened.json["error"] == "invalid_scope"


def test_unknown_refresh_token_is_an_invalid_grant(client: FlaskClient) -> None:
    response = refresh(client, "not-a-refresh-token")

    assert response.status_code == 400
    assert response.json == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token: not-a-refresh-token",
    }


def revoke(client: FlaskClient, token: str, secret: str = CLIENT.client_secret) -> Any:
    form = {"client_id": CLIENT.client_id, "client_secret": secret, "token": token}
    return client.post("/oauth/revoke", data=form)


def test_revoked_access_token_gets_orcids_invalid_token_401(client: FlaskClient) -> None:
    # Given a connected researcher whose token the client revokes
    token = connect(client)
    assert revoke(client, token["access_token"]).status_code == 200

    # When the client calls the API with it
    response = read_works(client, token)

    # Then ORCID's 401 echoes the token, and the refresh token died with it
    assert response.status_code == 401
    assert response.headers["Content-Type"] == OAUTH_JSON
    expected = {"error": "invalid_token", "error_description": f"Invalid access token: {token['access_token']}"}
    assert response.json == expected
    assert refresh(client, token["refresh_token"]).status_code == 400


def test_revoking_the_refresh_token_revokes_the_pair(client: FlaskClient) -> None:
    token = connect(client)

    revoke(client, token["refresh_token"])

    assert read_works(client, token).status_code == 401


def test_revoke_needs_client_credentials_and_ignores_unknown_tokens(client: FlaskClient) -> None:
    token = connect(client)

    assert revoke(client, token["access_token"], secret="wrong").status_code == 401
    assert revoke(client, "unknown-token").status_code == 200
    assert read_works(client, token).status_code == 200


def test_token_revoked_by_the_researcher_still_works_for_delete_only(client: FlaskClient) -> None:
    # Given a token the researcher revoked in their account settings
    token = connect(client)
    assert client.post(f"/_sandbox/tokens/{token['access_token']}/revoke").json == {"revoked": True}

    # When the client reads, then deletes
    read = read_works(client, token)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    delete = client.delete(f"/v3.0/{token['orcid']}/work/999999", headers=headers)

    # Then the read is refused but the DELETE gets past the token check (to a 404 for this put-code)
    assert read.status_code == 401
    assert read.json["error"] == "invalid_token"
    assert delete.status_code == 404
    assert delete.json["error-code"] == 9016


def test_researcher_can_revoke_all_tokens_of_one_client(client: FlaskClient) -> None:
    token = connect(client)
    second = connect(client, mode="signin", signin_id=token["orcid"])

    response = client.post(f"/_sandbox/records/{token['orcid']}/revoke", json={"client_id": CLIENT.client_id})

    assert response.json == {"revoked": 2}
    assert read_works(client, token).status_code == 401
    assert read_works(client, second).status_code == 401
    assert client.post("/_sandbox/tokens/unknown/revoke").status_code == 404


def test_client_credentials_token_is_not_for_any_record(client: FlaskClient) -> None:
    # Given a /read-public client-credentials token
    form = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "grant_type": "client_credentials",
        "scope": "/read-public",
    }
    token = client.post("/oauth/token", data=form).json
    researcher = connect(client)

    # When it is used on a record
    response = read_works(client, {**token, "orcid": researcher["orcid"]})

    # Then it has no orcid and ORCID answers 401/9017
    assert token["orcid"] is None
    assert response.status_code == 401
    assert response.json["error-code"] == 9017


def test_issued_tokens_lists_every_token_ever_issued(client: FlaskClient) -> None:
    # Given tokens from every grant: a code exchange, a refresh, client credentials and a seeded grant
    connected = connect(client)
    refreshed = refresh(client, connected["refresh_token"], revoke_old="true").json
    form = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "grant_type": "client_credentials",
        "scope": "/read-public",
    }
    public = client.post("/oauth/token", data=form).json
    seeded = client.post(
        "/_sandbox/researchers", json={"given_names": "Ada", "grant": {"client_id": CLIENT.client_id}}
    ).json
    # And one of them revoked by the client, then everything reset
    revoke = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "token": refreshed["access_token"]}
    assert client.post("/oauth/revoke", data=revoke).status_code == 200
    assert client.post("/_sandbox/reset").status_code == 204

    # When the leak scan asks for them
    response = client.get("/_sandbox/issued-tokens")

    # Then every access and refresh token value is listed, in issue order, the revoked and forgotten ones too
    assert response.status_code == 200
    expected = [
        token[kind] for token in (connected, refreshed, public, seeded) for kind in ("access_token", "refresh_token")
    ]
    assert response.json == {"tokens": expected, "id_tokens": []}
    assert len(set(expected)) == 8


# --- seeding researchers and clients ----------------------------------------------------------------------------


def test_sandbox_researchers_get_valid_new_ids_and_optional_tokens(client: FlaskClient) -> None:
    # When two researchers are seeded, one with a grant
    plain = client.post("/_sandbox/researchers", json={"given_names": "Ada", "family_name": "Lovelace"})
    granted = client.post(
        "/_sandbox/researchers",
        json={
            "given_names": "Alan",
            "family_name": "Turing",
            "email": "alan@example.org",
            "grant": {"client_id": CLIENT.client_id, "scope": ALL_SCOPES},
        },
    )

    # Then both get distinct valid iDs in the 0009 range, and the grant comes with a working token
    assert plain.status_code == 201
    assert granted.status_code == 201
    ids = {plain.json["orcid"], granted.json["orcid"]}
    assert len(ids) == 2
    assert all(is_valid_orcid(orcid) and orcid.startswith("0009-") for orcid in ids)
    assert "access_token" not in plain.json
    body = granted.json
    assert body["expires_in"] == 631138518
    assert set(body["scope"].split()) == set(ALL_SCOPES.split())
    assert read_works(client, body).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"family_name": "No given names"},
        {"given_names": "A", "grant": {"client_id": "APP-ZZZZZZZZZZZZZZZZ"}},
        {"given_names": "A", "grant": {"client_id": CLIENT.client_id, "scope": "/read-limited /bogus"}},
        {"given_names": "A", "orcid": "0000-0002-1825-0098"},
        {"given_names": "A", "unexpected": True},
    ],
)
def test_bad_researcher_seeds_are_rejected(client: FlaskClient, payload: dict[str, Any]) -> None:
    response = client.post("/_sandbox/researchers", json=payload)

    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_researcher_may_be_seeded_with_a_given_orcid_once(client: FlaskClient) -> None:
    first = client.post("/_sandbox/researchers", json={"given_names": "Josiah", "orcid": "0000-0002-1825-0097"})
    second = client.post("/_sandbox/researchers", json={"given_names": "Josiah", "orcid": "0000-0002-1825-0097"})

    assert first.status_code == 201
    assert first.json["orcid"] == "0000-0002-1825-0097"
    assert second.status_code == 400


@pytest.mark.parametrize(
    ("orcid", "valid"),
    [
        ("0000-0002-1825-0097", True),
        ("0000-0002-9079-593X", True),
        ("0000-0001-2345-6789", True),
        ("0000-0002-1825-0098", False),
        ("0000000218250097", False),
    ],
)
def test_orcid_checksum(orcid: str, valid: bool) -> None:
    assert is_valid_orcid(orcid) is valid


def test_check_digit_can_be_x() -> None:
    assert orcid_check_digit("000000029079593") == "X"


def test_clients_can_be_registered_at_run_time(client: FlaskClient) -> None:
    # Given a client registered through /_sandbox
    new_client = {
        "client_id": "APP-NEWCLIENT0000001",
        "client_secret": "new-secret",
        "redirect_uris": ["https://new.example"],
        "name": "New Member",
    }
    assert client.post("/_sandbox/clients", json=new_client).status_code == 201

    # When a researcher authorizes it
    page = client.get(
        "/oauth/authorize",
        query_string=authorize_params(client_id=new_client["client_id"], redirect_uri="https://new.example/cb"),
    )

    # Then the page shows it and it is listed without its secret
    assert page.status_code == 200
    assert "New Member" in page.text
    listed = client.get("/_sandbox/clients").json["clients"]
    assert {
        "client_id": "APP-NEWCLIENT0000001",
        "name": "New Member",
        "redirect_uris": ["https://new.example"],
    } in listed
    assert "new-secret" not in str(listed)


def test_client_ids_must_look_like_orcids(client: FlaskClient) -> None:
    payload = {"client_id": "APP-SHORT", "client_secret": "s", "redirect_uris": [], "name": "Bad"}

    assert client.post("/_sandbox/clients", json=payload).status_code == 400
    with pytest.raises(ValueError, match="APP-"):
        RegisteredClient("0000-0002-1825-0097", "s", [], "Bad")
