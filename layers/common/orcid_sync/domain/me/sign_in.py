"""Sign in with ORCID (OpenID Connect) for "My ORCID": the authorize URL, then ORCID's answer turned into a session.

The researcher is identified by the iD in ORCID's signed ``id_token`` only (never by anything the browser says).
The state is signed (its own purpose, so a connect state or link never passes), single-use (the OAuth state store,
as the connect callback uses it) and bound to the browser that started the sign-in (a cookie holding its nonce,
so nobody can sign someone else in as themself); the nonce goes to ORCID and must come back in the ``id_token``.
The access token of a sign-in (scope ``openid``) is useless to the repository: it is dropped, never stored or logged.

ORCID sends the researcher back to the redirect URI the institution registered for connecting (``/orcid/callback``);
the callback tells a sign-in from a connection by the state's purpose.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from orcid_sync.domain.connect.shared import (
    STATE_LIFETIME,
    CallbackParams,
    OAuthPort,
    OAuthStateStore,
    OrcidSite,
    callback_url,
)
from orcid_sync.domain.connect.signing import ExpiredTokenError, ForgedTokenError, Signer, new_nonce
from orcid_sync.domain.errors import OrcidSyncError
from orcid_sync.domain.log import logger
from orcid_sync.domain.me.ports import IdTokenError, IdTokenVerifier
from orcid_sync.domain.me.session import IssuedSession, issue_session
from orcid_sync.domain.models import Researcher
from orcid_sync.domain.ports import ResearcherStore

if TYPE_CHECKING:
    from orcid_sync.domain.orcid.models import OAuthToken

SIGN_IN_SCOPE = "openid"
# The owner recorded with a sign-in's single-use state ('#' never occurs in a researcher id).
SIGN_IN_STATE_OWNER = "#me-sign-in"


class SignInRefusal(StrEnum):
    """Why a sign-in did not end in a session; the pages have a title and text for each."""

    SIGN_IN_INVALID = "sign_in_invalid"
    SIGN_IN_EXPIRED = "sign_in_expired"
    SIGN_IN_DENIED = "sign_in_denied"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_ORCID_UNAVAILABLE = "sign_in_orcid_unavailable"
    UNKNOWN_ORCID = "unknown_orcid"
    AMBIGUOUS_ORCID = "ambiguous_orcid"


SIGN_IN_STATUS: dict[SignInRefusal, int] = {
    SignInRefusal.SIGN_IN_INVALID: 400,
    SignInRefusal.SIGN_IN_EXPIRED: 400,
    SignInRefusal.SIGN_IN_DENIED: 200,
    SignInRefusal.SIGN_IN_FAILED: 400,
    SignInRefusal.SIGN_IN_ORCID_UNAVAILABLE: 502,
    SignInRefusal.UNKNOWN_ORCID: 404,
    SignInRefusal.AMBIGUOUS_ORCID: 409,
}


class SignInRefusedError(OrcidSyncError):
    """The sign-in cannot be honoured; no session was created."""

    def __init__(self, reason: SignInRefusal, *, orcid_url: str | None = None) -> None:
        super().__init__(f"sign-in refused: {reason.value}")
        self.reason = reason
        self.orcid_url = orcid_url
        """The authenticated iD's URL, when ORCID proved it but it is on no (or more than one) researcher."""

    @property
    def status(self) -> int:
        return SIGN_IN_STATUS[self.reason]


@dataclass(frozen=True)
class SignInStart:
    """Where to send the browser, and the value of the cookie that binds the sign-in to it."""

    authorize_url: str
    binding: str


def start_sign_in(
    *, base_url: str, lang: str, states: OAuthStateStore, signer: Signer, site: OrcidSite, now: datetime
) -> SignInStart:
    """Record a single-use state and return ORCID's authorize URL for ``scope=openid`` with a nonce."""
    nonce = new_nonce()
    expires_at = now + STATE_LIFETIME
    states.create(nonce, researcher_id=SIGN_IN_STATE_OWNER, expires_at=expires_at)
    params = {
        "client_id": site.client_id,
        "response_type": "code",
        "scope": SIGN_IN_SCOPE,
        "redirect_uri": callback_url(base_url),
        "state": signer.sign_sign_in_state(nonce, expires_at),
        "nonce": nonce,
        "lang": lang,
    }
    return SignInStart(
        authorize_url=f"{site.site_url}/oauth/authorize?{urlencode(params, quote_via=quote, safe='/')}",
        binding=nonce,
    )


