"""The sandbox Flask app: ORCID's OAuth server, Member API v3.0 and the /_sandbox endpoints."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from contextlib import suppress
from typing import TYPE_CHECKING

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from .admin import admin
from .config import SandboxConfig
from .errors import OAuthError, OrcidApiError, orcid_error
from .member_api import member_api
from .notifications import INBOX_KEY, NotificationInbox, notification_admin, notification_api
from .oauth import oauth
from .openid import openid
from .responses import (
    DROP_CONNECTION_KEY,
    EXTENSION_KEY,
    admin_json,
    oauth_error_response,
    orcid_error_response,
    sandbox_state,
)
from .state import SandboxState
from .stats import DROPPED

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_ROUTE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


class SimulatedConnectionDrop(ConnectionAbortedError):
    """Raised instead of answering, so the connection closes without a response (a `drop` fault)."""


class SandboxFlask(Flask):
    """Flask, plus the ability to hang up on a request instead of answering it."""

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve the request, or drop the connection when a fault asked for it."""
        response = super().wsgi_app(environ, start_response)
        if not environ.get(DROP_CONNECTION_KEY):
            return response
        close = getattr(response, "close", None)
        if close is not None:
            close()
        # Under werkzeug's server the client socket is in the environ: shutting it down makes the client see the
        # connection close with no response, and werkzeug treats the ConnectionError below as a dropped client.
        connection = environ.get("werkzeug.socket")
        if isinstance(connection, socket.socket):
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        raise SimulatedConnectionDrop(f"sandbox dropped the connection for {environ.get('PATH_INFO')}")


def _route_template() -> str:
    if request.url_rule is None:
        return "(unmatched)"
    return _ROUTE_VARIABLE.sub(r"{\1}", request.url_rule.rule)


def _count_request(response: Response) -> Response:
    if request.path.startswith("/_sandbox"):
        return response
    status: int | str = DROPPED if request.environ.get(DROP_CONNECTION_KEY) else response.status_code
    client_id = g.get("client_id")
    sandbox_state().stats.record(method=request.method, route=_route_template(), status=status, client_id=client_id)
    return response


def _not_found(error: HTTPException) -> Response | HTTPException:
    if request.path.startswith("/v3.0/"):
        return orcid_error_response(orcid_error(9016, detail=f"No such endpoint: {request.method} {request.path}"))
    if request.path.startswith("/_sandbox"):
        return admin_json({"error": "not_found", "message": f"No such endpoint: {request.path}"}, status=404)
    return error


def _method_not_allowed(error: HTTPException) -> Response | HTTPException:
    if request.path.startswith("/v3.0/"):
        return orcid_error_response(orcid_error(9001, status=405, detail=f"{request.method} is not allowed here"))
    if request.path.startswith("/_sandbox"):
        return admin_json({"error": "method_not_allowed", "message": f"{request.method} {request.path}"}, 405)
    return error


def create_app(config: SandboxConfig | None = None) -> Flask:
    """A WSGI app standing in for ORCID; its SandboxState is `app.extensions["orcid_sandbox"]`."""
    app = SandboxFlask(__name__, static_folder=None)
    app.extensions[EXTENSION_KEY] = SandboxState(config or SandboxConfig())
    app.register_blueprint(oauth)
    app.register_blueprint(openid)
    app.register_blueprint(member_api)
    app.extensions[INBOX_KEY] = NotificationInbox()
    app.register_blueprint(notification_api)
    app.register_blueprint(notification_admin)
    app.register_blueprint(admin)
    app.register_error_handler(OrcidApiError, orcid_error_response)
    app.register_error_handler(OAuthError, oauth_error_response)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _method_not_allowed)
    app.after_request(_count_request)
    return app
