"""Who is asking: the console session behind every route, and the checks on every state-changing request.

``viewer`` lets any signed-in person read; ``admin_post`` lets only an admin change something, and only with the
session's CSRF token (form field ``csrf``, or header ``X-CSRF-Token`` for htmx). The server decides; the pages
only hide the buttons a viewer cannot use.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from orcid_sync import composition
from orcid_sync.domain.console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    ConsoleUser,
    cleared_session_cookie,
    csrf_matches,
    read_session,
)
from orcid_sync.domain.console.sign_in import SIGN_IN_PATH
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger

if __package__:
    from . import web
else:
    import web  # type: ignore[import-not-found, no-redef]  # Lambda's zip root; mypy sees the repo layout


def current_user(event: APIGatewayProxyEventV2) -> ConsoleUser | None:
    """The person the session cookie proves, or None (no cookie, tampered with, foreign key, expired)."""
    return read_session(composition.link_signer(), web.cookie(event, SESSION_COOKIE), now=utc_now())


def sign_in_redirect(event: APIGatewayProxyEventV2) -> Response[str]:
    """Off to sign in, coming back to this page afterwards (a stale cookie is cleared on the way)."""
    query = event.raw_query_string
    target = f"{event.path}?{query}" if query and event.http_method == "GET" else event.path
    location = f"{SIGN_IN_PATH}?{urlencode({'next': target})}"
    cleared = [cleared_session_cookie()] if web.cookie(event, SESSION_COOKIE) else []
    if web.is_htmx(event):
        # htmx follows a 303 inside the XHR; HX-Redirect makes the browser itself go.
        response = web.redirect(location, status=401, cookies=cleared)
        response.headers["HX-Redirect"] = location
        return response
    return web.redirect(location, cookies=cleared)


def viewer(event: APIGatewayProxyEventV2) -> ConsoleUser | Response[str]:
    """Any signed-in person (admin or viewer), or the redirect to sign in."""
    user = current_user(event)
    return user if user is not None else sign_in_redirect(event)


def csrf_checked(event: APIGatewayProxyEventV2) -> ConsoleUser | Response[str]:
    """A signed-in person whose request carries their session's CSRF token (any role), or the refusal."""
    user = current_user(event)
    if user is None:
        return sign_in_redirect(event)
    submitted = event.headers.get(CSRF_HEADER) or web.form(event).get(CSRF_FIELD)
    if not csrf_matches(composition.link_signer(), user, submitted):
        logger.warning("console: refused a request without its CSRF token", path=event.path)
        return web.problem(event, user, 403, web.text(event, "problem_403_csrf"))
    return user


def admin_post(event: APIGatewayProxyEventV2) -> ConsoleUser | Response[str]:
    """A signed-in admin whose request carries the session's CSRF token, or the refusal (a viewer gets 403)."""
    checked = csrf_checked(event)
    if isinstance(checked, Response):
        return checked
    if not checked.can_change:
        logger.info("console: refused a change by a viewer", path=event.path)
        return web.problem(event, checked, 403, web.text(event, "problem_403_role"))
    return checked
