"""The ports of job runs: where tasks go, who hears a run ended, how it is measured, what a schedule is.

Implemented by the adapters (SQS, SNS, EventBridge, CloudWatch through Powertools) and by fakes in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from orcid_sync.domain.jobs.models import Job, JobEvent, JobType, ResearcherTask, ScheduleRule
from orcid_sync.domain.models import OrcidStatus


class TaskQueue(Protocol):
    def send_tasks(self, tasks: Sequence[ResearcherTask]) -> None:
        """Enqueue the tasks (any number; adapters batch them); raise if any could not be sent."""
        ...


class Notifier(Protocol):
    def job_finished(self, job: Job, first_errors: Sequence[JobEvent]) -> None: ...


class JobFinisher(Protocol):
    def finish(self, job: Job) -> None:
        """Type-specific work once every researcher is done (e.g. pull assembles the CSV)."""
        ...


class JobMetrics(Protocol):
    """What job runs report to monitoring (the template's alarms and dashboard read these)."""

    def job_finished(self, job: Job) -> None:
        """A run ended: its state, researcher counts and duration."""
        ...

    def researcher_census(self, counts: Mapping[OrcidStatus, int]) -> None:
        """How many researchers there are per ORCID connection status (every status, zeros included)."""
        ...


class NoJobMetrics:
    """Reports nothing: the default until the composition root installs the real one (and in unit tests)."""

    def job_finished(self, job: Job) -> None:
        return None

    def researcher_census(self, counts: Mapping[OrcidStatus, int]) -> None:
        return None


class ControlQueue(Protocol):
    def request_start(self, job_id: str) -> None:
        """Ask the scheduler to select and fan out this (already opened) run."""
        ...


class ResearcherSelector(Protocol):
    def __call__(self, job: Job) -> list[str]:
        """The researchers this run fans out to (``options["researcher_ids"]`` limits them)."""
        ...


class ScheduleRules(Protocol):
    def describe(self, job_type: JobType) -> ScheduleRule: ...

    def set_enabled(self, job_type: JobType, enabled: bool) -> None: ...
