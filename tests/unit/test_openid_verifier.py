"""The product's check of ORCID's OpenID ``id_token``: every way a token can fail to prove a sign-in is refused, each
for its own reason, and the reason never repeats the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from orcid_sync.adapters.orcid_api.openid import OrcidIdTokenVerifier
from orcid_sync.domain.me.ports import AuthenticatedOrcid, IdTokenError, IdTokenVerifier

SITE = "https://sandbox.orcid.org"
CLIENT_ID = "APP-ABCDEFGHIJKLMNOP"
ORCID = "0000-0002-1825-0097"
NONCE = "k3hQ0sWv5G1nN8xZ"
KID = "orcid-key-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeKeySet:
    """A JWKS as ORCID publishes it, looked up like PyJWKClient does (by the token's ``kid``); counts look-ups."""

    def __init__(self, *keys: tuple[str, rsa.RSAPrivateKey]) -> None:
        jwks = []
        for kid, private in keys:
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
            jwks.append({"kty": "RSA", "e": public["e"], "use": "sig", "kid": kid, "alg": "RS256", "n": public["n"]})
        self.keys = jwt.PyJWKSet.from_dict({"keys": jwks})
        self.lookups = 0

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        self.lookups += 1
        kid = jwt.get_unverified_header(token).get("kid")
        for candidate in self.keys.keys:
            if candidate.key_id == kid:
                return candidate
        raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')


class UnreachableKeySet:
    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url, err: timed out")


@pytest.fixture
def keys(key: rsa.RSAPrivateKey) -> FakeKeySet:
    return FakeKeySet((KID, key))


@pytest.fixture
def verifier(keys: FakeKeySet) -> OrcidIdTokenVerifier:
    return OrcidIdTokenVerifier(SITE, CLIENT_ID, jwks_client=keys, leeway=30)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "aud": CLIENT_ID,
        "sub": ORCID,
        "auth_time": now - 20,
        "amr": "pwd",
        "iss": SITE,
        "exp": now + 600,
        "iat": now,
        "nonce": NONCE,
        "jti": "eaa4d563-be63-47ee-8976-dc7cc3b7be61",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def sign(private: rsa.RSAPrivateKey, payload: dict[str, Any], kid: str | None = KID) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, private, algorithm="RS256", headers=headers)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{_b64(signature)}"


def refused(verifier: OrcidIdTokenVerifier, token: str, nonce: str = NONCE) -> str:
    """The reason the verifier gives; it must not contain the token or any part of it."""
    with pytest.raises(IdTokenError) as raised:
        verifier.verify(token, nonce=nonce)
    reason = str(raised.value)
    assert all(part not in reason for part in token.split(".") if len(part) >= 8)
    # Nor does a chained PyJWT error carry anything of it into a traceback
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__
    return reason


# --- what passes ----------------------------------------------------------------------------------------------------


