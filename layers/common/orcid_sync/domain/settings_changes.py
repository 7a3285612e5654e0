"""Reading and changing the integration settings (admin API, CLI) and caching them in the functions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from orcid_sync.domain.errors import ConflictError
from orcid_sync.domain.institution_settings import (
    IntegrationSettings,
    IntegrationSettingsStore,
    MappingRow,
    SettingsDocument,
    StoredIntegrationSettings,
    VersionConflictError,
    effective_mapping,
)
from orcid_sync.domain.models import Asset, utc_now
from orcid_sync.domain.ports import AssetStore, ResearcherStore, TokenStore
from orcid_sync.domain.push.eligibility import select_push_researchers
from orcid_sync.domain.push.ledger import EntryState, LedgerStore, PushLedger
from orcid_sync.domain.push.planning import Step, plan_works

DEFAULT_CACHE_SECONDS = 60.0


def get_settings_document(store: IntegrationSettingsStore) -> SettingsDocument:
    """The settings as the admin API shows them, with the version to send back on update."""
    return SettingsDocument.of(store.get())


def update_settings(
    store: IntegrationSettingsStore, document: SettingsDocument, *, now: datetime, by: str | None = None
) -> SettingsDocument:
    """Replace the settings. With ``version`` set, fail instead of overwriting someone else's newer save."""
    current = store.get()
    expected = current.version if document.version is None else document.version
    if expected != current.version:
        raise ConflictError(
            f"the settings were changed since you read them (now version {current.version}, you sent "
            f"{expected}); read them again and reapply your change"
        )
    try:
        saved = store.save(document.settings_only(), expected_version=expected, at=now, by=by)
    except VersionConflictError as exc:
        raise ConflictError(f"{exc}; read them again and reapply your change") from None
    return SettingsDocument.of(saved)


def get_effective_mapping(store: IntegrationSettingsStore) -> list[MappingRow]:
    """The built-in asset type table with the institution's overrides and selection applied."""
    return effective_mapping(store.get().settings)


# --- what a change would do (POST /settings/preview) ---------------------------------------------------------


class PreviewCount(BaseModel):
    """Works, and the ORCID records (researchers) they are on."""

    works: int = 0
    records: int = 0


class PreviewReason(PreviewCount):
    reason: str = Field(description='e.g. "asset type publication.letter excluded by settings"')


class DeletePreview(PreviewCount):
    reasons: list[PreviewReason] = Field(default_factory=list, description="The works to delete, by reason")


class SettingsPreview(BaseModel):
    """What the next push would do under the proposed settings, from the ledger and the assets (no ORCID request)."""

    version: int = Field(description="The stored settings version the proposal was compared with")
    records_examined: int = Field(description="Researchers the next push would update under the proposed settings")
    complete: bool = Field(description="False when the time ran out: the counts are then lower bounds")
    delete: DeletePreview
    create: PreviewCount
    update: PreviewCount
    stop_updating: PreviewCount = Field(
        description="send_assets turned off: works that stay on ORCID but are no longer updated or deleted"
    )
    summary: str


@dataclass(frozen=True)
class PreviewPorts:
    researchers: ResearcherStore
    tokens: TokenStore
    assets: AssetStore
    ledger: LedgerStore


class _Tally:
    def __init__(self) -> None:
        self.works = 0
        self.records = 0

    def add(self, works: int) -> None:
        if works:
            self.works += works
            self.records += 1

    def count(self) -> PreviewCount:
        return PreviewCount(works=self.works, records=self.records)


def _record_changes(
    assets: Sequence[Asset],
    ledger: PushLedger,
    current: IntegrationSettings,
    proposed: IntegrationSettings,
    sandbox: bool,
) -> tuple[dict[str, int], int, int, int]:
    """One researcher: deletions by reason, creates, updates, and works left unmanaged by turning send_assets off."""
    plan = plan_works(assets, ledger, proposed, sandbox=sandbox)
    deletes: dict[str, int] = {}
    for change in plan.steps(Step.DELETE):
        deletes[change.reason] = deletes.get(change.reason, 0) + 1
    stopped = 0
    if current.send_assets and not proposed.send_assets:
        stopped = sum(1 for e in ledger.works.values() if e.state is EntryState.SYNCED and e.put_code is not None)
    return deletes, len(plan.steps(Step.CREATE)), len(plan.steps(Step.UPDATE)), stopped


