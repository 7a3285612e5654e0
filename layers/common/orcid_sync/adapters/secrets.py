"""The stack's secrets (ORCID client secret, signing key), from Secrets Manager via Powertools parameters."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

_CACHE_SECONDS = 300


class AppSecrets(BaseModel):
    """What the OrcidSecret holds: set client_secret after deploying; signing_key is generated."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    client_secret: SecretStr
    signing_key: SecretStr = Field(min_length=32)


class SecretsError(RuntimeError):
    """The secret is missing, not JSON, or lacks a field."""


def load_app_secrets(secret_id: str) -> AppSecrets:
    """Read and validate the secret (cached for five minutes per container)."""
    try:
        raw = parameters.get_secret(secret_id, transform="json", max_age=_CACHE_SECONDS)
        return AppSecrets.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(str(err["loc"][0]) for err in exc.errors())
        raise SecretsError(f"secret {secret_id} lacks or has invalid fields: {fields}") from None
    except parameters.exceptions.TransformParameterError:
        raise SecretsError(f"secret {secret_id} is not a JSON object") from None
