"""ORCID's OAuth server: the authorize (sign-in and consent) page, token exchange and revocation."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from flask import Blueprint, Response, g, render_template, request
from werkzeug.datastructures import MultiDict

from .config import RegisteredClient
from .errors import OAuthError
from .openid import OPENID_SCOPE, issue_id_token
from .responses import base_url, oauth_json, proxy_error_page, sandbox_state
from .state import AccessToken, Record, SandboxState, SignIn

oauth = Blueprint("oauth", __name__, url_prefix="/oauth")

# Scopes a researcher can grant in the 3-legged flow, with the wording the consent page shows.
GRANTABLE_SCOPES = {
    "/authenticate": "Get your ORCID iD",
    "openid": "Get your ORCID iD (OpenID Connect)",
    "/read-limited": "Read your information with visibility set to Trusted Organizations",
    "/activities/update": "Add or update your research activities (works, affiliations, funding)",
    "/person/update": "Add or update your biographical information (researcher URLs, keywords, …)",
}
# 2-legged scopes; /premium-notification writes to researchers' ORCID inboxes (ORCID turns it on per member client).
CLIENT_CREDENTIALS_SCOPES = frozenset({"/read-public", "/premium-notification"})
# OpenID Connect's `prompt` values; the sandbox has no sign-in session, so `none` always gets login_required.
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
RECENT_RESEARCHERS_SHOWN = 20


class AuthorizePageError(Exception):
    """A bad authorize request; shown as an error page, never redirected (the redirect may not be trusted)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AuthorizeRequest:
    """The validated parameters of an authorize request."""

    client: RegisteredClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None = None
    prompt: str | None = None
    max_age: str | None = None

    @property
    def scope(self) -> str:
        """The scopes, space-separated as requested."""
        return " ".join(self.scopes)

    @property
    def openid(self) -> bool:
        """Whether this is an OpenID Connect sign-in (`nonce`, `prompt` and `max_age` count only then)."""
        return OPENID_SCOPE in self.scopes

    @property
    def openid_parameters(self) -> list[tuple[str, str]]:
        """`nonce`, `prompt` and `max_age` as sent, for the consent form to carry."""
        values = (("nonce", self.nonce), ("prompt", self.prompt), ("max_age", self.max_age))
        return [(name, value) for name, value in values if value is not None]


def _parse_authorize_request(params: MultiDict[str, str]) -> AuthorizeRequest:
    state = sandbox_state()
    client = state.clients.get(params.get("client_id", ""))
    if client is None:
        raise AuthorizePageError("invalid_client", f"Unknown client_id '{params.get('client_id', '')}'.")
    redirect_uri = params.get("redirect_uri", "")
    if not client.allows_redirect_uri(redirect_uri):
        raise AuthorizePageError(
            "redirect_uri_mismatch", f"The redirect_uri '{redirect_uri}' is not registered for {client.name}."
        )
    if params.get("response_type", "") != "code":
        raise AuthorizePageError(
            "unsupported_response_type", f"Unsupported response_type '{params.get('response_type', '')}'."
        )
    scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
    unknown = [scope for scope in scopes if scope not in GRANTABLE_SCOPES]
    if not scopes or unknown:
        raise AuthorizePageError("invalid_scope", f"Invalid scope: {' '.join(unknown) or '(none requested)'}")
    if OPENID_SCOPE in scopes and "/authenticate" in scopes:
        # ORCID: "authenticate and openid have the same authorization, only one or the other should be used".
        raise AuthorizePageError("invalid_scope", "Invalid scope: request openid or /authenticate, not both")
    prompt, max_age = params.get("prompt"), params.get("max_age")
    if OPENID_SCOPE in scopes and prompt is not None and not set(prompt.split()) <= PROMPT_VALUES:
        raise AuthorizePageError("invalid_request", f"Unsupported prompt '{prompt}'")
    if OPENID_SCOPE in scopes and max_age is not None and not max_age.isdigit():
        raise AuthorizePageError("invalid_request", "max_age must be a number of seconds")
    return AuthorizeRequest(client, redirect_uri, scopes, params.get("state"), params.get("nonce"), prompt, max_age)


def _redirect_to_client(authorize: AuthorizeRequest, params: list[tuple[str, str]]) -> Response:
    if authorize.state is not None:
        params.append(("state", authorize.state))
    separator = "&" if urlsplit(authorize.redirect_uri).query else "?"
    location = f"{authorize.redirect_uri}{separator}{urlencode(params, quote_via=quote)}"
    return Response(status=302, headers={"Location": location})


def _error_page(error: AuthorizePageError) -> tuple[str, int]:
    return render_template("error.html", error=error.error, description=error.description), 400


def _consent_page(
    authorize: AuthorizeRequest, *, mode: str, signin_id: str, names: tuple[str, str], email: str, error: str | None
) -> str:
    state = sandbox_state()
    return render_template(
        "authorize.html",
        client=authorize.client,
        redirect_uri=authorize.redirect_uri,
        scope=authorize.scope,
        scopes=[(scope, GRANTABLE_SCOPES[scope]) for scope in authorize.scopes],
        oauth_state=authorize.state,
        openid_parameters=authorize.openid_parameters,
        mode=mode,
        signin_id=signin_id,
        given_names=names[0],
        family_names=names[1],
        email=email,
        researchers=state.recent_records(RECENT_RESEARCHERS_SHOWN),
        error=error,
    )


