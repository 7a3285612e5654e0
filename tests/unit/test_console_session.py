"""The console's session cookie, CSRF tokens, role mapping and the sign-in's state/PKCE handling (pure domain)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from orcid_sync.domain.connect.signing import Signer
from orcid_sync.domain.console import sign_in
from orcid_sync.domain.console.ports import (
    CodeExchangeError,
    ConsoleIdentity,
    ConsoleIdTokenError,
    IdentityProviderUnavailableError,
)
from orcid_sync.domain.console.session import (
    Role,
    csrf_matches,
    csrf_token,
    issue_session,
    read_session,
    role_for_groups,
    session_cookie,
    session_cookie_value,
)
from orcid_sync.domain.console.sign_in import LoginSite, SignInRefusal, SignInRefusedError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIGNER = Signer(SecretStr("s" * 40))
SITE = LoginSite(login_url="https://login.example", client_id="client-1")
BASE = "https://orcid.example.edu"


def _user(role: Role = Role.ADMIN, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return issue_session(subject="sub-1", email="a@example.edu", role=role, now=now)


# --- the session cookie -----------------------------------------------------------------------------


def test_a_genuine_cookie_reads_back_as_its_user() -> None:
    user = _user()
    read = read_session(SIGNER, session_cookie_value(SIGNER, user), now=NOW + timedelta(minutes=59))
    assert read == user
    assert read is not None and read.can_change


def test_the_cookie_lasts_an_hour_at_most() -> None:
    cookie = session_cookie(SIGNER, _user(), now=NOW)
    assert 0 < cookie.max_age <= 3600 and cookie.same_site == "Strict" and cookie.path == "/console"
    assert read_session(SIGNER, cookie.value, now=NOW + timedelta(hours=1, seconds=1)) is None


@pytest.mark.parametrize("position", [0, 10, -2])
def test_a_tampered_cookie_is_no_session(position: int) -> None:
    value = session_cookie_value(SIGNER, _user())
    flipped = "A" if value[position] != "A" else "B"
    assert read_session(SIGNER, value[:position] + flipped + value[position + 1 :], now=NOW) is None


def test_a_cookie_signed_with_another_key_is_no_session() -> None:
    value = session_cookie_value(Signer(SecretStr("t" * 40)), _user())
    assert read_session(SIGNER, value, now=NOW) is None


def test_a_my_orcid_session_is_not_a_console_session() -> None:
    other = SIGNER.sign_session("researcher", "0000-0002-1825-0097", "secret", NOW + timedelta(hours=1))
    assert read_session(SIGNER, other, now=NOW) is None


def test_a_viewer_cannot_change_anything() -> None:
    assert not _user(Role.VIEWER).can_change


def test_csrf_tokens_belong_to_their_session() -> None:
    user, other = _user(), _user()
    assert csrf_matches(SIGNER, user, csrf_token(SIGNER, user))
    assert not csrf_matches(SIGNER, user, csrf_token(SIGNER, other))
    assert not csrf_matches(SIGNER, user, None)
    assert not csrf_matches(SIGNER, user, "")
    # The form token is a MAC, never the secret the cookie holds.
    assert csrf_token(SIGNER, user) != user.csrf_secret


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        (["orcid-admins"], Role.ADMIN),
        (["orcid-viewers"], Role.VIEWER),
        (["orcid-viewers", "orcid-admins"], Role.ADMIN),
        (["staff", "Orcid-Admins"], None),
        ([], None),
    ],
)
def test_groups_map_to_the_strongest_role(groups: list[str], role: Role | None) -> None:
    assert role_for_groups(groups) == role


# --- the sign-in ----------------------------------------------------------------------------------------


@dataclass
class FakeProvider:
    identity: ConsoleIdentity = field(
        default_factory=lambda: ConsoleIdentity("sub-1", "a@example.edu", ("orcid-admins",))
    )
    failure: Exception | None = None
    calls: list[dict[str, str]] = field(default_factory=list)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> str:
        self.calls.append({"code": code, "redirect_uri": redirect_uri, "code_verifier": code_verifier})
        if self.failure:
            raise self.failure
        return "id-token"

    def verify_id_token(self, id_token: str) -> ConsoleIdentity:
        return self.identity


def _start(next_path: str | None = "/console/jobs") -> tuple[str, str]:
    started = sign_in.start(site=SITE, base_url=BASE, next_path=next_path, signer=SIGNER, now=NOW)
    state = parse_qs(urlsplit(started.authorize_url).query)["state"][0]
    return state, started.cookie.value


def test_the_authorize_url_carries_state_and_an_s256_challenge_but_never_the_verifier() -> None:
    started = sign_in.start(site=SITE, base_url=BASE, next_path=None, signer=SIGNER, now=NOW)
    url = urlsplit(started.authorize_url)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://login.example/oauth2/authorize"
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{BASE}/console/callback"] and query["scope"] == ["openid email profile"]
    assert started.cookie.same_site == "Lax" and started.cookie.path == "/console/callback"
    provider = FakeProvider()
    sign_in.complete(
        code="c", state=query["state"][0], error=None, cookie_value=started.cookie.value, base_url=BASE,
        provider=provider, signer=SIGNER, now=NOW,
    )  # fmt: skip
    verifier = provider.calls[0]["code_verifier"]
    assert verifier not in started.authorize_url
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [digest] == [sign_in.pkce_challenge(verifier)]
    assert 43 <= len(verifier) <= 128


def _complete(state: str | None, cookie: str | None, provider: FakeProvider | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    return sign_in.complete(
        code=kwargs.get("code", "code-1"),  # type: ignore[arg-type]
        state=state,
        error=kwargs.get("error"),  # type: ignore[arg-type]
        cookie_value=cookie,
        base_url=BASE,
        provider=provider or FakeProvider(),
        signer=SIGNER,
        now=kwargs.get("now", NOW),  # type: ignore[arg-type]
    )


def test_a_complete_sign_in_issues_the_session_and_goes_back() -> None:
    state, cookie = _start()
    signed_in = _complete(state, cookie)
    assert signed_in.user.role is Role.ADMIN and signed_in.user.email == "a@example.edu"
    assert signed_in.next_path == "/console/jobs"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no cookie", SignInRefusal.INVALID),
        ("other state", SignInRefusal.INVALID),
        ("expired", SignInRefusal.EXPIRED),
        ("error", SignInRefusal.DENIED),
        ("bad code", SignInRefusal.FAILED),
        ("bad token", SignInRefusal.FAILED),
        ("down", SignInRefusal.UNAVAILABLE),
        ("no group", SignInRefusal.NO_ROLE),
    ],
)
def test_a_sign_in_is_refused(case: str, reason: SignInRefusal) -> None:
    state, cookie = _start()
    provider = FakeProvider()
    kwargs: dict[str, object] = {}
    if case == "no cookie":
        cookie = None  # type: ignore[assignment]
    elif case == "other state":
        state = _start()[0]
    elif case == "expired":
        kwargs["now"] = NOW + timedelta(minutes=11)
    elif case == "error":
        kwargs["error"] = "access_denied"
    elif case == "bad code":
        provider.failure = CodeExchangeError("invalid_grant")
    elif case == "bad token":
        provider.failure = ConsoleIdTokenError("issuer")
    elif case == "down":
        provider.failure = IdentityProviderUnavailableError("timeout")
    else:
        provider.identity = ConsoleIdentity("sub-2", "b@example.edu", ("staff",))
    with pytest.raises(SignInRefusedError) as refused:
        _complete(state, cookie, provider, **kwargs)
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/console", "/console\\@evil", "/me", "/console/signin", "/consoleX", ""],
)
def test_next_is_a_console_path_only(target: str) -> None:
    assert sign_in.safe_next(target) == "/console"


def test_the_logout_url_returns_to_the_console() -> None:
    url = urlsplit(SITE.logout_url(logout_uri=f"{BASE}/console/signedout"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://login.example/logout"
    assert parse_qs(url.query) == {"client_id": ["client-1"], "logout_uri": [f"{BASE}/console/signedout"]}
