"""The daily push: one researcher's approved, visible assets to ORCID works, plus researcher-url and employment.

The plan (pure, see :func:`plan_push`) compares the works we want on ORCID with the sync ledger
(what we wrote before, by content hash); execution (:func:`execute_plan`) spends as few requests
as that difference needs: bulk POSTs of up to 100 new works, a PUT only where the hash changed, a
DELETE where an asset left. A researcher whose inputs did not change costs no request at all:
the ledger keeps a fingerprint of the inputs of the last complete push.

Crash safety: what ORCID answered is in the ledger before the next request for the researcher that
touches works goes out: the 100 put-codes of bulk POST N are written (``BatchWriteItem`` of 25, see
``orcid_sync.adapters.dynamodb.push_ledger``) before bulk POST N+1, a PUT's or DELETE's entry before the next one.
The last works' entries, the researcher-url's and the employment's are written together when the
push ends (before the researcher-url and employment requests too if a work's entry is to be
deleted: a DELETE that is not recorded would come back as a 404, read as the researcher's deletion).
A write ORCID accepted but we never recorded (a crash, a lost response) comes back on the rerun as a
409/9021 duplicate naming the put-code, which we adopt; a work is never created twice (a researcher-url
as 409/9030, adopted too). Employments have no duplicate check at ORCID, so ours carry a ``self``
external id that gives them one.

ORCID's trust rules (issue 13):

- A researcher's deletion is final. A 404 on our PUT (or on our DELETE) means the researcher removed
  the work on ORCID: its ledger entry becomes a tombstone (``deleted_by_researcher``) that no later
  edit, settings change or exclusion-and-inclusion turns back into a POST. Only the researcher
  (:func:`resend_deleted`) or an administrator (``jobs run push --resend-deleted``) brings it back.
  Every push counts the works it withholds; the event is recorded once, when we learn it.
- Nothing happens silently: deletions are one event per researcher and reason ("asset type
  publication.letter excluded by settings: 3 works deleted from ORCID"), a field cut to ORCID's limit
  is a warning, and an asset that repeats another asset's identifier is held back and counted on
  every push (and listed by a dry run) rather than left to ORCID's 409.
- One worker per researcher: see :func:`process_push_task` and ``orcid_sync.adapters.dynamodb.leases``.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import batched
from typing import Any, Literal, Protocol

from pydantic import SecretStr, ValidationError

from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.identifiers import doi_key, pmid_key
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.job_models import JobCounts, JobEvent, JobType, ResearcherOutcome, ResearcherTask
from orcid_sync.domain.job_runs import JobFinisher, Notifier, complete_researcher
from orcid_sync.domain.job_store import JobStore
from orcid_sync.domain.leases import Lease, LeaseHeldError, LeaseStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import PERSON_SCOPE, Asset, OrcidStatus, Researcher, StoredToken, TokenInvalidReason
from orcid_sync.domain.orcid import errors as orcid_errors
from orcid_sync.domain.orcid.models import (
    BULK_MAX_WORKS,
    Employment,
    ExternalId,
    ExternalIds,
    OrcidError,
    ResearcherUrl,
    ResearcherUrls,
    StringValue,
    Work,
)
from orcid_sync.domain.ports import AssetStore, ResearcherStore, TokenStore
from orcid_sync.domain.push_ledger import (
    EmploymentEntry,
    EntryState,
    LedgerBuffer,
    LedgerStore,
    PushLedger,
    ResearcherUrlEntry,
    WorkEntry,
)
from orcid_sync.domain.tokens import confirm_orcid, invalidate_token
from orcid_sync.domain.works import BuiltWork, InvalidWork, WorkWarning, build_work, content_hash

EMPLOYMENT_ID_TYPE = "source-work-id"
"""The ``self`` id of our employment: ORCID's duplicate check on affiliations looks only at external ids."""

Level = Literal["error", "warning", "info"]


# --- eligibility ---------------------------------------------------------------------------------------------


def ineligibility(researcher: Researcher, token: StoredToken | None, settings: IntegrationSettings) -> str | None:
    """Why the push leaves this researcher alone, or None when it may update their record."""
    rules = [
        (not researcher.orcid, "has no ORCID iD"),
        (
            researcher.orcid_status is not OrcidStatus.ACTIVE,
            f"is not connected to ORCID (status {researcher.orcid_status.value})",
        ),
        (not researcher.active, "is former staff"),
        (
            not settings.updates(researcher),
            "is not selected for ORCID updates (update_orcid_profile is off and only selected researchers are updated)",
        ),
    ]
    if token is None:
        rules.append((True, "has no ORCID token"))
    else:
        rules += [
            (not token.is_active, "has a revoked or expired ORCID token"),
            (not token.can_push, "has a token without the /activities/update scope"),
            (token.orcid != researcher.orcid, f"has a token for another ORCID iD ({token.orcid})"),
        ]
    return next((reason for broken, reason in rules if broken), None)


def select_push_researchers(
    researchers: Iterable[Researcher],
    tokens: Mapping[str, StoredToken],
    settings: IntegrationSettings,
    only: set[str] | None,
) -> list[str]:
    """The researchers a push job fans out to (in the order given), optionally limited to ``only``."""
    return [
        researcher.id
        for researcher in researchers
        if (only is None or researcher.id in only)
        and ineligibility(researcher, tokens.get(researcher.id), settings) is None
    ]


