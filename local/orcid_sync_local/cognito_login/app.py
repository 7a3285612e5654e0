"""The stand-in for Cognito's managed login: as strict as Cognito where the console depends on it.

What it refuses, as Cognito does (developer guide: "The redirect and authorization endpoint", "The token endpoint",
"The logout endpoint"):

- ``/oauth2/authorize``: an unknown ``client_id``, a client without OAuth flows, or a ``redirect_uri`` that is not
  exactly one of the client's CallbackURLs get an error page (never a redirect); other problems are sent to the
  ``redirect_uri`` as ``error=``: ``response_type`` not ``code`` (or a flow the client does not allow:
  ``unauthorized_client``), a scope the client does not have or ``email``/``profile`` without ``openid``
  (``invalid_scope``), ``code_challenge_method`` other than ``S256`` or a challenge without its method
  (``invalid_request``).
- Stricter than Cognito on one point, on purpose: Cognito lets a public client leave PKCE out; the stand-in refuses
  a request without ``code_challenge`` (``invalid_request``), so a console that stopped sending PKCE fails locally.
- ``/oauth2/token``: a code is single use (consumed by the first attempt, successful or not) and lives five minutes;
  it must come with the same ``client_id`` and ``redirect_uri`` and a ``code_verifier`` whose S256 is the challenge
  (``invalid_grant`` otherwise); an unknown client is ``invalid_client``; only ``authorization_code``.
- ``/logout``: the ``logout_uri`` must be exactly one of the client's LogoutURLs.

Sign-in is moto's: ``AdminInitiateAuth`` (``ADMIN_USER_PASSWORD_AUTH``) and, for an invited person,
``AdminRespondToAuthChallenge`` (``NEW_PASSWORD_REQUIRED``, moto checks the pool's password policy). The tokens are
the ones moto issues, signed with its bundled key; ``/<pool id>/.well-known/jwks.json`` serves moto's public key set.
moto's ID token already carries what the console checks (``iss`` of the pool, ``aud`` the client, ``token_use``,
``exp``, ``email``, ``cognito:groups``), so nothing is re-signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

CODE_LIFETIME_SECONDS = 300
PENDING_LIFETIME_SECONDS = 3600
SYSTEM_SCOPES = frozenset({"openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"})
_OPENID_ONLY_SCOPES = frozenset({"email", "phone", "profile"})


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


@dataclass
class _Pending:
    """An authorization request waiting for the person to sign in."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    created: float
    moto_session: str | None = None
    username: str | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    code_challenge: str
    tokens: dict[str, Any]
    expires: float


