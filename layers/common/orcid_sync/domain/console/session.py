"""The admin console's session: an HMAC-signed cookie naming the signed-in person, their role and a CSRF secret.

The console trusts Cognito once, at sign-in (``sign_in.py``), and then only its own cookie: subject, email, role,
a random CSRF secret and an expiry (at most an hour), signed with the stack's signing key (``Signer``, the key the
connect links and "My ORCID" use, under purposes of its own so no other token passes as a console session). No
Cognito token is kept. A tampered, foreign-key or expired cookie is no session. Every state-changing request
carries the session's CSRF token (a MAC of the secret; the secret itself never leaves the cookie).

The cookie is ``HttpOnly; Secure; SameSite=Strict; Path=/console``: Strict because nothing outside the console
ever needs to arrive signed in (a link from an email lands signed out and the sign-in brings the person back).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from orcid_sync.domain.connect.signing import SignedTokenError, Signer

CONSOLE_PATH = "/console"
SESSION_COOKIE = "orcid_sync_console"
SESSION_LIFETIME = timedelta(hours=1)
# The header htmx requests carry the form token in (a form field ``csrf`` otherwise).
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
# Longest e-mail address Cognito accepts is far shorter than this; keeps the cookie under the Signer's size cap.
_MAX_EMAIL_LENGTH = 320


class Role(StrEnum):
    """What a signed-in person may do: an admin everything, a viewer read only."""

    ADMIN = "admin"
    VIEWER = "viewer"


# The Cognito groups (template: ConsoleAdminsGroup, ConsoleViewersGroup) and the role each grants.
ADMINS_GROUP = "orcid-admins"
VIEWERS_GROUP = "orcid-viewers"
GROUP_ROLES: dict[str, Role] = {ADMINS_GROUP: Role.ADMIN, VIEWERS_GROUP: Role.VIEWER}


def role_for_groups(groups: list[str] | tuple[str, ...] | frozenset[str]) -> Role | None:
    """The strongest role the groups grant; None when they grant none (the person is refused)."""
    roles = {GROUP_ROLES[group] for group in groups if group in GROUP_ROLES}
    if Role.ADMIN in roles:
        return Role.ADMIN
    if Role.VIEWER in roles:
        return Role.VIEWER
    return None


@dataclass(frozen=True)
class ConsoleUser:
    """The person a genuine console cookie names (``subject`` is their Cognito ``sub``)."""

    subject: str
    email: str
    role: Role
    csrf_secret: str
    expires_at: datetime

    @property
    def can_change(self) -> bool:
        """Whether this person may change anything (the server checks it on every POST; pages only hide buttons)."""
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class ConsoleCookie:
    """A cookie to set: always ``HttpOnly; Secure``; ``same_site`` "Strict" or "Lax"; ``max_age`` 0 removes it."""

    name: str
    value: str
    path: str
    max_age: int
    same_site: str = "Strict"


def issue_session(*, subject: str, email: str, role: Role, now: datetime) -> ConsoleUser:
    """A new session for a person Cognito just authenticated (the role already taken from their groups)."""
    if not subject or len(email) > _MAX_EMAIL_LENGTH:
        raise ValueError("a console session needs a subject and an e-mail address of sensible length")
    return ConsoleUser(
        subject=subject,
        email=email,
        role=role,
        csrf_secret=secrets.token_urlsafe(16),
        expires_at=(now + SESSION_LIFETIME).replace(microsecond=0),
    )


def session_cookie_value(signer: Signer, user: ConsoleUser) -> str:
    return signer.sign_console_session([user.subject, user.email, user.role.value, user.csrf_secret], user.expires_at)


def session_cookie(signer: Signer, user: ConsoleUser, *, now: datetime) -> ConsoleCookie:
    """The cookie that carries the session; it lives no longer than the session."""
    max_age = max(0, int((user.expires_at - now).total_seconds()))
    return ConsoleCookie(SESSION_COOKIE, session_cookie_value(signer, user), CONSOLE_PATH, max_age)


def cleared_session_cookie() -> ConsoleCookie:
    return ConsoleCookie(SESSION_COOKIE, "", CONSOLE_PATH, 0)


def read_session(signer: Signer, cookie_value: str | None, *, now: datetime) -> ConsoleUser | None:
    """The person a cookie proves; None when there is none, or it is tampered with, foreign or expired."""
    if not cookie_value:
        return None
    try:
        (subject, email, role, csrf_secret), expires_at = signer.verify_console_session(cookie_value, fields=4, now=now)
    except SignedTokenError:
        return None
    try:
        granted = Role(role)
    except ValueError:
        return None
    return ConsoleUser(subject=subject, email=email, role=granted, csrf_secret=csrf_secret, expires_at=expires_at)


def csrf_token(signer: Signer, user: ConsoleUser) -> str:
    """The token every form (and every htmx request) of this session carries."""
    return signer.console_csrf_token(user.csrf_secret)


def csrf_matches(signer: Signer, user: ConsoleUser, token: str | None) -> bool:
    """Constant-time check of a submitted token against the session's."""
    return bool(token) and hmac.compare_digest(str(token).encode("utf-8"), csrf_token(signer, user).encode("utf-8"))