# --- the plan ------------------------------------------------------------------------------------------------


class Step(StrEnum):
    """What the push does about one item."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"
    # Wanted but held back: rejected by ORCID as is, or failing ORCID's rules.
    SKIP = "skip"
    INVALID = "invalid"
    # Wanted but held back: the researcher deleted it on ORCID (until they ask for it back).
    WITHHELD = "withheld"
    # Wanted but held back: another asset of the researcher carries the same identifier and is sent.
    DUPLICATE = "duplicate"
    # A ledger entry with nothing on ORCID to remove (its work was deleted or never accepted).
    FORGET = "forget"


@dataclass(frozen=True)
class WorkChange:
    asset_id: str
    step: Step
    built: BuiltWork | None = None
    entry: WorkEntry | None = None
    asset_updated_at: datetime | None = None
    reason: str = ""
    # A delete because the integration settings no longer select the asset's type.
    by_settings: bool = False


@dataclass(frozen=True)
class ItemChange[PayloadT: (ResearcherUrl, Employment)]:
    """The researcher-url or the employment: its payload, hash and what to do."""

    step: Step
    payload: PayloadT | None = None
    content_hash: str = ""
    put_code: int | None = None
    reason: str = ""


@dataclass
class PushPlan:
    """Everything the push would do for one researcher, before any request."""

    works: list[WorkChange] = field(default_factory=list)
    not_sent: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, WorkWarning]] = field(default_factory=list)
    researcher_url: ItemChange[ResearcherUrl] | None = None
    employment: ItemChange[Employment] | None = None

    def steps(self, *steps: Step) -> list[WorkChange]:
        return [change for change in self.works if change.step in steps]

    def detail(self) -> dict[str, Any]:
        """The dry-run report: per step, the assets and why."""

        def listing(step: Step) -> list[Any]:
            return [{"asset_id": c.asset_id, "reason": c.reason} if c.reason else c.asset_id for c in self.steps(step)]

        listed = (Step.CREATE, Step.UPDATE, Step.DELETE, Step.SKIP, Step.INVALID, Step.WITHHELD, Step.DUPLICATE)
        detail: dict[str, Any] = {step.value: listing(step) for step in listed}
        detail["unchanged"] = len(self.steps(Step.UNCHANGED))
        detail["not_sent"] = [{"asset_id": asset_id, "reason": reason} for asset_id, reason in self.not_sent]
        detail["warnings"] = [
            {"asset_id": asset_id, "field": warning.field, "message": warning.message}
            for asset_id, warning in self.warnings
        ]
        for name, item in (("researcher_url", self.researcher_url), ("employment", self.employment)):
            detail[name] = (
                "off" if item is None else {"step": item.step.value, **({"reason": item.reason} if item.reason else {})}
            )
        return detail


@dataclass(frozen=True)
class PushContext:
    """Facts from the stack's configuration the push needs (not the institution's settings)."""

    client_id: str
    sandbox: bool
    profile_url: Callable[[str], str]


def _not_wanted(asset: Asset, settings: IntegrationSettings) -> str | None:
    if not asset.is_approved:
        return f"status is {asset.status}, not approved"
    if not asset.visible:
        return "not visible on the profile"
    return settings.asset_types.refusal(asset.type)


WITHHELD_REASON = (
    "the researcher deleted this work on ORCID; it is not sent again unless they ask for it or an administrator "
    "resends it (jobs run push --resend-deleted)"
)


def _identifier_keys(asset: Asset) -> list[tuple[str, str]]:
    """The asset's ``self`` identifiers as ORCID compares them for its duplicate check, with a label."""
    keys: list[tuple[str, str]] = []
    if asset.doi and doi_key(asset.doi):
        keys.append((f"doi:{doi_key(asset.doi)}", f"DOI {asset.doi}"))
    if asset.pmid and pmid_key(asset.pmid):
        keys.append((f"pmid:{pmid_key(asset.pmid)}", f"PMID {asset.pmid}"))
    if asset.pmcid:
        keys.append((f"pmc:{asset.pmcid.upper()}", f"PMCID {asset.pmcid}"))
    if asset.handle:
        handle = asset.handle.removeprefix("https://hdl.handle.net/").removeprefix("http://hdl.handle.net/")
        keys.append((f"handle:{handle.lower()}", f"handle {handle}"))
    return keys


def _on_orcid_or_withheld(entry: WorkEntry | None) -> bool:
    if entry is None:
        return False
    return entry.state is EntryState.DELETED_BY_RESEARCHER or entry.put_code is not None


def find_duplicates(wanted: Sequence[Asset], ledger: PushLedger) -> dict[str, str]:
    """Assets held back because another of the researcher's assets has the same identifier: asset id → why.

    Of assets sharing a DOI, PMID, PMCID or handle (normalised as ORCID does), the one whose work is on ORCID
    already (or that the researcher deleted there) is kept, else the lowest asset id; the others would only
    meet ORCID's 409. An asset whose own work is on ORCID is never held back here.
    """

    def preference(asset: Asset) -> tuple[bool, str]:
        return (not _on_orcid_or_withheld(ledger.works.get(asset.id)), asset.id)

    owners: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for asset in sorted(wanted, key=preference):
        keys = _identifier_keys(asset)
        clash = next(((owners[key], label) for key, label in keys if key in owners), None)
        if clash is not None and not _on_orcid_or_withheld(ledger.works.get(asset.id)):
            keeper, label = clash
            kept = ledger.works.get(keeper)
            withheld = kept is not None and kept.state is EntryState.DELETED_BY_RESEARCHER
            fate = "whose work the researcher deleted on ORCID" if withheld else "which is sent to ORCID"
            duplicates[asset.id] = f"same {label} as asset {keeper}, {fate}: the repository holds this output twice"
            continue
        for key, _ in keys:
            owners.setdefault(key, asset.id)
    return duplicates


