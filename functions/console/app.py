"""The admin console: server-rendered pages for the repository team, signed in through the stack's Cognito pool.

API Gateway lets every ``/console`` request through (Auth NONE); this function enforces its own session
(``auth.py``): the person signs in at Cognito's managed login, and the callback issues our signed cookie. Each
area is a Powertools ``Router`` in ``routes/``; this module includes them, adds the strict security headers to
every response, and maps failures to pages once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orcid_sync.config import get_settings
from orcid_sync.observability import logger, metrics, tracer

# On Lambda, CodeUri functions/console/ makes this directory the zip root and this module the top-level ``app``;
# the tests and the local stack import it as ``functions.console.app``.
if __package__:
    from . import auth, web
    from .routes import ROUTERS
else:
    import auth  # type: ignore[import-not-found, no-redef]  # mypy sees the repo layout
    import web  # type: ignore[import-not-found, no-redef]
    from routes import ROUTERS  # type: ignore[import-not-found, no-redef]

app = APIGatewayHttpResolver()
for router in ROUTERS:
    app.include_router(router)


def _security_headers(resolver: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """Every response a route returns carries the strict headers (a route's own values, e.g. caching, win)."""
    response = next_middleware(resolver)
    for name, value in web.security_headers().items():
        response.headers.setdefault(name, value)
    return response


app.use(middlewares=[_security_headers])


@app.not_found
def _not_found(_: RouteNotFoundError) -> Response[str]:
    """Signed out, every unknown path leads to sign-in (which pages exist is nobody else's business)."""
    event = app.current_event
    user = auth.current_user(event)
    if user is None:
        return auth.sign_in_redirect(event)
    return web.problem(event, user, 404, web.text(event, "problem_404"))


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    # Logged by type and traceback only; our messages never carry a token, code or secret.
    logger.exception("console page failed", error=type(exc).__name__)
    event = app.current_event
    return web.problem(event, None, 500, web.text(event, "problem_500"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_settings()  # fail fast on a misconfigured stack
    return app.resolve(event, context)
