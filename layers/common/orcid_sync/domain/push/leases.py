"""Per-researcher leases: one worker at a time writes a researcher's ORCID record and ledger (the ports), and
the write that ends a researcher's push: counted in its run, lease given up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from orcid_sync.domain.jobs.models import ResearcherOutcome


@dataclass(frozen=True)
class Lease:
    """A lease on one researcher: who holds it (one attempt of one job) and until when."""

    researcher_id: str
    holder: str
    job_id: str
    expires_at: datetime

    def seconds_left(self, now: datetime) -> float:
        return max(0.0, (self.expires_at - now).total_seconds())


class LeaseHeldError(Exception):
    """Someone else holds the researcher's lease."""

    def __init__(self, held: Lease) -> None:
        super().__init__(f"researcher {held.researcher_id} is leased by job {held.job_id} until {held.expires_at}")
        self.held = held


class LeaseStore(Protocol):
    def acquire(self, researcher_id: str, *, job_id: str, now: datetime, duration: timedelta) -> Lease:
        """Take the researcher's lease for ``duration``, or raise LeaseHeldError naming the current holder."""
        ...

    def release(self, lease: Lease) -> None:
        """Give the lease up (a no-op if it expired and someone else took it)."""
        ...


@dataclass(frozen=True)
class ResearcherSync:
    """What a finished push notes on the researcher: when they were last in sync, and (once) that ORCID accepted
    their token for ``confirm_orcid``, their iD (see ``orcid_sync.domain.tokens.verdicts.confirm_orcid``)."""

    researcher_id: str
    at: datetime
    confirm_orcid: str | None = None


class PushCompletion(Protocol):
    """Ending a researcher's push in one write: counted in the run, synced, lease given up (the port)."""

    def record_unless_last(
        self, job_id: str, outcome: ResearcherOutcome, *, lease: Lease | None, sync: ResearcherSync | None
    ) -> bool:
        """Count ``outcome`` in its run exactly once, note ``sync`` and release ``lease``, all in one atomic write,
        on condition that the run is still incomplete after it; True when done so.

        False when nothing was written: the researcher may be the run's last, already counted (a redelivery), the
        lease lost or the researcher gone. The caller then does it the usual way (``complete_researcher``), which
        reads the run back to see whether it is complete.
        """
        ...