def _plan_work(asset: Asset, built: BuiltWork, entry: WorkEntry | None, *, resend_deleted: bool) -> WorkChange:
    def change(step: Step, reason: str = "") -> WorkChange:
        return WorkChange(asset.id, step, built, entry, asset.updated_at, reason)

    if entry is None:
        return change(Step.CREATE)
    if entry.state is EntryState.SYNCED:
        return change(Step.UNCHANGED if entry.content_hash == built.content_hash else Step.UPDATE)
    if entry.state is EntryState.DELETED_BY_RESEARCHER:
        # Final: no edit of the asset and no settings change brings it back, only the researcher or an administrator.
        return change(Step.CREATE) if resend_deleted else change(Step.WITHHELD, WITHHELD_REASON)
    # Rejected by ORCID: this exact content would be rejected again.
    if entry.content_hash == built.content_hash:
        return change(Step.SKIP, f"ORCID rejected this content: {entry.message or 'no reason given'}")
    return change(Step.UPDATE if entry.put_code is not None else Step.CREATE)


def _leaving(entry: WorkEntry, reason: str, *, by_settings: bool = False) -> WorkChange | None:
    if entry.state is EntryState.DELETED_BY_RESEARCHER:
        return None  # the tombstone stays: if the asset comes back, the researcher's deletion still holds
    step = Step.DELETE if entry.put_code is not None else Step.FORGET
    return WorkChange(entry.asset_id, step, entry=entry, reason=reason, by_settings=by_settings)


def researcher_url_payload(
    researcher: Researcher, settings: IntegrationSettings, context: PushContext
) -> ResearcherUrl:
    """The link to the researcher's repository profile."""
    url = researcher.profile_url or context.profile_url(researcher.id)
    return ResearcherUrl(url_name=settings.researcher_url_name, url=StringValue(value=url))


def employment_payload(researcher: Researcher, settings: IntegrationSettings) -> Employment:
    """The institutional affiliation, with a ``self`` id so that a retried POST is a duplicate, not a copy."""
    assert settings.organization is not None  # checked by the caller
    return Employment(
        department_name=researcher.department or None,
        role_title=researcher.position or None,
        organization=settings.organization.to_orcid(),
        external_ids=ExternalIds(
            external_id=[
                ExternalId(
                    external_id_type=EMPLOYMENT_ID_TYPE,
                    external_id_value=f"employment:{researcher.id}",
                    external_id_relationship="self",
                )
            ]
        ),
    )


def _item_step(
    entry: ResearcherUrlEntry | EmploymentEntry | None, same: bool, *, update_allowed: bool, resend_deleted: bool
) -> tuple[Step, str]:
    """The same rules as for works, for the one researcher-url and the one employment."""
    if entry is None:
        return Step.CREATE, ""
    if entry.state is EntryState.SYNCED:
        return (Step.UNCHANGED if same or not update_allowed else Step.UPDATE), ""
    if entry.state is EntryState.DELETED_BY_RESEARCHER:
        held_back = same and not resend_deleted
        return (Step.SKIP, "the researcher deleted it on ORCID") if held_back else (Step.CREATE, "")
    if same:
        return Step.SKIP, f"ORCID rejected it: {entry.message or 'no reason given'}"
    return (Step.UPDATE if entry.put_code is not None and update_allowed else Step.CREATE), ""


def _plan_item[PayloadT: (ResearcherUrl, Employment)](
    payload: PayloadT,
    entry: ResearcherUrlEntry | EmploymentEntry | None,
    *,
    update_allowed: bool,
    resend_deleted: bool,
) -> ItemChange[PayloadT]:
    digest = content_hash(payload.to_orcid_json())
    same = entry is not None and entry.content_hash == digest
    step, reason = _item_step(entry, same, update_allowed=update_allowed, resend_deleted=resend_deleted)
    put_code = entry.put_code if entry is not None and step in (Step.UPDATE, Step.UNCHANGED) else None
    return ItemChange(step, payload, digest, put_code, reason)