@oauth.get("/authorize")
def show_authorize_page() -> Response | str | tuple[str, int]:
    """The sign-in/register and consent page; pre-filled from `orcid`, `email` and the name parameters."""
    try:
        authorize = _parse_authorize_request(request.args)
    except AuthorizePageError as error:
        return _error_page(error)
    if authorize.openid and authorize.prompt is not None and "none" in authorize.prompt.split():
        # ORCID answers prompt=none without a sign-in session this way; the sandbox never has one.
        return _redirect_to_client(authorize, [("error", "login_required")])
    state = sandbox_state()
    orcid = request.args.get("orcid", "")
    email = request.args.get("email", "")
    # ORCID fills the sign-in form when the iD or email is known, otherwise the registration form.
    known = state.find_record(orcid) if orcid else None
    if known is None and email:
        known = state.find_record(email)
    return _consent_page(
        authorize,
        mode="signin" if known else "register",
        signin_id=known.orcid if known else "",
        names=(request.args.get("given_names", ""), request.args.get("family_names", "")),
        email=email,
        error=None,
    )


@oauth.post("/authorize")
def decide_authorization() -> Response | str | tuple[str, int]:
    """The researcher's answer: redirect with a code, or with error=access_denied."""
    form = request.form
    try:
        authorize = _parse_authorize_request(form)
    except AuthorizePageError as error:
        return _error_page(error)
    if form.get("action") != "authorize":
        return _redirect_to_client(authorize, [("error", "access_denied"), ("error_description", "User denied access")])
    state = sandbox_state()
    names = (form.get("given_names", "").strip(), form.get("family_names", "").strip())
    email = form.get("email", "").strip()
    signin_id = form.get("signin_id", "").strip()
    mode = form.get("mode", "signin")
    try:
        record = _signed_in_record(state, mode, signin_id, names, email)
    except ValueError as problem:
        return _consent_page(authorize, mode=mode, signin_id=signin_id, names=names, email=email, error=str(problem))
    # The researcher has just signed in on this page: that is the id_token's auth_time.
    sign_in = SignIn(auth_time=int(state.config.clock()), nonce=authorize.nonce) if authorize.openid else None
    code = state.issue_code(
        authorize.client.client_id, authorize.redirect_uri, frozenset(authorize.scopes), record.orcid, sign_in=sign_in
    )
    return _redirect_to_client(authorize, [("code", code)])


def _signed_in_record(state: SandboxState, mode: str, signin_id: str, names: tuple[str, str], email: str) -> Record:
    if mode == "register":
        if not names[0]:
            raise ValueError("Given names are required to register a new researcher.")
        return state.create_record(names[0], names[1], email or None)
    record = state.find_record(signin_id) if signin_id else None
    if record is None:
        raise ValueError(f"No test researcher has the ORCID iD or email '{signin_id}'.")
    return record


def _client_credentials() -> tuple[str, str]:
    # ORCID prefers HTTP Basic for the client; form fields work too.
    if request.authorization is not None and request.authorization.type == "basic":
        return request.authorization.username or "", request.authorization.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _token_body(state: SandboxState, token: AccessToken) -> dict[str, object]:
    record = state.records.get(token.orcid) if token.orcid else None
    return {
        "access_token": token.access_token,
        "token_type": "bearer",
        "refresh_token": token.refresh_token,
        "expires_in": state.expires_in(token),
        "scope": token.scope,
        "name": record.name if record else None,
        "orcid": token.orcid,
    }


@oauth.post("/token")
def exchange_token() -> Response:
    """Authorization-code, refresh-token and client-credentials grants."""
    state = sandbox_state()
    client_id, client_secret = _client_credentials()
    if not state.limiter.try_acquire(client_id or "anonymous"):
        state.stats.record_rate_limited(client_id or "anonymous")
        return proxy_error_page(503)
    client = state.authenticate_client(client_id, client_secret)
    if client is None:
        raise OAuthError(401, "invalid_client", "Bad client credentials")
    g.client_id = client.client_id
    form = request.form
    grant_type = form.get("grant_type", "")
    if grant_type == "authorization_code":
        code = form.get("code", "")
        if not code:
            raise OAuthError(400, "invalid_request", "An authorization code must be supplied.")
        token = state.exchange_code(client, code, form.get("redirect_uri"))
        if token.sign_in is not None:
            return oauth_json(_token_body(state, token) | {"id_token": issue_id_token(state, token, issuer=base_url())})
    elif grant_type == "refresh_token":
        token = _refresh(state, client)
    elif grant_type == "client_credentials":
        scopes = frozenset(form.get("scope", "/read-public").split())
        if not scopes or not scopes <= CLIENT_CREDENTIALS_SCOPES:
            raise OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(sorted(scopes))}")
        token = state.issue_token(client.client_id, None, scopes)
    elif not grant_type:
        raise OAuthError(400, "invalid_request", "Missing grant type")
    else:
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    return oauth_json(_token_body(state, token))


def _refresh(state: SandboxState, client: RegisteredClient) -> AccessToken:
    form = request.form
    refresh_token = form.get("refresh_token", "")
    if not refresh_token:
        raise OAuthError(400, "invalid_request", "A refresh token must be supplied.")
    requested_scope = form.get("scope", "").split()
    lifetime = form.get("expires_in", "")
    if lifetime and not lifetime.isdigit():
        raise OAuthError(400, "invalid_request", "expires_in must be a number of seconds")
    return state.refresh(
        client,
        refresh_token,
        scopes=frozenset(requested_scope) if requested_scope else None,
        revoke_old=form.get("revoke_old", "false").lower() == "true",
        lifetime=int(lifetime) if lifetime else None,
    )


@oauth.post("/revoke")
def revoke_token() -> Response:
    """Revoke an access or refresh token (and its pair); unknown tokens are answered 200 too."""
    state = sandbox_state()
    client = state.authenticate_client(*_client_credentials())
    if client is None:
        raise OAuthError(401, "invalid_client", "Bad client credentials")
    state.revoke_by_client(client, request.form.get("token", ""))
    return Response(status=200)
