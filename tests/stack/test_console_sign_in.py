"""The console's sign-in on the local stack: the Cognito stand-in's managed login → our callback → our cookie.

Users are made in moto's user pool (the one the template created) as ``orcid-sync console add-admin`` makes them;
the browser is ``requests`` following the stand-in's form. Also: what the console refuses (signed out, forged,
expired or foreign cookies, POSTs without CSRF, a JWT for another pool) and what the stand-in refuses (a wrong
redirect_uri, no PKCE, a code used twice).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from orcid_sync_local.console_users import create_console_user
from orcid_sync_local.stack import LocalStack

PASSWORD = "Local-console-1!"


def _pool(stack: LocalStack) -> str:
    return str(stack.resource("ConsoleUserPool").ref)


def _client_id(stack: LocalStack) -> str:
    return str(stack.resource("ConsoleUserPoolClient").ref)


def _make_user(stack: LocalStack, email: str, group: str | None) -> None:
    create_console_user(stack, email, PASSWORD, group)


class _Browser(requests.Session):
    """Chromium treats http://127.0.0.1 as a secure context and sends ``Secure`` cookies there; Python's cookie jar
    does not, so the cookies' ``Secure`` flag is dropped once received (the tests check the flag on Set-Cookie)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def _browser() -> requests.Session:
    return _Browser()