def _plan_works(
    assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings, *, sandbox: bool, resend_deleted: bool
) -> PushPlan:
    plan = PushPlan()
    by_id = {asset.id: asset for asset in assets}
    wanted = [asset for asset in assets if _not_wanted(asset, settings) is None]
    duplicates = find_duplicates(wanted, ledger)
    for asset in sorted(assets, key=lambda a: a.id):
        entry = ledger.works.get(asset.id)
        reason = _not_wanted(asset, settings)
        if reason is not None:
            if entry is not None:
                by_settings = settings.asset_types.refusal(asset.type) == reason
                leaving = _leaving(entry, reason, by_settings=by_settings)
                if leaving is not None:
                    plan.works.append(leaving)
            else:
                plan.not_sent.append((asset.id, reason))
            continue
        if asset.id in duplicates:
            plan.works.append(WorkChange(asset.id, Step.DUPLICATE, entry=entry, reason=duplicates[asset.id]))
            continue
        if entry is not None and entry.state is EntryState.DELETED_BY_RESEARCHER and not resend_deleted:
            plan.works.append(WorkChange(asset.id, Step.WITHHELD, entry=entry, reason=WITHHELD_REASON))
            continue
        built = build_work(asset, settings, sandbox=sandbox)
        plan.warnings += [(asset.id, warning) for warning in built.warnings]
        if isinstance(built, InvalidWork):
            # A work already on ORCID stays as it was; only this version of the asset is refused.
            plan.works.append(WorkChange(asset.id, Step.INVALID, entry=entry, reason=built.reason))
            continue
        plan.works.append(_plan_work(asset, built, entry, resend_deleted=resend_deleted))
    for asset_id, entry in sorted(ledger.works.items()):
        if asset_id not in by_id:
            leaving = _leaving(entry, "the asset was deleted or is no longer this researcher's")
            if leaving is not None:
                plan.works.append(leaving)
    return plan


def plan_works(
    assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings, *, sandbox: bool
) -> PushPlan:
    """What the next push would do with one researcher's works under these settings (no I/O; settings previews)."""
    if not settings.send_assets:
        return PushPlan()
    return _plan_works(assets, ledger, settings, sandbox=sandbox, resend_deleted=False)


def standing_counts(assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings) -> JobCounts:
    """What every push reports even when nothing changed: works withheld (deleted by the researcher), duplicates."""
    if not settings.send_assets:
        return JobCounts()
    wanted = [asset for asset in assets if _not_wanted(asset, settings) is None]
    duplicates = find_duplicates(wanted, ledger)
    withheld = sum(
        1
        for asset in wanted
        if asset.id not in duplicates
        and (entry := ledger.works.get(asset.id)) is not None
        and entry.state is EntryState.DELETED_BY_RESEARCHER
    )
    return JobCounts(works_withheld_deleted_by_researcher=withheld, works_duplicate=len(duplicates))


def _plan_researcher_url(
    researcher: Researcher,
    token: StoredToken,
    ledger: PushLedger,
    settings: IntegrationSettings,
    context: PushContext,
    *,
    resend_deleted: bool,
) -> ItemChange[ResearcherUrl]:
    if PERSON_SCOPE not in token.scopes:
        return ItemChange(Step.SKIP, reason=f"the researcher's token lacks the {PERSON_SCOPE} scope")
    try:
        url = researcher_url_payload(researcher, settings, context)
    except ValidationError as exc:
        return ItemChange(Step.INVALID, reason=_first_error(exc))
    return _plan_item(url, ledger.researcher_url, update_allowed=True, resend_deleted=resend_deleted)


def _plan_employment(
    researcher: Researcher, ledger: PushLedger, settings: IntegrationSettings, *, resend_deleted: bool
) -> ItemChange[Employment]:
    try:
        employment = employment_payload(researcher, settings)
    except ValidationError as exc:
        return ItemChange(Step.INVALID, reason=_first_error(exc))
    # Sent once and never updated, as the seeds say: the researcher owns it on ORCID from then on.
    return _plan_item(employment, ledger.employment, update_allowed=False, resend_deleted=resend_deleted)


def plan_push(
    researcher: Researcher,
    token: StoredToken,
    assets: Sequence[Asset],
    *,
    ledger: PushLedger,
    settings: IntegrationSettings,
    context: PushContext,
    resend_deleted: bool = False,
) -> PushPlan:
    """Compare the works, link and affiliation we want on ORCID with the ledger; no I/O."""
    if settings.send_assets:
        plan = _plan_works(assets, ledger, settings, sandbox=context.sandbox, resend_deleted=resend_deleted)
    else:
        # Turning send_assets off stops sending; what is on ORCID stays (as in Esploro).
        plan = PushPlan()
    if settings.researcher_url.send:
        plan.researcher_url = _plan_researcher_url(
            researcher, token, ledger, settings, context, resend_deleted=resend_deleted
        )
    if settings.send_affiliation and settings.organization is not None:
        plan.employment = _plan_employment(researcher, ledger, settings, resend_deleted=resend_deleted)
    return plan


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def push_fingerprint(
    researcher: Researcher,
    token: StoredToken,
    assets: Sequence[Asset],
    settings: IntegrationSettings,
    context: PushContext,
) -> str:
    """A hash of every input of a researcher's push: equal fingerprints need no ORCID request."""
    inputs = {
        "settings": settings.fingerprint,
        "researcher": researcher.model_dump(
            mode="json", include={"id", "orcid", "profile_url", "department", "position"}
        ),
        "profile_url": context.profile_url(researcher.id),
        "scopes": sorted(token.scopes),
        "sandbox": context.sandbox,
        "assets": sorted((asset.id, asset.model_dump_json()) for asset in assets),
    }
    return content_hash(inputs)


# --- execution -----------------------------------------------------------------------------------------------


