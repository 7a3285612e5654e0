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
from typing import Any, Protocol

import jwt

from orcid_sync.adapters.orcid_api.transport import DEFAULT_TIMEOUT
from orcid_sync.domain.identifiers import InvalidIdentifierError, parse_orcid
from orcid_sync.domain.me.ports import AuthenticatedOrcid, IdTokenError

ALGORITHM = "RS256"
"""The only signing algorithm accepted: ORCID signs with RS256; anything else (``none``, HS256 keyed with the
public key) is refused before a key is looked up."""
DEFAULT_LEEWAY_SECONDS = 60.0
"""Clock skew allowed between ORCID and us on ``exp`` and ``iat``."""
JWKS_CACHE_SECONDS = 300.0
"""How long the fetched key set is reused (PyJWKClient's default); an unknown ``kid`` fetches it again sooner."""
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]

# PyJWT's exceptions, most specific first, and the reason each one is reported as.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the id_token has expired"),
    (jwt.ImmatureSignatureError, "the id_token is issued in the future"),
    (jwt.InvalidAudienceError, "the id_token is not for this client (audience)"),
    (jwt.InvalidIssuerError, "the id_token was not issued by the ORCID site (issuer)"),
    (jwt.MissingRequiredClaimError, "the id_token lacks a required claim"),
    (jwt.InvalidSignatureError, "the id_token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the id_token is not signed with RS256"),
    (jwt.InvalidIssuedAtError, "the id_token's iat is not a time"),
    (jwt.DecodeError, "the id_token is not a well-formed JWT"),
)


class SigningKeys(Protocol):
    """Where the verifier finds the key a token names: ``jwt.PyJWKClient`` or, in tests, a fake key set."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


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
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise IdTokenError("the id_token is not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise IdTokenError("the id_token is not signed with RS256")
        if not isinstance(header.get("kid"), str):
            raise IdTokenError("the id_token names no signing key (kid)")
        try:
            key = self._keys.get_signing_key_from_jwt(id_token)
        except jwt.PyJWKClientConnectionError:
            raise IdTokenError("ORCID's signing keys could not be fetched") from None
        except jwt.PyJWTError:
            raise IdTokenError("the id_token's signing key is not one of ORCID's") from None
        if key.key_type != "RSA":
            raise IdTokenError("the id_token's signing key is not an RSA key")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.PyJWTError as error:
            reason = next((text for kind, text in _REASONS if isinstance(error, kind)), "the id_token is not valid")
            raise IdTokenError(reason) from None
        return claims
