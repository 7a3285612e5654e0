"""What a local stack starts with: the template, the ORCID in use and its client, the dummy AWS credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

from .lambda_glue import LocalCredentials
from .template import DEFAULT_REGION

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE: Final = REPO_ROOT / "template.yaml"
LOCAL_CLIENT_ID: Final = "APP-LOCAL00000000001"
ORCID_SANDBOX_URL: Final = "https://sandbox.orcid.org"
# Dummies moto accepts; the local API's AWS_IAM check requires requests signed with this key.
LOCAL_CREDENTIALS: Final = LocalCredentials(
    access_key_id="AKIAORCIDSYNCLOCAL01",
    secret_access_key="orcid-sync-local-dummy-secret-access-key",  # noqa: S106 - a dummy, printed by design
    region=DEFAULT_REGION,
)


class LocalStackError(RuntimeError):
    """The local stack cannot start as asked."""


class OrcidMode(StrEnum):
    """Which ORCID the functions talk to."""

    LOCAL = "local"  # the embedded sandbox (orcid_sync_local.orcid_sandbox)
    SANDBOX = "sandbox"  # ORCID's real sandbox, with your own member API client


@dataclass(frozen=True)
class OrcidClient:
    """An ORCID member API client: its id, and its secret (kept out of repr)."""

    client_id: str
    client_secret: str = field(repr=False)
