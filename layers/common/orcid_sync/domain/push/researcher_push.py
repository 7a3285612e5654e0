"""The use case for one researcher: load, skip when nothing changed, plan, execute, record."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr

from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import ResearcherOutcome, ResearcherTask
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import Researcher, StoredToken, TokenInvalidReason
from orcid_sync.domain.ports import AssetStore, ResearcherStore, TokenStore
from orcid_sync.domain.push.eligibility import ineligibility
from orcid_sync.domain.push.executor import execute_plan
from orcid_sync.domain.push.leases import PushCompletion, ResearcherSync
from orcid_sync.domain.push.ledger import (
    EntryState,
    LedgerBuffer,
    LedgerStore,
)
from orcid_sync.domain.push.orcid_port import OrcidPushApi
from orcid_sync.domain.push.planning import PushContext, PushPlan, Step, plan_push, push_fingerprint, standing_counts
from orcid_sync.domain.push.run import PushRun, RetryLaterError, StopResearcherError
from orcid_sync.domain.tokens.importing import confirm_orcid, invalidate_token


@dataclass(frozen=True)
class PushPorts:
    """What a push worker is wired with (DynamoDB, KMS and the ORCID client in AWS; fakes in tests)."""

    researchers: ResearcherStore
    tokens: TokenStore
    assets: AssetStore
    ledger: LedgerStore
    settings: Callable[[], IntegrationSettings]
    open_token: Callable[[StoredToken], SecretStr]
    orcid: OrcidPushApi
    context: PushContext
    # ORCID requests made so far by the calling thread through this container's client (the job's orcid_requests).
    request_count: Callable[[], int] = lambda: 0
    # Seconds left of the invocation: no ORCID request starts with less than REQUEST_TIME_MARGIN_SECONDS.
    time_left: Callable[[], float] = lambda: math.inf
    # Makes ``settings`` re-read settings cached before the given moment (the task's job start), if it caches.
    settings_read_since: Callable[[datetime], None] | None = None
    # The researcher and their token in one read (else researchers.get and tokens.get).
    read_researcher: Callable[[str], tuple[Researcher | None, StoredToken | None]] | None = None
    # Ending the push in one write (see process_push_task); with it, the push leaves the researcher's sync date
    # (and their iD's confirmation) on the outcome for that write instead of writing them itself.
    completion: PushCompletion | None = None


class PushOutcome(ResearcherOutcome):
    """What the push did for one researcher, recorded in the job as any outcome, plus what the worker reports."""

    # ORCID refused the researcher's token during this push (they are disconnected until they connect again):
    # the worker counts it in its disconnected-researchers metric.
    token_problem: TokenInvalidReason | None = None
    # What to note on the researcher when the outcome is recorded (with PushPorts.completion): not part of the outcome.
    sync: ResearcherSync | None = Field(default=None, exclude=True)


def _outcome(
    task: ResearcherTask,
    run: PushRun,
    *,
    failed: bool = False,
    detail: dict[str, Any] | None = None,
    token_problem: TokenInvalidReason | None = None,
    sync: ResearcherSync | None = None,
) -> PushOutcome:
    return PushOutcome(
        researcher_id=task.researcher_id,
        counts=run.counts,
        updated=run.wrote,
        failed=failed,
        events=run.events,
        detail=detail,
        token_problem=token_problem,
        sync=sync,
    )


def push_researcher(task: ResearcherTask, ports: PushPorts, *, now: datetime) -> PushOutcome:
    """Bring one researcher's ORCID record in line with the repository (or, in a dry run, say what would change).

    Raises ``RetryableOrcidError`` / ``RetryLaterError`` when ORCID kept failing: the message is
    redelivered, and the rerun sends only what was not recorded yet.
    """
    run = PushRun(researcher_id=task.researcher_id, now=now)
    requests_before = ports.request_count()
    try:
        return _push(task, ports, run)
    finally:
        run.counts.orcid_requests = ports.request_count() - requests_before


def _report_plan(run: PushRun, plan: PushPlan) -> None:
    """Events and counts for what the plan holds back, before any request."""
    for asset_id, warning in plan.warnings:
        run.event("warning", warning.action, warning.message, asset_id=asset_id)
    for change in plan.steps(Step.INVALID):
        run.event("error", "skipped asset", f"ORCID would reject this work: {change.reason}", asset_id=change.asset_id)
    for change in plan.steps(Step.SKIP):
        run.event("info", "skipped asset", change.reason, asset_id=change.asset_id)
    for change in plan.steps(Step.DUPLICATE):
        run.event("warning", "skipped duplicate", change.reason, asset_id=change.asset_id)
    # Works the researcher deleted: counted on every push, the event was recorded once, when we learned it.
    run.counts.works_withheld_deleted_by_researcher = len(plan.steps(Step.WITHHELD))
    # Works the researcher chose not to send: counted on every push too, without an event (their own choice).
    run.counts.works_withheld_opted_out = len(plan.steps(Step.OPTED_OUT))
    run.counts.works_duplicate = len(plan.steps(Step.DUPLICATE))
    run.counts.works_unchanged = len(plan.steps(Step.UNCHANGED))
    run.counts.works_skipped = len(plan.steps(Step.SKIP, Step.INVALID, Step.WITHHELD, Step.DUPLICATE, Step.OPTED_OUT))
    for name, item in (("researcher-url", plan.researcher_url), ("employment", plan.employment)):
        if item is not None and item.step in (Step.SKIP, Step.INVALID):
            run.event("error" if item.step is Step.INVALID else "info", f"skipped {name}", item.reason)


def _report_dry_run(run: PushRun, plan: PushPlan) -> None:
    """The job's events are the report an administrator reads (and exports): say what would happen there too."""
    for step in (Step.CREATE, Step.UPDATE, Step.DELETE):
        for change in plan.steps(step):
            run.event("info", f"would {step.value} work", change.reason or "dry run", asset_id=change.asset_id)
    for name, item in (("researcher-url", plan.researcher_url), ("employment", plan.employment)):
        if item is not None and item.step in (Step.CREATE, Step.UPDATE):
            run.event("info", f"would {item.step.value} {name}", "dry run")


