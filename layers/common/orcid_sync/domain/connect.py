"""Researchers connect their ORCID iD: connect links, the OAuth 3-legged flow, and disconnecting.

Nothing here knows about HTTP or AWS. Stores, the token cipher and ORCID's OAuth endpoints come
in as collaborators; every outcome is either a view model for a page or a typed error.
Refusals carry a reason code; the pages turn it into words in the researcher's language.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from orcid_sync.domain.errors import ConflictError, InvalidInputError, NotFoundError, OrcidSyncError, Problem
from orcid_sync.domain.identifiers import orcid_uri
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import (
    PERSON_SCOPE,
    PULL_SCOPE,
    PUSH_SCOPE,
    REQUESTED_SCOPES,
    OrcidStatus,
    Researcher,
    StoredToken,
    TokenSource,
)
from orcid_sync.domain.ports import ResearcherStore, TokenCipher, TokenStore
from orcid_sync.domain.signing import ExpiredTokenError, ForgedTokenError, Signer, new_nonce
from orcid_sync.domain.tokens_crypto import TokenDecryptionError, token_fingerprint

# ORCID's errors and models (pydantic models built at import) are only needed once ORCID has been
# called, in the callback and in a disconnect: imported there, so the pages that do not call ORCID
# (the connect page, the start of OAuth) do not load them.
if TYPE_CHECKING:
    from orcid_sync.domain.orcid.models import OAuthToken

DEFAULT_LINK_DAYS = 30
MAX_LINK_DAYS = 365
STATE_LIFETIME = timedelta(hours=1)
# A "try again" link shown on a page right after a failed attempt only needs to outlive the visit.
RETRY_LINK_LIFETIME = timedelta(days=1)
# Without these two the integration cannot do its job (push needs the first, pull the second).
NEEDED_SCOPES = (PUSH_SCOPE, PULL_SCOPE)

CONNECT_PATH = "/connect"
START_PATH = "/connect/start"
CALLBACK_PATH = "/orcid/callback"
STYLESHEET_PATH = "/connect/style.css"


# --- ports ----------------------------------------------------------------------------------------


class OAuthPort(Protocol):
    """ORCID's OAuth endpoints (the ORCID client; a fake in unit tests)."""

    def exchange_code(self, code: str, redirect_uri: str) -> OAuthToken:
        """Trade a code for a token; raises ``OAuthError`` (e.g. invalid_grant) or another ``OrcidApiError``."""
        ...

    def revoke(self, token: SecretStr) -> None:
        """Revoke an access token (and its refresh token); a dead token raises ``OAuthError`` invalid_token."""
        ...


class OAuthStateStore(Protocol):
    """Single-use records of issued OAuth states."""

    def create(self, nonce: str, *, researcher_id: str, expires_at: datetime) -> None: ...

    def consume(self, nonce: str, *, researcher_id: str, at: datetime) -> bool:
        """Mark the nonce used; False when it is unknown, already used or issued to someone else."""
        ...


@dataclass(frozen=True)
class OrcidSite:
    """Where the browser goes for ORCID, and which host iD links use."""

    client_id: str
    site_url: str
    sandbox: bool

    def id_url(self, orcid: str) -> str:
        return orcid_uri(orcid, sandbox=self.sandbox)


# --- refusals -------------------------------------------------------------------------------------


class RefusalReason(StrEnum):
    """Why a connect page or callback refused; the pages have a title and text for each."""

    LINK_INVALID = "link_invalid"
    LINK_EXPIRED = "link_expired"
    RESEARCHER_UNKNOWN = "researcher_unknown"
    STATE_MISSING = "state_missing"
    STATE_INVALID = "state_invalid"
    STATE_EXPIRED = "state_expired"
    STATE_REPLAYED = "state_replayed"
    CODE_MISSING = "code_missing"
    ACCESS_DENIED = "access_denied"
    AUTHORIZATION_FAILED = "authorization_failed"
    CODE_REJECTED = "code_rejected"
    ORCID_UNAVAILABLE = "orcid_unavailable"
    DIFFERENT_ORCID = "different_orcid"
    SCOPE_MISSING = "scope_missing"