def _form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def _sign_in(stack: LocalStack, email: str, *, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    """Sign in as a browser does; the session (its cookies) and the callback's answer."""
    browser = _browser()
    start = browser.get(f"{stack.api_url}/console/signin", params={"next": "/console/jobs"}, allow_redirects=False)
    assert start.status_code == 302
    login = browser.get(start.headers["Location"])
    assert login.status_code == 200, login.text
    fields = _form_fields(login.text)
    answer = browser.post(
        f"{stack.cognito_login_url}/login",
        data={**fields, "username": email, "password": password},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    callback = browser.get(answer.headers["Location"], allow_redirects=False)
    return browser, callback


def _set_cookies(response: requests.Response) -> dict[str, Any]:
    cookies: dict[str, Any] = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            cookies[name] = morsel
    return cookies


@pytest.fixture(scope="module")
def users(local_stack: LocalStack) -> dict[str, str]:
    made = {"admin": "admin@example.org", "viewer": "viewer@example.org", "nobody": "nobody@example.org"}
    _make_user(local_stack, made["admin"], "orcid-admins")
    _make_user(local_stack, made["viewer"], "orcid-viewers")
    _make_user(local_stack, made["nobody"], None)
    return made


def test_an_admin_signs_in_and_gets_a_strict_session_cookie(local_stack: LocalStack, users: dict[str, str]) -> None:
    browser, callback = _sign_in(local_stack, users["admin"])
    assert callback.status_code == 303
    assert callback.headers["Location"] == "/console/jobs"  # back where the sign-in started
    cookie = _set_cookies(callback)["orcid_sync_console"]
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/console"
    assert 0 < int(cookie["max-age"]) <= 3600
    # No Cognito token anywhere in what the browser got.
    assert "eyJ" not in cookie.value and "eyJ" not in callback.text
    page = browser.get(f"{local_stack.api_url}/console/nowhere", allow_redirects=False)
    assert page.status_code == 404  # signed in: an unknown page is a 404 page, not a sign-in
    assert users["admin"] in page.text


def test_the_sign_in_cookie_is_lax_and_only_for_the_callback(local_stack: LocalStack) -> None:
    start = requests.get(f"{local_stack.api_url}/console/signin", allow_redirects=False)
    cookie = _set_cookies(start)["orcid_sync_console_sign_in"]
    assert cookie["samesite"] == "Lax" and cookie["httponly"] and cookie["secure"]
    assert cookie["path"] == "/console/callback"
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert "code_verifier" not in start.headers["Location"]


def test_a_person_in_no_group_is_refused(local_stack: LocalStack, users: dict[str, str]) -> None:
    _, callback = _sign_in(local_stack, users["nobody"])
    assert callback.status_code == 403
    assert "orcid_sync_console" not in _set_cookies(callback)
    assert "orcid-admins" in callback.text


def test_signed_out_the_console_sends_you_to_sign_in(local_stack: LocalStack) -> None:
    answer = requests.get(f"{local_stack.api_url}/console", allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/console/signin?next=")


@pytest.mark.parametrize("cookie", ["forged", "expired", "foreign-key"])
def test_a_forged_expired_or_foreign_cookie_is_no_session(local_stack: LocalStack, cookie: str) -> None:
    from pydantic import SecretStr

    from orcid_sync.domain.connect.signing import Signer
    from orcid_sync.domain.console.session import Role, issue_session, session_cookie_value

    secret = local_stack.client("secretsmanager").get_secret_value(SecretId=local_stack.resource("OrcidSecret").ref)
    import json

    key = json.loads(secret["SecretString"])["signing_key"]
    now = datetime.now(UTC)
    user = issue_session(subject="s", email="mallory@example.org", role=Role.ADMIN, now=now)
    if cookie == "forged":
        value = session_cookie_value(Signer(SecretStr(key)), user)[:-4] + "AAAA"
    elif cookie == "expired":
        old = issue_session(subject="s", email="a@example.org", role=Role.ADMIN, now=now - timedelta(hours=2))
        value = session_cookie_value(Signer(SecretStr(key)), old)
    else:
        value = session_cookie_value(Signer(SecretStr("k" * 40)), user)
    answer = requests.get(
        f"{local_stack.api_url}/console/nowhere", cookies={"orcid_sync_console": value}, allow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/console/signin")


def test_a_post_without_the_csrf_token_is_refused(local_stack: LocalStack, users: dict[str, str]) -> None:
    browser, _ = _sign_in(local_stack, users["admin"])
    answer = browser.post(f"{local_stack.api_url}/console/signout", data={}, allow_redirects=False)
    assert answer.status_code == 403
    wrong = browser.post(f"{local_stack.api_url}/console/signout", data={"csrf": "x" * 43}, allow_redirects=False)
    assert wrong.status_code == 403


def test_signing_out_clears_the_cookie_and_ends_the_managed_login(
    local_stack: LocalStack, users: dict[str, str]
) -> None:
    browser, _ = _sign_in(local_stack, users["viewer"])
    page = browser.get(f"{local_stack.api_url}/console/nowhere")
    csrf = _form_fields(page.text)["csrf"]
    answer = browser.post(f"{local_stack.api_url}/console/signout", data={"csrf": csrf}, allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(f"{local_stack.cognito_login_url}/logout?")
    assert int(_set_cookies(answer)["orcid_sync_console"]["max-age"]) == 0
    back = requests.get(answer.headers["Location"], allow_redirects=False)
    assert back.status_code == 302
    assert back.headers["Location"] == f"{local_stack.api_url}/console/signedout"


def test_a_jwt_signed_for_another_pool_is_refused(local_stack: LocalStack, users: dict[str, str]) -> None:
    """moto signs every pool's tokens with one key: a token from another pool verifies, but its issuer is not ours."""
    cognito = local_stack.client("cognito-idp")
    other = cognito.create_user_pool(PoolName="another-pool")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=other, ClientName="other")["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=other, Username="intruder", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=other, Username="intruder", Password=PASSWORD, Permanent=True)
    token = cognito.admin_initiate_auth(
        UserPoolId=other,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "intruder", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    from orcid_sync import composition
    from orcid_sync.domain.console.ports import ConsoleIdTokenError

    with pytest.raises(ConsoleIdTokenError, match=r"audience|issuer"):
        composition.console_identity_provider().verify_id_token(token)


# --- the stand-in is as strict as Cognito ---------------------------------------------------------


def _authorize(stack: LocalStack, **overrides: str) -> requests.Response:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": _client_id(stack),
        "redirect_uri": f"{stack.api_url}/console/callback",
        "scope": "openid email profile",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | overrides
    params = {key: value for key, value in params.items() if value != ""}
    return requests.get(f"{stack.cognito_login_url}/oauth2/authorize?{urlencode(params)}", allow_redirects=False)


def test_the_stand_in_refuses_an_unregistered_redirect_uri_without_redirecting(local_stack: LocalStack) -> None:
    answer = _authorize(local_stack, redirect_uri="https://evil.example/console/callback")
    assert answer.status_code == 400
    assert "Location" not in answer.headers


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge": "", "code_challenge_method": ""},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},
    ],
)
def test_the_stand_in_refuses_a_request_without_s256_pkce(local_stack: LocalStack, overrides: dict[str, str]) -> None:
    answer = _authorize(local_stack, **overrides)
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_request"]


def test_the_stand_in_refuses_a_scope_the_client_lacks(local_stack: LocalStack) -> None:
    answer = _authorize(local_stack, scope="openid aws.cognito.signin.user.admin")
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_scope"]


def test_a_code_is_single_use_and_needs_the_verifier(local_stack: LocalStack, users: dict[str, str]) -> None:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    browser = _browser()
    login = browser.get(_authorize(local_stack, code_challenge=challenge).url)
    answer = browser.post(
        f"{local_stack.cognito_login_url}/login",
        data={**_form_fields(login.text), "username": users["admin"], "password": PASSWORD},
        allow_redirects=False,
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "client_id": _client_id(local_stack),
        "code": code,
        "redirect_uri": f"{local_stack.api_url}/console/callback",
        "code_verifier": verifier,
    }
    first = requests.post(f"{local_stack.cognito_login_url}/oauth2/token", data=exchange)
    assert first.status_code == 200 and "id_token" in first.json()
    again = requests.post(f"{local_stack.cognito_login_url}/oauth2/token", data=exchange)
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}
