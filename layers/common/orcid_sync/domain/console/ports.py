"""What the console's sign-in needs from the outside: Cognito's token endpoint and the check of its ID token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class IdentityProviderUnavailableError(Exception):
    """The identity provider could not be reached or answered with a server error."""


class CodeExchangeError(Exception):
    """The token endpoint refused the code (unknown, used, expired, PKCE or redirect URI mismatch)."""


class ConsoleIdTokenError(Exception):
    """An ID token that proves nothing: bad signature or algorithm, unknown key, wrong issuer, audience or use,
    expired."""


@dataclass(frozen=True)
class ConsoleIdentity:
    """Who signed in, as the user pool's signed ID token says (never as the browser says)."""

    subject: str
    email: str
    groups: tuple[str, ...]


class ConsoleIdentityProvider(Protocol):
    """The console's user pool (Cognito's managed login, or its local stand-in)."""

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> str:
        """The ID token for an authorization code (its access and refresh tokens are dropped, never kept)."""
        ...

    def verify_id_token(self, id_token: str) -> ConsoleIdentity:
        """RS256 by a key of the pool's JWKS; ``iss`` the pool, ``aud`` our app client, ``token_use`` id, not
        expired."""
        ...
