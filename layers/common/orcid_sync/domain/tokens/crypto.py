"""What the use cases know of token encryption: a keyed fingerprint of token values, and the decryption error."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


class TokenDecryptionError(RuntimeError):
    """A stored token could not be decrypted (wrong researcher, tampered item, or wrong key)."""


def token_fingerprint(signing_key: str, researcher_id: str, *values: str | None) -> str:
    """A keyed hash of token values, to tell "same token again" from "new token" without decrypting."""
    message = "\x1f".join([researcher_id, *(v or "" for v in values)]).encode("utf-8")
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()
