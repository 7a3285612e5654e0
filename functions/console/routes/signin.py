"""Signing in and out: ``GET /console/signin`` (to the managed login), ``GET /console/callback`` (its answer,
turned into our session cookie), ``POST /console/signout`` (cookie cleared, then Cognito's ``/logout``)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from orcid_sync import composition
from orcid_sync.domain.console import sign_in
from orcid_sync.domain.console.session import cleared_session_cookie, session_cookie
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger, metrics

if __package__ != "routes":
    from .. import auth, web
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

SIGNED_OUT_PATH = "/console/signedout"


@router.get(sign_in.SIGN_IN_PATH)
def start_sign_in() -> Response[str]:
    event = router.current_event
    started = sign_in.start(
        site=composition.console_login_site(),
        base_url=web.base_url(event),
        next_path=event.get_query_string_value("next"),
        signer=composition.link_signer(),
        now=utc_now(),
    )
    return web.redirect(started.authorize_url, status=302, cookies=[started.cookie])


@router.get(sign_in.CALLBACK_PATH)
def callback() -> Response[str]:
    event = router.current_event
    cleared = sign_in.cleared_sign_in_cookie()
    try:
        signed_in = sign_in.complete(
            code=event.get_query_string_value("code"),
            state=event.get_query_string_value("state"),
            error=event.get_query_string_value("error"),
            cookie_value=web.cookie(event, sign_in.SIGN_IN_COOKIE),
            base_url=web.base_url(event),
            provider=composition.console_identity_provider(),
            signer=composition.link_signer(),
            now=utc_now(),
        )
    except sign_in.SignInRefusedError as exc:
        metrics.add_metric(name="ConsoleSignInRefused", unit=MetricUnit.Count, value=1)
        logger.info("console sign-in refused", reason=exc.reason.value)
        return web.page(
            event, "refused.html.j2", user=None, status=exc.status, cookies=[cleared], reason=exc.reason.value
        )
    metrics.add_metric(name="ConsoleSignedIn", unit=MetricUnit.Count, value=1)
    logger.info("console sign-in", role=signed_in.user.role.value)
    session = session_cookie(composition.link_signer(), signed_in.user, now=utc_now())
    return web.redirect(signed_in.next_path, cookies=[cleared, session])


@router.post("/console/signout")
def sign_out() -> Response[str]:
    """Any role may sign out, with the session's CSRF token (no one can be signed out by another site)."""
    event = router.current_event
    checked = auth.csrf_checked(event)
    if isinstance(checked, Response):
        return checked
    logout = composition.console_login_site().logout_url(logout_uri=f"{web.base_url(event)}{SIGNED_OUT_PATH}")
    return web.redirect(logout, cookies=[cleared_session_cookie()])


@router.get(SIGNED_OUT_PATH)
def signed_out() -> Response[str]:
    event = router.current_event
    return web.page(event, "signed_out.html.j2", user=None, cookies=[cleared_session_cookie()])
