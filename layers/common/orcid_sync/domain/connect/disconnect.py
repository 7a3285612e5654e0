"""Disconnecting a researcher (admin): revoke the token at ORCID, delete it here, mark them disconnected."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, SecretStr

from orcid_sync.domain.connect.shared import OAuthPort
from orcid_sync.domain.errors import ConflictError, NotFoundError, OrcidSyncError
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import OrcidStatus, StoredToken
from orcid_sync.domain.ports import ResearcherStore, TokenCipher, TokenStore
from orcid_sync.domain.tokens.crypto import TokenDecryptionError


class OrcidUnavailableError(OrcidSyncError):
    """ORCID did not answer as expected; nothing was changed, so the request can be repeated."""


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
    from orcid_sync.domain.orcid.errors import InvalidTokenError, OAuthError, OrcidApiError  # noqa: PLC0415 - loaded once ORCID is called

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
