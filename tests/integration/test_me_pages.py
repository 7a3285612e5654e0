""" "My ORCID" through the connect function, in-process, against moto and a mocked ORCID (token endpoint, id_token).

A researcher signs in with ORCID (scope openid, a signed single-use state bound to the browser by a cookie, the nonce
checked in the id_token), gets a signed session cookie, sees their connection and outputs (no ORCID request), and
steers them with CSRF-protected forms. A tampered session or another researcher's asset id never shows or changes
anything of anyone else's; no token reaches a page, a log line or a table.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.admin_api import app as admin_app
from functions.connect import app as connect_app
from orcid_sync import composition
from orcid_sync.adapters.orcid_api.openid import OrcidIdTokenVerifier
from orcid_sync.domain.me.outputs import OutputState, researcher_outputs
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, SIGNING_KEY, AwsEnv

ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0001-5109-3700"
STRANGER_ORCID = "0000-0003-1415-9269"
ACCESS = "5d0c1a7e-acce-55ed-8a11-c0ffee000001"
REFRESH = "9b1e2f3a-4e5f-4a6b-8c7d-c0ffee000002"
SIGN_IN_ACCESS = "0b6e4c55-51c4-4e55-8a11-0f0f0f0f0f03"
CODE = "Xy7Qz9"
BASE = "https://orcid-sync.example.edu"
ORCID_SITE = "http://orcid.test"
TOKEN_URL = re.compile(r"^http://(?:api\.)?orcid\.test/oauth/token$")
REVOKE_URL = re.compile(r"^http://(?:api\.)?orcid\.test/oauth/revoke$")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "test-key-1"


# --- ORCID's signing keys and id_tokens -------------------------------------------------------------


class FakeKeySet:
    """ORCID's JWKS as PyJWKClient would return it (the real verifier checks everything else)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        return jwt.PyJWK({**jwk, "kid": KID, "alg": "RS256", "use": "sig"})


def _id_token(orcid: str, sent_nonce: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ORCID_SITE, "aud": CLIENT_ID, "sub": orcid, "iat": now, "exp": now + 600, "auth_time": now}
    return jwt.encode({**body, "nonce": sent_nonce, **claims}, KEY, algorithm="RS256", headers={"kid": KID})


def _token_body(scope: str, orcid: str, id_token: str | None = None, access: str = ACCESS) -> dict[str, Any]:
    body = {
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": REFRESH,
        "expires_in": 631138518,
        "scope": scope,
        "name": "Josiah Carberry",
        "orcid": orcid,
    }
    return body | ({"id_token": id_token} if id_token else {})


# --- requests ---------------------------------------------------------------------------------------


def _event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    form: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = urlencode(form) if form is not None else None
    headers = {"accept": "text/html"}
    if form is not None:
        headers["content-type"] = "application/x-www-form-urlencoded"
    event = http_event(method, path, query=query, headers=headers, body=body)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    del event["requestContext"]["authorizer"]
    event.pop("pathParameters", None)
    if cookies:
        event["cookies"] = cookies
    return event


class Browser:
    """A browser's cookie jar in front of the connect function."""

    def __init__(self) -> None:
        self.cookies: dict[tuple[str, str], str] = {}  # (name, path) -> value
        self.set_cookie_lines: list[str] = []

    def _send(self, path: str) -> list[str]:
        return [
            f"{name}={value}"
            for (name, cookie_path), value in self.cookies.items()
            if path == cookie_path or path.startswith(cookie_path.rstrip("/") + "/")
        ]

    def request(
        self, method: str, path: str, query: dict[str, str] | None = None, form: dict[str, str] | None = None
    ) -> dict[str, Any]:
        event = _event(method, path, query=query, cookies=self._send(path), form=form)
        response: dict[str, Any] = connect_app.lambda_handler(event, lambda_context())
        for line in response.get("cookies") or []:
            self.set_cookie_lines.append(line)
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            cookie_path = re.search(r"Path=([^;]+)", line)
            key = (name, cookie_path.group(1) if cookie_path else "/")
            if "Max-Age=0" in line:
                self.cookies.pop(key, None)
            else:
                self.cookies[key] = value
        return response

    def get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        return self.request("GET", path, query)

    def post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        return self.request("POST", path, form=form)

    def session(self) -> str | None:
        return self.cookies.get(("orcid_sync_me", "/me"))


