"""The push ledger: what we wrote to each researcher's ORCID record (put-codes and content hashes), and its port.

The push holds what ORCID answered in a :class:`LedgerBuffer` and writes it through the store before its next
request for the researcher that touches works, so an entry is durable before the next bulk request goes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class EntryState(StrEnum):
    """Where an item we pushed stands."""

    SYNCED = "synced"
    # The researcher deleted it on ORCID (404 on PUT): not sent again unless the asset changes or an admin asks.
    DELETED_BY_RESEARCHER = "deleted_by_researcher"
    # ORCID rejected this exact content (400): not sent again until it changes, so a bad asset costs one request.
    REJECTED = "rejected"


class WorkEntry(BaseModel):
    """One asset's work on ORCID."""

    model_config = ConfigDict(frozen=True)

    asset_id: str
    put_code: int | None = None
    content_hash: str
    state: EntryState = EntryState.SYNCED
    asset_updated_at: datetime | None = None
    last_pushed_at: datetime
    message: str | None = None


class ResearcherUrlEntry(BaseModel):
    """The link to the researcher's repository profile."""

    model_config = ConfigDict(frozen=True)

    put_code: int | None = None
    content_hash: str
    state: EntryState = EntryState.SYNCED
    last_pushed_at: datetime
    message: str | None = None


class EmploymentEntry(BaseModel):
    """The institutional affiliation: sent once and never updated (as Esploro does), or rejected as is."""

    model_config = ConfigDict(frozen=True)

    put_code: int | None = None
    content_hash: str
    state: EntryState = EntryState.SYNCED
    last_pushed_at: datetime
    message: str | None = None


class PushLedger(BaseModel):
    """Everything the push knows about one researcher's record, from one Query."""

    works: dict[str, WorkEntry] = {}
    researcher_url: ResearcherUrlEntry | None = None
    employment: EmploymentEntry | None = None
    fingerprint: str | None = None
    # Assets the researcher chose not to send ("Don't send this one" on their page): never sent, and our work
    # for one is deleted from ORCID, until they opt back in. Read in the same Query as the entries.
    opted_out: frozenset[str] = frozenset()


@dataclass
class LedgerChanges:
    """Writes to one researcher's ledger not made yet: per item, the last one asked for."""

    # asset id → its entry, or None to delete the entry
    works: dict[str, WorkEntry | None] = field(default_factory=dict)
    researcher_url: ResearcherUrlEntry | None = None
    employment: EmploymentEntry | None = None
    # (fingerprint, when) to record the inputs of a complete push, (None, when) to forget them
    fingerprint: tuple[str | None, datetime] | None = None

    def __len__(self) -> int:
        items = (self.researcher_url, self.employment, self.fingerprint)
        return len(self.works) + sum(1 for item in items if item is not None)


class LedgerStore(Protocol):
    def load(self, researcher_id: str) -> PushLedger: ...

    def write(self, researcher_id: str, changes: LedgerChanges) -> None:
        """Make every change durable, or raise (then some may be written and some not; each is idempotent)."""
        ...

    def delete_work(self, researcher_id: str, asset_id: str) -> None: ...

    def set_fingerprint(self, researcher_id: str, fingerprint: str | None, at: datetime) -> None:
        """Record (or with None, forget) the inputs of the last complete push."""
        ...

    def set_opted_out(self, researcher_id: str, asset_id: str, opted_out: bool, *, at: datetime) -> None:
        """Record the researcher's choice not to send this asset (True), or forget it (False: sent as any other).

        The opted-out ids are part of the push fingerprint, so a change makes the next push plan the researcher.
        """
        ...


class LedgerBuffer:
    """One researcher's ledger writes, held until :meth:`flush` writes them all in as few calls as it can.

    A later write of the same item replaces an earlier one (a put, then a delete, is a delete). When
    ``flush`` fails, everything stays held, so flushing again writes it all again (each write is idempotent).
    """

    def __init__(self, store: LedgerStore, researcher_id: str) -> None:
        self._store = store
        self.researcher_id = researcher_id
        self._changes = LedgerChanges()
        self.flushes = 0
        self.failed = False

    def __len__(self) -> int:
        return len(self._changes)

    @property
    def holds_deletion(self) -> bool:
        """Whether a held change deletes an item: a work's entry (after our DELETE) or the fingerprint.

        Those must be durable before the next request of any kind: a DELETE not recorded comes back as a
        404 (read as the researcher's deletion), an old fingerprint not forgotten may skip the next push.
        """
        changes = self._changes
        forgets = changes.fingerprint is not None and changes.fingerprint[0] is None
        return forgets or any(entry is None for entry in changes.works.values())

    def put_work(self, entry: WorkEntry) -> None:
        self._changes.works[entry.asset_id] = entry

    def delete_work(self, asset_id: str) -> None:
        self._changes.works[asset_id] = None

    def put_researcher_url(self, entry: ResearcherUrlEntry) -> None:
        self._changes.researcher_url = entry

    def put_employment(self, entry: EmploymentEntry) -> None:
        self._changes.employment = entry

    def set_fingerprint(self, fingerprint: str | None, at: datetime) -> None:
        self._changes.fingerprint = (fingerprint, at)

    def flush(self) -> None:
        """Write what is held (nothing to do: no call). ``failed`` says whether the last attempt raised."""
        if not len(self._changes):
            return
        try:
            self._store.write(self.researcher_id, self._changes)
        except BaseException:
            self.failed = True
            raise
        self.failed = False
        self._changes = LedgerChanges()
        self.flushes += 1


class LedgerWriteError(RuntimeError):
    """DynamoDB left some ledger writes unprocessed however long we waited; the task is retried."""
