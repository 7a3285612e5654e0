"""Response helpers shared by the sandbox's blueprints."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, request

from .errors import OAUTH_JSON, ORCID_JSON, OAuthError, OrcidApiError
from .render import Renderer
from .state import SandboxState

EXTENSION_KEY = "orcid_sandbox"
# Set in the WSGI environ to make the server close the connection instead of answering.
DROP_CONNECTION_KEY = "orcid_sandbox.drop_connection"

# The reason phrases nginx prints on its own error pages.
_PROXY_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def sandbox_state() -> SandboxState:
    """The sandbox state of the running app."""
    state = current_app.extensions[EXTENSION_KEY]
    if not isinstance(state, SandboxState):
        raise TypeError("the app was not created by orcid_sandbox.create_app")
    return state


def base_url() -> str:
    """Where the sandbox is reachable: the configured public URL, else the URL of this request."""
    configured = sandbox_state().config.public_base_url
    return configured if configured is not None else request.host_url.rstrip("/")


def renderer() -> Renderer:
    """A renderer for this request's base URL."""
    return Renderer(base_url())


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def orcid_json(data: Any, status: int = 200) -> Response:
    """A Member API JSON response."""
    return Response(_dumps(data), status=status, content_type=ORCID_JSON)


def orcid_error_response(error: OrcidApiError) -> Response:
    """An ORCID error body with its status."""
    return orcid_json(error.body(), status=error.status)


def oauth_json(data: Any, status: int = 200) -> Response:
    """An OAuth endpoint JSON response (ORCID labels these application/json;charset=UTF-8)."""
    return Response(_dumps(data), status=status, content_type=OAUTH_JSON)


def oauth_error_response(error: OAuthError) -> Response:
    """An OAuth error body with its status."""
    return oauth_json(error.body(), status=error.status)


def admin_json(data: Any, status: int = 200) -> Response:
    """A /_sandbox JSON response."""
    return Response(_dumps(data), status=status, content_type="application/json")


def proxy_error_page(status: int) -> Response:
    """The small HTML page ORCID's proxy answers with (e.g. 503 past the rate-limit burst); no Retry-After."""
    reason = _PROXY_REASONS.get(status) or HTTPStatus(status).phrase
    html = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(html, status=status, content_type="text/html")