def _read(ports: PushPorts, researcher_id: str) -> tuple[Researcher | None, StoredToken | None]:
    if ports.read_researcher is not None:
        return ports.read_researcher(researcher_id)
    researcher = ports.researchers.get(researcher_id)
    return researcher, ports.tokens.get(researcher_id) if researcher is not None else None


def _push(task: ResearcherTask, ports: PushPorts, run: PushRun) -> PushOutcome:
    researcher, stored_token = _read(ports, task.researcher_id)
    if researcher is None:
        run.event("warning", "skipped researcher", "the researcher no longer exists")
        return _outcome(task, run)
    if ports.settings_read_since is not None and task.job_started_at is not None:
        ports.settings_read_since(task.job_started_at)
    settings = ports.settings()
    blocker = ineligibility(researcher, stored_token, settings)
    if blocker is not None or stored_token is None or researcher.orcid is None:
        # Eligible when the job started, not any more (revoked, left, changed their flag): nothing to do.
        run.event("info", "skipped researcher", f"the researcher {blocker}")
        return _outcome(task, run)

    assets = ports.assets.list_for_researcher(researcher.id)
    known = ports.ledger.load(researcher.id)
    resend = bool(task.options.get("resend_deleted", False))
    fingerprint = push_fingerprint(researcher, stored_token, assets, settings, ports.context, opted_out=known.opted_out)
    if not task.dry_run and not resend and known.fingerprint == fingerprint:
        run.counts = standing_counts(assets, known, settings)
        run.counts.works_unchanged = sum(1 for e in known.works.values() if e.state is EntryState.SYNCED)
        return _outcome(task, run, sync=_synced(ports, researcher, run, confirm=False))

    plan = plan_push(
        researcher,
        stored_token,
        assets,
        ledger=known,
        settings=settings,
        context=ports.context,
        resend_deleted=resend,
    )
    _report_plan(run, plan)
    if task.dry_run:
        _report_dry_run(run, plan)
        return _outcome(task, run, detail=plan.detail())

    ledger = LedgerBuffer(ports.ledger, researcher.id)
    if known.fingerprint is not None:
        # Forget the old fingerprint before the first request (the buffer writes it then): if this run dies
        # half-way, the next one must not skip. A run that sends nothing writes only the new one.
        ledger.set_fingerprint(None, run.now)
    try:
        execute_plan(
            plan,
            run=run,
            orcid_id=researcher.orcid,
            token=ports.open_token(stored_token),
            api=ports.orcid,
            ledger=ledger,
            known=known,
            client_id=ports.context.client_id,
            bulk=bool(task.options.get("bulk", True)),
            time_left=ports.time_left,
        )
    except StopResearcherError as stop:
        ledger.flush()
        if stop.invalid is not None:
            invalidate_token(ports.researchers, ports.tokens, stored_token, stop.invalid, at=run.now)
        logger.warning("push stopped for researcher", researcher_id=researcher.id, reason=stop.event.action)
        return _outcome(task, run, failed=True, token_problem=stop.invalid)
    except BaseException:
        _record_before_failing(ledger)
        raise
    if run.clean and not run.retry:
        # In the last write with the last entries: BatchWriteItem sends it after them (see DynamoLedgerStore.write).
        ledger.set_fingerprint(fingerprint, run.now)
    ledger.flush()
    if run.retry:
        if run.wrote:  # ORCID accepted the token for this iD
            confirm_orcid(ports.researchers, researcher, orcid=researcher.orcid)
        raise RetryLaterError(f"ORCID failed to store some works of researcher {researcher.id}; retrying")
    return _outcome(task, run, sync=_synced(ports, researcher, run, confirm=run.wrote))


def _synced(ports: PushPorts, researcher: Researcher, run: PushRun, *, confirm: bool) -> ResearcherSync | None:
    """The researcher is in sync (and, with ``confirm``, ORCID accepted their token for their iD): noted now, or
    left on the outcome for the write that records it (``PushPorts.completion``)."""
    confirm_id = researcher.orcid if confirm and not researcher.orcid_authenticated else None
    if ports.completion is None:
        if confirm and researcher.orcid is not None:
            confirm_orcid(ports.researchers, researcher, orcid=researcher.orcid)
        ports.researchers.mark_synced(researcher.id, run.now)
        return None
    return ResearcherSync(researcher_id=researcher.id, at=run.now, confirm_orcid=confirm_id)


def _record_before_failing(ledger: LedgerBuffer) -> None:
    """The push is failing (ORCID kept failing, out of time): what ORCID accepted so far goes to the ledger first.

    Best effort, and not when the ledger write is what failed: the rerun adopts those works from ORCID's 409s.
    """
    if not len(ledger) or ledger.failed:
        return
    try:
        ledger.flush()
    except Exception:
        logger.exception("ledger writes lost while the push failed", researcher_id=ledger.researcher_id)