REFUSAL_STATUS: dict[RefusalReason, int] = {
    RefusalReason.LINK_INVALID: 400,
    RefusalReason.LINK_EXPIRED: 410,
    RefusalReason.RESEARCHER_UNKNOWN: 404,
    RefusalReason.STATE_MISSING: 400,
    RefusalReason.STATE_INVALID: 400,
    RefusalReason.STATE_EXPIRED: 400,
    RefusalReason.STATE_REPLAYED: 400,
    RefusalReason.CODE_MISSING: 400,
    # The researcher said no: a normal outcome, answered with a normal page.
    RefusalReason.ACCESS_DENIED: 200,
    RefusalReason.AUTHORIZATION_FAILED: 400,
    RefusalReason.CODE_REJECTED: 400,
    RefusalReason.ORCID_UNAVAILABLE: 502,
    RefusalReason.DIFFERENT_ORCID: 409,
    RefusalReason.SCOPE_MISSING: 403,
}


class Refusal(BaseModel):
    """What a refusal page shows."""

    model_config = ConfigDict(frozen=True)

    reason: RefusalReason
    retry_url: str | None = None
    missing_scopes: tuple[str, ...] = ()
    authenticated_orcid_url: str | None = None
    orcid_on_record_url: str | None = None
    on_record_authenticated: bool = False

    @property
    def status(self) -> int:
        return REFUSAL_STATUS[self.reason]


class ConnectRefusedError(OrcidSyncError):
    """The link, the state or ORCID's answer cannot be honoured; nothing was stored."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"connect refused: {refusal.reason.value}")
        self.refusal = refusal


class OrcidUnavailableError(OrcidSyncError):
    """ORCID did not answer as expected; nothing was changed, so the request can be repeated."""


def _refuse(reason: RefusalReason, **details: object) -> ConnectRefusedError:
    return ConnectRefusedError(Refusal.model_validate({"reason": reason, **details}))


# --- views ----------------------------------------------------------------------------------------


class ConnectLink(BaseModel):
    """A researcher's personal connect URL (``POST /researchers/{id}/connect-link``)."""

    researcher_id: str
    url: str
    expires_at: datetime


class ConnectLinkRequest(BaseModel):
    """The optional body of ``POST /researchers/{id}/connect-link``."""

    model_config = ConfigDict(extra="forbid")

    expires_in_days: int = Field(default=DEFAULT_LINK_DAYS, ge=1, le=MAX_LINK_DAYS)


class ConnectPage(BaseModel):
    """The hosted connect page: whose it is, and where the ORCID button leads."""

    researcher_name: str
    start_url: str
    connected_orcid_url: str | None = None


class Connected(BaseModel):
    """The success page: the authenticated iD and what the researcher allowed."""

    researcher_id: str
    researcher_name: str
    orcid: str
    orcid_url: str
    scopes: tuple[str, ...]

    @property
    def can_update_person(self) -> bool:
        return PERSON_SCOPE in self.scopes


class CallbackParams(BaseModel):
    """What ORCID sends back to ``/orcid/callback`` (the code is a secret until exchanged)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: str | None = None
    code: SecretStr | None = None
    error: str | None = None


class RevocationOutcome(StrEnum):
    REVOKED = "revoked"
    ALREADY_INVALID = "already_invalid"
    UNREADABLE = "unreadable"
    NO_TOKEN = "no_token"  # noqa: S105 - an outcome name, not a secret


class Disconnected(BaseModel):
    """``DELETE /researchers/{id}/orcid``: the token is gone; works already on ORCID stay there."""

    researcher_id: str
    orcid: str | None
    orcid_status: OrcidStatus
    token_revocation: RevocationOutcome


# --- URLs -----------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def request_base_url(*, configured: str, domain_name: str | None, host: str | None) -> str:
    """The public base URL of the pages: the configured one, else the API's own domain over https.

    The local stack serves plain http on a loopback address, so there the browser's Host is used.
    """
    if configured:
        return configured.rstrip("/")
    if domain_name and not _is_loopback(domain_name):
        return f"https://{domain_name}"
    local = host or domain_name
    if local and _is_loopback(local):
        return f"http://{local}"
    raise InvalidInputError("cannot tell the public URL of the connect pages: set PublicBaseUrl")


def connect_url(base_url: str, link: str) -> str:
    return f"{base_url}{CONNECT_PATH}?{urlencode({'link': link})}"


def callback_url(base_url: str) -> str:
    """The redirect URI registered with ORCID."""
    return f"{base_url}{CALLBACK_PATH}"


def stylesheet_url(base_url: str) -> str:
    """Root-relative, so the page's own origin serves it whatever host the browser used."""
    return f"{urlsplit(base_url).path}{STYLESHEET_PATH}"


