"""Signing in to the console: Cognito's managed login (authorization code + PKCE, a public client), then our session.

``start`` makes a random state and a PKCE verifier, keeps both (and where to go afterwards) in a short-lived signed
cookie readable only at ``/console/callback`` (``SameSite=Lax``: the identity provider sends the browser back with a
cross-site top-level GET, on which a Strict cookie would not be sent), and sends the browser to the pool's
``/oauth2/authorize`` with the state and the S256 challenge. ``complete`` checks the state against the cookie,
exchanges the code with the verifier, verifies the ID token, takes the role from ``cognito:groups`` and issues the
console session; a person in neither group is refused. The verifier is in an HttpOnly cookie, never in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode, urlsplit

from orcid_sync.domain.connect.signing import ExpiredTokenError, ForgedTokenError, Signer
from orcid_sync.domain.console.ports import (
    CodeExchangeError,
    ConsoleIdentityProvider,
    ConsoleIdTokenError,
    IdentityProviderUnavailableError,
)
from orcid_sync.domain.console.session import (
    CONSOLE_PATH,
    ConsoleCookie,
    ConsoleUser,
    issue_session,
    role_for_groups,
)
from orcid_sync.domain.errors import OrcidSyncError
from orcid_sync.domain.log import logger

CALLBACK_PATH = f"{CONSOLE_PATH}/callback"
SIGN_IN_PATH = f"{CONSOLE_PATH}/signin"
SIGN_IN_COOKIE = "orcid_sync_console_sign_in"
SIGN_IN_LIFETIME = timedelta(minutes=10)
SCOPES = "openid email profile"
_MAX_NEXT_LENGTH = 200


class SignInRefusal(StrEnum):
    """Why a sign-in did not end in a session; the refused page has a title and text for each."""

    INVALID = "invalid"  # no sign-in cookie, or a state that is not the cookie's: not this browser's sign-in
    EXPIRED = "expired"  # the sign-in took longer than SIGN_IN_LIFETIME
    DENIED = "denied"  # the identity provider answered with an error (cancelled, refused)
    FAILED = "failed"  # the code or the ID token did not hold up
    UNAVAILABLE = "unavailable"  # the identity provider could not be reached
    NO_ROLE = "no_role"  # signed in, but in neither console group


SIGN_IN_STATUS: dict[SignInRefusal, int] = {
    SignInRefusal.INVALID: 400,
    SignInRefusal.EXPIRED: 400,
    SignInRefusal.DENIED: 403,
    SignInRefusal.FAILED: 400,
    SignInRefusal.UNAVAILABLE: 502,
    SignInRefusal.NO_ROLE: 403,
}


class SignInRefusedError(OrcidSyncError):
    """The sign-in cannot be honoured; no session was created."""

    def __init__(self, reason: SignInRefusal) -> None:
        super().__init__(f"console sign-in refused: {reason.value}")
        self.reason = reason

    @property
    def status(self) -> int:
        return SIGN_IN_STATUS[self.reason]


@dataclass(frozen=True)
class LoginSite:
    """Where the browser signs in: the pool's managed-login origin and our public app client."""

    login_url: str
    client_id: str

    def logout_url(self, *, logout_uri: str) -> str:
        """Cognito's ``/logout``: ends the managed-login session too, then returns to ``logout_uri`` (registered)."""
        return f"{self.login_url}/logout?{urlencode({'client_id': self.client_id, 'logout_uri': logout_uri})}"


@dataclass(frozen=True)
class SignInStart:
    authorize_url: str
    cookie: ConsoleCookie


@dataclass(frozen=True)
class SignedIn:
    user: ConsoleUser
    next_path: str


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_pkce_verifier() -> str:
    """43 characters from the unreserved set (RFC 7636 allows 43 to 128)."""
    return secrets.token_urlsafe(32)


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console path of ours only (never another origin, never a scheme-relative URL)."""
    if not path or len(path) > _MAX_NEXT_LENGTH or "\\" in path or any(ord(c) < 0x20 for c in path):
        return CONSOLE_PATH
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/"):
        return CONSOLE_PATH
    if parts.path != CONSOLE_PATH and not parts.path.startswith(f"{CONSOLE_PATH}/"):
        return CONSOLE_PATH
    if parts.path.startswith((SIGN_IN_PATH, CALLBACK_PATH)):
        return CONSOLE_PATH
    return path


def callback_url(base_url: str) -> str:
    return f"{base_url}{CALLBACK_PATH}"


def start(*, site: LoginSite, base_url: str, next_path: str | None, signer: Signer, now: datetime) -> SignInStart:
    """The managed-login URL to send the browser to, and the cookie that binds the sign-in to this browser."""
    state = secrets.token_urlsafe(16)
    verifier = new_pkce_verifier()
    expires_at = (now + SIGN_IN_LIFETIME).replace(microsecond=0)
    value = signer.sign_console_sign_in([state, verifier, safe_next(next_path)], expires_at)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": site.client_id,
            "redirect_uri": callback_url(base_url),
            "scope": SCOPES,
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    cookie = ConsoleCookie(SIGN_IN_COOKIE, value, CALLBACK_PATH, int(SIGN_IN_LIFETIME.total_seconds()), same_site="Lax")
    return SignInStart(authorize_url=f"{site.login_url}/oauth2/authorize?{query}", cookie=cookie)


def cleared_sign_in_cookie() -> ConsoleCookie:
    return ConsoleCookie(SIGN_IN_COOKIE, "", CALLBACK_PATH, 0, same_site="Lax")


def complete(
    *,
    code: str | None,
    state: str | None,
    error: str | None,
    cookie_value: str | None,
    base_url: str,
    provider: ConsoleIdentityProvider,
    signer: Signer,
    now: datetime,
) -> SignedIn:
    """The identity provider's answer turned into a console session, or a refusal (nothing kept either way)."""
    if not cookie_value:
        raise SignInRefusedError(SignInRefusal.INVALID)
    try:
        (expected_state, verifier, next_path), _ = signer.verify_console_sign_in(cookie_value, fields=3, now=now)
    except ExpiredTokenError:
        raise SignInRefusedError(SignInRefusal.EXPIRED) from None
    except ForgedTokenError:
        raise SignInRefusedError(SignInRefusal.INVALID) from None
    if not state or not hmac.compare_digest(state.encode("utf-8"), expected_state.encode("utf-8")):
        raise SignInRefusedError(SignInRefusal.INVALID)
    if error:
        logger.info("console sign-in: the identity provider answered with an error", error=error[:64])
        raise SignInRefusedError(SignInRefusal.DENIED)
    if not code:
        raise SignInRefusedError(SignInRefusal.INVALID)
    try:
        id_token = provider.exchange_code(code, redirect_uri=callback_url(base_url), code_verifier=verifier)
        identity = provider.verify_id_token(id_token)
    except IdentityProviderUnavailableError:
        raise SignInRefusedError(SignInRefusal.UNAVAILABLE) from None
    except (CodeExchangeError, ConsoleIdTokenError) as exc:
        logger.warning("console sign-in failed", error=type(exc).__name__, detail=str(exc)[:200])
        raise SignInRefusedError(SignInRefusal.FAILED) from None
    role = role_for_groups(identity.groups)
    if role is None:
        logger.info("console sign-in refused: the person is in no console group")
        raise SignInRefusedError(SignInRefusal.NO_ROLE)
    user = issue_session(subject=identity.subject, email=identity.email, role=role, now=now)
    return SignedIn(user=user, next_path=safe_next(next_path))
