"""Envelope encryption: one data key per batch, researcher id bound as associated data."""

from __future__ import annotations

import os

import pytest

from orcid_sync.adapters.token_encryption import EnvelopeTokenCipher
from orcid_sync.domain.tokens.crypto import TokenDecryptionError, token_fingerprint


class FakeKeys:
    """Wraps data keys by XOR with a master key and counts calls, like KMS would be counted."""

    def __init__(self) -> None:
        self.master = os.urandom(32)
        self.generated = 0
        self.decrypted = 0

    def _wrap(self, key: bytes) -> bytes:
        return bytes(a ^ b for a, b in zip(key, self.master, strict=True))

    def generate_data_key(self) -> tuple[bytes, bytes]:
        self.generated += 1
        key = os.urandom(32)
        return key, self._wrap(key)

    def decrypt_data_key(self, blob: bytes) -> bytes:
        self.decrypted += 1
        return self._wrap(blob)


def test_a_batch_seals_many_tokens_with_one_data_key() -> None:
    keys = FakeKeys()
    cipher = EnvelopeTokenCipher(keys)
    batch = cipher.batch()
    sealed = [batch.seal(f"r{i}", f"token-{i}") for i in range(50)]
    assert keys.generated == 1
    assert len({s.data_key for s in sealed}) == 1
    assert len({s.nonce for s in sealed}) == 50
    assert all(b"token-" not in s.ciphertext for s in sealed)


def test_open_returns_the_plaintext_and_decrypts_each_data_key_once() -> None:
    keys = FakeKeys()
    sealed = EnvelopeTokenCipher(keys).batch().seal("r1", "f5af9f51-07e6-4332-8f1a-c0c11c1e3728")
    other = EnvelopeTokenCipher(keys)  # a cold container: nothing cached
    assert other.open("r1", sealed) == "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
    assert other.open("r1", sealed) == "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
    assert keys.decrypted == 1


def test_a_token_moved_to_another_researcher_does_not_decrypt() -> None:
    cipher = EnvelopeTokenCipher(FakeKeys())
    sealed = cipher.batch().seal("alice", "secret-token")
    with pytest.raises(TokenDecryptionError) as excinfo:
        cipher.open("bob", sealed)
    assert "secret-token" not in str(excinfo.value)


def test_a_tampered_ciphertext_does_not_decrypt() -> None:
    cipher = EnvelopeTokenCipher(FakeKeys())
    sealed = cipher.batch().seal("alice", "secret-token")
    tampered = sealed.model_copy(update={"ciphertext": bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]})
    with pytest.raises(TokenDecryptionError):
        cipher.open("alice", tampered)


def test_fingerprint_is_keyed_and_distinguishes_tokens() -> None:
    first = token_fingerprint("key-1", "r1", "access", "refresh")
    assert first == token_fingerprint("key-1", "r1", "access", "refresh")
    assert first != token_fingerprint("key-2", "r1", "access", "refresh")
    assert first != token_fingerprint("key-1", "r1", "access", None)
    assert first != token_fingerprint("key-1", "r2", "access", "refresh")
    assert "access" not in first