@dataclass(frozen=True)
class SignInServices:
    """What completing a sign-in touches."""

    researchers: ResearcherStore
    states: OAuthStateStore
    oauth: OAuthPort
    verifier: IdTokenVerifier
    signer: Signer
    site: OrcidSite


@dataclass(frozen=True)
class SignedIn:
    researcher: Researcher
    issued: IssuedSession


def _consume_state(params: CallbackParams, binding: str | None, services: SignInServices, now: datetime) -> str:
    """The nonce of a genuine, fresh, unused state started in this browser; used up by this call."""
    try:
        claims = services.signer.verify_sign_in_state(params.state or "", now=now)
    except ExpiredTokenError:
        raise SignInRefusedError(SignInRefusal.SIGN_IN_EXPIRED) from None
    except ForgedTokenError:
        raise SignInRefusedError(SignInRefusal.SIGN_IN_INVALID) from None
    # Started in another browser (or the cookie is gone): whoever holds this code is not who started it.
    if not binding or not hmac.compare_digest(binding, claims.nonce):
        raise SignInRefusedError(SignInRefusal.SIGN_IN_INVALID)
    if not services.states.consume(claims.nonce, researcher_id=SIGN_IN_STATE_OWNER, at=now):
        raise SignInRefusedError(SignInRefusal.SIGN_IN_INVALID)
    return claims.nonce


def _exchange(params: CallbackParams, base_url: str, services: SignInServices) -> OAuthToken:
    from orcid_sync.domain.orcid.errors import OAuthError, OrcidApiError  # noqa: PLC0415 - loaded once ORCID is called

    if params.error:
        reason = SignInRefusal.SIGN_IN_DENIED if params.error == "access_denied" else SignInRefusal.SIGN_IN_FAILED
        raise SignInRefusedError(reason)
    if params.code is None or not params.code.get_secret_value():
        raise SignInRefusedError(SignInRefusal.SIGN_IN_FAILED)
    try:
        return services.oauth.exchange_code(params.code.get_secret_value(), callback_url(base_url))
    except OAuthError as exc:
        logger.info("ORCID refused a sign-in's token exchange", oauth_error=exc.oauth_error)
        raise SignInRefusedError(SignInRefusal.SIGN_IN_FAILED) from None
    except OrcidApiError as exc:
        logger.warning("a sign-in's token exchange failed", error=type(exc).__name__)
        raise SignInRefusedError(SignInRefusal.SIGN_IN_ORCID_UNAVAILABLE) from None


def complete_sign_in(
    params: CallbackParams, *, binding: str | None, base_url: str, services: SignInServices, now: datetime
) -> SignedIn:
    """Check the state, exchange the code, verify the ``id_token``, drop the access token, open a session."""
    nonce = _consume_state(params, binding, services, now)
    token = _exchange(params, base_url, services)
    id_token = token.id_token.get_secret_value() if token.id_token is not None else ""
    # Only the id_token is kept, for the next line: the access token of a sign-in goes no further than here.
    del token
    if not id_token:
        logger.warning("ORCID answered a sign-in without an id_token")
        raise SignInRefusedError(SignInRefusal.SIGN_IN_FAILED)
    try:
        authenticated = services.verifier.verify(id_token, nonce=nonce)
    except IdTokenError as exc:
        logger.warning("refused an id_token", error=str(exc)[:200])
        raise SignInRefusedError(SignInRefusal.SIGN_IN_FAILED) from None
    orcid = authenticated.orcid
    matches = services.researchers.find_by_orcid(orcid)
    if not matches:
        logger.info("signed in with an iD that is on no researcher", orcid=orcid)
        raise SignInRefusedError(SignInRefusal.UNKNOWN_ORCID, orcid_url=services.site.id_url(orcid))
    if len(matches) > 1:
        logger.warning("signed in with an iD that is on several researchers", orcid=orcid, count=len(matches))
        raise SignInRefusedError(SignInRefusal.AMBIGUOUS_ORCID, orcid_url=services.site.id_url(orcid))
    researcher = matches[0]
    logger.info("researcher signed in to My ORCID", researcher_id=researcher.id, orcid=orcid)
    return SignedIn(
        researcher=researcher,
        issued=issue_session(services.signer, researcher_id=researcher.id, orcid=orcid, now=now),
    )
