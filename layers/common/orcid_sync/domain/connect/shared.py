"""Researchers connect their ORCID iD: what the connect links, the OAuth callback and disconnecting share.

Nothing here knows about HTTP or AWS. Stores, the token cipher and ORCID's OAuth endpoints come
in as collaborators; every outcome is either a view model for a page or a typed error.
Refusals carry a reason code; the pages turn it into words in the researcher's language. The use cases
are ``connect_links`` (minting a link, its page, the start of OAuth), ``oauth_callback`` and ``disconnect``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from orcid_sync.domain.errors import InvalidInputError, OrcidSyncError
from orcid_sync.domain.identifiers import orcid_uri
from orcid_sync.domain.models import (
    PERSON_SCOPE,
    PULL_SCOPE,
    PUSH_SCOPE,
    Researcher,
)

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


def refusal_error(reason: RefusalReason, **details: object) -> ConnectRefusedError:
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
    profile_url: str | None = None
    """The researcher's repository profile (the page links back to it)."""


class Connected(BaseModel):
    """The success page: the authenticated iD and what the researcher allowed."""

    researcher_id: str
    researcher_name: str
    orcid: str
    orcid_url: str
    scopes: tuple[str, ...]
    profile_url: str | None = None

    @property
    def can_update_person(self) -> bool:
        return PERSON_SCOPE in self.scopes


class CallbackParams(BaseModel):
    """What ORCID sends back to ``/orcid/callback`` (the code is a secret until exchanged)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: str | None = None
    code: SecretStr | None = None
    error: str | None = None


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
