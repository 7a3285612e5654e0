"""The admin console's collaborators: its managed-login site and its identity provider (the user pool).

Part of the composition root (``orcid_sync.composition`` re-exports these and its ``reset()`` forgets their caches).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from orcid_sync import composition as root

if TYPE_CHECKING:
    from orcid_sync.adapters.cognito_login import CognitoConsoleLogin
    from orcid_sync.domain.console.sign_in import LoginSite


def console_login_site() -> LoginSite:
    """Where the browser signs in to the console: the pool's managed-login origin and the console's app client."""
    from orcid_sync.domain.console.sign_in import LoginSite  # noqa: PLC0415 - loaded by the console only

    config = root.settings()
    return LoginSite(login_url=config.console_login_url, client_id=config.console_client_id)


@lru_cache(maxsize=1)
def console_identity_provider() -> CognitoConsoleLogin:
    """The pool's token endpoint and ID-token check (its key set cached per container)."""
    from orcid_sync.adapters.cognito_login import CognitoConsoleLogin  # noqa: PLC0415 - loaded by the console only

    config = root.settings()
    return CognitoConsoleLogin(
        login_url=config.console_login_url,
        client_id=config.console_client_id,
        issuer=config.console_issuer,
        jwks_url=config.console_jwks_url,
    )
