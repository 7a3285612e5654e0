"""Signed connect links and OAuth states: genuine ones verify, anything else is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from orcid_sync.domain.connect.signing import (
    ExpiredTokenError,
    ForgedTokenError,
    Signer,
    new_nonce,
)

KEY = SecretStr("s" * 48)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)

researcher_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}", fullmatch=True)


def _flip(token: str, index: int) -> str:
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@given(researcher_ids)
def test_a_genuine_link_verifies_and_names_its_researcher(researcher_id: str) -> None:
    # Given a link signed for a researcher
    signer = Signer(KEY)
    link = signer.sign_link(researcher_id, LATER)
    # When it is verified before its expiry
    claims = signer.verify_link(link, now=NOW)
    # Then it names that researcher and the expiry, and is URL-safe as is
    assert claims.researcher_id == researcher_id
    assert claims.expires_at == LATER
    assert set(link) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_link_carries_no_secret() -> None:
    link = Signer(KEY).sign_link("r1", LATER)
    assert KEY.get_secret_value() not in link
    payload = base64.urlsafe_b64decode(link.split(".")[0] + "==")
    assert payload.split(b"\x1f")[1:] == [b"r1", str(int(LATER.timestamp())).encode()]


def test_an_expired_link_is_refused_as_expired_with_its_researcher() -> None:
    signer = Signer(KEY)
    link = signer.sign_link("r1", NOW)
    with pytest.raises(ExpiredTokenError) as excinfo:
        signer.verify_link(link, now=NOW)
    assert excinfo.value.researcher_id == "r1"
    # One second earlier it was still good.
    assert signer.verify_link(link, now=NOW - timedelta(seconds=1)).researcher_id == "r1"


def test_every_single_character_change_is_detected() -> None:
    signer = Signer(KEY)
    link = signer.sign_link("researcher-42", LATER)
    for index in range(len(link)):
        if link[index] == ".":
            continue
        tampered = _flip(link, index)
        with pytest.raises(ForgedTokenError):
            signer.verify_link(tampered, now=NOW)


def test_a_link_rewritten_for_another_researcher_or_a_later_expiry_is_forged() -> None:
    signer = Signer(KEY)
    link = signer.sign_link("r1", LATER)
    _, mac = link.split(".")
    for payload in (
        b"connect-link/v1\x1fr2\x1f" + str(int(LATER.timestamp())).encode(),
        b"connect-link/v1\x1fr1\x1f9999999999",
    ):
        with pytest.raises(ForgedTokenError):
            signer.verify_link(f"{_b64(payload)}.{mac}", now=NOW)


def test_a_link_signed_with_another_key_is_forged() -> None:
    link = Signer(SecretStr("o" * 48)).sign_link("r1", LATER)
    with pytest.raises(ForgedTokenError):
        Signer(KEY).verify_link(link, now=NOW)


@pytest.mark.parametrize("token", ["", "no-dot", "a.b.c", "!!!.???", ".", "x" * 2000, "abc.def"])
def test_malformed_links_are_forged(token: str) -> None:
    with pytest.raises(ForgedTokenError):
        Signer(KEY).verify_link(token, now=NOW)


def test_a_state_is_not_a_link_and_a_link_is_not_a_state() -> None:
    signer = Signer(KEY)
    state = signer.sign_state("r1", new_nonce(), LATER)
    link = signer.sign_link("r1", LATER)
    with pytest.raises(ForgedTokenError):
        signer.verify_link(state, now=NOW)
    with pytest.raises(ForgedTokenError):
        signer.verify_state(link, now=NOW)


def test_a_genuine_state_verifies_with_its_nonce() -> None:
    signer = Signer(KEY)
    nonce = new_nonce()
    claims = signer.verify_state(signer.sign_state("r1", nonce, NOW + timedelta(hours=1)), now=NOW)
    assert (claims.researcher_id, claims.nonce) == ("r1", nonce)


def test_an_expired_state_is_refused_as_expired() -> None:
    signer = Signer(KEY)
    state = signer.sign_state("r1", new_nonce(), NOW + timedelta(hours=1))
    with pytest.raises(ExpiredTokenError):
        signer.verify_state(state, now=NOW + timedelta(hours=1, seconds=1))


def test_a_tampered_state_is_forged() -> None:
    signer = Signer(KEY)
    state = signer.sign_state("r1", new_nonce(), LATER)
    with pytest.raises(ForgedTokenError):
        signer.verify_state(_flip(state, 3), now=NOW)


def test_a_payload_without_a_numeric_expiry_is_forged_even_when_signed() -> None:
    # Given a correctly signed payload whose expiry field is not a number (only a key holder could make one)
    signer = Signer(KEY)
    good = signer.sign_link("r1", LATER)
    raw = base64.urlsafe_b64decode(good.split(".")[0] + "==").rsplit(b"\x1f", 1)[0] + b"\x1fsoon"
    forged = signer._sign(raw.decode().split("\x1f"))
    # Then it is still refused
    with pytest.raises(ForgedTokenError):
        signer.verify_link(forged, now=NOW)


def test_nonces_are_unique_and_url_safe() -> None:
    nonces = {new_nonce() for _ in range(1000)}
    assert len(nonces) == 1000
    assert all(
        len(n) >= 22 and set(n) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for n in nonces
    )


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Signer(SecretStr("short"))
