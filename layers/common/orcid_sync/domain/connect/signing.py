"""Signed, expiring, URL-safe tokens: personal connect links and OAuth ``state``.

A token is ``<payload>.<mac>``, both base64url without padding. The payload names its purpose,
so a connect link can never be replayed as an OAuth state or the other way round; the MAC is
HMAC-SHA256 under the stack's signing key. Nothing secret goes into a token: researcher id,
expiry and (for state) a random nonce, all of which a holder of the link may see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

_LINK_PURPOSE = "connect-link/v1"
_STATE_PURPOSE = "oauth-state/v1"
# "My ORCID": the state of a sign-in with ORCID (no researcher yet), the session cookie, its CSRF tokens.
_SIGN_IN_STATE_PURPOSE = "me-sign-in-state/v1"
_SESSION_PURPOSE = "me-session/v1"
_CSRF_PURPOSE = "me-csrf/v1"
# Invitation emails: the campaign a connect link was mailed by ("opened the link"), and the unsubscribe link.
_CAMPAIGN_MARK_PURPOSE = "invitation-campaign/v1"
_UNSUBSCRIBE_PURPOSE = "invitation-unsubscribe/v1"
# The admin console: its session cookie, its CSRF tokens, and the sign-in cookie (state + PKCE verifier).
_CONSOLE_SESSION_PURPOSE = "console-session/v1"
_CONSOLE_CSRF_PURPOSE = "console-csrf/v1"
_CONSOLE_SIGN_IN_PURPOSE = "console-sign-in/v1"
_SEPARATOR = "\x1f"  # cannot occur in a researcher id (EntityId) or a nonce
# Longer than any token we issue (researcher ids are at most 128 characters); refuse before hashing.
_MAX_TOKEN_LENGTH = 1024
_MIN_KEY_LENGTH = 32


class SignedTokenError(Exception):
    """A connect link or OAuth state that cannot be honoured."""


class ForgedTokenError(SignedTokenError):
    """Malformed, tampered with, signed with another key, or issued for another purpose."""


class ExpiredTokenError(SignedTokenError):
    """Genuine, but past its expiry."""

    def __init__(self, message: str, *, researcher_id: str) -> None:
        super().__init__(message)
        self.researcher_id = researcher_id


@dataclass(frozen=True)
class LinkClaims:
    """What a genuine connect link says: whose it is and until when it works."""

    researcher_id: str
    expires_at: datetime


@dataclass(frozen=True)
class StateClaims:
    """What a genuine OAuth state says; ``nonce`` is the key of its single-use record."""

    researcher_id: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class SignInStateClaims:
    """What a genuine sign-in state says: the nonce (single-use record, ORCID's ``nonce``) and its expiry."""

    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionClaims:
    """What a genuine "My ORCID" session cookie says."""

    researcher_id: str
    orcid: str
    csrf_secret: str
    expires_at: datetime


def new_nonce() -> str:
    """128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class Signer:
    """Issues and verifies connect links and OAuth states with one signing key."""

    def __init__(self, key: SecretStr) -> None:
        raw = key.get_secret_value()
        if len(raw) < _MIN_KEY_LENGTH:
            raise ValueError(f"the signing key must be at least {_MIN_KEY_LENGTH} characters long")
        self._key = raw.encode("utf-8")

    # --- connect links ---------------------------------------------------------------------------

    def sign_link(self, researcher_id: str, expires_at: datetime) -> str:
        return self._sign([_LINK_PURPOSE, researcher_id, str(_epoch(expires_at))])

    def verify_link(self, token: str, *, now: datetime) -> LinkClaims:
        researcher_id, expiry = self._verify(token, _LINK_PURPOSE, fields=2)
        expires_at = self._expiry(expiry)
        if expires_at <= now:
            raise ExpiredTokenError("the connect link has expired", researcher_id=researcher_id)
        return LinkClaims(researcher_id=researcher_id, expires_at=expires_at)

    # --- OAuth state -----------------------------------------------------------------------------

    def sign_state(self, researcher_id: str, nonce: str, expires_at: datetime) -> str:
        return self._sign([_STATE_PURPOSE, researcher_id, nonce, str(_epoch(expires_at))])

    def verify_state(self, token: str, *, now: datetime) -> StateClaims:
        researcher_id, nonce, expiry = self._verify(token, _STATE_PURPOSE, fields=3)
        expires_at = self._expiry(expiry)
        if expires_at <= now:
            raise ExpiredTokenError("the sign-in attempt has expired", researcher_id=researcher_id)
        return StateClaims(researcher_id=researcher_id, nonce=nonce, expires_at=expires_at)

    # --- "My ORCID": sign-in state, session cookie, CSRF tokens ------------------------------------

    def sign_sign_in_state(self, nonce: str, expires_at: datetime) -> str:
        return self._sign([_SIGN_IN_STATE_PURPOSE, nonce, str(_epoch(expires_at))])

    def verify_sign_in_state(self, token: str, *, now: datetime) -> SignInStateClaims:
        nonce, expiry = self._verify(token, _SIGN_IN_STATE_PURPOSE, fields=2)
        expires_at = self._expiry(expiry)
        if expires_at <= now:
            raise ExpiredTokenError("the sign-in attempt has expired", researcher_id="")
        return SignInStateClaims(nonce=nonce, expires_at=expires_at)

    def is_sign_in_state(self, token: str) -> bool:
        """True for a genuine sign-in state (expired or not): the callback tells the two flows apart by it."""
        try:
            self._verify(token, _SIGN_IN_STATE_PURPOSE, fields=2)
        except ForgedTokenError:
            return False
        return True

    def sign_session(self, researcher_id: str, orcid: str, csrf_secret: str, expires_at: datetime) -> str:
        return self._sign([_SESSION_PURPOSE, researcher_id, orcid, csrf_secret, str(_epoch(expires_at))])

    def verify_session(self, token: str, *, now: datetime) -> SessionClaims:
        researcher_id, orcid, csrf_secret, expiry = self._verify(token, _SESSION_PURPOSE, fields=4)
        expires_at = self._expiry(expiry)
        if expires_at <= now:
            raise ExpiredTokenError("the session has expired", researcher_id=researcher_id)
        return SessionClaims(researcher_id=researcher_id, orcid=orcid, csrf_secret=csrf_secret, expires_at=expires_at)

    def csrf_token(self, csrf_secret: str) -> str:
        """The form token of a session: a MAC of its CSRF secret (the secret itself never leaves the cookie)."""
        return _b64encode(self._mac(_SEPARATOR.join([_CSRF_PURPOSE, csrf_secret]).encode("utf-8")))

    # --- invitation emails: the campaign marker of a mailed connect link, the unsubscribe link ---------

    def sign_campaign_mark(self, campaign_id: str, researcher_id: str) -> str:
        """Says which campaign mailed this researcher's link; no expiry (the link beside it has one)."""
        return self._sign([_CAMPAIGN_MARK_PURPOSE, campaign_id, researcher_id])

    def verify_campaign_mark(self, token: str) -> tuple[str, str]:
        """(campaign id, researcher id) of a genuine marker."""
        campaign_id, researcher_id = self._verify(token, _CAMPAIGN_MARK_PURPOSE, fields=2)
        return campaign_id, researcher_id

    def sign_unsubscribe(self, researcher_id: str) -> str:
        """An unsubscribe link works for as long as the emails that carry it are read: it never expires."""
        return self._sign([_UNSUBSCRIBE_PURPOSE, researcher_id])

    def verify_unsubscribe(self, token: str) -> str:
        """The researcher id of a genuine unsubscribe token."""
        (researcher_id,) = self._verify(token, _UNSUBSCRIBE_PURPOSE, fields=1)
        return researcher_id

    # --- the admin console: session cookie, CSRF tokens, sign-in cookie ----------------------------
    # Fields are opaque strings to the signer; the console's domain (domain/console/) gives them meaning.

    def sign_console_session(self, fields: list[str], expires_at: datetime) -> str:
        return self._sign([_CONSOLE_SESSION_PURPOSE, *fields, str(_epoch(expires_at))])

    def verify_console_session(self, token: str, *, fields: int, now: datetime) -> tuple[list[str], datetime]:
        return self._verify_expiring(token, _CONSOLE_SESSION_PURPOSE, fields=fields, now=now)

    def console_csrf_token(self, csrf_secret: str) -> str:
        """A console form's token: a MAC of the session's CSRF secret (never equal to a "My ORCID" one)."""
        return _b64encode(self._mac(_SEPARATOR.join([_CONSOLE_CSRF_PURPOSE, csrf_secret]).encode("utf-8")))

    def sign_console_sign_in(self, fields: list[str], expires_at: datetime) -> str:
        return self._sign([_CONSOLE_SIGN_IN_PURPOSE, *fields, str(_epoch(expires_at))])

    def verify_console_sign_in(self, token: str, *, fields: int, now: datetime) -> tuple[list[str], datetime]:
        return self._verify_expiring(token, _CONSOLE_SIGN_IN_PURPOSE, fields=fields, now=now)

    def _verify_expiring(self, token: str, purpose: str, *, fields: int, now: datetime) -> tuple[list[str], datetime]:
        *values, expiry = self._verify(token, purpose, fields=fields + 1)
        expires_at = self._expiry(expiry)
        if expires_at <= now:
            raise ExpiredTokenError("the token has expired", researcher_id="")
        return values, expires_at

    # --- the envelope ----------------------------------------------------------------------------

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def _sign(self, fields: list[str]) -> str:
        payload = _SEPARATOR.join(fields).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def _verify(self, token: str, purpose: str, *, fields: int) -> list[str]:
        if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise ForgedTokenError("the token is malformed")
        encoded_payload, encoded_mac = token.split(".")
        try:
            payload = _b64decode(encoded_payload)
            mac = _b64decode(encoded_mac)
        except (binascii.Error, ValueError):
            raise ForgedTokenError("the token is malformed") from None
        # base64 leaves spare bits in the last character: accept only the one spelling we issue.
        if _b64encode(payload) != encoded_payload or _b64encode(mac) != encoded_mac:
            raise ForgedTokenError("the token is malformed")
        # Constant-time comparison before looking at anything the payload claims.
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise ForgedTokenError("the token's signature does not match")
        parts = payload.decode("utf-8").split(_SEPARATOR)
        if parts[0] != purpose or len(parts) != fields + 1:
            raise ForgedTokenError("the token was issued for another purpose")
        return parts[1:]

    @staticmethod
    def _expiry(text: str) -> datetime:
        if not text.isdigit():
            raise ForgedTokenError("the token's expiry is not a timestamp")
        return datetime.fromtimestamp(int(text), UTC)
