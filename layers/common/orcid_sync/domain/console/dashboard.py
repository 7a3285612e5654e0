"""The console's dashboard: researchers by ORCID status, the daily jobs, the last runs, and what needs attention.

Read from DynamoDB, EventBridge and SQS only, in a fixed number of calls whatever the number of researchers
(a count per status, one describe per schedule, a few job queries, one attribute read per dead-letter queue):
no researcher is read one by one and nothing is asked of ORCID. What needs reading everyone (the token
report's expiring tokens) is one click away, not on every dashboard load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from orcid_sync.domain.jobs.models import Job, JobEvent, JobState, JobTrigger, JobType
from orcid_sync.domain.jobs.schedules import ScheduleRules, ScheduleStatus, list_schedules
from orcid_sync.domain.jobs.store import JobStore
from orcid_sync.domain.models import OrcidStatus

if TYPE_CHECKING:
    from orcid_sync.domain.institution_settings import IntegrationSettingsStore

RECENT_RUNS = 10
FAILED_EVENTS_SHOWN = 10
NEEDS_RECONNECTING = (OrcidStatus.REVOKED, OrcidStatus.TOKEN_INVALID)
"""ORCID refused their tokens: only the researcher can fix it, by connecting again (send them a connect link)."""


class ResearcherCensus(Protocol):
    """How many researchers have each ORCID status (DynamoDB counts the status index; no item is returned)."""

    def count_by_status(self) -> dict[OrcidStatus, int]: ...


class DeadLetterDepths(Protocol):
    """Messages waiting in each dead-letter queue, by the queue's role (push, pull, job-control, feed)."""

    def depths(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class DashboardPorts:
    census: ResearcherCensus
    jobs: JobStore
    schedules: ScheduleRules
    integration: IntegrationSettingsStore
    dead_letters: DeadLetterDepths


class ScheduleView(BaseModel):
    """A daily job on the dashboard: its toggle, when it runs next, its last run."""

    status: ScheduleStatus
    next_run_at: datetime | None
    """None when the rule is off, or its expression is not one we can read (the expression is shown instead)."""


class FailedResearcher(BaseModel):
    job_id: str
    job_type: JobType
    researcher_id: str | None
    message: str


class WorksOnOrcid(BaseModel):
    """Works on ORCID records as the last full push counted them (created, updated, unchanged and adopted)."""

    works: int
    records: int
    counted_at: datetime
    job_id: str


class Attention(BaseModel):
    """What an administrator should look at."""

    needs_reconnecting: int
    """Researchers whose token ORCID refused (revoked, or belonging to another record)."""
    failed_researchers: list[FailedResearcher]
    failed_total: int
    dead_letters: dict[str, int]

    @property
    def anything(self) -> bool:
        return bool(self.needs_reconnecting or self.failed_total or any(self.dead_letters.values()))


class Dashboard(BaseModel):
    researchers: dict[OrcidStatus, int]
    researchers_total: int
    works_on_orcid: WorksOnOrcid | None
    schedules: list[ScheduleView]
    recent_runs: list[Job]
    attention: Attention


_CRON = re.compile(r"^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$")


def next_run(expression: str, *, after: datetime) -> datetime | None:
    """When an EventBridge ``cron(min hour * * ? *)`` rule fires next (UTC); None for any other shape.

    The stack's rules are daily or hourly at a fixed minute; anything fancier is shown as its expression.
    """
    match = _CRON.match(expression.strip())
    if match is None:
        return None
    minute, hour, day, month, weekday, year = match.groups()
    if not minute.isdigit() or day not in ("*", "?") or month != "*" or weekday not in ("*", "?") or year != "*":
        return None
    if hour != "*" and not hour.isdigit():
        return None
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    candidate = start.replace(minute=int(minute))
    if hour == "*":
        return candidate if candidate >= start else candidate + timedelta(hours=1)
    candidate = candidate.replace(hour=int(hour))
    return candidate if candidate >= start else candidate + timedelta(days=1)


def _works_on_orcid(push_runs: list[Job]) -> WorksOnOrcid | None:
    """The newest finished push of everyone (not a dry run, not a few researchers) counted every work we keep."""
    for job in push_runs:
        if job.state is JobState.RUNNING or job.dry_run or job.options.get("researcher_ids"):
            continue
        counts = job.counts
        return WorksOnOrcid(
            works=counts.works_created + counts.works_updated + counts.works_unchanged + counts.works_adopted,
            records=counts.researchers_processed,
            counted_at=job.ended_at or job.started_at,
            job_id=job.job_id,
        )
    return None


def _failed_researchers(jobs: JobStore, last_runs: list[Job]) -> tuple[list[FailedResearcher], int]:
    failed: list[FailedResearcher] = []
    total = 0
    for job in last_runs:
        if not job.counts.researchers_failed:
            continue
        total += job.counts.researchers_failed
        events: list[JobEvent] = jobs.list_events(job.job_id, limit=FAILED_EVENTS_SHOWN, level="error").items
        failed += [
            FailedResearcher(job_id=job.job_id, job_type=job.type, researcher_id=e.researcher_id, message=e.message)
            for e in events
        ]
    return failed[:FAILED_EVENTS_SHOWN], total


def build_dashboard(ports: DashboardPorts, *, now: datetime) -> Dashboard:
    """Everything the dashboard shows, in a bounded number of reads (see the module docstring)."""
    census = ports.census.count_by_status()
    counts = {status: census.get(status, 0) for status in OrcidStatus}
    statuses = list_schedules(ports.schedules, ports.jobs, ports.integration)
    schedules = [
        ScheduleView(status=s, next_run_at=next_run(s.schedule, after=now) if s.enabled else None) for s in statuses
    ]
    recent = ports.jobs.list(limit=RECENT_RUNS).items
    pushes = [job for job in recent if job.type is JobType.PUSH and job.trigger is not JobTrigger.UPLOAD]
    if not any(not j.dry_run and not j.options.get("researcher_ids") for j in pushes):
        pushes = ports.jobs.list(job_type=JobType.PUSH, limit=RECENT_RUNS).items
    # The failures of each scheduled type's last run (what the nightly email would name).
    last_runs = [s.last_run for s in statuses if s.last_run is not None and s.type in (JobType.PUSH, JobType.PULL)]
    failed, failed_total = _failed_researchers(ports.jobs, last_runs)
    return Dashboard(
        researchers=counts,
        researchers_total=sum(counts.values()),
        works_on_orcid=_works_on_orcid(pushes),
        schedules=schedules,
        recent_runs=recent,
        attention=Attention(
            needs_reconnecting=sum(counts[s] for s in NEEDS_RECONNECTING),
            failed_researchers=failed,
            failed_total=failed_total,
            dead_letters=ports.dead_letters.depths(),
        ),
    )


def status_counts(counts: Mapping[OrcidStatus, int]) -> list[tuple[OrcidStatus, int]]:
    """The statuses in the order the dashboard lists them (connected first)."""
    order = (
        OrcidStatus.ACTIVE,
        OrcidStatus.NONE,
        OrcidStatus.REVOKED,
        OrcidStatus.TOKEN_INVALID,
        OrcidStatus.DISCONNECTED,
    )
    return [(status, counts.get(status, 0)) for status in order]