def display_name(researcher: Researcher) -> str:
    return f"{researcher.given_names} {researcher.family_name}"


# --- connect links (admin) ------------------------------------------------------------------------


def issue_connect_link(
    researcher_id: str,
    *,
    expires_in_days: int,
    base_url: str,
    researchers: ResearcherStore,
    signer: Signer,
    now: datetime,
) -> ConnectLink:
    """Mint a researcher's personal, signed, expiring connect URL."""
    if not 1 <= expires_in_days <= MAX_LINK_DAYS:
        raise InvalidInputError(
            "expires_in_days is out of range",
            [Problem(field="expires_in_days", reason=f"must be between 1 and {MAX_LINK_DAYS}")],
        )
    if researchers.get(researcher_id) is None:
        raise NotFoundError(f"researcher {researcher_id} does not exist")
    expires_at = (now + timedelta(days=expires_in_days)).replace(microsecond=0)
    link = signer.sign_link(researcher_id, expires_at)
    return ConnectLink(researcher_id=researcher_id, url=connect_url(base_url, link), expires_at=expires_at)


# --- the connect page and the start of OAuth ------------------------------------------------------


def _researcher_for_link(
    link: str | None, *, researchers: ResearcherStore, signer: Signer, now: datetime
) -> Researcher:
    try:
        claims = signer.verify_link(link or "", now=now)
    except ExpiredTokenError:
        raise _refuse(RefusalReason.LINK_EXPIRED) from None
    except ForgedTokenError:
        raise _refuse(RefusalReason.LINK_INVALID) from None
    researcher = researchers.get(claims.researcher_id)
    if researcher is None:
        raise _refuse(RefusalReason.RESEARCHER_UNKNOWN)
    return researcher


def open_connect_page(
    link: str | None,
    *,
    base_url: str,
    researchers: ResearcherStore,
    signer: Signer,
    site: OrcidSite,
    now: datetime,
) -> ConnectPage:
    """Check the link and describe the page; creates nothing, so crawlers cost nothing."""
    researcher = _researcher_for_link(link, researchers=researchers, signer=signer, now=now)
    connected = researcher.orcid_status is OrcidStatus.ACTIVE and researcher.orcid_authenticated and researcher.orcid
    return ConnectPage(
        researcher_name=display_name(researcher),
        start_url=f"{base_url}{START_PATH}?{urlencode({'link': link})}",
        connected_orcid_url=site.id_url(researcher.orcid) if connected and researcher.orcid else None,
    )


def start_authorization(
    link: str | None,
    *,
    base_url: str,
    lang: str,
    researchers: ResearcherStore,
    states: OAuthStateStore,
    signer: Signer,
    site: OrcidSite,
    now: datetime,
) -> str:
    """Record a single-use state and return ORCID's authorize URL, pre-filled for the researcher."""
    researcher = _researcher_for_link(link, researchers=researchers, signer=signer, now=now)
    nonce = new_nonce()
    expires_at = now + STATE_LIFETIME
    states.create(nonce, researcher_id=researcher.id, expires_at=expires_at)
    params: dict[str, str] = {
        "client_id": site.client_id,
        "response_type": "code",
        "scope": " ".join(REQUESTED_SCOPES),
        "redirect_uri": callback_url(base_url),
        "state": signer.sign_state(researcher.id, nonce, expires_at),
        "lang": lang,
    }
    # ORCID: when the iD is known send only it; otherwise pre-fill the registration form.
    if researcher.orcid:
        params["orcid"] = researcher.orcid
    else:
        params["given_names"] = researcher.given_names
        params["family_names"] = researcher.family_name
        if researcher.email:
            params["email"] = researcher.email
    # %20 between scopes and bare slashes, as in ORCID's documented authorize URL.
    return f"{site.site_url}/oauth/authorize?{urlencode(params, quote_via=quote, safe='/')}"


# --- the OAuth callback ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackServices:
    """What completing an authorization touches."""

    researchers: ResearcherStore
    tokens: TokenStore
    states: OAuthStateStore
    cipher: TokenCipher
    oauth: OAuthPort
    signer: Signer
    fingerprint_key: SecretStr
    site: OrcidSite


