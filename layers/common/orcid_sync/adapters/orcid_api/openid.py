"""ORCID's OpenID Connect ``id_token``, checked with PyJWT against the keys ORCID publishes at ``<site>/oauth/jwks``.

The ``id_token`` arrives in ORCID's answer to our own code exchange (server to server), never from the browser;
it is still checked in full, because it is the only proof of *who* signed in: the RS256 signature by a key of
ORCID's key set (``jwt.PyJWKClient`` caches the set and fetches it again for an unknown ``kid``), the issuer (the
ORCID site), the audience (our client id, and only it), ``exp``/``iat``, the ``nonce`` we sent, and a ``sub`` that
is a valid ORCID iD. Every failure is an :class:`IdTokenError` whose message is a short reason: never the token.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

import jwt

from orcid_sync.adapters.id_tokens import IdTokenRules, SigningKeys, verified_claims
from orcid_sync.adapters.orcid_api.transport import DEFAULT_TIMEOUT
from orcid_sync.domain.identifiers import InvalidIdentifierError, parse_orcid
from orcid_sync.domain.me.ports import AuthenticatedOrcid, IdTokenError

DEFAULT_LEEWAY_SECONDS = 60.0
"""Clock skew allowed between ORCID and us on ``exp`` and ``iat``."""
JWKS_CACHE_SECONDS = 300.0
"""How long the fetched key set is reused (PyJWKClient's default); an unknown ``kid`` fetches it again sooner."""
_REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")


class OrcidIdTokenVerifier:
    """Checks ORCID's ``id_token`` (the :class:`~orcid_sync.domain.me.ports.IdTokenVerifier` port)."""

    def __init__(
        self,
        site_url: str,
        client_id: str,
        *,
        jwks_client: SigningKeys | None = None,
        leeway: float = DEFAULT_LEEWAY_SECONDS,
        timeout: float = DEFAULT_TIMEOUT.read,
    ) -> None:
        self.issuer = site_url.rstrip("/")
        self.client_id = client_id
        self.leeway = leeway
        self._keys: SigningKeys = jwks_client or jwt.PyJWKClient(
            f"{self.issuer}/oauth/jwks",
            cache_jwk_set=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "orcid-sync"},
        )
        self._rules = IdTokenRules(
            issuer=self.issuer,
            audience=client_id,
            required_claims=_REQUIRED_CLAIMS,
            leeway=leeway,
            called="the id_token",
            issuer_name="the ORCID site",
            key_owner="ORCID's",
        )

    def verify(self, id_token: str, *, nonce: str) -> AuthenticatedOrcid:
        """The authenticated iD and sign-in time, if ``id_token`` proves a sign-in for ``nonce``; else IdTokenError."""
        if not nonce:
            raise IdTokenError("no nonce to compare the id_token's with")
        claims = self._verified_claims(id_token)
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
            raise IdTokenError("the id_token's nonce is not the one this sign-in sent")
        subject = claims["sub"]
        try:
            orcid = parse_orcid(subject) if isinstance(subject, str) else None
        except InvalidIdentifierError:
            orcid = None
        if orcid is None:
            raise IdTokenError("the id_token's subject is not an ORCID iD")
        signed_in = claims.get("auth_time")
        if not isinstance(signed_in, int) or isinstance(signed_in, bool):
            signed_in = int(claims["iat"])
        return AuthenticatedOrcid(orcid=orcid, authenticated_at=datetime.fromtimestamp(signed_in, UTC))

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        return verified_claims(id_token, self._keys, self._rules, invalid=IdTokenError, unavailable=IdTokenError)
