"""The pull ledger: which of a researcher's DOIs and PMIDs a pull run already put into a CSV (the port)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class PulledEntry(BaseModel):
    """One identifier of a work that went into a pull CSV."""

    model_config = ConfigDict(frozen=True)

    key: str
    """``doi:<normalised DOI>`` or ``pmid:<digits>``."""
    job_id: str
    put_code: int | None = None
    pulled_at: datetime


class PullLedgerStore(Protocol):
    def load(self, researcher_id: str) -> dict[str, PulledEntry]:
        """Every identifier pulled for the researcher, by key."""
        ...

    def mark_pulled(self, researcher_id: str, entries: Sequence[PulledEntry]) -> None:
        """Record identifiers as pulled (a later write for the same key replaces the earlier one)."""
        ...
