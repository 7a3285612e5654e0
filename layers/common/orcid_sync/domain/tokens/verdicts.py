"""What ORCID says about a token: the verdict of a probe, and marking a stored token invalid or its iD confirmed.

Imports, pushes and pulls all learn about tokens from ORCID's answers; they record what they learnt here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import SecretStr

from orcid_sync.domain.log import logger
from orcid_sync.domain.models import Researcher, StoredToken, TokenInvalidReason
from orcid_sync.domain.ports import ResearcherStore, TokenStore


class ProbeResult(StrEnum):
    """What ORCID said when a token was tried (one read of the record)."""

    VALID = "valid"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - ORCID's OAuth error code, not a secret
    WRONG_RECORD = "wrong_record"
    NO_RECORD = "no_record"
    UNAVAILABLE = "unavailable"


class TokenProbe(Protocol):
    """Tries a token against ORCID (rate-limited by the implementation)."""

    def __call__(self, orcid: str, access_token: SecretStr, /) -> ProbeResult: ...


def invalidate_token(
    researchers: ResearcherStore,
    tokens: TokenStore,
    token: StoredToken,
    reason: TokenInvalidReason,
    *,
    at: datetime,
) -> bool:
    """ORCID refused a stored token (401 invalid_token, or 401/9017 for another record) on any call.

    The token is marked invalid, so no push or pull selects the researcher again, and the researcher's
    status says why (``revoked`` or ``token_invalid``) until they connect again. False, and nothing
    changed, when the stored token is no longer this one (the researcher reconnected meanwhile).
    """
    if not tokens.mark_invalid(token.researcher_id, at=at, reason=reason, fingerprint=token.fingerprint):
        logger.info("token replaced before it could be marked invalid", researcher_id=token.researcher_id)
        return False
    researchers.set_status(token.researcher_id, reason.status)
    logger.info("token marked invalid", researcher_id=token.researcher_id, reason=reason.value)
    return True


def confirm_orcid(researchers: ResearcherStore, researcher: Researcher, *, orcid: str) -> None:
    """ORCID accepted the researcher's token for ``orcid`` (a verify, or a push or pull that succeeded).

    From then on the iD counts as authenticated, as after the OAuth callback: a load cannot change it.
    """
    if researcher.orcid_authenticated or researcher.orcid != orcid:
        return
    if researchers.mark_authenticated(researcher.id, orcid=orcid):
        logger.info("ORCID accepted the token: iD authenticated", researcher_id=researcher.id, orcid=orcid)