@dataclass
class CognitoLoginApp:
    """The WSGI app; ``cognito`` is a boto3 ``cognito-idp`` client on moto, ``pool_id`` the pool this domain serves."""

    cognito: Any
    pool_id: str
    clock: Any = time.monotonic
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._routes = Map(
            [
                Rule("/oauth2/authorize", endpoint="authorize", methods=["GET"]),
                Rule("/login", endpoint="login", methods=["POST"]),
                Rule("/login/new-password", endpoint="new_password", methods=["POST"]),
                Rule("/oauth2/token", endpoint="token", methods=["POST"]),
                Rule("/logout", endpoint="logout", methods=["GET"]),
                Rule("/<pool_id>/.well-known/jwks.json", endpoint="jwks", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, values = self._routes.bind_to_environ(environ).match()
            response = getattr(self, f"_{endpoint}")(request, **values)
        except HTTPException as exc:
            response = _page("Error", f"<p>{escape(exc.description or exc.name)}</p>", status=exc.code or 500)
        return response(environ, start_response)

    # --- the app client, as the pool has it --------------------------------------------------------

    def _client(self, client_id: str | None) -> dict[str, Any] | None:
        if not client_id:
            return None
        try:
            answer = self.cognito.describe_user_pool_client(UserPoolId=self.pool_id, ClientId=client_id)
        except self.cognito.exceptions.ResourceNotFoundException:
            return None
        client: dict[str, Any] = answer["UserPoolClient"]
        return client

    # --- /oauth2/authorize --------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        args = request.args
        client = self._client(args.get("client_id"))
        if client is None:
            return _error_page("invalid_client: the client_id is not an app client of this user pool", 400)
        redirect_uri = args.get("redirect_uri", "")
        if not client.get("AllowedOAuthFlowsUserPoolClient"):
            return _error_page("unauthorized_client: the app client is not enabled for OAuth", 400)
        if redirect_uri not in (client.get("CallbackURLs") or []):
            return _error_page("redirect_mismatch: the redirect_uri is not one of the app client's callback URLs", 400)
        state = args.get("state")
        error = _authorize_error(args, client)
        if error:
            return _redirect(redirect_uri, {"error": error, **({"state": state} if state else {})})
        challenge = str(args["code_challenge"])
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._forget_old()
            self._pending[request_id] = _Pending(client["ClientId"], redirect_uri, state, challenge, self.clock())
        return _sign_in_form(request_id, redirect_uri)

    # --- the forms -----------------------------------------------------------------------------------

    def _take_pending(self, request: Request) -> _Pending:
        with self._lock:
            pending = self._pending.get(request.form.get("request_id", ""))
        if pending is None:
            raise NotFound("This sign-in has expired. Go back to the console and sign in again.")
        return pending

    def _login(self, request: Request) -> Response:
        pending = self._take_pending(request)
        username, password = request.form.get("username", "").strip(), request.form.get("password", "")
        errors = self.cognito.exceptions
        try:
            answer = self.cognito.admin_initiate_auth(
                UserPoolId=self.pool_id,
                ClientId=pending.client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except (errors.NotAuthorizedException, errors.UserNotFoundException):
            # Cognito says the same for an unknown person and a wrong password (PreventUserExistenceErrors).
            return _sign_in_form(
                request.form["request_id"], pending.redirect_uri, error="Incorrect username or password.", status=400
            )
        if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            pending.moto_session, pending.username = answer["Session"], username
            return _new_password_form(request.form["request_id"], pending.redirect_uri)
        if "AuthenticationResult" not in answer:
            return _error_page(f"The stand-in cannot answer the challenge {answer.get('ChallengeName')}", 501)
        return self._issue_code(request.form["request_id"], pending, answer["AuthenticationResult"])

    def _new_password(self, request: Request) -> Response:
        pending = self._take_pending(request)
        if not pending.moto_session or not pending.username:
            raise NotFound("There is no password to set for this sign-in.")
        password, again = request.form.get("new_password", ""), request.form.get("confirm_password", "")
        if password != again:
            return _new_password_form(
                request.form["request_id"], pending.redirect_uri, error="The passwords do not match.", status=400
            )
        errors = self.cognito.exceptions
        try:
            answer = self.cognito.admin_respond_to_auth_challenge(
                UserPoolId=self.pool_id,
                ClientId=pending.client_id,
                ChallengeName="NEW_PASSWORD_REQUIRED",
                ChallengeResponses={"USERNAME": pending.username, "NEW_PASSWORD": password},
                Session=pending.moto_session,
            )
        except errors.InvalidPasswordException as exc:
            message = exc.response.get("Error", {}).get("Message") or "The password does not meet the policy."
            return _new_password_form(request.form["request_id"], pending.redirect_uri, error=message, status=400)
        if "AuthenticationResult" not in answer:
            return _error_page(f"The stand-in cannot answer the challenge {answer.get('ChallengeName')}", 501)
        return self._issue_code(request.form["request_id"], pending, answer["AuthenticationResult"])

    def _issue_code(self, request_id: str, pending: _Pending, result: dict[str, Any]) -> Response:
        code = secrets.token_urlsafe(24)
        tokens = {
            "id_token": result["IdToken"],
            "access_token": result["AccessToken"],
            "refresh_token": result.get("RefreshToken", ""),
            "expires_in": int(result.get("ExpiresIn", 3600)),
            "token_type": "Bearer",
        }
        with self._lock:
            self._pending.pop(request_id, None)
            self._codes[code] = _Code(
                pending.client_id,
                pending.redirect_uri,
                pending.code_challenge,
                tokens,
                self.clock() + CODE_LIFETIME_SECONDS,
            )
        return _redirect(pending.redirect_uri, {"code": code, **({"state": pending.state} if pending.state else {})})

    # --- /oauth2/token ---------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return _oauth_error("invalid_request", 400)
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", 400)
        client = self._client(form.get("client_id"))
        if client is None:
            return _oauth_error("invalid_client", 400)
        with self._lock:
            issued = self._codes.pop(form.get("code", ""), None)  # single use: gone after the first attempt
        # A client with a secret must authenticate (ours is public).
        if (
            issued is None
            or not self._redeemable(issued, client, form)
            or (client.get("ClientSecret") and not request.authorization)
        ):
            return _oauth_error("invalid_grant", 400)
        return Response(
            _json(issued.tokens), status=200, mimetype="application/json", headers={"Cache-Control": "no-store"}
        )

    def _redeemable(self, issued: _Code, client: dict[str, Any], form: Any) -> bool:
        """Unexpired, for this client and redirect URI, and the verifier's S256 is the challenge."""
        verifier = form.get("code_verifier", "")
        return (
            issued.expires > self.clock()
            and issued.client_id == client["ClientId"]
            and issued.redirect_uri == form.get("redirect_uri")
            and bool(verifier)
            and hmac.compare_digest(_s256(verifier), issued.code_challenge)
        )

    # --- /logout and the key set -----------------------------------------------------------------------

    def _logout(self, request: Request) -> Response:
        client = self._client(request.args.get("client_id"))
        if client is None:
            return _error_page("invalid_client: the client_id is not an app client of this user pool", 400)
        logout_uri = request.args.get("logout_uri", "")
        if logout_uri not in (client.get("LogoutURLs") or []):
            return _error_page("The logout_uri is not one of the app client's sign-out URLs", 400)
        return Response(status=302, headers={"Location": logout_uri})

    def _jwks(self, request: Request, pool_id: str) -> Response:
        if pool_id != self.pool_id:
            raise NotFound("no such user pool")
        from moto.utilities.utils import load_resource  # noqa: PLC0415 - moto's own public key set

        return Response(_json(load_resource("cognitoidp/resources/jwks-public.json")), mimetype="application/json")

    def _forget_old(self) -> None:
        now = self.clock()
        for key in [key for key, value in self._pending.items() if now - value.created > PENDING_LIFETIME_SECONDS]:
            del self._pending[key]
        for key in [key for key, value in self._codes.items() if value.expires <= now]:
            del self._codes[key]


def _authorize_error(args: Any, client: dict[str, Any]) -> str | None:
    """The ``error`` Cognito redirects with for this authorization request, or None."""
    response_type = args.get("response_type")
    if response_type not in ("code", "token"):
        return "invalid_request"
    if response_type not in (client.get("AllowedOAuthFlows") or []) or response_type == "token":
        return "unauthorized_client"
    scopes = (args.get("scope") or " ".join(client.get("AllowedOAuthScopes") or [])).split()
    allowed = set(client.get("AllowedOAuthScopes") or [])
    if any(scope not in allowed for scope in scopes) or (_OPENID_ONLY_SCOPES & set(scopes) and "openid" not in scopes):
        return "invalid_scope"
    method, challenge = args.get("code_challenge_method"), args.get("code_challenge")
    if (method and method != "S256") or (challenge and not method) or (method and not challenge):
        return "invalid_request"
    if not challenge:
        return "invalid_request"  # stricter than Cognito on purpose: see the module docstring
    return None


# --- pages and answers --------------------------------------------------------------------------------


def _json(value: Any) -> str:
    import json  # noqa: PLC0415 - only here

    return json.dumps(value)


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in uri else "?"
    return Response(status=302, headers={"Location": f"{uri}{separator}{urlencode(params)}"})


def _oauth_error(error: str, status: int) -> Response:
    return Response(_json({"error": error}), status=status, mimetype="application/json")


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _page(title: str, body: str, *, status: int = 200, returns_to: str | None = None) -> Response:
    """A stand-in page. ``returns_to``: the callback a form on it ends at; CSP ``form-action`` also governs the
    redirect a form's answer makes (Chromium blocks a sign-in whose 302 leaves the allowed origins)."""
    form_action = "'self'" + (f" {_origin(returns_to)}" if returns_to else "")
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} - Sign in (local Cognito stand-in)</title></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return Response(
        html,
        status=status,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": f"default-src 'none'; form-action {form_action}",
            "Cache-Control": "no-store",
        },
    )


def _error_page(message: str, status: int) -> Response:
    return _page("An error was encountered with the requested page", f"<p>{escape(message)}</p>", status=status)


def _error(error: str | None) -> str:
    return f'<p role="alert" id="error">{escape(error)}</p>' if error else ""


def _sign_in_form(request_id: str, returns_to: str, *, error: str | None = None, status: int = 200) -> Response:
    return _page(
        "Sign in",
        _error(error) + '<form method="post" action="/login">'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">'
        '<p><label for="username">Email address</label><br>'
        '<input id="username" name="username" type="email" autocomplete="username" required></p>'
        '<p><label for="password">Password</label><br>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required></p>'
        '<p><button type="submit">Sign in</button></p></form>',
        status=status,
        returns_to=returns_to,
    )


def _new_password_form(request_id: str, returns_to: str, *, error: str | None = None, status: int = 200) -> Response:
    return _page(
        "Change password",
        "<p>Please enter a new password.</p>" + _error(error) + '<form method="post" action="/login/new-password">'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">'
        '<p><label for="new_password">New password</label><br>'
        '<input id="new_password" name="new_password" type="password" autocomplete="new-password" required></p>'
        '<p><label for="confirm_password">Enter new password again</label><br>'
        '<input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required></p>'
        '<p><button type="submit">Send</button></p></form>',
        status=status,
        returns_to=returns_to,
    )


def create_app(cognito: Any, pool_id: str) -> CognitoLoginApp:
    return CognitoLoginApp(cognito=cognito, pool_id=pool_id)


def start_cognito_login(cognito: Any, pool_id: str, port: int = 0) -> tuple[Any, CognitoLoginApp]:
    """The stand-in, listening on 127.0.0.1 (port 0: a free one); its server (``url``, ``stop()``) and app."""
    from ..lambda_glue.wsgi_server import WsgiServerThread  # noqa: PLC0415 - the local stack's own server

    app = create_app(cognito, pool_id)
    server = WsgiServerThread(app, port, name="cognito-login")
    server.start()
    return server, app
