"""One check of an OpenID Connect ID token with PyJWT, for both identity providers we trust: ORCID (a researcher's
sign-in, :mod:`orcid_sync.adapters.orcid_api.openid`) and the console's Cognito user pool
(:mod:`orcid_sync.adapters.cognito_login`).

The order matters: the header's ``alg`` must be RS256 and name a ``kid`` *before* a key is looked up (so ``none``
and HS256 keyed with a public key never reach ``jwt.decode``), the key must be one of the provider's key set and an
RSA key, then signature, issuer, audience (only ours: ``strict_aud``) and the required claims. Each failure is
reported as a short reason naming what failed, never the token; the caller chooses the exception types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

ALGORITHM = "RS256"
"""The only signing algorithm accepted: ORCID and Cognito both sign ID tokens with RS256."""


class SigningKeys(Protocol):
    """Where the key a token names is found: ``jwt.PyJWKClient`` or, in tests, a fake key set."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


@dataclass(frozen=True)
class IdTokenRules:
    """What a provider's ID token must satisfy, and how its failures are worded."""

    issuer: str
    audience: str
    required_claims: Sequence[str]
    leeway: float
    called: str
    """How the token is named in reasons: "the id_token", "the ID token"."""
    issuer_name: str
    """Who must have issued it: "the ORCID site", "this user pool"."""
    key_owner: str
    """Whose key set: "ORCID's", "the pool's"."""


def _reason(error: jwt.PyJWTError, rules: IdTokenRules) -> str:
    # PyJWT's exceptions, most specific first.
    reasons: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
        (jwt.ExpiredSignatureError, "has expired"),
        (jwt.ImmatureSignatureError, "is issued in the future"),
        (jwt.InvalidAudienceError, "is not for this client (audience)"),
        (jwt.InvalidIssuerError, f"was not issued by {rules.issuer_name} (issuer)"),
        (jwt.MissingRequiredClaimError, "lacks a required claim"),
        (jwt.InvalidSignatureError, "'s signature does not verify"),
        (jwt.InvalidAlgorithmError, "is not signed with RS256"),
        (jwt.InvalidIssuedAtError, "'s iat is not a time"),
        (jwt.DecodeError, "is not a well-formed JWT"),
    )
    text = next((text for kind, text in reasons if isinstance(error, kind)), "is not valid")
    return f"{rules.called}{text}" if text.startswith("'") else f"{rules.called} {text}"


def verified_claims(
    id_token: str,
    keys: SigningKeys,
    rules: IdTokenRules,
    *,
    invalid: Callable[[str], Exception],
    unavailable: Callable[[str], Exception],
) -> dict[str, Any]:
    """The token's claims once signature and standard claims hold; else ``invalid(reason)`` (or ``unavailable``
    when the provider's key set cannot be fetched)."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise invalid(f"{rules.called} is not a well-formed JWT") from None
    if header.get("alg") != ALGORITHM:
        raise invalid(f"{rules.called} is not signed with RS256")
    if not isinstance(header.get("kid"), str):
        raise invalid(f"{rules.called} names no signing key (kid)")
    try:
        key = keys.get_signing_key_from_jwt(id_token)
    except jwt.PyJWKClientConnectionError:
        raise unavailable(f"{rules.key_owner} signing keys could not be fetched") from None
    except jwt.PyJWTError:
        raise invalid(f"{rules.called}'s signing key is not one of {rules.key_owner}") from None
    if key.key_type != "RSA":
        raise invalid(f"{rules.called}'s signing key is not an RSA key")
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=[ALGORITHM],
            audience=rules.audience,
            issuer=rules.issuer,
            leeway=rules.leeway,
            options={"require": list(rules.required_claims), "strict_aud": True},
        )
    except jwt.PyJWTError as error:
        raise invalid(_reason(error, rules)) from None
    return claims
