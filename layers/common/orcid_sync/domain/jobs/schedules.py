"""The push, pull and feed-harvest schedules: whether they are active, when they run, and how their last run went."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from orcid_sync.domain.errors import InvalidInputError, Problem
from orcid_sync.domain.jobs.models import Job, JobType, ScheduleRule
from orcid_sync.domain.jobs.ports import ScheduleRules
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.log import logger

if TYPE_CHECKING:
    # Only the schedule routes take one (as an argument): importing it would load the integration
    # settings' and ORCID's models into every function that opens or finishes a job.
    from orcid_sync.domain.institution_settings import IntegrationSettingsStore

__all__ = [
    "SCHEDULED_TYPES",
    "SEND_ASSETS_OFF_WARNING",
    "ScheduleRule",
    "ScheduleRules",
    "ScheduleStatus",
    "ScheduledTypeError",
    "list_schedules",
    "set_schedule",
]


class ScheduleStatus(BaseModel):
    """A job type's daily schedule, its last run, and anything the administrator should know."""

    type: JobType
    rule_name: str
    enabled: bool
    schedule: str
    last_run: Job | None = None
    warning: str | None = None


SCHEDULED_TYPES = (JobType.PUSH, JobType.PULL, JobType.FEED, JobType.REMIND)
SEND_ASSETS_OFF_WARNING = (
    "send_assets is off in the integration settings: the push job runs but sends no works "
    "(turn it on with `orcid-sync settings set send_assets true`)"
)


class ScheduledTypeError(InvalidInputError):
    """Only push, pull, feed harvests and invitation reminders run on a schedule."""


def _schedule_status(rules: ScheduleRules, jobs: JobStore, job_type: JobType, *, send_assets: bool) -> ScheduleStatus:
    rule = rules.describe(job_type)
    last = jobs.list(job_type=job_type, limit=1).items
    warning = SEND_ASSETS_OFF_WARNING if job_type is JobType.PUSH and rule.enabled and not send_assets else None
    return ScheduleStatus(
        type=job_type,
        rule_name=rule.name,
        enabled=rule.enabled,
        schedule=rule.schedule,
        last_run=last[0] if last else None,
        warning=warning,
    )


def list_schedules(rules: ScheduleRules, jobs: JobStore, integration: IntegrationSettingsStore) -> list[ScheduleStatus]:
    """The push, pull and feed schedules: active or not, when they run, and how their last run went."""
    send_assets = integration.get().settings.send_assets
    return [_schedule_status(rules, jobs, job_type, send_assets=send_assets) for job_type in SCHEDULED_TYPES]


def set_schedule(
    rules: ScheduleRules, jobs: JobStore, integration: IntegrationSettingsStore, job_type: JobType, *, enabled: bool
) -> ScheduleStatus:
    """Activate or deactivate a daily job (flip its rule); activating push while send_assets is off warns."""
    if job_type not in SCHEDULED_TYPES:
        raise ScheduledTypeError(
            f"{job_type.value} jobs have no schedule",
            [Problem(field="path.job_type", reason="use push, pull, feed or remind")],
        )
    rules.set_enabled(job_type, enabled)
    logger.info("job schedule changed", job_type=job_type.value, enabled=enabled)
    return _schedule_status(rules, jobs, job_type, send_assets=integration.get().settings.send_assets)
