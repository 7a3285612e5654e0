"""What "My ORCID" needs from the outside: the check of ORCID's OpenID ``id_token``, and the sign-in's values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class IdTokenError(Exception):
    """An ``id_token`` that does not prove a sign-in: bad signature, wrong issuer or audience, expired, wrong nonce."""


@dataclass(frozen=True)
class AuthenticatedOrcid:
    """Who signed in, as ORCID's signed ``id_token`` says (never as the browser says)."""

    orcid: str
    """The authenticated iD, ``0000-0002-1825-0097`` (the token's ``sub``)."""
    authenticated_at: datetime
    """When the researcher signed in at ORCID (``auth_time``, else ``iat``)."""


class IdTokenVerifier(Protocol):
    """Checks an ``id_token`` from ORCID's token endpoint: RS256 signature by a key of ORCID's JWKS, ``iss`` (the
    ORCID site), ``aud`` (our client id), ``exp``/``iat``, and ``nonce`` equal to the one we sent."""

    def verify(self, id_token: str, *, nonce: str) -> AuthenticatedOrcid: ...
