"""The console's user pool: the code exchange at the managed-login domain's ``/oauth2/token`` (requests) and the
check of the pool's ID token (PyJWT against the pool's JWKS).

The console's app client is public (no secret): the code exchange proves itself with the PKCE verifier instead.
Only the ID token is taken from the answer; the access and refresh tokens are dropped, never kept or logged. The ID
token is checked in full even though it comes server to server: RS256 only (``none`` and HS256 refused before a
key is looked up), a ``kid`` of the pool's key set (``jwt.PyJWKClient``, cached per container, fetched again for
an unknown ``kid``), ``iss`` the pool, ``aud`` our app client (and only it), ``token_use`` ``id``, ``exp``.
Every failure's message is a short reason, never the token or the code.
"""

from __future__ import annotations

from typing import Annotated, Any

import jwt
import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orcid_sync.adapters.id_tokens import IdTokenRules, SigningKeys, verified_claims
from orcid_sync.domain.console.ports import (
    CodeExchangeError,
    ConsoleIdentity,
    ConsoleIdTokenError,
    IdentityProviderUnavailableError,
)

LEEWAY_SECONDS = 60.0
JWKS_CACHE_SECONDS = 3600.0
"""Cognito rotates nothing by itself; an unknown ``kid`` fetches the set again sooner."""
TIMEOUT_SECONDS = 5.0
_PARAMETER_CACHE_SECONDS = 300
_REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "token_use")


class ConsoleSignInConfig(BaseModel):
    """The ConsoleSignInParameter: the pool, the console's app client, the managed-login origin."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_pool_id: Annotated[str, Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$")]
    client_id: Annotated[str, Field(min_length=1)]
    login_url: Annotated[str, Field(pattern=r"^https?://[^/]+$")]

    @property
    def issuer(self) -> str:
        """The ``iss`` of the pool's tokens: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``."""
        region = self.user_pool_id.partition("_")[0]
        return f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"


def load_console_sign_in(parameter_name: str) -> ConsoleSignInConfig:
    """Read and validate the sign-in parameter (cached by Powertools for five minutes per container)."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - the console's pages only

    if not parameter_name:
        raise RuntimeError("CONSOLE_SIGN_IN_PARAMETER is not set")
    raw = parameters.get_parameter(parameter_name, transform="json", max_age=_PARAMETER_CACHE_SECONDS)
    try:
        return ConsoleSignInConfig.model_validate(raw)
    except ValidationError:
        raise RuntimeError(f"the parameter {parameter_name} does not describe the console's sign-in") from None


class CognitoConsoleLogin:
    """The console's identity provider (the :class:`~orcid_sync.domain.console.ports.ConsoleIdentityProvider` port)."""

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        issuer: str,
        jwks_url: str,
        jwks_client: SigningKeys | None = None,
        session: requests.Session | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.token_url = f"{login_url.rstrip('/')}/oauth2/token"
        self.client_id = client_id
        self.issuer = issuer
        self.timeout = timeout
        self._http = session or requests.Session()
        self._keys: SigningKeys = jwks_client or jwt.PyJWKClient(
            jwks_url,
            cache_jwk_set=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=int(timeout),
            headers={"Accept": "application/json", "User-Agent": "orcid-sync"},
        )
        self._rules = IdTokenRules(
            issuer=issuer,
            audience=client_id,
            required_claims=_REQUIRED_CLAIMS,
            leeway=LEEWAY_SECONDS,
            called="the ID token",
            issuer_name="this user pool",
            key_owner="the pool's",
        )

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> str:
        try:
            answer = self._http.post(
                self.token_url,
                data={
                    "grant_type": "authorization_code",
                    "client_id": self.client_id,
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": code_verifier,
                },
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise IdentityProviderUnavailableError(
                f"the token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        if answer.status_code >= 500:
            raise IdentityProviderUnavailableError(f"the token endpoint answered {answer.status_code}")
        body = _json(answer)
        if answer.status_code != 200:
            # Cognito's OAuth error codes (invalid_grant, invalid_client, ...) are safe to name; nothing else is.
            error = body.get("error") if isinstance(body.get("error"), str) else "unknown"
            raise CodeExchangeError(f"the token endpoint refused the code: {str(error)[:40]}")
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise CodeExchangeError("the token endpoint's answer has no id_token")
        return id_token

    def verify_id_token(self, id_token: str) -> ConsoleIdentity:
        claims = self._verified_claims(id_token)
        if claims.get("token_use") != "id":
            raise ConsoleIdTokenError("the token is not an ID token (token_use)")
        subject = claims.get("sub")
        email = claims.get("email")
        if not isinstance(subject, str) or not subject:
            raise ConsoleIdTokenError("the ID token has no subject")
        if not isinstance(email, str) or not email:
            raise ConsoleIdTokenError("the ID token has no e-mail address (scope email, attribute readable)")
        groups = claims.get("cognito:groups") or []
        if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
            raise ConsoleIdTokenError("the ID token's cognito:groups is not a list of names")
        return ConsoleIdentity(subject=subject, email=email, groups=tuple(groups))

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        return verified_claims(
            id_token,
            self._keys,
            self._rules,
            invalid=ConsoleIdTokenError,
            unavailable=IdentityProviderUnavailableError,
        )


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
