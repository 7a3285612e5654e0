"""Per-researcher leases: one worker at a time writes a researcher's ORCID record and ledger (the port)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


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
