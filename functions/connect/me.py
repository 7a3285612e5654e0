""" "My ORCID": a researcher signs in with ORCID and sees, and steers, what the repository sends to their record.

Thin routes: read the request (the session cookie, the form), call one use case (``orcid_sync.domain.me``), render a
page. The researcher is the session's, never one named by the request: an asset id in the URL is only acted on when
the use case finds it among the session researcher's own outputs. Every POST carries the session's CSRF token.
A page view reads DynamoDB only (no ORCID request); the access token of a sign-in is never kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from orcid_sync import composition
from orcid_sync.domain.connect.disconnect import OrcidUnavailableError, disconnect
from orcid_sync.domain.connect.shared import CallbackParams
from orcid_sync.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orcid_sync.domain.me.session import (
    SESSION_COOKIE,
    SESSION_PATH,
    SIGN_IN_COOKIE,
    Session,
    SetCookie,
    cleared_cookie,
    csrf_matches,
    csrf_token,
    read_session,
    session_cookie,
    signed_in_researcher,
)
from orcid_sync.domain.me.sign_in import SignInRefusedError, complete_sign_in, start_sign_in
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger, metrics

if __package__:
    from . import pages
else:
    import pages  # type: ignore[import-not-found, no-redef]  # Lambda's zip root; mypy sees the repo layout

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

ME_PATH = SESSION_PATH
CALLBACK_PATH = "/orcid/callback"  # where ORCID sends the researcher back (the URI registered for connecting)
SIGN_IN_COOKIE_SECONDS = 3600
# What a POST did, for the notice on the page it redirects to.
DONE = frozenset({"opted_out", "opted_in", "send_again", "signed_out", "disconnected"})


# --- request helpers ------------------------------------------------------------------------------


def _cookie(name: str) -> str | None:
    for cookie in router.current_event.cookies or []:
        key, _, value = cookie.strip().partition("=")
        if key == name:
            return value
    return None


def _session() -> Session | None:
    return read_session(composition.link_signer(), _cookie(SESSION_COOKIE), now=utc_now())


def _form() -> dict[str, str]:
    body = router.current_event.decoded_body or ""
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _signed_out(status: int = 200, *, expired: bool = False) -> Response[str]:
    """The sign-in page (the session cookie, if any, cleared)."""
    cookies = [cleared_cookie(SESSION_COOKIE, path=SESSION_PATH)] if _cookie(SESSION_COOKIE) else []
    return pages.page(router.current_event, "me_sign_in.html.j2", status=status, cookies=cookies, expired=expired)


def _problem(reason: str, status: int, **context: Any) -> Response[str]:
    return pages.page(router.current_event, "me_problem.html.j2", status=status, reason=reason, **context)


def _checked_post() -> Session | Response[str]:
    """The session of a POST with its CSRF token, or the page that refuses it."""
    session = _session()
    if session is None or signed_in_researcher(session, composition.researcher_store()) is None:
        return _signed_out(401, expired=True)
    if not csrf_matches(composition.link_signer(), session, _form().get("csrf")):
        logger.warning("refused a My ORCID form without its CSRF token", path=router.current_event.path)
        return _problem("csrf", 403)
    return session


# --- the page -------------------------------------------------------------------------------------


@router.get(ME_PATH)
def me() -> Response[str]:
    session = _session()
    if session is None:
        return _signed_out(expired=bool(_cookie(SESSION_COOKIE)))
    researcher = signed_in_researcher(session, composition.researcher_store())
    if researcher is None:
        return _signed_out(expired=True)
    from orcid_sync.domain.me.page import my_orcid_page  # noqa: PLC0415 - the push's planning, on a page view only

    signer = composition.link_signer()
    view = my_orcid_page(
        researcher,
        orcid=session.orcid,
        tokens=composition.token_store(),
        outputs=composition.outputs_ports(),
        signer=signer,
        site=composition.orcid_site(),
        base_url=pages.base_url(router.current_event),
        now=utc_now(),
    )
    done = router.current_event.get_query_string_value("done")
    return pages.page(
        router.current_event,
        "me.html.j2",
        status=200,
        brand=pages.branding(profile_url=researcher.profile_url),
        forms=True,
        view=view,
        csrf=csrf_token(signer, session),
        done=done if done in DONE else None,
    )


# --- signing in and out ---------------------------------------------------------------------------


@router.get(f"{ME_PATH}/signin")
def sign_in() -> Response[str]:
    event = router.current_event
    start = start_sign_in(
        base_url=pages.base_url(event),
        lang=pages.language(event),
        states=composition.oauth_states(),
        signer=composition.link_signer(),
        site=composition.orcid_site(),
        now=utc_now(),
    )
    binding = SetCookie(SIGN_IN_COOKIE, start.binding, CALLBACK_PATH, SIGN_IN_COOKIE_SECONDS)
    return pages.redirect(start.authorize_url, cookies=[binding])


def complete(params: CallbackParams) -> Response[str]:
    """ORCID's answer to a sign-in (the connect callback hands it over by the state's purpose)."""
    event = router.current_event
    cleared = cleared_cookie(SIGN_IN_COOKIE, path=CALLBACK_PATH)
    try:
        signed_in = complete_sign_in(
            params,
            binding=_cookie(SIGN_IN_COOKIE),
            base_url=pages.base_url(event),
            services=composition.sign_in_services(),
            now=utc_now(),
        )
    except SignInRefusedError as exc:
        metrics.add_metric(name="SignInRefused", unit=MetricUnit.Count, value=1)
        logger.info("sign-in refused", reason=exc.reason.value)
        return pages.page(
            event,
            "me_problem.html.j2",
            status=exc.status,
            cookies=[cleared],
            reason=exc.reason.value,
            orcid_url=exc.orcid_url,
        )
    metrics.add_metric(name="ResearcherSignedIn", unit=MetricUnit.Count, value=1)
    return pages.redirect(ME_PATH, status=303, cookies=[cleared, session_cookie(signed_in.issued)])


@router.post(f"{ME_PATH}/signout")
def sign_out() -> Response[str]:
    checked = _checked_post()
    if isinstance(checked, Response):
        return checked
    return pages.redirect(
        f"{ME_PATH}?done=signed_out", status=303, cookies=[cleared_cookie(SESSION_COOKIE, path=SESSION_PATH)]
    )


# --- the researcher's choices ---------------------------------------------------------------------


def _act(asset_id: str, action: str) -> Response[str]:
    checked = _checked_post()
    if isinstance(checked, Response):
        return checked
    from orcid_sync.domain.me.outputs import opt_in, opt_out, send_again  # noqa: PLC0415 - as my_orcid_page

    use_case = {"opted_out": opt_out, "opted_in": opt_in, "send_again": send_again}[action]
    try:
        use_case(composition.outputs_ports(), checked.researcher_id, asset_id, now=utc_now())
    except NotFoundError:
        # Not one of theirs (or gone): nothing about it, or anyone else, is shown.
        return _problem("asset_not_found", 404)
    except (ConflictError, InvalidInputError):
        return _problem("action_not_available", 409)
    metrics.add_metric(name=f"MyOrcid_{action}", unit=MetricUnit.Count, value=1)
    return pages.redirect(f"{ME_PATH}?done={action}#asset-{asset_id}", status=303)


@router.post(f"{ME_PATH}/outputs/<asset_id>/opt-out")
def opt_out_route(asset_id: str) -> Response[str]:
    return _act(asset_id, "opted_out")


@router.post(f"{ME_PATH}/outputs/<asset_id>/opt-in")
def opt_in_route(asset_id: str) -> Response[str]:
    return _act(asset_id, "opted_in")


@router.post(f"{ME_PATH}/outputs/<asset_id>/send-again")
def send_again_route(asset_id: str) -> Response[str]:
    return _act(asset_id, "send_again")


# --- disconnecting --------------------------------------------------------------------------------


@router.get(f"{ME_PATH}/disconnect")
def disconnect_confirm() -> Response[str]:
    session = _session()
    researcher = signed_in_researcher(session, composition.researcher_store()) if session else None
    if session is None or researcher is None:
        return _signed_out(expired=True)
    return pages.page(
        router.current_event,
        "me_disconnect.html.j2",
        status=200,
        brand=pages.branding(profile_url=researcher.profile_url),
        forms=True,
        csrf=csrf_token(composition.link_signer(), session),
        orcid_url=composition.orcid_site().id_url(session.orcid),
    )


@router.post(f"{ME_PATH}/disconnect")
def disconnect_route() -> Response[str]:
    checked = _checked_post()
    if isinstance(checked, Response):
        return checked
    try:
        disconnect(
            checked.researcher_id,
            researchers=composition.researcher_store(),
            tokens=composition.token_store(),
            cipher=composition.token_cipher(),
            oauth=composition.oauth_client(),
        )
    except ConflictError:
        pass  # already disconnected: the page says so
    except OrcidUnavailableError:
        return _problem("disconnect_failed", 502)
    metrics.add_metric(name="ResearcherDisconnectedThemself", unit=MetricUnit.Count, value=1)
    return pages.redirect(f"{ME_PATH}?done=disconnected", status=303)
