"""Envelope encryption of ORCID tokens: one KMS data key per batch, AES-GCM per token.

The researcher id is the AES-GCM associated data, so a ciphertext copied onto another
researcher's item fails to decrypt instead of handing them someone else's token.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from orcid_sync.domain.models import SealedSecret
from orcid_sync.domain.tokens.crypto import TokenDecryptionError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from mypy_boto3_kms import KMSClient

_ENCRYPTION_CONTEXT = {"purpose": "orcid-sync-token"}
_NONCE_BYTES = 12


class DataKeyProvider(Protocol):
    """Where data keys come from (KMS in AWS and locally in moto; a fake in unit tests)."""

    def generate_data_key(self) -> tuple[bytes, bytes]:
        """Return (plaintext 256-bit key, encrypted key blob)."""
        ...

    def decrypt_data_key(self, blob: bytes) -> bytes:
        """Return the plaintext key for an encrypted key blob."""
        ...


class KmsDataKeys:
    """Data keys from a KMS key, bound to an encryption context."""

    def __init__(self, kms: KMSClient, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id
        self.calls = 0  # benchmarks report KMS calls per token

    def generate_data_key(self) -> tuple[bytes, bytes]:
        self.calls += 1
        response = self._kms.generate_data_key(
            KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=_ENCRYPTION_CONTEXT
        )
        return response["Plaintext"], response["CiphertextBlob"]

    def decrypt_data_key(self, blob: bytes) -> bytes:
        self.calls += 1
        response = self._kms.decrypt(CiphertextBlob=blob, KeyId=self._key_id, EncryptionContext=_ENCRYPTION_CONTEXT)
        return response["Plaintext"]


def _aesgcm(key: bytes) -> AESGCM:
    # cryptography's AEAD loads OpenSSL bindings: imported when a token is first sealed or opened, so a
    # function (or an invocation) that only reads token metadata or fingerprints never pays for it.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    return AESGCM(key)


class EncryptionBatch:
    """Encrypts many tokens under one data key (one KMS call for the whole batch)."""

    def __init__(self, plaintext_key: bytes, key_blob: bytes) -> None:
        self._aead = _aesgcm(plaintext_key)
        self._key_blob = key_blob

    def seal(self, researcher_id: str, secret: str) -> SealedSecret:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, secret.encode("utf-8"), researcher_id.encode("utf-8"))
        return SealedSecret(data_key=self._key_blob, nonce=nonce, ciphertext=ciphertext)


class EnvelopeTokenCipher:
    """Seals and opens token values; decrypted data keys are cached so a batch costs one KMS call."""

    def __init__(self, keys: DataKeyProvider, *, cache_size: int = 64) -> None:
        self._keys = keys
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = cache_size

    def batch(self) -> EncryptionBatch:
        """Start a batch: one new data key for every token sealed through it."""
        plaintext, blob = self._keys.generate_data_key()
        self._remember(blob, plaintext)
        return EncryptionBatch(plaintext, blob)

    def open(self, researcher_id: str, sealed: SealedSecret) -> str:
        key = self._cache.get(sealed.data_key)
        if key is None:
            key = self._keys.decrypt_data_key(sealed.data_key)
            self._remember(sealed.data_key, key)
        try:
            plaintext = _aesgcm(key).decrypt(sealed.nonce, sealed.ciphertext, researcher_id.encode("utf-8"))
        except Exception as exc:  # InvalidTag: the message would say nothing more useful
            raise TokenDecryptionError(f"the token stored for researcher {researcher_id} cannot be decrypted") from exc
        return plaintext.decode("utf-8")

    def _remember(self, blob: bytes, key: bytes) -> None:
        self._cache[blob] = key
        self._cache.move_to_end(blob)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
