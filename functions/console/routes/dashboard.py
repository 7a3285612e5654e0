"""``GET /console``: the dashboard; ``POST /console/schedules/{type}``: the daily job's toggle."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.domain.console.dashboard import build_dashboard, status_counts
from orcid_sync.domain.jobs.models import JobType
from orcid_sync.domain.jobs.schedules import SCHEDULED_TYPES, set_schedule
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger

if __package__ != "routes":
    from .. import auth, web
    from . import changes
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]
    from routes import changes  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


@router.get("/console")
def dashboard_page() -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    board = build_dashboard(composition.dashboard_ports(), now=utc_now())
    return web.page(
        event,
        "dashboard.html.j2",
        user=user,
        nav_active="dashboard",
        board=board,
        status_counts=status_counts(board.researchers),
        notice=changes.notice_of(event),
    )


@router.post("/console/schedules/<job_type>")
def toggle_schedule(job_type: str) -> Response[str]:
    """Activate or deactivate a daily job: the use case ``orcid-sync jobs activate|deactivate`` reaches too."""
    event = router.current_event
    user = auth.admin_post(event)
    if isinstance(user, Response):
        return user
    wanted = web.form(event).get("enabled")
    if job_type not in {t.value for t in SCHEDULED_TYPES} or wanted not in ("true", "false"):
        return web.problem(event, user, 400, web.text(event, "dash_bad_toggle"))
    kind = JobType(job_type)
    schedules = composition.schedules()
    was_enabled = schedules.describe(kind).enabled
    status = set_schedule(
        schedules, composition.job_store(), composition.integration_settings_store(), kind, enabled=wanted == "true"
    )
    logger.info("console: job schedule set", job_type=kind.value, enabled=status.enabled)
    action = "schedule.activate" if status.enabled else "schedule.deactivate"
    changes.record(user, action, kind.value, before={"enabled": was_enabled}, after={"enabled": status.enabled})
    notice = "schedule_activated" if status.enabled else "schedule_deactivated"
    if status.warning:
        notice = "schedule_activated_send_assets_off"
    return changes.done("/console", notice)