def preview_settings_change(
    current: IntegrationSettings,
    proposed: IntegrationSettings,
    ports: PreviewPorts,
    *,
    sandbox: bool,
    version: int = 0,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    workers: int = 8,
) -> SettingsPreview:
    """How many works on how many records the next push would delete, add and update under ``proposed``.

    The same plan the push makes (``orcid_sync.domain.push.planning.plan_works``), for every researcher the push
    would update under the proposed settings, from their assets and ledger: two DynamoDB queries per
    researcher, read ``workers`` at a time, and no ORCID request. Past ``deadline`` (a ``clock`` value)
    the preview stops and says it is incomplete.
    """
    people = list(ports.researchers.iter_all())
    tokens = ports.tokens.get_many([r.id for r in people if r.orcid])
    eligible = select_push_researchers(people, tokens, proposed, None)
    deleted: dict[str, _Tally] = {}
    deleted_total, created, updated, stopped = _Tally(), _Tally(), _Tally(), _Tally()
    examined = 0

    def one(researcher_id: str) -> tuple[dict[str, int], int, int, int]:
        return _record_changes(
            ports.assets.list_for_researcher(researcher_id),
            ports.ledger.load(researcher_id),
            current,
            proposed,
            sandbox,
        )

    complete = True
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for deletes, creates, updates, unmanaged in pool.map(one, eligible):
            for reason, works in deletes.items():
                deleted.setdefault(reason, _Tally()).add(works)
            deleted_total.add(sum(deletes.values()))
            created.add(creates)
            updated.add(updates)
            stopped.add(unmanaged)
            examined += 1
            if deadline is not None and clock() > deadline and examined < len(eligible):
                complete = False
                break
        if not complete:
            pool.shutdown(wait=False, cancel_futures=True)
    reasons = [
        PreviewReason(reason=reason, works=tally.works, records=tally.records)
        for reason, tally in sorted(deleted.items(), key=lambda item: (-item[1].works, item[0]))
    ]
    preview = SettingsPreview(
        version=version,
        records_examined=examined,
        complete=complete,
        delete=DeletePreview(works=deleted_total.works, records=deleted_total.records, reasons=reasons),
        create=created.count(),
        update=updated.count(),
        stop_updating=stopped.count(),
        summary="",
    )
    return preview.model_copy(update={"summary": preview_summary(preview)})


def _works(count: PreviewCount) -> str:
    works = "work" if count.works == 1 else "works"
    records = "record" if count.records == 1 else "records"
    return f"{count.works:,} {works} on {count.records:,} ORCID {records}"


def preview_summary(preview: SettingsPreview) -> str:
    """One paragraph an administrator reads before confirming."""
    parts = [
        f"The next push would delete {_works(preview.delete)}, add {_works(preview.create)} and update "
        f"{_works(preview.update)}."
    ]
    parts += [f"Deleted because {reason.reason}: {_works(reason)}." for reason in preview.delete.reasons]
    if preview.stop_updating.works:
        parts.append(
            f"Turning send_assets off leaves {_works(preview.stop_updating)} as they are: no longer updated or deleted."
        )
    if not preview.complete:
        parts.append(f"Only {preview.records_examined:,} records were examined in time: these are lower bounds.")
    return "\n".join(parts)


def preview_update(
    store: IntegrationSettingsStore,
    document: SettingsDocument,
    ports: PreviewPorts,
    *,
    sandbox: bool,
    deadline: float | None = None,
) -> SettingsPreview:
    """The admin API's preview: the proposed document against the stored settings; nothing is saved."""
    current = store.get()
    return preview_settings_change(
        current.settings, document.settings_only(), ports, sandbox=sandbox, version=current.version, deadline=deadline
    )


class CachedIntegrationSettings:
    """The settings as a function sees them: read at most once per ``ttl`` seconds per container.

    A push job fans out to thousands of messages within minutes; re-reading one item per message
    would be wasted, and a change made by an administrator is picked up within a minute. A job started after
    the cached read must not run on settings older than itself (an administrator saves the settings, then
    presses "Run now"): :meth:`refresh_if_read_before` re-reads them once for it.
    """

    def __init__(
        self,
        store: IntegrationSettingsStore,
        *,
        ttl: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: StoredIntegrationSettings | None = None
        self._read_at = 0.0
        self._read_wall: datetime | None = None

    def get(self) -> IntegrationSettings:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._read_at >= self._ttl:
                self._read_wall = utc_now()
                self._cached = self._store.get()
                self._read_at = now
            return self._cached.settings

    def refresh_if_read_before(self, moment: datetime) -> None:
        """Forget the cached settings if they were read before ``moment`` (a job's start)."""
        with self._lock:
            if self._read_wall is not None and self._read_wall < moment:
                self._cached = None

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None
