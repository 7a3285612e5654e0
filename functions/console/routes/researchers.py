"""``/console/researchers``: search, one researcher (status, scopes, outputs and where each stands with ORCID),
a connect link, disconnecting (after a confirmation page) and pushing one researcher now."""

from __future__ import annotations

from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError
from orcid_sync.config import get_settings
from orcid_sync.domain.connect.disconnect import OrcidUnavailableError, disconnect
from orcid_sync.domain.connect.links import issue_connect_link
from orcid_sync.domain.connect.shared import ConnectLinkRequest
from orcid_sync.domain.console.researcher_search import MAX_SCANNED, search_researchers
from orcid_sync.domain.console.session import ConsoleUser
from orcid_sync.domain.errors import InvalidInputError, NotFoundError
from orcid_sync.domain.jobs.starts import StartJobRequest, request_job
from orcid_sync.domain.me.outputs import researcher_outputs
from orcid_sync.domain.models import OrcidStatus, utc_now
from orcid_sync.domain.reports import token_health_report
from orcid_sync.domain.researchers import ResearcherView, get_researcher
from orcid_sync.observability import logger

if __package__ != "routes":
    from .. import auth, web
    from . import changes
    from .jobs import started_job
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]
    from routes import changes  # type: ignore[import-not-found, no-redef]
    from routes.jobs import started_job  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

STATUSES = {status.value: status for status in OrcidStatus}


@router.get("/console/researchers")
def researchers_page() -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    query = (event.get_query_string_value("q") or "")[:200]
    status_value = event.get_query_string_value("status") or ""
    status = STATUSES.get(status_value)
    cursor = event.get_query_string_value("cursor")
    researchers = composition.researcher_store()
    try:
        search = search_researchers(researchers, query, status=status, cursor=cursor, links=get_settings())
    except InvalidCursorError:
        search = search_researchers(researchers, query, status=status, cursor=None, links=get_settings())
    next_query = urlencode({"q": query, "status": status_value, "cursor": search.next_cursor or ""})
    return web.page(
        event,
        "researchers.html.j2",
        user=user,
        nav_active="researchers",
        search=search,
        status_filter=status.value if status else "",
        max_scanned=MAX_SCANNED,
        next_query=next_query,
    )


# Registered before /console/researchers/<id> so "attention" is never taken for an id.
@router.get("/console/researchers/attention")
def token_report_page() -> Response[str]:
    """The token report (``orcid-sync report tokens``): reads every researcher, so it is a page of its own rather
    than part of every dashboard load."""
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    report = token_health_report(composition.researcher_store(), composition.token_store(), now=utc_now())
    return web.page(event, "researchers_attention.html.j2", user=user, nav_active="researchers", report=report)


def _researcher(user: ConsoleUser, researcher_id: str) -> ResearcherView | Response[str]:
    event = router.current_event
    try:
        return get_researcher(composition.researcher_store(), researcher_id, get_settings())
    except NotFoundError:
        return web.problem(event, user, 404, web.text(event, "res_no_such_researcher"))


def _researcher_page(user: ConsoleUser, person: ResearcherView, **context: object) -> Response[str]:
    event = router.current_event
    outputs = researcher_outputs(composition.outputs_ports(), person.id)
    return web.page(
        event,
        "researcher.html.j2",
        user=user,
        nav_active="researchers",
        person=person,
        outputs=outputs,
        notice=changes.notice_of(event),
        connect_link=context.get("connect_link"),
    )


@router.get("/console/researchers/<researcher_id>")
def researcher_page(researcher_id: str) -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    person = _researcher(user, researcher_id)
    if isinstance(person, Response):
        return person
    return _researcher_page(user, person)


@router.post("/console/researchers/<researcher_id>/connect-link")
def connect_link(researcher_id: str) -> Response[str]:
    """A personal connect link to copy (the admin API's ``POST /researchers/{id}/connect-link``). Shown on the
    answer page itself, never put in a redirect's URL (it would land in logs and the browser's history)."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    try:
        link = issue_connect_link(
            researcher_id,
            expires_in_days=ConnectLinkRequest().expires_in_days,
            base_url=web.base_url(event),
            researchers=composition.researcher_store(),
            signer=composition.link_signer(),
            now=utc_now(),
        )
    except NotFoundError:
        return web.problem(event, user, 404, web.text(event, "res_no_such_researcher"))
    logger.info("console: connect link issued", researcher_id=researcher_id, expires_at=link.expires_at.isoformat())
    changes.record(user, "researcher.connect_link", researcher_id, after={"expires_at": link.expires_at.isoformat()})
    person = _researcher(user, researcher_id)
    if isinstance(person, Response):
        return person
    return _researcher_page(user, person, connect_link=link)


@router.get("/console/researchers/<researcher_id>/disconnect")
def disconnect_confirmation(researcher_id: str) -> Response[str]:
    """The confirmation page: disconnecting revokes the researcher's permission at ORCID, which only they can give
    again."""
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    person = _researcher(user, researcher_id)
    if isinstance(person, Response):
        return person
    return web.page(event, "researcher_disconnect.html.j2", user=user, nav_active="researchers", person=person)


@router.post("/console/researchers/<researcher_id>/disconnect")
def disconnect_researcher(researcher_id: str) -> Response[str]:
    """Revoke at ORCID, delete the token, mark disconnected (the admin API's ``DELETE /researchers/{id}/orcid``)."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    before = _researcher(user, researcher_id)
    if isinstance(before, Response):
        return before
    try:
        result = disconnect(
            researcher_id,
            researchers=composition.researcher_store(),
            tokens=composition.token_store(),
            cipher=composition.token_cipher(),
            oauth=composition.oauth_client(),
        )
    except OrcidUnavailableError:
        return web.problem(event, user, 502, web.text(event, "res_orcid_unavailable"))
    logger.info("console: researcher disconnected", researcher_id=researcher_id)
    changes.record(
        user,
        "researcher.disconnect",
        researcher_id,
        before={"orcid_status": before.orcid_status.value},
        after={"orcid_status": result.orcid_status.value, "token_revocation": result.token_revocation.value},
    )
    return changes.done(f"/console/researchers/{researcher_id}", "researcher_disconnected")


@router.post("/console/researchers/<researcher_id>/push")
def push_researcher(researcher_id: str) -> Response[str]:
    """Push this researcher now: a manual run for one id (``orcid-sync jobs run push --researcher ID``)."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    dry_run = web.form(event).get("dry_run") == "true"
    try:
        request = StartJobRequest.model_validate({"type": "push", "researchers": [researcher_id], "dry_run": dry_run})
        job = request_job(
            composition.job_store(),
            composition.control_queue(),
            composition.researcher_store(),
            request,
            started_by=user.email,
            now=utc_now(),
        )
    except (ValidationError, InvalidInputError):  # a malformed id, or no such researcher
        return web.problem(event, user, 404, web.text(event, "res_no_such_researcher"))
    logger.info("console: researcher push requested", job_id=job.job_id, dry_run=dry_run)
    changes.record(user, "researcher.push", researcher_id, after={"job_id": job.job_id, **started_job(job)})
    return changes.done(f"/console/jobs/{job.job_id}", "job_started")
