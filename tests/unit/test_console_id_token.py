"""The console's ID-token check (adapters/cognito_login.py): only our pool's RS256 ID tokens for our client pass."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from orcid_sync.adapters.cognito_login import CognitoConsoleLogin, ConsoleSignInConfig
from orcid_sync.domain.console.ports import ConsoleIdTokenError

POOL = "eu-west-1_AbCdEf123"
ISSUER = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
CLIENT = "console-client"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeKeys:
    """The pool's key set: one RSA key, kid "k1"."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if kid != "k1":
            raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')
        return jwt.PyJWK.from_dict({**jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"})


def _verifier() -> CognitoConsoleLogin:
    return CognitoConsoleLogin(
        login_url="https://login.example", client_id=CLIENT, issuer=ISSUER, jwks_url="unused", jwks_client=FakeKeys()
    )


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "sub-1",
        "token_use": "id",
        "email": "a@example.edu",
        "cognito:groups": ["orcid-admins"],
        "iat": now,
        "exp": now + 3600,
    } | changes
    return {key: value for key, value in claims.items() if value is not None}


def _token(claims: dict[str, Any], *, key: Any = KEY, kid: str = "k1", algorithm: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def test_our_pools_id_token_passes() -> None:
    identity = _verifier().verify_id_token(_token(_claims()))
    assert (identity.subject, identity.email, identity.groups) == ("sub-1", "a@example.edu", ("orcid-admins",))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"), "issuer"),
        (_claims(aud="another-client"), "audience"),
        (_claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), "expired"),
        (_claims(token_use="access"), "token_use"),
        (_claims(token_use=None), "claim"),
        (_claims(email=None), "e-mail"),
        (_claims(**{"cognito:groups": "orcid-admins"}), "groups"),
    ],
)
def test_a_token_that_is_not_ours_is_refused(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConsoleIdTokenError, match=reason):
        _verifier().verify_id_token(_token(claims))


def test_an_unknown_kid_is_refused() -> None:
    with pytest.raises(ConsoleIdTokenError, match="signing key"):
        _verifier().verify_id_token(_token(_claims(), kid="k2"))


def test_a_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(ConsoleIdTokenError, match="signature"):
        _verifier().verify_id_token(_token(_claims(), key=OTHER_KEY))


def test_alg_none_is_refused() -> None:
    token = jwt.encode(_claims(), None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(ConsoleIdTokenError, match="RS256"):
        _verifier().verify_id_token(token)


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    # The classic confusion attack: HMAC "signed" with the RSA public key's bytes.
    token = jwt.api_jws.PyJWS(algorithms=["HS256"]).encode(
        jwt.utils.force_bytes(__import__("json").dumps(_claims())), b"x" * 64, algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(ConsoleIdTokenError, match="RS256"):
        _verifier().verify_id_token(token)


def test_the_sign_in_parameter_derives_the_issuer_and_key_set() -> None:
    config = ConsoleSignInConfig(
        user_pool_id=POOL, client_id=CLIENT, login_url="https://x.auth.eu-west-1.amazoncognito.com"
    )
    assert config.issuer == ISSUER
    assert config.jwks_url == f"{ISSUER}/.well-known/jwks.json"