class OrcidPushApi(Protocol):
    """The ORCID Member API calls the push makes (``orcid_sync.adapters.orcid_api.client.OrcidClient``)."""

    def create_works(self, orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        """Bulk POST (≤100): per work, in order, its new put-code or ORCID's error for it."""
        ...

    def create_work(self, orcid: str, token: SecretStr, work: Work) -> int: ...

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        """Bulk GET (≤100) of full works by put-code, in order."""
        ...

    def update_work(self, orcid: str, token: SecretStr, put_code: int, work: Work) -> Work: ...

    def delete_work(self, orcid: str, token: SecretStr, put_code: int) -> None: ...

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls: ...

    def create_researcher_url(self, orcid: str, token: SecretStr, researcher_url: ResearcherUrl) -> int: ...

    def update_researcher_url(
        self, orcid: str, token: SecretStr, put_code: int, researcher_url: ResearcherUrl
    ) -> ResearcherUrl: ...

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int: ...


class StopResearcherError(Exception):
    """ORCID refused the whole researcher (revoked token, wrong record, missing scope): stop their push."""

    def __init__(self, event: JobEvent, *, revoked: bool = False, invalid: TokenInvalidReason | None = None) -> None:
        super().__init__(event.message)
        self.event = event
        self.revoked = revoked
        # ORCID refused the token itself: it is marked invalid and the researcher skipped until they reconnect.
        self.invalid = invalid or (TokenInvalidReason.INVALID_TOKEN if revoked else None)


class RetryLaterError(Exception):
    """Some writes failed in a way a later attempt can fix; what succeeded is recorded already."""


class OutOfTimeError(Exception):
    """The invocation is about to time out: the push stopped before its next request, with everything recorded.

    The worker hands the task back to continue at once in another invocation (it costs no SQS receive),
    which sends only what is not in the ledger yet.
    """


REQUEST_TIME_MARGIN_SECONDS = 30.0
"""No ORCID request starts with less than this left of the invocation: time for its retries and the ledger."""


@dataclass
class _Run:
    """What one researcher's push did so far."""

    researcher_id: str
    now: datetime
    counts: JobCounts = field(default_factory=JobCounts)
    events: list[JobEvent] = field(default_factory=list)
    # False when a rerun with the same inputs would send something again (so the fingerprint is not stored).
    clean: bool = True
    retry: bool = False
    wrote: bool = False

    def event(
        self,
        level: Level,
        action: str,
        message: str,
        *,
        asset_id: str | None = None,
        error: BaseException | OrcidError | None = None,
    ) -> JobEvent:
        status, code = _status_and_code(error)
        event = JobEvent(
            researcher_id=self.researcher_id,
            asset_id=asset_id,
            level=level,
            action=action,
            message=message,
            orcid_status=status,
            orcid_error_code=code,
            at=self.now,
        )
        self.events.append(event)
        return event


def _status_and_code(error: BaseException | OrcidError | None) -> tuple[int | None, int | None]:
    if error is None:
        return None, None
    if isinstance(error, OrcidError):
        return error.response_code, error.error_code
    status = getattr(error, "status", None)
    code = getattr(error, "error_code", None)
    return (status if isinstance(status, int) else None), (code if isinstance(code, int) else None)


def _orcid_message(error: BaseException | OrcidError) -> str:
    if isinstance(error, OrcidError):
        return error.developer_message or error.user_message or f"ORCID answered {error.response_code}"
    if isinstance(error, orcid_errors.OrcidApiError):
        return error.developer_message or error.user_message or str(error)
    return str(error) or type(error).__name__


class _RecordedFirst:
    """The ORCID API, but every request that touches works first writes the ledger changes held so far.

    So the entries of bulk POST N are durable before bulk POST N+1 goes out (and a PUT's or DELETE's
    before the next). The researcher-url and employment requests go with create and update entries
    still held (a lost one is adopted from ORCID's 409 on the rerun), not with a held deletion (of a
    work's entry, or of the old fingerprint). No request starts too close to the invocation's end
    (:class:`OutOfTimeError`).
    """

    def __init__(self, api: OrcidPushApi, ledger: LedgerBuffer, time_left: Callable[[], float]) -> None:
        self._api = api
        self._ledger = ledger
        self._time_left = time_left

    def _in_time(self) -> None:
        left = self._time_left()
        if left < REQUEST_TIME_MARGIN_SECONDS:
            raise OutOfTimeError(f"the invocation ends in {left:.0f} s; continuing in another one")

    def _works_request(self) -> None:
        self._in_time()
        self._ledger.flush()

    def _other_request(self) -> None:
        self._in_time()
        if self._ledger.holds_deletion:
            self._ledger.flush()

    def create_works(self, orcid: str, token: SecretStr, works: Sequence[Work]) -> list[int | OrcidError]:
        self._works_request()
        return self._api.create_works(orcid, token, works)

    def create_work(self, orcid: str, token: SecretStr, work: Work) -> int:
        self._works_request()
        return self._api.create_work(orcid, token, work)

    def read_works_by_put_codes(
        self, orcid: str, token: SecretStr, put_codes: Sequence[int]
    ) -> list[Work | OrcidError]:
        self._works_request()
        return self._api.read_works_by_put_codes(orcid, token, put_codes)

    def update_work(self, orcid: str, token: SecretStr, put_code: int, work: Work) -> Work:
        self._works_request()
        return self._api.update_work(orcid, token, put_code, work)

    def delete_work(self, orcid: str, token: SecretStr, put_code: int) -> None:
        self._works_request()
        self._api.delete_work(orcid, token, put_code)

    def read_researcher_urls(self, orcid: str, token: SecretStr) -> ResearcherUrls:
        self._other_request()
        return self._api.read_researcher_urls(orcid, token)

    def create_researcher_url(self, orcid: str, token: SecretStr, researcher_url: ResearcherUrl) -> int:
        self._other_request()
        return self._api.create_researcher_url(orcid, token, researcher_url)

    def update_researcher_url(
        self, orcid: str, token: SecretStr, put_code: int, researcher_url: ResearcherUrl
    ) -> ResearcherUrl:
        self._other_request()
        return self._api.update_researcher_url(orcid, token, put_code, researcher_url)

    def create_employment(self, orcid: str, token: SecretStr, employment: Employment) -> int:
        self._other_request()
        return self._api.create_employment(orcid, token, employment)


class _Executor:
    """Carries out a plan for one researcher, holding each ORCID answer for the ledger (see :class:`_RecordedFirst`)."""

    def __init__(
        self,
        *,
        run: _Run,
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
        self._api: OrcidPushApi = _RecordedFirst(api, ledger, time_left)
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

    # --- whole-researcher errors ---

    def _guard(self, error: Exception) -> None:
        """Turn errors that concern the whole researcher into StopResearcherError; re-raise transient ones."""
        run = self._run
        if isinstance(error, orcid_errors.TokenForOtherRecordError):
            event = run.event(
                "error",
                "marked token invalid",
                "the token is for another ORCID record than the researcher's iD (ORCID 9017): "
                f"{_orcid_message(error)}; the researcher is skipped until they connect again (send a connect link)",
                error=error,
            )
            raise StopResearcherError(event, invalid=TokenInvalidReason.WRONG_RECORD) from None
        if isinstance(error, orcid_errors.InvalidTokenError):
            event = run.event(
                "error",
                "marked token revoked",
                "ORCID says the access token is revoked or expired; the researcher is disconnected until they "
                "connect again",
                error=error,
            )
            raise StopResearcherError(event, revoked=True) from None
        if isinstance(error, orcid_errors.InsufficientScopeError):
            event = run.event(
                "error",
                "stopped researcher",
                f"the researcher's token lacks a scope this write needs (ORCID 9038): {_orcid_message(error)}",
                error=error,
            )
            raise StopResearcherError(event) from None
        if isinstance(error, orcid_errors.RetryableOrcidError):
            raise error

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
                self._guard(exc)
                self._run.clean = False
                self._run.event(
                    "error", "kept work", f"ORCID refused to delete it: {_orcid_message(exc)}", asset_id=change.asset_id
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
        message = _orcid_message(error)
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
            self._guard(exc)
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
                        f"ORCID failed to store the work: {_orcid_message(result)}",
                        asset_id=change.asset_id,
                        error=result,
                    )
                elif result.error_code == 9048:
                    self._run.clean = False
                    self._run.counts.works_skipped += 1
                    self._run.event(
                        "error", "skipped asset", _orcid_message(result), asset_id=change.asset_id, error=result
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
            self._guard(exc)
            status, _ = _status_and_code(exc)
            if status is not None and status >= 500:
                raise
        # ORCID refused the bulk body as a whole: send the works one by one, so only a bad one is refused.
        return [self._post_one(work) for work in works]

    def _post_one(self, work: Work) -> int | OrcidError:
        try:
            return self._api.create_work(self._orcid, self._token, work)
        except orcid_errors.DuplicateWorkError as exc:
            return _duplicate(exc)
        except orcid_errors.OrcidApiError as exc:
            self._guard(exc)
            return _as_orcid_error(exc)

    def _adopt(self, adopt: Sequence[tuple[WorkChange, BuiltWork, int]]) -> None:
        """Our own earlier copies (ORCID 409/9021): read them in bulk, PUT only those whose content differs."""
        for chunk in batched(adopt, BULK_MAX_WORKS, strict=False):
            try:
                existing = self._api.read_works_by_put_codes(
                    self._orcid, self._token, [put_code for _, _, put_code in chunk]
                )
            except orcid_errors.OrcidApiError as exc:
                self._guard(exc)
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
            self._guard(exc)
            self._record_url(change, put_code, EntryState.REJECTED, _orcid_message(exc))
            self._run.event("error", "skipped researcher-url", f"ORCID refused it: {_orcid_message(exc)}", error=exc)
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
            self._guard(exc)
            message = _orcid_message(exc)
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


def _duplicate(exc: orcid_errors.DuplicateWorkError) -> OrcidError:
    return OrcidError(
        response_code=409,
        error_code=9021,
        developer_message=f"409 Conflict: duplicate of put-code {exc.existing_put_code}",
    )


def _as_orcid_error(exc: orcid_errors.OrcidApiError) -> OrcidError:
    status, code = _status_and_code(exc)
    return OrcidError(response_code=status or 400, error_code=code, developer_message=_orcid_message(exc))


def execute_plan(
    plan: PushPlan,
    *,
    run: _Run,
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
    executor = _Executor(
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


# --- the use case --------------------------------------------------------------------------------------------


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


def _outcome(
    task: ResearcherTask, run: _Run, *, failed: bool = False, detail: dict[str, Any] | None = None
) -> ResearcherOutcome:
    return ResearcherOutcome(
        researcher_id=task.researcher_id,
        counts=run.counts,
        updated=run.wrote,
        failed=failed,
        events=run.events,
        detail=detail,
    )


def push_researcher(task: ResearcherTask, ports: PushPorts, *, now: datetime) -> ResearcherOutcome:
    """Bring one researcher's ORCID record in line with the repository (or, in a dry run, say what would change).

    Raises ``RetryableOrcidError`` / ``RetryLaterError`` when ORCID kept failing: the message is
    redelivered, and the rerun sends only what was not recorded yet.
    """
    run = _Run(researcher_id=task.researcher_id, now=now)
    requests_before = ports.request_count()
    try:
        return _push(task, ports, run)
    finally:
        run.counts.orcid_requests = ports.request_count() - requests_before


def _report_plan(run: _Run, plan: PushPlan) -> None:
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
    run.counts.works_duplicate = len(plan.steps(Step.DUPLICATE))
    run.counts.works_unchanged = len(plan.steps(Step.UNCHANGED))
    run.counts.works_skipped = len(plan.steps(Step.SKIP, Step.INVALID, Step.WITHHELD, Step.DUPLICATE))
    for name, item in (("researcher-url", plan.researcher_url), ("employment", plan.employment)):
        if item is not None and item.step in (Step.SKIP, Step.INVALID):
            run.event("error" if item.step is Step.INVALID else "info", f"skipped {name}", item.reason)


def _report_dry_run(run: _Run, plan: PushPlan) -> None:
    """The job's events are the report an administrator reads (and exports): say what would happen there too."""
    for step in (Step.CREATE, Step.UPDATE, Step.DELETE):
        for change in plan.steps(step):
            run.event("info", f"would {step.value} work", change.reason or "dry run", asset_id=change.asset_id)
    for name, item in (("researcher-url", plan.researcher_url), ("employment", plan.employment)):
        if item is not None and item.step in (Step.CREATE, Step.UPDATE):
            run.event("info", f"would {item.step.value} {name}", "dry run")


def _push(task: ResearcherTask, ports: PushPorts, run: _Run) -> ResearcherOutcome:
    researcher = ports.researchers.get(task.researcher_id)
    if researcher is None:
        run.event("warning", "skipped researcher", "the researcher no longer exists")
        return _outcome(task, run)
    settings = ports.settings()
    stored_token = ports.tokens.get(researcher.id)
    blocker = ineligibility(researcher, stored_token, settings)
    if blocker is not None or stored_token is None or researcher.orcid is None:
        # Eligible when the job started, not any more (revoked, left, changed their flag): nothing to do.
        run.event("info", "skipped researcher", f"the researcher {blocker}")
        return _outcome(task, run)

    assets = ports.assets.list_for_researcher(researcher.id)
    known = ports.ledger.load(researcher.id)
    resend = bool(task.options.get("resend_deleted", False))
    fingerprint = push_fingerprint(researcher, stored_token, assets, settings, ports.context)
    if not task.dry_run and not resend and known.fingerprint == fingerprint:
        run.counts = standing_counts(assets, known, settings)
        run.counts.works_unchanged = sum(1 for e in known.works.values() if e.state is EntryState.SYNCED)
        ports.researchers.mark_synced(researcher.id, run.now)
        return _outcome(task, run)

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
        return _outcome(task, run, failed=True)
    except BaseException:
        _record_before_failing(ledger)
        raise
    if run.clean and not run.retry:
        # In the last write with the last entries: BatchWriteItem sends it after them (see DynamoLedgerStore.write).
        ledger.set_fingerprint(fingerprint, run.now)
    ledger.flush()
    if run.wrote:  # ORCID accepted the token for this iD
        confirm_orcid(ports.researchers, researcher, orcid=researcher.orcid)
    if run.retry:
        raise RetryLaterError(f"ORCID failed to store some works of researcher {researcher.id}; retrying")
    ports.researchers.mark_synced(researcher.id, run.now)
    return _outcome(task, run)


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


LEASE_DURATION = timedelta(seconds=360)
"""A researcher's lease: longer than the push worker's 300 s timeout (``template.yaml``), so no invocation
outlives the lease it holds; a crashed holder's lease lapses at most six minutes later."""
HANDBACK_FIRST_DELAY_SECONDS = 2
HANDBACK_MAX_DELAY_SECONDS = 60


_COMPLETIONS = threading.Lock()
"""A worker pushes the researchers of its batch at once, but counts them in their job one at a time: the job's
counts are one item, and DynamoDB cancels a transaction on it that meets another (TransactionConflict)."""


class ResearcherBusyError(Exception):
    """Another worker holds the researcher's lease: hand the task back, to come again after a delay."""

    def __init__(self, held: Lease) -> None:
        super().__init__(f"researcher {held.researcher_id} is being pushed by job {held.job_id}")
        self.held = held

    def retry_after(self, handbacks: int, now: datetime) -> int:
        """Seconds until the task should come back: doubling from 2 s per hand-back, at most 60 s and never
        (much) past the holder's lease, which lapses by itself if the holder died."""
        backoff: int = min(HANDBACK_MAX_DELAY_SECONDS, HANDBACK_FIRST_DELAY_SECONDS * 2 ** min(handbacks, 10))
        return max(1, min(backoff, math.ceil(self.held.seconds_left(now)) + 1))


def process_push_task(
    task: ResearcherTask,
    ports: PushPorts,
    jobs: JobStore,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: Callable[[], datetime],
    last_attempt: bool = False,
    leases: LeaseStore | None = None,
) -> ResearcherOutcome:
    """Push one researcher and count them in the job exactly once.

    A transient failure is re-raised so that SQS redelivers the message, except on its last
    attempt: then the researcher is recorded as failed, so the job still finishes.

    **One worker per researcher.** Two workers can reach the same researcher at once: an
    administrator's ``jobs run push`` during the nightly push, a redelivered or duplicated SQS message
    while the first delivery still runs. Both would plan from the same ledger and write the same works.
    So a push first takes the researcher's lease (a conditional write in DynamoDB, see
    ``orcid_sync.adapters.dynamodb.leases``) for :data:`LEASE_DURATION`, longer than the worker's timeout, and
    releases it when done, failed or not. A worker that cannot take it does nothing and raises
    :class:`ResearcherBusyError`; the push worker then hands the task back to the queue with a delay
    (a copy sent with ``DelaySeconds``, doubling from 2 s up to 60 s), so the same task runs again
    once the holder is done — for another job this means the administrator's run really pushes the
    researcher, after the nightly one, with its own options. The copy is a new message, so waiting
    for a busy researcher never uses up the message's receives on the way to the dead-letter queue.
    Should a task still find the researcher busy on its last SQS attempt, it does not wait any more:
    a task of another job is recorded "already in progress" (counted, not failed, naming the job
    that held the researcher); a duplicate of the holder's own task records nothing, since the
    holder counts the researcher. A dry run writes nothing and takes no lease.
    """
    started = now()
    lease: Lease | None = None
    if leases is not None and not task.dry_run:
        try:
            lease = leases.acquire(task.researcher_id, job_id=task.job_id, now=started, duration=LEASE_DURATION)
        except LeaseHeldError as held:
            if not last_attempt:
                raise ResearcherBusyError(held.held) from None
            return _already_in_progress(task, held.held, jobs, finishers=finishers, notifier=notifier, now=started)
    try:
        return _process(task, ports, jobs, finishers=finishers, notifier=notifier, now=now, last_attempt=last_attempt)
    finally:
        if leases is not None and lease is not None:
            leases.release(lease)


def _already_in_progress(
    task: ResearcherTask,
    held: Lease,
    jobs: JobStore,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: datetime,
) -> ResearcherOutcome:
    if held.job_id == task.job_id:
        # A duplicate of the task the holder is running: the holder counts the researcher.
        logger.info(
            "duplicate task while its researcher is pushed", job_id=task.job_id, researcher_id=task.researcher_id
        )
        return ResearcherOutcome(researcher_id=task.researcher_id)
    outcome = ResearcherOutcome(
        researcher_id=task.researcher_id,
        events=[
            JobEvent(
                researcher_id=task.researcher_id,
                level="warning",
                action="already in progress",
                message=f"job {held.job_id} was pushing this researcher the whole time this run waited; this run "
                "left them to it",
                at=now,
            )
        ],
    )
    with _COMPLETIONS:
        complete_researcher(jobs, task.job_id, outcome, finishers=finishers, notifier=notifier, now=now)
    return outcome


def _process(
    task: ResearcherTask,
    ports: PushPorts,
    jobs: JobStore,
    *,
    finishers: Mapping[JobType, JobFinisher],
    notifier: Notifier,
    now: Callable[[], datetime],
    last_attempt: bool,
) -> ResearcherOutcome:
    started = now()
    try:
        outcome = push_researcher(task, ports, now=started)
    except OutOfTimeError:
        raise  # not a failure: the worker hands the task back to go on in another invocation
    except Exception as exc:
        if not last_attempt:
            raise
        logger.exception("push failed on the last attempt", researcher_id=task.researcher_id)
        outcome = ResearcherOutcome(
            researcher_id=task.researcher_id,
            failed=True,
            events=[
                JobEvent(
                    researcher_id=task.researcher_id,
                    level="error",
                    action="gave up",
                    message=f"the push kept failing ({type(exc).__name__}); the next run tries again",
                    at=started,
                )
            ],
        )
    with _COMPLETIONS:
        complete_researcher(jobs, task.job_id, outcome, finishers=finishers, notifier=notifier, now=now())
    return outcome


# --- the researcher asks for a deleted work back -------------------------------------------------------------

RESEND_LEASE = timedelta(seconds=60)


def resend_deleted(
    researcher_id: str, asset_id: str, *, ledger: LedgerStore, leases: LeaseStore, now: datetime
) -> None:
    """A researcher asks for a work they deleted on ORCID back (the self-service page): the next push re-creates it.

    The tombstone is removed and the push fingerprint forgotten, so the next push plans again and
    posts the work. This runs under the researcher's lease: a push running at that moment could
    otherwise store the fingerprint of the inputs it read before, and the next push would skip.
    NotFoundError if the asset is not a work this researcher deleted; ConflictError while a push runs.
    """
    try:
        lease = leases.acquire(researcher_id, job_id="resend-deleted", now=now, duration=RESEND_LEASE)
    except LeaseHeldError as held:
        raise ConflictError(
            f"a push for researcher {researcher_id} is in progress (job {held.held.job_id}); try again in a few minutes"
        ) from None
    try:
        entry = ledger.load(researcher_id).works.get(asset_id)
        if entry is None or entry.state is not EntryState.DELETED_BY_RESEARCHER:
            raise NotFoundError(f"asset {asset_id} is not a work researcher {researcher_id} deleted on ORCID")
        ledger.delete_work(researcher_id, asset_id)
        ledger.set_fingerprint(researcher_id, None, now)
        logger.info("deleted work to be sent again", researcher_id=researcher_id, asset_id=asset_id)
    finally:
        leases.release(lease)
