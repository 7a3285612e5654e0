"""The "My ORCID" session: an HMAC-signed cookie naming the signed-in researcher and their authenticated iD.

The cookie holds the researcher id, the iD, an expiry (at most an hour) and a random CSRF secret, signed with the
stack's signing key (``Signer``); nothing in it is a token. A tampered, foreign-key or expired cookie is no session.
Every form carries the session's CSRF token (a MAC of the secret), and a POST is honoured only with it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from orcid_sync.domain.connect.signing import SignedTokenError, Signer
from orcid_sync.domain.models import Researcher
from orcid_sync.domain.ports import ResearcherStore

SESSION_COOKIE = "orcid_sync_me"
SESSION_PATH = "/me"
SESSION_LIFETIME = timedelta(hours=1)
# The sign-in's browser binding: the state's nonce, readable only where ORCID sends the researcher back.
SIGN_IN_COOKIE = "orcid_sync_sign_in"


@dataclass(frozen=True)
class Session:
    """Who is signed in, until when, and the secret their forms' CSRF tokens are made from."""

    researcher_id: str
    orcid: str
    csrf_secret: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedSession:
    session: Session
    cookie_value: str


def issue_session(signer: Signer, *, researcher_id: str, orcid: str, now: datetime) -> IssuedSession:
    """A new session for the researcher whose iD ORCID just authenticated."""
    expires_at = (now + SESSION_LIFETIME).replace(microsecond=0)
    session = Session(
        researcher_id=researcher_id, orcid=orcid, csrf_secret=secrets.token_urlsafe(16), expires_at=expires_at
    )
    value = signer.sign_session(researcher_id, orcid, session.csrf_secret, expires_at)
    return IssuedSession(session=session, cookie_value=value)


def read_session(signer: Signer, cookie_value: str | None, *, now: datetime) -> Session | None:
    """The session a cookie proves; None when there is none, or it is tampered with, foreign or expired."""
    if not cookie_value:
        return None
    try:
        claims = signer.verify_session(cookie_value, now=now)
    except SignedTokenError:
        return None
    return Session(
        researcher_id=claims.researcher_id,
        orcid=claims.orcid,
        csrf_secret=claims.csrf_secret,
        expires_at=claims.expires_at,
    )


def signed_in_researcher(session: Session, researchers: ResearcherStore) -> Researcher | None:
    """The session's researcher, if they still exist with the iD the session was opened for."""
    researcher = researchers.get(session.researcher_id)
    if researcher is None or researcher.orcid != session.orcid:
        return None
    return researcher


def csrf_token(signer: Signer, session: Session) -> str:
    """The token every form of this session carries."""
    return signer.csrf_token(session.csrf_secret)


def csrf_matches(signer: Signer, session: Session, token: str | None) -> bool:
    """Constant-time check of a submitted form token against the session's."""
    return bool(token) and hmac.compare_digest(str(token), csrf_token(signer, session))


@dataclass(frozen=True)
class SetCookie:
    """A cookie to set: always ``HttpOnly; Secure; SameSite=Lax`` (never read by scripts, only sent over HTTPS,
    not sent on cross-site POSTs); ``max_age`` 0 removes it."""

    name: str
    value: str
    path: str
    max_age: int


def session_cookie(issued: IssuedSession) -> SetCookie:
    return SetCookie(SESSION_COOKIE, issued.cookie_value, SESSION_PATH, int(SESSION_LIFETIME.total_seconds()))


def cleared_cookie(name: str, *, path: str) -> SetCookie:
    return SetCookie(name, "", path, 0)
