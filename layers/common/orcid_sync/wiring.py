"""The composition root: builds AWS clients, stores and the ORCID client from settings, once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3

from orcid_sync.settings import Settings, get_settings
from orcid_sync.store.dynamodb import DynamoAssetStore, DynamoResearcherStore, DynamoTokenStore

# The ORCID client (requests, the ORCID models), the token cipher and the secrets are imported by the
# factories below that build them, not here: a function imports this module for its stores, and only
# the paths that call ORCID, open a token or read the secret pay for those imports (once per container).
if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource

    from orcid_sync.app_secrets import AppSecrets
    from orcid_sync.crypto import TokenCipher
    from orcid_sync.orcid.client import OrcidClient, RetryPolicy
    from orcid_sync.orcid.ratelimit import DynamoDbTokenBucket


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb")


@lru_cache(maxsize=1)
def token_cipher(settings: Settings | None = None) -> TokenCipher:
    from orcid_sync.crypto import KmsDataKeys, TokenCipher  # noqa: PLC0415 - see the imports above

    settings = settings or get_settings()
    return TokenCipher(KmsDataKeys(boto3.client("kms"), settings.token_key_id))


def app_secrets(settings: Settings | None = None) -> AppSecrets:
    """Cached by Powertools parameters for five minutes, so a rotated secret is picked up."""
    from orcid_sync.app_secrets import load_app_secrets  # noqa: PLC0415 - see the imports above

    return load_app_secrets((settings or get_settings()).orcid_secret_id)


def researcher_store(settings: Settings | None = None) -> DynamoResearcherStore:
    return DynamoResearcherStore(dynamodb().Table((settings or get_settings()).researchers_table))


def token_store(settings: Settings | None = None) -> DynamoTokenStore:
    return DynamoTokenStore(dynamodb().Table((settings or get_settings()).tokens_table))


def asset_store(settings: Settings | None = None) -> DynamoAssetStore:
    return DynamoAssetStore(dynamodb().Table((settings or get_settings()).assets_table))


ORCID_RATE_BUCKET_KEY = "ratelimit#orcid-member-api"
"""The one token bucket (in the state table) that every Lambda of the stack draws from: ORCID's limit is per client."""


def orcid_rate_limiter(settings: Settings | None = None) -> DynamoDbTokenBucket:
    from orcid_sync.orcid.ratelimit import DynamoDbTokenBucket  # noqa: PLC0415 - see the imports above

    settings = settings or get_settings()
    return DynamoDbTokenBucket(
        dynamodb().Table(settings.state_table),
        ORCID_RATE_BUCKET_KEY,
        rate=settings.orcid_rate_limit,
        burst=settings.orcid_burst,
    )


def member_api_client(settings: Settings | None = None, *, retry: RetryPolicy | None = None) -> OrcidClient:
    """An ORCID Member API client with the stack's credentials, under the rate limit shared by all Lambdas."""
    from orcid_sync.orcid.client import OrcidClient  # noqa: PLC0415 - see the imports above

    settings = settings or get_settings()
    return OrcidClient.from_settings(
        settings,
        client_secret=app_secrets(settings).client_secret,
        rate_limiter=orcid_rate_limiter(settings),
        retry=retry,
    )


def reset() -> None:
    """Forget every cached client (tests and the local stack switch endpoints between runs)."""
    dynamodb.cache_clear()
    token_cipher.cache_clear()
    get_settings.cache_clear()
