"""The sandbox's OAuth state: authorization codes, access/refresh token pairs and their revocation."""

from __future__ import annotations

import math
import secrets
import string
import uuid

from .config import RegisteredClient, SandboxConfig
from .errors import OAuthError, invalid_token
from .models import AccessToken, AuthorizationCode, SignIn
from .state_core import StateCore

TOKEN_LIFETIME_SECONDS = 631_138_518
CODE_LIFETIME_SECONDS = 600
_CODE_ALPHABET = string.ascii_uppercase + string.digits


class OAuthGrants(StateCore):
    """Codes and tokens; every method takes `lock` itself."""

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self._tokens: dict[str, AccessToken] = {}
        self._tokens_by_refresh: dict[str, AccessToken] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        # Every token value ever issued, for leak scans; kept across `reset`.
        self._issued_tokens: list[str] = []
        # The claims of every id_token issued since the last `reset`, for inspection (never the token itself).
        self._id_token_claims: list[dict[str, object]] = []

    def _forget_grants(self) -> None:
        """Drop every code and token (the issued values stay, for leak scans)."""
        with self.lock:
            self._tokens.clear()
            self._tokens_by_refresh.clear()
            self._codes.clear()
            self._id_token_claims.clear()

    def issue_code(
        self,
        client_id: str,
        redirect_uri: str,
        scopes: frozenset[str],
        orcid: str,
        *,
        sign_in: SignIn | None = None,
    ) -> str:
        """A new authorization code for the consent just given (with the OpenID sign-in, when `openid` was granted)."""
        with self.lock:
            code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
            while code in self._codes:
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
            self._codes[code] = AuthorizationCode(
                code, client_id, redirect_uri, scopes, orcid, issued_at=self.now(), sign_in=sign_in
            )
            return code

    def exchange_code(self, client: RegisteredClient, code: str, redirect_uri: str | None) -> AccessToken:
        """Trade a code for a token; any attempt uses the code up, as Spring OAuth does."""
        with self.lock:
            grant = self._codes.get(code)
            invalid = OAuthError(400, "invalid_grant", f"Invalid authorization code: {code}")
            if grant is None or grant.used:
                raise invalid
            grant.used = True
            expired = self.now() - grant.issued_at > CODE_LIFETIME_SECONDS
            redirect_mismatch = redirect_uri is not None and redirect_uri != grant.redirect_uri
            if grant.client_id != client.client_id or expired or redirect_mismatch:
                raise invalid
            token = self.issue_token(client.client_id, grant.orcid, grant.scopes)
            token.sign_in = grant.sign_in
            return token

    def issue_token(
        self, client_id: str, orcid: str | None, scopes: frozenset[str], lifetime: int = TOKEN_LIFETIME_SECONDS
    ) -> AccessToken:
        """A new access/refresh token pair."""
        with self.lock:
            token = AccessToken(
                access_token=str(uuid.uuid4()),
                refresh_token=str(uuid.uuid4()),
                client_id=client_id,
                orcid=orcid,
                scopes=scopes,
                expires_at=self.now() + lifetime,
            )
            self._tokens[token.access_token] = token
            self._tokens_by_refresh[token.refresh_token] = token
            self._issued_tokens += [token.access_token, token.refresh_token]
            return token

    def expires_in(self, token: AccessToken) -> int:
        """Seconds left before `token` expires."""
        return max(0, math.ceil(token.expires_at - self.now()))

    def refresh(
        self,
        client: RegisteredClient,
        refresh_token: str,
        *,
        scopes: frozenset[str] | None,
        revoke_old: bool,
        lifetime: int | None,
    ) -> AccessToken:
        """A new token from a refresh token; `revoke_old` revokes the old pair."""
        with self.lock:
            old = self._tokens_by_refresh.get(refresh_token)
            if old is None or old.client_id != client.client_id or old.revoked_by or old.expires_at <= self.now():
                raise OAuthError(400, "invalid_grant", f"Invalid refresh token: {refresh_token}")
            if scopes is not None and not scopes <= old.scopes:
                raise OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(sorted(scopes - old.scopes))}")
            remaining = self.expires_in(old)
            if lifetime is not None and not 0 < lifetime <= remaining:
                raise OAuthError(400, "invalid_request", "expires_in must be positive and within the old token's life")
            if revoke_old:
                old.revoked_by = "client"
            return self.issue_token(client.client_id, old.orcid, scopes or old.scopes, lifetime or remaining)

    def revoke_by_client(self, client: RegisteredClient, token: str) -> None:
        """What POST /oauth/revoke does: revoke the pair the access or refresh token belongs to."""
        with self.lock:
            found = self._tokens.get(token) or self._tokens_by_refresh.get(token)
            if found is not None and found.client_id == client.client_id:
                found.revoked_by = "client"

    def revoke_by_user(self, token: str) -> bool:
        """What the researcher does in their account settings; False when the token is unknown."""
        with self.lock:
            found = self._tokens.get(token) or self._tokens_by_refresh.get(token)
            if found is None:
                return False
            if found.revoked_by is None:
                found.revoked_by = "user"
            return True

    def revoke_record_tokens_by_user(self, orcid: str, client_id: str | None) -> int:
        """Revoke, as the researcher, the live tokens on `orcid` (only `client_id`'s when given)."""
        with self.lock:
            revoked = 0
            for token in self._tokens.values():
                if token.orcid == orcid and token.revoked_by is None and client_id in (None, token.client_id):
                    token.revoked_by = "user"
                    revoked += 1
            return revoked

    def issued_token_values(self) -> list[str]:
        """Every access, refresh and id token ever issued, revoked or not, in issue order (`reset` keeps them)."""
        with self.lock:
            return list(self._issued_tokens)

    def record_id_token(self, id_token: str, claims: dict[str, object]) -> None:
        """Remember an issued id_token: its value for leak scans, its claims for inspection."""
        with self.lock:
            self._issued_tokens.append(id_token)
            self._id_token_claims.append(dict(claims))

    def id_token_claims(self) -> list[dict[str, object]]:
        """The claims of the id_tokens issued since the last `reset`, in issue order."""
        with self.lock:
            return [dict(claims) for claims in self._id_token_claims]

    def token_summaries(self, orcid: str) -> list[dict[str, object]]:
        """The tokens on a record, without the token values."""
        with self.lock:
            return [
                {
                    "client_id": token.client_id,
                    "scope": token.scope,
                    "revoked_by": token.revoked_by,
                    "expires_in": self.expires_in(token),
                }
                for token in self._tokens.values()
                if token.orcid == orcid
            ]

    def token_for_request(self, bearer: str, method: str) -> AccessToken:
        """The live token behind a bearer value; a user-revoked token still works for DELETE, as on ORCID."""
        with self.lock:
            token = self._tokens.get(bearer)
            if token is None or token.expires_at <= self.now():
                raise invalid_token(bearer)
            if token.revoked_by == "client" or (token.revoked_by == "user" and method != "DELETE"):
                raise invalid_token(bearer)
            return token

    def client_of_token(self, bearer: str) -> str | None:
        """The client a bearer token was issued to, for rate limiting (no validity check)."""
        token = self._tokens.get(bearer)
        return token.client_id if token is not None else None