def test_a_genuine_id_token_gives_the_authenticated_id_and_sign_in_time(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    payload = claims()

    result = verifier.verify(sign(key, payload), nonce=NONCE)

    assert result == AuthenticatedOrcid(ORCID, datetime.fromtimestamp(payload["auth_time"], UTC))


def test_it_implements_the_port(verifier: OrcidIdTokenVerifier) -> None:
    port: IdTokenVerifier = verifier
    assert port is verifier


def test_without_auth_time_the_sign_in_time_is_iat(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    payload = claims(auth_time=None)

    assert verifier.verify(sign(key, payload), nonce=NONCE).authenticated_at == datetime.fromtimestamp(
        payload["iat"], UTC
    )


def test_a_subject_as_an_orcid_uri_gives_the_bare_id(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    # ORCID once sent sub as https://orcid.org/<iD> (before its OPENID_SIMPLE_SUBJECT feature)
    assert verifier.verify(sign(key, claims(sub=f"https://orcid.org/{ORCID}")), nonce=NONCE).orcid == ORCID


def test_a_trailing_slash_on_the_site_url_changes_nothing(keys: FakeKeySet, key: rsa.RSAPrivateKey) -> None:
    verifier = OrcidIdTokenVerifier(f"{SITE}/", CLIENT_ID, jwks_client=keys)

    assert verifier.verify(sign(key, claims()), nonce=NONCE).orcid == ORCID


def test_an_expiry_just_past_is_within_the_leeway(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    assert verifier.verify(sign(key, claims(exp=now - 10, iat=now - 610)), nonce=NONCE).orcid == ORCID


def test_the_default_key_set_is_the_sites_jwks() -> None:
    verifier = OrcidIdTokenVerifier(f"{SITE}/", CLIENT_ID, timeout=4.0)

    keys = verifier._keys
    assert isinstance(keys, jwt.PyJWKClient)
    assert keys.uri == f"{SITE}/oauth/jwks"
    assert keys.timeout == 4.0
    assert keys.jwk_set_cache is not None


# --- what is refused, and why -------------------------------------------------------------------------------------


def test_another_issuer_is_refused(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    assert "issuer" in refused(verifier, sign(key, claims(iss="https://orcid.org")))


@pytest.mark.parametrize("audience", ["APP-0000111122223333", ["APP-0000111122223333", CLIENT_ID], [CLIENT_ID]])
def test_a_token_for_another_client_is_refused(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey, audience: str | list[str]
) -> None:
    # Only our client id, as a single audience (ORCID sends a string): a list is refused even when it names us
    assert "audience" in refused(verifier, sign(key, claims(aud=audience)))


def test_an_expired_token_is_refused(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    assert "expired" in refused(verifier, sign(key, claims(exp=now - 60, iat=now - 660)))


def test_a_token_issued_in_the_future_is_refused(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    assert "future" in refused(verifier, sign(key, claims(iat=int(time.time()) + 300)))


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "aud", "iss"])
def test_a_token_without_a_required_claim_is_refused(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey, missing: str
) -> None:
    payload = claims()
    del payload[missing]
    reason = refused(verifier, sign(key, payload))
    assert "required claim" in reason or "audience" in reason or "issuer" in reason


@pytest.mark.parametrize("nonce", [None, "another-nonce", NONCE + "x", NONCE[:-1]])
def test_a_wrong_or_missing_nonce_is_refused(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey, nonce: str | None
) -> None:
    assert "nonce" in refused(verifier, sign(key, claims(nonce=nonce)))


def test_an_empty_expected_nonce_is_refused_whatever_the_token(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    assert "nonce" in refused(verifier, sign(key, claims(nonce="")), nonce="")


def test_alg_none_is_refused_before_any_key_lookup(verifier: OrcidIdTokenVerifier, keys: FakeKeySet) -> None:
    token = unsigned({"alg": "none", "kid": KID, "typ": "JWT"}, claims())

    assert "RS256" in refused(verifier, token)
    assert keys.lookups == 0


def test_hs256_signed_with_the_public_key_is_refused(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey, keys: FakeKeySet
) -> None:
    # The classic confusion: an HMAC "signature" keyed with ORCID's public key, which anyone can fetch
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "kid": KID, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()

    assert "RS256" in refused(verifier, f"{header}.{payload}.{_b64(signature)}")
    assert keys.lookups == 0


def test_a_token_naming_an_unknown_key_is_refused(verifier: OrcidIdTokenVerifier, other_key: rsa.RSAPrivateKey) -> None:
    assert "signing key" in refused(verifier, sign(other_key, claims(), kid="not-orcids"))


def test_a_token_naming_no_key_is_refused(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    assert "kid" in refused(verifier, sign(key, claims(), kid=None))


def test_a_token_signed_by_another_key_under_orcids_kid_is_refused(
    verifier: OrcidIdTokenVerifier, other_key: rsa.RSAPrivateKey
) -> None:
    assert "signature" in refused(verifier, sign(other_key, claims()))


def test_a_tampered_payload_is_refused(verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey) -> None:
    header, _, signature = sign(key, claims()).split(".")
    forged = _b64(json.dumps(claims(sub="0000-0001-5109-3700")).encode())

    assert "signature" in refused(verifier, f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("subject", ["0000-0002-1825-0098", "not-an-orcid", "https://evil.example/0000-0002-1825-0097"])
def test_a_subject_that_is_not_an_orcid_id_is_refused(
    verifier: OrcidIdTokenVerifier, key: rsa.RSAPrivateKey, subject: str
) -> None:
    assert "subject" in refused(verifier, sign(key, claims(sub=subject)))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30"])
def test_garbage_is_refused(verifier: OrcidIdTokenVerifier, keys: FakeKeySet, token: str) -> None:
    assert "well-formed" in refused(verifier, token)
    assert keys.lookups == 0


def test_unreachable_keys_are_refused_as_such(key: rsa.RSAPrivateKey) -> None:
    verifier = OrcidIdTokenVerifier(SITE, CLIENT_ID, jwks_client=UnreachableKeySet())

    assert "could not be fetched" in refused(verifier, sign(key, claims()))