def _consume_state(params: CallbackParams, services: CallbackServices, now: datetime) -> str:
    """The researcher id of a genuine, fresh, unused state, which is used up by this call."""
    if not params.state:
        raise _refuse(RefusalReason.STATE_MISSING)
    try:
        claims = services.signer.verify_state(params.state, now=now)
    except ExpiredTokenError:
        raise _refuse(RefusalReason.STATE_EXPIRED) from None
    except ForgedTokenError:
        raise _refuse(RefusalReason.STATE_INVALID) from None
    if not services.states.consume(claims.nonce, researcher_id=claims.researcher_id, at=now):
        raise _refuse(RefusalReason.STATE_REPLAYED)
    return claims.researcher_id


def _withdraw(token: OAuthToken, services: CallbackServices, *, researcher_id: str) -> None:
    """Revoke a grant we will not keep, so the institution holds nothing it cannot use."""
    from orcid_sync.domain.orcid.errors import OrcidApiError  # noqa: PLC0415 - see the imports at the top

    try:
        services.oauth.revoke(token.access_token)
    except OrcidApiError as exc:
        # The refusal stands either way; the researcher can still remove us under "Trusted parties".
        logger.warning("could not revoke a refused grant", researcher_id=researcher_id, error=type(exc).__name__)


def complete_authorization(
    params: CallbackParams, *, base_url: str, services: CallbackServices, now: datetime
) -> Connected:
    """Verify the state, exchange the code, check iD and scopes, store the token encrypted, record the iD."""
    from orcid_sync.domain.orcid.errors import OAuthError, OrcidApiError  # noqa: PLC0415 - see the imports at the top

    researcher_id = _consume_state(params, services, now)
    researcher = services.researchers.get(researcher_id)
    if researcher is None:
        raise _refuse(RefusalReason.RESEARCHER_UNKNOWN)
    # The state was genuine and fresh, so whoever is here came through the researcher's own link.
    retry_url = connect_url(base_url, services.signer.sign_link(researcher_id, now + RETRY_LINK_LIFETIME))
    if params.error:
        reason = RefusalReason.ACCESS_DENIED if params.error == "access_denied" else RefusalReason.AUTHORIZATION_FAILED
        raise _refuse(reason, retry_url=retry_url)
    if params.code is None or not params.code.get_secret_value():
        raise _refuse(RefusalReason.CODE_MISSING, retry_url=retry_url)

    try:
        token = services.oauth.exchange_code(params.code.get_secret_value(), callback_url(base_url))
    except OAuthError as exc:
        if exc.oauth_error == "invalid_grant":
            raise _refuse(RefusalReason.CODE_REJECTED, retry_url=retry_url) from None
        logger.warning("ORCID refused the token exchange", researcher_id=researcher_id, oauth_error=exc.oauth_error)
        raise _refuse(RefusalReason.AUTHORIZATION_FAILED, retry_url=retry_url) from None
    except OrcidApiError as exc:
        logger.warning("the token exchange failed", researcher_id=researcher_id, error=type(exc).__name__)
        raise _refuse(RefusalReason.ORCID_UNAVAILABLE, retry_url=retry_url) from None

    orcid = _check_grant(token, researcher, services, retry_url=retry_url)

    try:
        stored = _seal(token, researcher_id=researcher_id, orcid=orcid, services=services, now=now)
        updated = services.researchers.record_connection(
            researcher_id, orcid=orcid, scopes=sorted(token.scopes), connected_at=now
        )
        services.tokens.put(stored)
    except Exception:
        # Whatever failed (KMS, a concurrent change of the iD on record, DynamoDB), don't keep the grant.
        _withdraw(token, services, researcher_id=researcher_id)
        raise
    logger.info("researcher connected their ORCID iD", researcher_id=researcher_id, orcid=orcid)
    return Connected(
        researcher_id=researcher_id,
        researcher_name=display_name(updated),
        orcid=orcid,
        orcid_url=services.site.id_url(orcid),
        scopes=tuple(sorted(token.scopes)),
    )


def _check_grant(token: OAuthToken, researcher: Researcher, services: CallbackServices, *, retry_url: str) -> str:
    """The authenticated iD, if the grant is one we can keep; otherwise revoke it and refuse."""
    if token.orcid is None:
        _withdraw(token, services, researcher_id=researcher.id)
        raise _refuse(RefusalReason.AUTHORIZATION_FAILED, retry_url=retry_url)
    if researcher.orcid and researcher.orcid != token.orcid:
        _withdraw(token, services, researcher_id=researcher.id)
        logger.info("refused a different ORCID iD", researcher_id=researcher.id, orcid=token.orcid)
        raise _refuse(
            RefusalReason.DIFFERENT_ORCID,
            retry_url=retry_url,
            authenticated_orcid_url=services.site.id_url(token.orcid),
            orcid_on_record_url=services.site.id_url(researcher.orcid),
            on_record_authenticated=researcher.orcid_authenticated,
        )
    missing = tuple(scope for scope in NEEDED_SCOPES if scope not in token.scopes)
    if missing:
        _withdraw(token, services, researcher_id=researcher.id)
        logger.info("refused a grant without the needed scopes", researcher_id=researcher.id, missing=list(missing))
        raise _refuse(RefusalReason.SCOPE_MISSING, retry_url=retry_url, missing_scopes=missing)
    return token.orcid


