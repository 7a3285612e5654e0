"""ORCID's OAuth callback: verify the state, exchange the code, check iD and scopes, store the token sealed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import SecretStr

from orcid_sync.domain.connect.shared import (
    NEEDED_SCOPES,
    RETRY_LINK_LIFETIME,
    CallbackParams,
    Connected,
    OAuthPort,
    OAuthStateStore,
    OrcidSite,
    RefusalReason,
    callback_url,
    connect_url,
    display_name,
    refusal_error,
)
from orcid_sync.domain.connect.signing import ExpiredTokenError, ForgedTokenError, Signer
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import Researcher, StoredToken, TokenSource
from orcid_sync.domain.ports import ResearcherStore, TokenCipher, TokenStore
from orcid_sync.domain.tokens.crypto import token_fingerprint

# ORCID's errors and models (pydantic models built at import) are only needed once ORCID has been
# called: imported inside the functions, so a container that only serves the pages does not load them.
if TYPE_CHECKING:
    from orcid_sync.domain.orcid.models import OAuthToken


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
        raise refusal_error(RefusalReason.STATE_MISSING)
    try:
        claims = services.signer.verify_state(params.state, now=now)
    except ExpiredTokenError:
        raise refusal_error(RefusalReason.STATE_EXPIRED) from None
    except ForgedTokenError:
        raise refusal_error(RefusalReason.STATE_INVALID) from None
    if not services.states.consume(claims.nonce, researcher_id=claims.researcher_id, at=now):
        raise refusal_error(RefusalReason.STATE_REPLAYED)
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
        raise refusal_error(RefusalReason.RESEARCHER_UNKNOWN)
    # The state was genuine and fresh, so whoever is here came through the researcher's own link.
    retry_url = connect_url(base_url, services.signer.sign_link(researcher_id, now + RETRY_LINK_LIFETIME))
    if params.error:
        reason = RefusalReason.ACCESS_DENIED if params.error == "access_denied" else RefusalReason.AUTHORIZATION_FAILED
        raise refusal_error(reason, retry_url=retry_url)
    if params.code is None or not params.code.get_secret_value():
        raise refusal_error(RefusalReason.CODE_MISSING, retry_url=retry_url)

    try:
        token = services.oauth.exchange_code(params.code.get_secret_value(), callback_url(base_url))
    except OAuthError as exc:
        if exc.oauth_error == "invalid_grant":
            raise refusal_error(RefusalReason.CODE_REJECTED, retry_url=retry_url) from None
        logger.warning("ORCID refused the token exchange", researcher_id=researcher_id, oauth_error=exc.oauth_error)
        raise refusal_error(RefusalReason.AUTHORIZATION_FAILED, retry_url=retry_url) from None
    except OrcidApiError as exc:
        logger.warning("the token exchange failed", researcher_id=researcher_id, error=type(exc).__name__)
        raise refusal_error(RefusalReason.ORCID_UNAVAILABLE, retry_url=retry_url) from None

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
        profile_url=updated.profile_url,
    )


def _check_grant(token: OAuthToken, researcher: Researcher, services: CallbackServices, *, retry_url: str) -> str:
    """The authenticated iD, if the grant is one we can keep; otherwise revoke it and refuse."""
    if token.orcid is None:
        _withdraw(token, services, researcher_id=researcher.id)
        raise refusal_error(RefusalReason.AUTHORIZATION_FAILED, retry_url=retry_url)
    if researcher.orcid and researcher.orcid != token.orcid:
        _withdraw(token, services, researcher_id=researcher.id)
        logger.info("refused a different ORCID iD", researcher_id=researcher.id, orcid=token.orcid)
        raise refusal_error(
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
        raise refusal_error(RefusalReason.SCOPE_MISSING, retry_url=retry_url, missing_scopes=missing)
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
