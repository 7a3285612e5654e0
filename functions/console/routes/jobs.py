"""``/console/jobs``: the job history, one run (its progress and events), Run now, and a pull run's CSV."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from orcid_sync import composition
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError
from orcid_sync.domain.batches import problems_from
from orcid_sync.domain.console.session import ConsoleUser
from orcid_sync.domain.errors import InvalidInputError, NotFoundError
from orcid_sync.domain.jobs.models import Job, JobType
from orcid_sync.domain.jobs.queries import get_job, list_job_events, list_jobs
from orcid_sync.domain.jobs.starts import StartJobRequest, request_job
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.pull.finish import csv_download
from orcid_sync.observability import logger

if __package__ != "routes":
    from .. import auth, web
    from . import changes
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]
    from routes import changes  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

PAGE_SIZE = 25
EVENTS_PAGE = 100
LEVELS = ("error", "warning", "info")
_JOB_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_IDS = re.compile(r"[\s,;]+")


def started_job(job: Job) -> dict[str, object]:
    """What the audit log keeps of a start (as the admin API's entry): type, mode, whom (a few ids, or how many)."""
    ids: list[str] = job.options.get("researcher_ids") or []
    whom: object = "all eligible" if not ids else ids if len(ids) <= 10 else len(ids)
    return {"type": job.type.value, "dry_run": job.dry_run, "researchers": whom}


def _jobs_page(user: ConsoleUser, *, status: int = 200, **context: Any) -> Response[str]:
    query = router.current_event
    job_type = query.get_query_string_value("type") or ""
    kind = JobType(job_type) if job_type in {t.value for t in JobType} else None
    cursor = query.get_query_string_value("cursor")
    try:
        page = list_jobs(composition.job_store(), job_type=kind, state=None, limit=PAGE_SIZE, cursor=cursor)
    except InvalidCursorError:
        page = list_jobs(composition.job_store(), job_type=kind, state=None, limit=PAGE_SIZE, cursor=None)
    next_query = urlencode({"type": job_type, "cursor": page.next_cursor or ""})
    context.setdefault("run_form", {})
    context.setdefault("errors", {})
    return web.page(
        query,
        "jobs.html.j2",
        user=user,
        status=status,
        nav_active="jobs",
        page=page,
        job_type=kind.value if kind else "",
        job_types=[t.value for t in JobType],
        next_query=next_query,
        notice=changes.notice_of(query),
        **context,
    )


@router.get("/console/jobs")
def jobs_page() -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    return _jobs_page(user)


@router.post("/console/jobs")
def run_now() -> Response[str]:
    """Run a push or pull now, for everyone eligible or the ids given, optionally as a dry run (the admin API's
    ``POST /jobs``: the same request model and use case)."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    fields = web.form(event)
    ids = [part for part in _IDS.split(fields.get("researchers", "")) if part]
    raw = {"type": fields.get("type", ""), "researchers": ids or None, "dry_run": fields.get("dry_run") == "true"}
    try:
        request = StartJobRequest.model_validate(raw)
        job = request_job(
            composition.job_store(),
            composition.control_queue(),
            composition.researcher_store(),
            request,
            started_by=user.email,
            now=utc_now(),
        )
    except (ValidationError, InvalidInputError) as exc:
        problems = problems_from(exc) if isinstance(exc, ValidationError) else exc.problems
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.field.split(".")[0], []).append(problem.reason)
        message = web.text(event, "jobs_not_started")
        return _jobs_page(user, status=400, run_form=fields, errors=errors, error_message=message)
    logger.info("console: job requested", job_id=job.job_id, job_type=job.type.value, dry_run=job.dry_run)
    changes.record(user, "job.start", job.job_id, after=started_job(job))
    return changes.done(f"/console/jobs/{job.job_id}", "job_started")


def _job_or_404(user: ConsoleUser, job_id: str) -> Job | Response[str]:
    event = router.current_event
    try:
        if not _JOB_ID.match(job_id):
            raise NotFoundError(job_id)
        return get_job(composition.job_store(), job_id)
    except NotFoundError:
        return web.problem(event, user, 404, web.text(event, "jobs_no_such_run"))


@router.get("/console/jobs/<job_id>")
def job_page(job_id: str) -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    job = _job_or_404(user, job_id)
    if isinstance(job, Response):
        return job
    level = event.get_query_string_value("level") or ""
    cursor = event.get_query_string_value("cursor")
    try:
        events = list_job_events(
            composition.job_store(), job_id, limit=EVENTS_PAGE, cursor=cursor, level=level if level in LEVELS else None
        )
    except InvalidCursorError:
        events = list_job_events(composition.job_store(), job_id, limit=EVENTS_PAGE, cursor=None)
    return web.page(
        event,
        "job.html.j2",
        user=user,
        nav_active="jobs",
        job=job,
        events=events,
        level=level if level in LEVELS else "",
        next_query=urlencode({"level": level, "cursor": events.next_cursor or ""}),
        notice=changes.notice_of(event),
    )


@router.get("/console/jobs/<job_id>/progress")
def job_progress(job_id: str) -> Response[str]:
    """The progress fragment htmx swaps in every few seconds while a run is running (one GetItem)."""
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    job = _job_or_404(user, job_id)
    if isinstance(job, Response):
        return job
    return web.page(event, "_job_progress.html.j2", user=user, job=job)


@router.get("/console/jobs/<job_id>/csv")
def pull_csv(job_id: str) -> Response[str]:
    """A finished pull run's CSV: 303 to a presigned GET (15 minutes), as the admin API's ``GET /jobs/{id}/csv``."""
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    try:
        if not _JOB_ID.match(job_id):
            raise NotFoundError(job_id)
        download = csv_download(composition.job_store(), composition.pull_files(), job_id, now=utc_now())
    except NotFoundError:
        return web.problem(event, user, 404, web.text(event, "jobs_no_csv"))
    logger.info("console: pull CSV link issued", job_id=job_id, rows=download.rows)
    return web.redirect(download.url)