def _headers(response: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}


def _body(response: dict[str, Any]) -> str:
    return str(response.get("body") or "")


def _admin(method: str, path: str, body: Any = None) -> Any:
    response = admin_app.lambda_handler(http_event(method, path, body=body), lambda_context())
    assert response["statusCode"] < 400, response
    return response_json(response) if response.get("body") else None


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def orcid(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    verifier = OrcidIdTokenVerifier(ORCID_SITE, CLIENT_ID, jwks_client=FakeKeySet())
    monkeypatch.setattr(composition, "id_token_verifier", lambda: verifier)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _researcher(rid: str, orcid: str | None, **extra: Any) -> None:
    body = {"id": rid, "given_names": "Josiah", "family_name": "Carberry", **extra}
    if orcid:
        body["orcid"] = orcid
    _admin("PUT", f"/researchers/{rid}", body)


def _asset(aid: str, rid: str, **extra: Any) -> None:
    body = {
        "id": aid,
        "researchers": [rid],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": f"Title of {aid}",
        "date": "2024",
        "doi": f"10.1234/{aid}",
        **extra,
    }
    _admin("PUT", f"/assets/{aid}", body)


def _connect(mock: responses.RequestsMock, rid: str, orcid: str) -> None:
    """The researcher connects through the connect flow (a token stored sealed)."""
    url = _admin("POST", f"/researchers/{rid}/connect-link", {"expires_in_days": 7})["url"]
    link = parse_qs(urlsplit(url).query)["link"][0]
    browser = Browser()
    start = browser.get("/connect/start", {"link": link})
    state = parse_qs(urlsplit(_headers(start)["location"]).query)["state"][0]
    mock.add(responses.POST, TOKEN_URL, json=_token_body("/activities/update /read-limited /person/update", orcid))
    done = browser.get("/orcid/callback", {"code": CODE, "state": state})
    assert done["statusCode"] == 200, _body(done)
    mock.reset()


@pytest.fixture
def world(orcid: responses.RequestsMock) -> responses.RequestsMock:
    """r1 (connected, two assets) and r2 (another researcher, connected, one asset); sending switched on."""
    _admin(
        "PUT",
        "/settings",
        {
            "institution_name": "Carberry University",
            "send_assets": True,
            "support_contact": "orcid@carberry.edu",
            "accent_color": "#7a1f5c",
            "logo_url": "https://cdn.carberry.edu/logo.svg",
        },
    )
    _researcher("r1", ORCID, profile_url="https://repository.example.edu/profiles/r1")
    _researcher("r2", OTHER_ORCID)
    _connect(orcid, "r1", ORCID)
    _connect(orcid, "r2", OTHER_ORCID)
    _asset("a1", "r1")
    _asset("a2", "r1", status="pending")
    _asset("b1", "r2", title="Secret of r2")
    return orcid


def _sign_in(browser: Browser, mock: responses.RequestsMock, orcid: str = ORCID, **claims: Any) -> dict[str, Any]:
    start = browser.get("/me/signin")
    assert start["statusCode"] == 302, _body(start)
    params = {k: v[0] for k, v in parse_qs(urlsplit(_headers(start)["location"]).query).items()}
    mock.add(
        responses.POST,
        TOKEN_URL,
        json=_token_body("openid", orcid, _id_token(orcid, params["nonce"], **claims), access=SIGN_IN_ACCESS),
    )
    return browser.get("/orcid/callback", {"code": CODE, "state": params["state"]})


# --- signing in -------------------------------------------------------------------------------------


def test_without_a_session_me_offers_orcids_sign_in_button(world: responses.RequestsMock) -> None:
    response = Browser().get("/me")
    assert response["statusCode"] == 200
    html = _body(response)
    assert ">Sign in with ORCID</span></a>" in html
    assert 'href="/me/signin"' in html and 'fill="#A6CE39"' in html
    # The institution, not "Research repository"; its contact; its colour by hash, its logo by origin.
    assert "Carberry University" in html and 'href="mailto:orcid@carberry.edu"' in html
    assert '<img class="logo" src="https://cdn.carberry.edu/logo.svg"' in html
    csp = _headers(response)["content-security-policy"]
    assert "img-src https://cdn.carberry.edu;" in csp and "'sha256-" in csp and "unsafe-inline" not in csp
    assert "script" not in csp


def test_the_sign_in_asks_orcid_for_openid_with_a_state_and_nonce(world: responses.RequestsMock) -> None:
    browser = Browser()
    response = browser.get("/me/signin")
    location = _headers(response)["location"]
    assert location.startswith(f"{ORCID_SITE}/oauth/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["scope"] == "openid" and params["response_type"] == "code" and params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == f"{BASE}/orcid/callback"
    assert len(params["nonce"]) >= 16 and params["state"]
    # The sign-in is bound to this browser by a cookie only the callback sees.
    (binding,) = browser.set_cookie_lines
    assert binding.startswith(f"orcid_sync_sign_in={params['nonce']};")
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/orcid/callback"):
        assert attribute in binding


def test_a_researcher_signs_in_and_sees_their_connection_and_outputs(
    aws: AwsEnv, world: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = Browser()
    done = _sign_in(browser, world)
    # Then a session cookie and a redirect to the page
    assert done["statusCode"] == 303, _body(done)
    assert _headers(done)["location"] == "/me"
    session_line = next(line for line in browser.set_cookie_lines if line.startswith("orcid_sync_me="))
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/me", "Max-Age=3600"):
        assert attribute in session_line
    # And the page, rendered without a single ORCID request
    world.reset()
    page = browser.get("/me")
    assert len(world.calls) == 0
    assert page["statusCode"] == 200
    html = _body(page)
    assert f'aria-label="https://sandbox.orcid.org/{ORCID} (View ORCID record)"' in html
    assert "Connected since" in html and "adding your research outputs and affiliation" in html
    assert "Title of a1" in html and "Title of a2" in html and "Secret of r2" not in html
    assert "Will be added in the next daily update" in html and "Not sent: not yet approved" in html
    assert "Don&#39;t send this one" in html and 'href="/me/disconnect"' in html
    assert "Back to your profile" in html and "form-action 'self'" in _headers(page)["content-security-policy"]
    # And no token, code or key anywhere: pages, cookies, logs, tables
    dump = [str(aws.table(name).scan()["Items"]) for name in ("RESEARCHERS_TABLE", "STATE_TABLE", "LEDGER_TABLE")]
    everything = html + _body(done) + json.dumps(browser.set_cookie_lines) + capsys.readouterr().out + "".join(dump)
    for secret in (SIGN_IN_ACCESS, ACCESS, REFRESH, CODE, CLIENT_SECRET, SIGNING_KEY):
        assert secret not in everything


def test_a_replayed_or_foreign_browser_callback_is_refused(world: responses.RequestsMock) -> None:
    browser = Browser()
    start = browser.get("/me/signin")
    params = {k: v[0] for k, v in parse_qs(urlsplit(_headers(start)["location"]).query).items()}
    world.add(responses.POST, TOKEN_URL, json=_token_body("openid", ORCID, _id_token(ORCID, params["nonce"])))
    # Another browser (no binding cookie) cannot finish it: nobody can be signed in as someone else
    other = Browser().get("/orcid/callback", {"code": CODE, "state": params["state"]})
    assert other["statusCode"] == 400 and "This sign-in cannot be completed" in _body(other)
    assert not any(c.startswith("orcid_sync_me=") for c in other.get("cookies") or [])
    assert len(world.calls) == 0
    # The right browser can, once
    assert browser.get("/orcid/callback", {"code": CODE, "state": params["state"]})["statusCode"] == 303
    browser.cookies[("orcid_sync_sign_in", "/orcid/callback")] = params["nonce"]
    again = browser.get("/orcid/callback", {"code": CODE, "state": params["state"]})
    assert again["statusCode"] == 400
    assert len(world.calls) == 1


def test_an_id_token_with_another_nonce_or_issuer_signs_nobody_in(world: responses.RequestsMock) -> None:
    for claims in ({"nonce": "not-the-one-we-sent"}, {"iss": "https://evil.example"}, {"aud": "APP-SOMEONEELSE"}):
        browser = Browser()
        response = _sign_in(browser, world, **claims)
        assert response["statusCode"] == 400, claims
        assert "ORCID could not confirm your sign-in" in _body(response)
        assert browser.session() is None


def test_an_id_that_is_on_no_researcher_is_told_so_with_the_contact(world: responses.RequestsMock) -> None:
    browser = Browser()
    response = _sign_in(browser, world, orcid=STRANGER_ORCID)
    assert response["statusCode"] == 404
    html = _body(response)
    assert "This ORCID iD is not on any researcher profile" in html
    assert f"https://sandbox.orcid.org/{STRANGER_ORCID}" in html
    assert 'Please contact <a href="mailto:orcid@carberry.edu">' in html
    assert browser.session() is None


def test_a_denial_at_orcid_is_a_friendly_page(world: responses.RequestsMock) -> None:
    browser = Browser()
    start = browser.get("/me/signin")
    state = parse_qs(urlsplit(_headers(start)["location"]).query)["state"][0]
    response = browser.get("/orcid/callback", {"error": "access_denied", "state": state})
    assert response["statusCode"] == 200 and "You did not sign in" in _body(response)
    assert len(world.calls) == 0


def test_a_researcher_who_is_not_connected_is_offered_the_connect_flow(orcid: responses.RequestsMock) -> None:
    _researcher("r3", ORCID)
    browser = Browser()
    assert _sign_in(browser, orcid)["statusCode"] == 303
    html = _body(browser.get("/me"))
    assert "is not connected to the repository yet" in html
    link = re.search(r'href="(https://orcid-sync\.example\.edu/connect\?link=[^"]+)"', html)
    assert link, html
    connect = Browser().get(
        "/connect", {"link": parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)["link"][0]}
    )
    assert connect["statusCode"] == 200


# --- the session and CSRF ---------------------------------------------------------------------------


def _tampered(value: str, researcher_id: str) -> str:
    payload, mac = value.split(".")
    fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("\x1f")
    fields[1] = researcher_id
    forged = base64.urlsafe_b64encode("\x1f".join(fields).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


def test_a_tampered_session_shows_nothing_of_anyone(world: responses.RequestsMock) -> None:
    browser = Browser()
    _sign_in(browser, world)
    value = browser.session()
    assert value
    browser.cookies[("orcid_sync_me", "/me")] = _tampered(value, "r2")
    response = browser.get("/me")
    assert response["statusCode"] == 200
    html = _body(response)
    assert "Sign in with ORCID" in html and "Secret of r2" not in html and "Title of a1" not in html
    # And the bad cookie is cleared
    assert any(line.startswith("orcid_sync_me=;") and "Max-Age=0" in line for line in browser.set_cookie_lines)


def test_forms_need_the_sessions_csrf_token_and_act_only_on_its_researcher(world: responses.RequestsMock) -> None:
    browser = Browser()
    _sign_in(browser, world)
    token = _csrf(_body(browser.get("/me")))
    ports = composition.outputs_ports()
    # Without the token, or with another, nothing changes
    assert browser.post("/me/outputs/a1/opt-out", {})["statusCode"] == 403
    assert browser.post("/me/outputs/a1/opt-out", {"csrf": token[::-1]})["statusCode"] == 403
    assert researcher_outputs(ports, "r1").outputs[0].state is not OutputState.OPTED_OUT
    # Another researcher's asset is "not found", and stays as it was
    other = browser.post("/me/outputs/b1/opt-out", {"csrf": token})
    assert other["statusCode"] == 404 and "Secret of r2" not in _body(other)
    assert all(o.state is not OutputState.OPTED_OUT for o in researcher_outputs(ports, "r2").outputs)
    # A forged session with a valid-looking token for r2 is no session at all
    forged = Browser()
    forged.cookies[("orcid_sync_me", "/me")] = _tampered(browser.session() or "", "r2")
    assert forged.post("/me/outputs/b1/opt-out", {"csrf": token})["statusCode"] == 401
    assert all(o.state is not OutputState.OPTED_OUT for o in researcher_outputs(ports, "r2").outputs)
    # With the token, on their own asset: done, and the page says so
    done = browser.post("/me/outputs/a1/opt-out", {"csrf": token})
    assert done["statusCode"] == 303 and _headers(done)["location"].startswith("/me?done=opted_out")
    by_id = {o.asset_id: o for o in researcher_outputs(ports, "r1").outputs}
    assert by_id["a1"].state is OutputState.OPTED_OUT
    html = _body(browser.get("/me", {"done": "opted_out"}))
    assert "Not sent: you chose not to send it" in html and "Done: the repository will not send that output" in html
    # And back in
    assert browser.post("/me/outputs/a1/opt-in", {"csrf": token})["statusCode"] == 303
    assert {o.asset_id: o for o in researcher_outputs(ports, "r1").outputs}["a1"].state is OutputState.WILL_BE_ADDED
    # An action that does not apply is a plain 409 page
    assert browser.post("/me/outputs/a1/send-again", {"csrf": token})["statusCode"] == 409


def test_sign_out_clears_the_session(world: responses.RequestsMock) -> None:
    browser = Browser()
    _sign_in(browser, world)
    token = _csrf(_body(browser.get("/me")))
    response = browser.post("/me/signout", {"csrf": token})
    assert response["statusCode"] == 303
    assert browser.session() is None
    assert "Sign in with ORCID" in _body(browser.get("/me"))


def test_disconnect_asks_first_then_revokes_at_orcid(world: responses.RequestsMock) -> None:
    browser = Browser()
    _sign_in(browser, world)
    confirm = browser.get("/me/disconnect")
    assert confirm["statusCode"] == 200
    html = _body(confirm)
    assert "Disconnect your ORCID iD?" in html and 'action="/me/disconnect"' in html
    assert composition.researcher_store().get("r1").orcid_status.value == "active"  # type: ignore[union-attr]
    revoke = world.add(responses.POST, REVOKE_URL, body="")
    done = browser.post("/me/disconnect", {"csrf": _csrf(html)})
    assert done["statusCode"] == 303, _body(done)
    assert revoke.call_count == 1 and ACCESS in str(world.calls[-1].request.body)
    assert composition.researcher_store().get("r1").orcid_status.value == "disconnected"  # type: ignore[union-attr]
    assert composition.token_store().get("r1") is None
    assert composition.researcher_store().get("r2").orcid_status.value == "active"  # type: ignore[union-attr]
    assert "You disconnected your ORCID iD" in _body(browser.get("/me", {"done": "disconnected"}))


# --- branding on the connect pages --------------------------------------------------------------------


def test_the_connect_pages_carry_the_institution(world: responses.RequestsMock) -> None:
    url = _admin("POST", "/researchers/r1/connect-link", {"expires_in_days": 7})["url"]
    link = parse_qs(urlsplit(url).query)["link"][0]
    html = _body(Browser().get("/connect", {"link": link}))
    assert '<p class="site-name">Carberry University' in html
    assert 'href="https://repository.example.edu/profiles/r1"' in html
    assert "<style>:root{--accent:#7a1f5c}</style>" in html
    problem = Browser().get("/connect", {"link": "forged"})
    assert "Carberry University" in _body(problem) and "orcid@carberry.edu" in _body(problem)
