"""The researcher-facing pages' collaborators: connecting (links, the OAuth callback, disconnecting) and "My ORCID".

Part of the composition root (``orcid_sync.composition`` re-exports these and its ``reset()`` forgets their caches).
The factories reach the others through the package (``root.x()``), so a test that replaces one there is obeyed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from orcid_sync import composition as root

if TYPE_CHECKING:
    from orcid_sync.adapters.dynamodb.oauth_state import DynamoOAuthStateStore
    from orcid_sync.adapters.orcid_api.client import OrcidClient
    from orcid_sync.domain.connect.oauth_callback import CallbackServices
    from orcid_sync.domain.connect.shared import OrcidSite
    from orcid_sync.domain.connect.signing import Signer
    from orcid_sync.domain.me.ports import IdTokenVerifier
    from orcid_sync.domain.me.sign_in import SignInServices
    from orcid_sync.domain.settings_changes import CachedIntegrationSettings


# --- connecting researchers (the connect pages, the OAuth callback, disconnecting) -------------


def orcid_site() -> OrcidSite:
    """Where the browser goes for ORCID, and which host iD links use."""
    from orcid_sync.config import OrcidEnvironment  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.connect.shared import OrcidSite  # noqa: PLC0415 - see the module docstring

    config = root.settings()
    return OrcidSite(
        client_id=config.orcid_client_id,
        site_url=config.orcid_site_url,
        sandbox=config.orcid_environment is OrcidEnvironment.SANDBOX,
    )


def public_base_url(*, domain_name: str | None, host: str | None) -> str:
    """The connect pages' public base URL: the configured one, else the request's own domain."""
    from orcid_sync.domain.connect.shared import request_base_url  # noqa: PLC0415 - see the module docstring

    return request_base_url(configured=root.settings().public_base_url, domain_name=domain_name, host=host)


def link_signer() -> Signer:
    """Signs connect links and OAuth states; not cached, so a rotated signing key is picked up."""
    from orcid_sync.domain.connect.signing import Signer  # noqa: PLC0415 - see the module docstring

    return Signer(root.app_secrets().signing_key)


@lru_cache(maxsize=1)
def oauth_states() -> DynamoOAuthStateStore:
    from orcid_sync.adapters.dynamodb.oauth_state import DynamoOAuthStateStore  # noqa: PLC0415 - see the docstring

    return DynamoOAuthStateStore(root.dynamodb().Table(root.settings().state_table))


def oauth_client() -> OrcidClient:
    """ORCID's OAuth endpoints (code exchange, revocation) while a person waits: one quick retry.

    OAuth calls are not Member API calls, so they draw on no shared rate limit.
    """
    from orcid_sync.adapters.orcid_api.client import OrcidClient  # noqa: PLC0415 - see the module docstring
    from orcid_sync.adapters.orcid_api.rate_limit import NoRateLimit  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.retry_policy import RetryPolicy  # noqa: PLC0415 - see the module docstring

    return OrcidClient.from_settings(
        root.settings(),
        client_secret=root.app_secrets().client_secret,
        rate_limiter=NoRateLimit(),
        retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, max_retry_after=2.0),
    )


def callback_services() -> CallbackServices:
    """What completing an authorization touches; built per callback, as the secret may have rotated."""
    from orcid_sync.domain.connect.oauth_callback import CallbackServices  # noqa: PLC0415 - see the module docstring
    from orcid_sync.domain.connect.signing import Signer  # noqa: PLC0415 - see the module docstring

    secrets = root.app_secrets()
    return CallbackServices(
        researchers=root.researcher_store(),
        tokens=root.token_store(),
        states=root.oauth_states(),
        cipher=root.token_cipher(),
        oauth=root.oauth_client(),
        signer=Signer(secrets.signing_key),
        fingerprint_key=secrets.signing_key,
        site=root.orcid_site(),
    )


# --- "My ORCID" (sign in with ORCID, the researcher pages' branding) ------------------------------


@lru_cache(maxsize=1)
def cached_integration_settings() -> CachedIntegrationSettings:
    """The settings as the invitation e-mails read them (branding): at most once a minute per container."""
    from orcid_sync.domain.settings_changes import CachedIntegrationSettings  # noqa: PLC0415 - see the docstring

    return CachedIntegrationSettings(root.integration_settings_store())


@lru_cache(maxsize=1)
def id_token_verifier() -> IdTokenVerifier:
    """Checks ORCID's OpenID ``id_token`` against ``<ORCID site>/oauth/jwks`` (the key set cached per container)."""
    from orcid_sync.adapters.orcid_api.openid import OrcidIdTokenVerifier  # noqa: PLC0415 - see the module docstring

    config = root.settings()
    return OrcidIdTokenVerifier(config.orcid_site_url, config.orcid_client_id, timeout=config.orcid_timeout_seconds)


def sign_in_services() -> SignInServices:
    """What completing a sign-in with ORCID touches; built per callback, as the secret may have rotated."""
    from orcid_sync.domain.me.sign_in import SignInServices  # noqa: PLC0415 - see the module docstring

    return SignInServices(
        researchers=root.researcher_store(),
        states=root.oauth_states(),
        oauth=root.oauth_client(),
        verifier=root.id_token_verifier(),
        signer=root.link_signer(),
        site=root.orcid_site(),
    )
