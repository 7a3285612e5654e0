"""Sending a plan: deletes, PUTs, bulk POSTs, the researcher-url and the employment, each answer held for the ledger."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import batched
from typing import Any

from pydantic import SecretStr

from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import (
    BULK_MAX_WORKS,
    Employment,
    OrcidError,
    ResearcherUrl,
    Work,
)
from orcid_sync.domain.push.eligibility import WITHHELD_REASON
from orcid_sync.domain.push.ledger import (
    EmploymentEntry,
    EntryState,
    LedgerBuffer,
    PushLedger,
    ResearcherUrlEntry,
    WorkEntry,
)
from orcid_sync.domain.push.ledger_first import LedgerFirstApi
from orcid_sync.domain.push.orcid_port import (
    OrcidPushApi,
    as_orcid_error,
    duplicate_error,
    orcid_message,
    status_and_code,
)
from orcid_sync.domain.push.planning import ItemChange, PushPlan, Step, WorkChange
from orcid_sync.domain.push.run import PushRun
from orcid_sync.domain.push.works import BuiltWork, content_hash


class PlanExecutor:
    """Carries out a plan for one researcher, holding each ORCID answer for the ledger (see :class:`LedgerFirstApi`)."""

    def __init__(
        self,
        *,
        run: PushRun,
        orcid_id: str,
        token: SecretStr,
        api: OrcidPushApi,
        ledger: LedgerBuffer,
        known: PushLedger,
        client_id: str,
        bulk: bool,
        time_left: Callable[[], float],
    ) -> None:
        self._run = run
        self._orcid = orcid_id
        self._token = token
        self._api: OrcidPushApi = LedgerFirstApi(api, ledger, time_left)
        self._ledger = ledger
        self._client_id = client_id
        self._bulk = bulk
        # Works this run deleted, by reason and whether the settings caused it (one event each at the end).
        self.deleted: Counter[tuple[str, bool]] = Counter()
        # put-code → asset, to tell "our earlier copy of this asset" from "another asset with the same DOI".
        self._owner: dict[int, str] = {
            entry.put_code: entry.asset_id
            for entry in known.works.values()
            if entry.put_code is not None and entry.state is not EntryState.DELETED_BY_RESEARCHER
        }

    # --- works ---

    def delete(self, changes: Sequence[WorkChange]) -> None:
        for change in changes:
            entry = change.entry
            assert entry is not None and entry.put_code is not None
            try:
                self._api.delete_work(self._orcid, self._token, entry.put_code)
            except orcid_errors.NotFoundError as exc:
                # The researcher removed it before we did: keep that as a tombstone, so that the asset coming
                # back (its type included again, the asset approved again) does not re-create it.
                self._ledger.put_work(
                    entry.model_copy(
                        update={
                            "put_code": None,
                            "state": EntryState.DELETED_BY_RESEARCHER,
                            "last_pushed_at": self._run.now,
                        }
                    ),
                )
                self._owner.pop(entry.put_code, None)
                self._run.event(
                    "info",
                    "stopped sending work",
                    "already gone from ORCID: the researcher deleted it; if the asset comes back it is not sent again "
                    "unless they ask for it or an administrator resends it",
                    asset_id=change.asset_id,
                    error=exc,
                )
                continue
            except orcid_errors.OrcidApiError as exc:
                self._run.stop_if_researcher_refused(exc)
                self._run.clean = False
                self._run.event(
                    "error", "kept work", f"ORCID refused to delete it: {orcid_message(exc)}", asset_id=change.asset_id
                )
                continue
            self._run.counts.works_deleted += 1
            self._run.wrote = True
            self.deleted[(change.reason, change.by_settings)] += 1
            self._ledger.delete_work(change.asset_id)
            self._owner.pop(entry.put_code, None)

    def report_deletions(self) -> None:
        """One event per reason (e.g. a type excluded by the settings), with how many works went."""
        for (reason, by_settings), count in sorted(self.deleted.items()):
            works = "work" if count == 1 else "works"
            self._run.event(
                "warning" if by_settings else "info",
                "deleted works",
                f"{reason or 'no longer wanted'}: {count} {works} deleted from ORCID",
            )

    def forget(self, changes: Sequence[WorkChange]) -> None:
        for change in changes:
            self._ledger.delete_work(change.asset_id)

    def _record_work(
        self, change: WorkChange, built: BuiltWork, put_code: int | None, state: EntryState, message: str | None = None
    ) -> None:
        entry = WorkEntry(
            asset_id=change.asset_id,
            put_code=put_code,
            content_hash=built.content_hash,
            state=state,
            asset_updated_at=change.asset_updated_at,
            last_pushed_at=self._run.now,
            message=message,
        )
        self._ledger.put_work(entry)
        if put_code is not None and state is not EntryState.DELETED_BY_RESEARCHER:
            self._owner[put_code] = change.asset_id

    def _rejected(self, change: WorkChange, built: BuiltWork, put_code: int | None, error: Any, action: str) -> None:
        message = orcid_message(error)
        self._record_work(change, built, put_code, EntryState.REJECTED, message[:1000])
        self._run.counts.works_skipped += 1
        self._run.event("error", action, f"ORCID rejected the work: {message}", asset_id=change.asset_id, error=error)

    def update(self, changes: Sequence[WorkChange]) -> None:
        for change in changes:
            built, entry = change.built, change.entry
            assert built is not None and entry is not None and entry.put_code is not None
            if self._put(change, built, entry.put_code):
                self._run.counts.works_updated += 1

    def _put(self, change: WorkChange, built: BuiltWork, put_code: int) -> bool:
        """PUT the work over ``put_code``; True if ORCID now holds our content."""
        try:
            self._api.update_work(self._orcid, self._token, put_code, built.work)
        except orcid_errors.NotFoundError as exc:
            # The researcher deleted it on ORCID: respect that until the asset changes or an admin asks.
            self._record_work(change, built, None, EntryState.DELETED_BY_RESEARCHER)
            self._run.counts.works_skipped += 1
            self._run.counts.works_withheld_deleted_by_researcher += 1
            self._run.event("warning", "stopped sending work", WITHHELD_REASON, asset_id=change.asset_id, error=exc)
            return False
        except orcid_errors.OrcidApiError as exc:
            self._run.stop_if_researcher_refused(exc)
            self._rejected(change, built, put_code, exc, "kept previous version")
            return False
        self._record_work(change, built, put_code, EntryState.SYNCED)
        self._run.wrote = True
        return True

    def create(self, changes: Sequence[WorkChange]) -> None:
        adopt: list[tuple[WorkChange, BuiltWork, int]] = []
        size = BULK_MAX_WORKS if self._bulk else 1
        for chunk in batched(changes, size, strict=False):
            results = self._post([_built(change).work for change in chunk])
            # Hold each answer for the ledger: it is written before the next works request goes out.
            for change, result in zip(chunk, results, strict=True):
                built = _built(change)
                if isinstance(result, int):
                    self._record_work(change, built, result, EntryState.SYNCED)
                    self._run.counts.works_created += 1
                    self._run.wrote = True
                    continue
                duplicate = result.duplicate_put_code
                if duplicate is not None:
                    owner = self._owner.get(duplicate)
                    if owner is not None and owner != change.asset_id:
                        # An identifier the plan's check does not compare (an ISBN, ORCID's own normalisation).
                        self._run.counts.works_skipped += 1
                        self._run.counts.works_duplicate += 1
                        self._run.event(
                            "warning",
                            "skipped duplicate",
                            f"asset {owner} is already on ORCID with the same identifier (put-code {duplicate}); "
                            "the repository holds this output twice",
                            asset_id=change.asset_id,
                            error=result,
                        )
                        continue
                    self._owner[duplicate] = change.asset_id
                    adopt.append((change, built, duplicate))
                elif result.response_code >= 500:
                    self._run.retry = True
                    self._run.clean = False
                    self._run.event(
                        "warning",
                        "will retry",
                        f"ORCID failed to store the work: {orcid_message(result)}",
                        asset_id=change.asset_id,
                        error=result,
                    )
                elif result.error_code == 9048:
                    self._run.clean = False
                    self._run.counts.works_skipped += 1
                    self._run.event(
                        "error", "skipped asset", orcid_message(result), asset_id=change.asset_id, error=result
                    )
                else:
                    self._rejected(change, built, None, result, "skipped asset")
        self._adopt(adopt)

    def _post(self, works: list[Work]) -> list[int | OrcidError]:
        if not self._bulk:
            return [self._post_one(works[0])]
        try:
            return self._api.create_works(self._orcid, self._token, works)
        except orcid_errors.OrcidApiError as exc:
            self._run.stop_if_researcher_refused(exc)
            status, _ = status_and_code(exc)
            if status is not None and status >= 500:
                raise
        # ORCID refused the bulk body as a whole: send the works one by one, so only a bad one is refused.
        return [self._post_one(work) for work in works]

    def _post_one(self, work: Work) -> int | OrcidError:
        try:
            return self._api.create_work(self._orcid, self._token, work)
        except orcid_errors.DuplicateWorkError as exc:
            return duplicate_error(exc)
        except orcid_errors.OrcidApiError as exc:
            self._run.stop_if_researcher_refused(exc)
            return as_orcid_error(exc)

    def _adopt(self, adopt: Sequence[tuple[WorkChange, BuiltWork, int]]) -> None:
        """Our own earlier copies (ORCID 409/9021): read them in bulk, PUT only those whose content differs."""
        for chunk in batched(adopt, BULK_MAX_WORKS, strict=False):
            try:
                existing = self._api.read_works_by_put_codes(
                    self._orcid, self._token, [put_code for _, _, put_code in chunk]
                )
            except orcid_errors.OrcidApiError as exc:
                self._run.stop_if_researcher_refused(exc)
                raise
            for (change, built, put_code), found in zip(chunk, existing, strict=True):
                self._run.counts.works_adopted += 1
                if isinstance(found, Work) and content_hash(found.to_orcid_json()) == built.content_hash:
                    self._record_work(change, built, put_code, EntryState.SYNCED)
                    self._run.event(
                        "info", "adopted work", f"already on ORCID as put-code {put_code}", asset_id=change.asset_id
                    )
                elif self._put(change, built, put_code):
                    self._run.event(
                        "info",
                        "adopted work",
                        f"already on ORCID as put-code {put_code}; updated",
                        asset_id=change.asset_id,
                    )

    # --- researcher-url and employment ---

    def researcher_url(self, change: ItemChange[ResearcherUrl]) -> None:
        assert change.payload is not None
        put_code = change.put_code
        try:
            if change.step is Step.CREATE:
                try:
                    put_code = self._api.create_researcher_url(self._orcid, self._token, change.payload)
                except orcid_errors.ConflictError as exc:
                    # 9030: our link with this URL is there already (a lost answer); find it and take it over.
                    put_code = self._find_our_url(change.payload)
                    if put_code is None:
                        raise exc from None
                    self._run.event("info", "adopted researcher-url", f"already on ORCID as put-code {put_code}")
                    self._api.update_researcher_url(self._orcid, self._token, put_code, change.payload)
            else:
                assert put_code is not None
                self._api.update_researcher_url(self._orcid, self._token, put_code, change.payload)
        except orcid_errors.NotFoundError as exc:
            self._record_url(change, None, EntryState.DELETED_BY_RESEARCHER)
            self._run.event(
                "warning", "stopped sending researcher-url", "the researcher deleted the link on ORCID", error=exc
            )
            return
        except orcid_errors.OrcidApiError as exc:
            self._run.stop_if_researcher_refused(exc)
            self._record_url(change, put_code, EntryState.REJECTED, orcid_message(exc))
            self._run.event("error", "skipped researcher-url", f"ORCID refused it: {orcid_message(exc)}", error=exc)
            return
        self._record_url(change, put_code, EntryState.SYNCED)
        self._run.wrote = True

    def _find_our_url(self, wanted: ResearcherUrl) -> int | None:
        for item in self._api.read_researcher_urls(self._orcid, self._token).researcher_url:
            ours = item.source is not None and item.source.is_client(self._client_id)
            if ours and item.url.value == wanted.url.value and item.put_code is not None:
                return item.put_code
        return None

    def _record_url(
        self, change: ItemChange[ResearcherUrl], put_code: int | None, state: EntryState, message: str | None = None
    ) -> None:
        entry = ResearcherUrlEntry(
            put_code=put_code,
            content_hash=change.content_hash,
            state=state,
            last_pushed_at=self._run.now,
            message=message[:1000] if message else None,
        )
        self._ledger.put_researcher_url(entry)

    def employment(self, change: ItemChange[Employment]) -> None:
        assert change.payload is not None
        put_code: int | None
        try:
            put_code = self._api.create_employment(self._orcid, self._token, change.payload)
        except orcid_errors.DuplicateWorkError as exc:
            # Our self id matched: an earlier POST got through although we never heard back.
            put_code = exc.existing_put_code
            self._run.event("info", "adopted employment", f"already on ORCID as put-code {put_code}")
        except orcid_errors.OrcidApiError as exc:
            self._run.stop_if_researcher_refused(exc)
            message = orcid_message(exc)
            self._ledger.put_employment(
                EmploymentEntry(
                    content_hash=change.content_hash,
                    state=EntryState.REJECTED,
                    last_pushed_at=self._run.now,
                    message=message[:1000],
                ),
            )
            self._run.event("error", "skipped employment", f"ORCID refused the affiliation: {message}", error=exc)
            return
        else:
            self._run.wrote = True
        self._ledger.put_employment(
            EmploymentEntry(put_code=put_code, content_hash=change.content_hash, last_pushed_at=self._run.now),
        )


def _built(change: WorkChange) -> BuiltWork:
    assert change.built is not None  # every create and update carries its work
    return change.built


def execute_plan(
    plan: PushPlan,
    *,
    run: PushRun,
    orcid_id: str,
    token: SecretStr,
    api: OrcidPushApi,
    ledger: LedgerBuffer,
    known: PushLedger,
    client_id: str,
    bulk: bool = True,
    time_left: Callable[[], float] = lambda: math.inf,
) -> None:
    """Send what the plan says: deletes first (room under ORCID's 10,000), then PUTs, then bulk POSTs.

    Answers are held in ``ledger`` and written before each request that touches works; the caller
    flushes what is still held when this returns or raises.
    """
    executor = PlanExecutor(
        run=run,
        orcid_id=orcid_id,
        token=token,
        api=api,
        ledger=ledger,
        known=known,
        client_id=client_id,
        bulk=bulk,
        time_left=time_left,
    )
    executor.delete(plan.steps(Step.DELETE))
    executor.report_deletions()
    executor.forget(plan.steps(Step.FORGET))
    executor.update(plan.steps(Step.UPDATE))
    executor.create(plan.steps(Step.CREATE))
    if plan.researcher_url is not None and plan.researcher_url.step in (Step.CREATE, Step.UPDATE):
        executor.researcher_url(plan.researcher_url)
    if plan.employment is not None and plan.employment.step is Step.CREATE:
        executor.employment(plan.employment)
