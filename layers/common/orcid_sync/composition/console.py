"""The admin console's collaborators: its managed-login site and its identity provider (the user pool).

Part of the composition root (``orcid_sync.composition`` re-exports these and its ``reset()`` forgets their caches).
The pool, app client and login URL come from the stack's ConsoleSignInParameter (see template.yaml for why).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from orcid_sync import composition as root

if TYPE_CHECKING:
    from orcid_sync.adapters.cognito_login import CognitoConsoleLogin, ConsoleSignInConfig
    from orcid_sync.domain.console.sign_in import LoginSite


def console_sign_in_config() -> ConsoleSignInConfig:
    """The pool, app client and managed-login URL (the parameter is cached for five minutes per container)."""
    from orcid_sync.adapters.cognito_login import load_console_sign_in  # noqa: PLC0415 - loaded by the console only

    return load_console_sign_in(root.settings().console_sign_in_parameter)


def console_login_site() -> LoginSite:
    """Where the browser signs in to the console: the pool's managed-login origin and the console's app client."""
    from orcid_sync.domain.console.sign_in import LoginSite  # noqa: PLC0415 - loaded by the console only

    config = root.console_sign_in_config()
    return LoginSite(
        login_url=root.settings().console_login_url_override or config.login_url, client_id=config.client_id
    )


@lru_cache(maxsize=1)
def console_identity_provider() -> CognitoConsoleLogin:
    """The pool's token endpoint and ID-token check (its key set cached per container)."""
    from orcid_sync.adapters.cognito_login import CognitoConsoleLogin  # noqa: PLC0415 - loaded by the console only

    config = root.console_sign_in_config()
    return CognitoConsoleLogin(
        login_url=root.console_login_site().login_url,
        client_id=config.client_id,
        issuer=config.issuer,
        jwks_url=root.settings().console_jwks_url_override or config.jwks_url,
    )
