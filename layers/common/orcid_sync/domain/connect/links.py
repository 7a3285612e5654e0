"""Connect links: minting a researcher's personal link (admin), its page, and the start of OAuth."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from orcid_sync.domain.connect.shared import (
    MAX_LINK_DAYS,
    START_PATH,
    STATE_LIFETIME,
    ConnectLink,
    ConnectPage,
    OAuthStateStore,
    OrcidSite,
    RefusalReason,
    callback_url,
    connect_url,
    display_name,
    refusal_error,
)
from orcid_sync.domain.connect.signing import ExpiredTokenError, ForgedTokenError, Signer, new_nonce
from orcid_sync.domain.errors import InvalidInputError, NotFoundError, Problem
from orcid_sync.domain.models import REQUESTED_SCOPES, OrcidStatus, Researcher
from orcid_sync.domain.ports import ResearcherStore


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
        raise refusal_error(RefusalReason.LINK_EXPIRED) from None
    except ForgedTokenError:
        raise refusal_error(RefusalReason.LINK_INVALID) from None
    researcher = researchers.get(claims.researcher_id)
    if researcher is None:
        raise refusal_error(RefusalReason.RESEARCHER_UNKNOWN)
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
        profile_url=researcher.profile_url,
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
