"""``/jobs``: run push and pull now, read job history and events, activate the daily schedules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, StrictBool

from orcid_sync import composition
from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobType
from orcid_sync.domain.jobs.queries import export_job_events, get_job, list_job_events, list_jobs
from orcid_sync.domain.jobs.schedules import SCHEDULED_TYPES, ScheduleStatus, list_schedules, set_schedule
from orcid_sync.domain.jobs.starts import StartJobRequest, request_job
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.ports import Page
from orcid_sync.domain.reports import job_events_csv
from orcid_sync.observability import logger

from .audit import audited
from .callers import caller_of
from .openapi_errors import BAD_REQUEST, NOT_FOUND

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

CSV = "text/csv; charset=utf-8"
JobIdInPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
Level = Literal["error", "warning", "info"]


class ScheduleChange(BaseModel):
    """``PUT /jobs/schedules/{type}``: activate (true) or deactivate (false) the daily job."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool


def started_job(job: Job, researchers: list[str] | None) -> dict[str, Any]:
    """What the audit log keeps of a job start: its type and mode, and whom (a few ids, or how many)."""
    whom: Any = "all eligible" if not researchers else researchers if len(researchers) <= 10 else len(researchers)
    return {"type": job.type.value, "dry_run": job.dry_run, "researchers": whom}


def _wants_csv(format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    return "text/csv" in (router.current_event.headers.get("accept") or "")


@router.post(
    "/jobs",
    summary="Run a push or pull job now",
    tags=["jobs"],
    responses={
        202: {"description": "The run, opened; the scheduler selects researchers and fans out"},
        400: BAD_REQUEST,
    },
)
def start_job_route(request: Annotated[StartJobRequest, Body(embed=False)]) -> Response[Job]:
    """Answers at once even for 10,000 researchers; follow the run with GET /jobs/{id} (``expected``, ``counts``)."""
    job = request_job(
        composition.job_store(),
        composition.control_queue(),
        composition.researcher_store(),
        request,
        started_by=caller_of(router.current_event) or "admin-api",
        now=utc_now(),
    )
    logger.info("job requested", job_id=job.job_id, job_type=job.type.value, dry_run=job.dry_run)
    audited(router.current_event, "job.start", job.job_id, after=started_job(job, request.researchers))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=job)


@router.get(
    "/jobs",
    summary="Job history, newest first",
    tags=["jobs"],
    responses={200: {"description": "One page; pass next_cursor back as cursor for the next"}, 400: BAD_REQUEST},
)
def list_jobs_route(
    type: Annotated[JobType | None, Query(description="Only runs of this type")] = None,
    state: Annotated[JobState | None, Query(description="Only runs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page[Job]:
    return list_jobs(composition.job_store(), job_type=type, state=state, limit=limit, cursor=cursor)


# Registered before /jobs/<job_id> so "schedules" is never taken for a job id.
@router.get("/jobs/schedules", summary="The push, pull and feed-harvest schedules", tags=["jobs"])
def list_schedules_route() -> list[ScheduleStatus]:
    """Each schedule: active or not, its cron expression, and its last run."""
    return list_schedules(composition.schedules(), composition.job_store(), composition.integration_settings_store())


@router.put(
    "/jobs/schedules/<job_type>",
    summary="Activate or deactivate a daily job",
    tags=["jobs"],
    responses={
        200: {"description": "The schedule now; `warning` says if it will not do what you expect"},
        400: BAD_REQUEST,
    },
)
def set_schedule_route(
    job_type: Annotated[JobType, Path(description="push, pull or feed")],
    change: Annotated[ScheduleChange, Body(embed=False)],
) -> ScheduleStatus:
    """Flips the EventBridge rule. Activating push while send_assets is off works but warns: nothing would be sent."""
    was_enabled = composition.schedules().describe(job_type).enabled if job_type in SCHEDULED_TYPES else None
    status = set_schedule(
        composition.schedules(),
        composition.job_store(),
        composition.integration_settings_store(),
        job_type,
        enabled=change.enabled,
    )
    by = caller_of(router.current_event) or "admin-api"
    logger.info("job schedule set", job_type=job_type.value, enabled=status.enabled, by=by)
    action = "schedule.activate" if change.enabled else "schedule.deactivate"
    before, after = {"enabled": was_enabled}, {"enabled": status.enabled}
    audited(router.current_event, action, job_type.value, before=before, after=after)
    return status


@router.get(
    "/jobs/<job_id>",
    summary="One job run: counts, state, CSV location",
    tags=["jobs"],
    responses={200: {"description": "The run"}, 404: NOT_FOUND},
)
def get_job_route(job_id: JobIdInPath) -> Job:
    return get_job(composition.job_store(), job_id)


@router.get(
    "/jobs/<job_id>/events",
    summary="A job run's events (errors first), as JSON pages or one CSV",
    tags=["jobs"],
    responses={
        200: {
            "description": "A page of events, or with format=csv (or Accept: text/csv) all of them as CSV",
            "content": {CSV: {"schema": {"type": "string"}}},
        },
        400: BAD_REQUEST,
        404: NOT_FOUND,
    },
)
def list_job_events_route(
    job_id: JobIdInPath,
    level: Annotated[Level | None, Query(description="Only events of this level")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="csv: every event as one download")] = None,
) -> Response[Any]:
    jobs = composition.job_store()
    if _wants_csv(format):
        events = export_job_events(jobs, job_id, level=level)
        return Response(
            status_code=200,
            content_type=CSV,
            body=job_events_csv(events),
            headers={"Content-Disposition": f'attachment; filename="{job_id}-events.csv"'},
        )
    page: Page[JobEvent] = list_job_events(jobs, job_id, limit=limit, cursor=cursor, level=level)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=page)
