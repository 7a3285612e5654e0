"""One harvested page applied: each record mapped, matched to researchers, upserted or withdrawn through the same
path as ``POST /assets``, and what happened counted and told as job events naming the OAI identifier and field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from orcid_sync.domain.assets import delete_asset, load_assets
from orcid_sync.domain.batches import MAX_BATCH_ROWS, RowOutcomeKind
from orcid_sync.domain.errors import NotFoundError
from orcid_sync.domain.feeds.mapping import MappedRecord, MappingProfile, asset_id_for, map_record
from orcid_sync.domain.feeds.models import HarvestCounts
from orcid_sync.domain.feeds.ports import HarvestedRecord
from orcid_sync.domain.jobs.models import JobCounts, JobEvent
from orcid_sync.domain.log import logger
from orcid_sync.domain.ports import AssetStore, ResearcherStore

Level = Literal["error", "warning", "info"]


class ResearcherMatcher:
    """Creators to researchers: by ORCID iD (the researchers' GSI), or by our own id; each answer asked once."""

    def __init__(self, researchers: ResearcherStore) -> None:
        self._researchers = researchers
        self._by_orcid: dict[str, str | None] = {}
        self._by_id: dict[str, str | None] = {}

    def for_orcid(self, orcid: str) -> str | None:
        if orcid not in self._by_orcid:
            found = sorted(self._researchers.find_by_orcid(orcid), key=lambda r: (not r.active, r.id))
            self._by_orcid[orcid] = found[0].id if found else None
        return self._by_orcid[orcid]

    def for_local_id(self, value: str) -> str | None:
        if value not in self._by_id:
            self._by_id[value] = value if self._researchers.get(value) is not None else None
        return self._by_id[value]


@dataclass
class PageResult:
    counts: HarvestCounts = field(default_factory=HarvestCounts)
    events: list[JobEvent] = field(default_factory=list)


@dataclass
class _Page:
    """One page's records on their way to the asset store: rows to upsert, assets to withdraw, and what happened."""

    now: datetime
    result: PageResult = field(default_factory=PageResult)
    rows: list[dict[str, Any]] = field(default_factory=list)
    oai_of: dict[str, str] = field(default_factory=dict)
    withdrawals: list[tuple[str, str]] = field(default_factory=list)

    def event(self, level: Level, oai_identifier: str, *, asset_id: str | None, action: str, text: str) -> None:
        self.result.events.append(
            JobEvent(
                asset_id=asset_id,
                level=level,
                action=action,
                message=f"record {oai_identifier}: {text}"[:2000],
                at=self.now,
            )
        )

    def take(self, mapped: MappedRecord, asset_id: str) -> None:
        counts = self.result.counts
        counts.creators_unmatched += mapped.unmatched_creators
        refused = mapped.asset is None and mapped.withdraw_asset_id is None and bool(mapped.problems)
        for problem in mapped.problems:
            self.event(
                "error" if refused else "warning",
                mapped.oai_identifier,
                asset_id=asset_id,
                action="refused record" if refused else "left out a field",
                text=f"{problem.field}: {problem.why}",
            )
        if mapped.withdraw_asset_id is not None:
            self.withdrawals.append((mapped.oai_identifier, mapped.withdraw_asset_id))
        elif mapped.asset is not None:
            self.oai_of[mapped.asset.id] = mapped.oai_identifier
            self.rows.append(mapped.asset.model_dump(mode="json", exclude_none=True))
        elif refused:
            counts.records_refused += 1
        else:
            counts.records_unmatched += 1

    def store(self, assets: AssetStore) -> None:
        """The rows through ``load_assets`` (``POST /assets``'s validation and writes; unchanged ones write nothing)."""
        counts = self.result.counts
        for start in range(0, len(self.rows), MAX_BATCH_ROWS):
            report = load_assets(assets, self.rows[start : start + MAX_BATCH_ROWS], now=self.now)
            for outcome in report.rows:
                kind = outcome.outcome
                counts.assets_created += kind is RowOutcomeKind.CREATED
                counts.assets_updated += kind is RowOutcomeKind.UPDATED
                counts.assets_unchanged += kind is RowOutcomeKind.UNCHANGED
                if kind is not RowOutcomeKind.REJECTED:
                    continue
                counts.records_refused += 1
                oai_identifier = self.oai_of.get(outcome.id or "", outcome.id or "?")
                for problem in outcome.problems:
                    self.event(
                        "error",
                        oai_identifier,
                        asset_id=outcome.id,
                        action="refused record",
                        text=f"{problem.field}: {problem.reason}",
                    )

    def withdraw(self, assets: AssetStore) -> None:
        for oai_identifier, asset_id in self.withdrawals:
            try:
                delete_asset(assets, asset_id)
            except NotFoundError:
                continue  # deleted before we ever stored it (or withdrawn already)
            self.result.counts.assets_withdrawn += 1
            self.event(
                "info", oai_identifier, asset_id=asset_id, action="withdrew asset", text="deleted in the repository"
            )


def apply_records(
    records: Sequence[HarvestedRecord],
    *,
    metadata_prefix: str,
    profile: MappingProfile,
    matcher: ResearcherMatcher,
    assets: AssetStore,
    now: datetime,
) -> PageResult:
    """One page: map each record, store the assets as ``POST /assets`` does, withdraw the deleted ones."""
    page = _Page(now=now)
    for record in records:
        page.result.counts.records_harvested += 1
        try:
            mapped = map_record(
                record,
                metadata_prefix=metadata_prefix,
                profile=profile,
                researcher_for_orcid=matcher.for_orcid,
                researcher_for_local_id=matcher.for_local_id,
            )
        except Exception as exc:  # a record the mapping cannot read must not stop the harvest
            logger.exception("record could not be mapped", oai_identifier=record.identifier)
            page.result.counts.records_refused += 1
            page.event("error", record.identifier, asset_id=None, action="refused record", text=f"unreadable: {exc}")
            continue
        page.take(mapped, asset_id_for(mapped.oai_identifier))
    page.store(assets)
    page.withdraw(assets)
    return page.result


def job_counts(counts: HarvestCounts) -> JobCounts:
    return JobCounts(**counts.model_dump())