def _seal(
    token: OAuthToken, *, researcher_id: str, orcid: str, services: CallbackServices, now: datetime
) -> StoredToken:
    access = token.access_token.get_secret_value()
    refresh = token.refresh_token.get_secret_value()
    batch = services.cipher.batch()
    return StoredToken(
        researcher_id=researcher_id,
        orcid=orcid,
        access_token=batch.seal(researcher_id, access),
        refresh_token=batch.seal(researcher_id, refresh),
        scopes=sorted(token.scopes),
        expires_at=now + timedelta(seconds=token.expires_in),
        token_type=token.token_type.lower(),
        source=TokenSource.OAUTH,
        stored_at=now,
        fingerprint=token_fingerprint(services.fingerprint_key.get_secret_value(), researcher_id, access, refresh),
    )


# --- disconnecting (admin) ------------------------------------------------------------------------


def disconnect(
    researcher_id: str,
    *,
    researchers: ResearcherStore,
    tokens: TokenStore,
    cipher: TokenCipher,
    oauth: OAuthPort,
) -> Disconnected:
    """Revoke the researcher's token at ORCID, delete it here, and mark them disconnected."""
    researcher = researchers.get(researcher_id)
    if researcher is None:
        raise NotFoundError(f"researcher {researcher_id} does not exist")
    stored = tokens.get(researcher_id)
    if stored is None and researcher.orcid_status is OrcidStatus.NONE:
        raise ConflictError(f"researcher {researcher_id} has not connected an ORCID iD")
    if stored is None and researcher.orcid_status is OrcidStatus.DISCONNECTED:
        # Nothing left to revoke or delete: say so rather than report a disconnect that did nothing.
        raise ConflictError(
            f"researcher {researcher_id} is already disconnected from ORCID: there is no token to revoke"
        )
    outcome = RevocationOutcome.NO_TOKEN
    if stored is not None:
        outcome = _revoke_stored(stored, cipher=cipher, oauth=oauth)
        tokens.delete(researcher_id)
    researchers.set_status(researcher_id, OrcidStatus.DISCONNECTED, scopes=[])
    logger.info("researcher disconnected", researcher_id=researcher_id, token_revocation=outcome.value)
    return Disconnected(
        researcher_id=researcher_id,
        orcid=researcher.orcid,
        orcid_status=OrcidStatus.DISCONNECTED,
        token_revocation=outcome,
    )


def _revoke_stored(stored: StoredToken, *, cipher: TokenCipher, oauth: OAuthPort) -> RevocationOutcome:
    from orcid_sync.domain.orcid.errors import InvalidTokenError, OAuthError, OrcidApiError  # noqa: PLC0415 - see the top

    try:
        access = cipher.open(stored.researcher_id, stored.access_token)
    except TokenDecryptionError:
        # A token we cannot read is one nobody can use through us; deleting it is all there is to do.
        return RevocationOutcome.UNREADABLE
    try:
        oauth.revoke(SecretStr(access))
    except InvalidTokenError:
        return RevocationOutcome.ALREADY_INVALID
    except OAuthError as exc:
        # The revoke endpoint speaks OAuth: a dead token comes back as invalid_token there.
        if exc.oauth_error == "invalid_token":
            return RevocationOutcome.ALREADY_INVALID
        raise _revocation_failed(stored.researcher_id, f"OAuth error {exc.oauth_error}") from None
    except OrcidApiError as exc:
        raise _revocation_failed(stored.researcher_id, type(exc).__name__) from None
    return RevocationOutcome.REVOKED


def _revocation_failed(researcher_id: str, cause: str) -> OrcidUnavailableError:
    # The token is kept, so the disconnect can simply be repeated once ORCID answers.
    return OrcidUnavailableError(
        f"ORCID did not revoke the token of researcher {researcher_id} ({cause}); nothing was changed, try again"
    )
