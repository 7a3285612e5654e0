"""The public connect pages: the researcher's connect page, the start of OAuth, and ORCID's callback.

Every route is thin: read the request, call one use case (``orcid_sync.domain.connect.links`` or
``oauth_callback``) with collaborators from the composition root, render a page. Every response
carries the same strict security headers; a refusal is a page, never an ORCID redirect.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from orcid_sync import composition, templates
from orcid_sync.config import get_settings
from orcid_sync.domain.connect.links import open_connect_page, start_authorization
from orcid_sync.domain.connect.oauth_callback import complete_authorization
from orcid_sync.domain.connect.shared import CallbackParams, ConnectRefusedError
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger, metrics, tracer

# On Lambda, CodeUri functions/connect/ makes this directory the zip root and this module the top-level ``app``;
# the tests and the local stack import it as ``functions.connect.app``.
if __package__:
    from . import invitations, me, pages
else:
    import invitations  # type: ignore[import-not-found, no-redef]  # mypy sees the repo layout
    import me  # type: ignore[import-not-found, no-redef]
    import pages  # type: ignore[import-not-found, no-redef]

CONTENT_SECURITY_POLICY = pages.CONTENT_SECURITY_POLICY
SECURITY_HEADERS = pages.SECURITY_HEADERS

app = APIGatewayHttpResolver()
app.include_router(me.router)
app.include_router(invitations.router)


# --- request helpers ------------------------------------------------------------------------------


def _base_url() -> str:
    return pages.base_url(app.current_event)


def _lang() -> str:
    return pages.language(app.current_event)


def _page(template: str, *, status: int, profile_url: str | None = None, **context: Any) -> Response[str]:
    return pages.page(
        app.current_event, template, status=status, brand=pages.branding(profile_url=profile_url), **context
    )


# --- routes ---------------------------------------------------------------------------------------


@app.get("/connect")
def connect_page() -> Response[str]:
    view = open_connect_page(
        app.current_event.get_query_string_value("link"),
        base_url=_base_url(),
        researchers=composition.researcher_store(),
        signer=composition.link_signer(),
        site=composition.orcid_site(),
        now=utc_now(),
    )
    invitations.link_opened(app.current_event)
    return _page("connect.html.j2", status=200, profile_url=view.profile_url, view=view)


@app.get("/connect/start")
def start() -> Response[str]:
    authorize_url = start_authorization(
        app.current_event.get_query_string_value("link"),
        base_url=_base_url(),
        lang=_lang(),
        researchers=composition.researcher_store(),
        states=composition.oauth_states(),
        signer=composition.link_signer(),
        site=composition.orcid_site(),
        now=utc_now(),
    )
    return Response(status_code=302, body="", headers={**SECURITY_HEADERS, "Location": authorize_url})


@app.get("/connect/style.css")
def stylesheet() -> Response[str]:
    return Response(
        status_code=200, content_type="text/css; charset=utf-8", body=templates.stylesheet(), headers=SECURITY_HEADERS
    )


@app.get("/orcid/callback")
def callback() -> Response[str]:
    params = CallbackParams.model_validate(app.current_event.query_string_parameters or {})
    if params.state and composition.link_signer().is_sign_in_state(params.state):
        return me.complete(params)  # a sign-in to "My ORCID", not a connection
    connected = complete_authorization(
        params, base_url=_base_url(), services=composition.callback_services(), now=utc_now()
    )
    metrics.add_metric(name="ResearcherConnected", unit=MetricUnit.Count, value=1)
    invitations.researcher_connected(connected.researcher_id)
    return _page("success.html.j2", status=200, profile_url=connected.profile_url, view=connected)


# --- every failure is a page with the same headers -------------------------------------------------


@app.exception_handler(ConnectRefusedError)
def _refused(exc: ConnectRefusedError) -> Response[str]:
    metrics.add_metric(name="ConnectRefused", unit=MetricUnit.Count, value=1)
    logger.info("connect refused", reason=exc.refusal.reason.value, path=app.current_event.path)
    return _page("problem.html.j2", status=exc.refusal.status, reason=exc.refusal.reason.value, refusal=exc.refusal)


@app.not_found
def _not_found(_: RouteNotFoundError) -> Response[str]:
    return _page("problem.html.j2", status=404, reason="not_found", refusal=None)


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    # Logged by type and traceback only; our messages never carry a token, code or secret.
    logger.exception("connect page failed", error=type(exc).__name__)
    return _page("problem.html.j2", status=500, reason="server_error", refusal=None)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_settings()  # fail fast on a misconfigured stack
    return app.resolve(event, context)
