"""ORCID's OpenID Connect: the signed ``id_token`` of an ``openid`` sign-in, the JWKS, discovery and userinfo.

As on ORCID (ORCID-Source ``OpenIDConnectTokenEnhancer``, ``OpenIDConnectDiscoveryService`` and
``orcid-web/ORCID_AUTH_WITH_OPENID_CONNECT.md``): a code granted with the ``openid`` scope is exchanged for the
usual token answer plus ``id_token``, an RS256 JWT whose header names the key (``kid``) published at
``/oauth/jwks``; its issuer is the site's own base URL. The sandbox makes one RSA key per process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Response, g

from .errors import OAuthError
from .member_api import bearer_token
from .models import AccessToken
from .responses import base_url, oauth_json, sandbox_state
from .state import SandboxState

openid = Blueprint("openid", __name__)

OPENID_SCOPE = "openid"
SIGNING_ALGORITHM = "RS256"
ID_TOKEN_LIFETIME_SECONDS = 600
"""Ten minutes. ORCID's docs show 600 s and 86 400 s between ``iat`` and ``exp``; ORCID-Source's current enhancer
copies the access token's expiry. A verifier must only need ``exp`` to be in the future."""
# The authentication method reference ORCID's Member API puts in the token ("mfa" with two-factor sign-in).
AUTHENTICATION_METHOD = "pwd"


@cache
def signing_key() -> tuple[rsa.RSAPrivateKey, str]:
    """This process's RSA key and its ``kid`` (the RFC 7638 thumbprint of the public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps({name: public[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return key, f"sandbox-{thumbprint[:16]}"


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The public key set, as ORCID publishes it: ``{"keys": [{"kty", "e", "use", "kid", "alg", "n"}]}``."""
    key, kid = signing_key()
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {
        "keys": [{"kty": "RSA", "e": public["e"], "use": "sig", "kid": kid, "alg": SIGNING_ALGORITHM, "n": public["n"]}]
    }


def _access_token_hash(access_token: str) -> str:
    """``at_hash``: the left half of the SHA-256 of the access token, base64url (OpenID Connect Core 3.1.3.6)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def issue_id_token(state: SandboxState, token: AccessToken, *, issuer: str) -> str:
    """The signed ``id_token`` of a token whose code was granted with ``openid``; its claims are kept, to inspect."""
    if token.sign_in is None or token.orcid is None:
        raise ValueError("only a token from an openid sign-in gets an id_token")
    issued_at = int(state.config.clock())
    claims: dict[str, Any] = {
        "at_hash": _access_token_hash(token.access_token),
        "aud": token.client_id,
        "sub": token.orcid,
        "auth_time": token.sign_in.auth_time,
        "amr": AUTHENTICATION_METHOD,
        "iss": issuer,
        "exp": issued_at + ID_TOKEN_LIFETIME_SECONDS,
        "iat": issued_at,
        "jti": str(uuid.uuid4()),
    }
    if token.sign_in.nonce is not None:
        claims["nonce"] = token.sign_in.nonce
    record = state.records.get(token.orcid)
    if record is not None:
        claims |= {"name": record.name, "given_name": record.given_names}
        if record.family_name:
            claims["family_name"] = record.family_name
    key, kid = signing_key()
    id_token = jwt.encode(claims, key, algorithm=SIGNING_ALGORITHM, headers={"kid": kid})
    state.record_id_token(id_token, claims)
    return id_token


@openid.get("/oauth/jwks")
def publish_keys() -> Response:
    """The key set that verifies the sandbox's id_tokens."""
    return oauth_json(jwks())


@openid.get("/.well-known/openid-configuration")
def discovery() -> Response:
    """OpenID Connect discovery, with ORCID's fields; every URL on the sandbox's own base URL."""
    site = base_url()
    return oauth_json(
        {
            "issuer": site,
            "authorization_endpoint": f"{site}/oauth/authorize",
            "token_endpoint": f"{site}/oauth/token",
            "userinfo_endpoint": f"{site}/oauth/userinfo",
            "jwks_uri": f"{site}/oauth/jwks",
            "scopes_supported": [OPENID_SCOPE],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "claims_supported": ["family_name", "given_name", "name", "auth_time", "iss", "sub"],
            "claims_parameter_supported": "false",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claim_types_supported": ["normal"],
        }
    )


@openid.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """Who the bearer token's researcher is; the token must carry the ``openid`` scope."""
    state = sandbox_state()
    bearer = bearer_token()
    if bearer is None:
        raise OAuthError(401, "unauthorized", "Full authentication is required to access this resource")
    token = state.token_for_request(bearer, "GET")
    g.client_id = token.client_id
    if OPENID_SCOPE not in token.scopes or token.orcid is None:
        raise OAuthError(403, "insufficient_scope", "The openid scope is required to read the user info")
    record = state.records.get(token.orcid)
    return oauth_json(
        {
            "sub": token.orcid,
            "name": record.name if record else None,
            "family_name": (record.family_name or None) if record else None,
            "given_name": record.given_names if record else None,
        }
    )
