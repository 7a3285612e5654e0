"""The plan: what to create, update and delete on ORCID, from a researcher's assets and the ledger (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.jobs.models import JobCounts
from orcid_sync.domain.models import PERSON_SCOPE, Asset, Researcher, StoredToken
from orcid_sync.domain.orcid.models import (
    Employment,
    ExternalId,
    ExternalIds,
    ResearcherUrl,
    StringValue,
)
from orcid_sync.domain.push.eligibility import (
    OPTED_OUT_DELETE_REASON,
    OPTED_OUT_REASON,
    WITHHELD_REASON,
    find_duplicates,
    not_wanted,
)
from orcid_sync.domain.push.ledger import (
    EmploymentEntry,
    EntryState,
    PushLedger,
    ResearcherUrlEntry,
    WorkEntry,
)
from orcid_sync.domain.push.works import BuiltWork, InvalidWork, WorkWarning, build_work, content_hash

EMPLOYMENT_ID_TYPE = "source-work-id"
"""The ``self`` id of our employment: ORCID's duplicate check on affiliations looks only at external ids."""


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
    # Wanted but held back: the researcher chose not to send it (until they opt back in).
    OPTED_OUT = "opted_out"
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

        listed = (
            Step.CREATE,
            Step.UPDATE,
            Step.DELETE,
            Step.SKIP,
            Step.INVALID,
            Step.WITHHELD,
            Step.DUPLICATE,
            Step.OPTED_OUT,
        )
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


def _opted_out(asset_id: str, entry: WorkEntry | None) -> WorkChange:
    """An asset the researcher chose not to send: our work for it leaves ORCID, else it is held back (and counted)."""
    if entry is not None and entry.put_code is not None and entry.state is not EntryState.DELETED_BY_RESEARCHER:
        return WorkChange(asset_id, Step.DELETE, entry=entry, reason=OPTED_OUT_DELETE_REASON)
    # Nothing of ours on ORCID: a rejected entry stays, so opting back in does not resend what ORCID refused.
    return WorkChange(asset_id, Step.OPTED_OUT, entry=entry, reason=OPTED_OUT_REASON)


def _wanted(assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings) -> list[Asset]:
    """The assets the push would send: selected by the institution, and not opted out by the researcher."""
    return [asset for asset in assets if not_wanted(asset, settings) is None and asset.id not in ledger.opted_out]


def _plan_works(
    assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings, *, sandbox: bool, resend_deleted: bool
) -> PushPlan:
    plan = PushPlan()
    by_id = {asset.id: asset for asset in assets}
    duplicates = find_duplicates(_wanted(assets, ledger, settings), ledger)
    for asset in sorted(assets, key=lambda a: a.id):
        entry = ledger.works.get(asset.id)
        reason = not_wanted(asset, settings)
        if reason is not None:
            if entry is not None:
                by_settings = settings.asset_types.refusal(asset.type) == reason
                leaving = _leaving(entry, reason, by_settings=by_settings)
                if leaving is not None:
                    plan.works.append(leaving)
            else:
                plan.not_sent.append((asset.id, reason))
            continue
        if asset.id in ledger.opted_out:
            plan.works.append(_opted_out(asset.id, entry))
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


def _opted_out_only(assets: Sequence[Asset], ledger: PushLedger) -> PushPlan:
    """With send_assets off nothing is sent, but a researcher's "don't send this one" still takes our work off."""
    plan = PushPlan()
    for asset in sorted(assets, key=lambda a: a.id):
        if asset.id in ledger.opted_out:
            change = _opted_out(asset.id, ledger.works.get(asset.id))
            if change.step is Step.DELETE:
                plan.works.append(change)
    return plan


def plan_works(
    assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings, *, sandbox: bool
) -> PushPlan:
    """What the next push would do with one researcher's works under these settings (no I/O; settings previews
    and the researcher's own page)."""
    if not settings.send_assets:
        return _opted_out_only(assets, ledger)
    return _plan_works(assets, ledger, settings, sandbox=sandbox, resend_deleted=False)


def standing_counts(assets: Sequence[Asset], ledger: PushLedger, settings: IntegrationSettings) -> JobCounts:
    """What every push reports even when nothing changed: works withheld (deleted by the researcher, or opted
    out), duplicates."""
    if not settings.send_assets:
        return JobCounts()
    wanted = _wanted(assets, ledger, settings)
    duplicates = find_duplicates(wanted, ledger)
    opted_out = sum(
        1
        for asset in assets
        if asset.id in ledger.opted_out
        and not_wanted(asset, settings) is None
        and _opted_out(asset.id, ledger.works.get(asset.id)).step is Step.OPTED_OUT
    )
    withheld = sum(
        1
        for asset in wanted
        if asset.id not in duplicates
        and (entry := ledger.works.get(asset.id)) is not None
        and entry.state is EntryState.DELETED_BY_RESEARCHER
    )
    return JobCounts(
        works_withheld_deleted_by_researcher=withheld,
        works_withheld_opted_out=opted_out,
        works_duplicate=len(duplicates),
    )


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
        # Turning send_assets off stops sending; what is on ORCID stays (as in Esploro), unless the researcher
        # chose not to send it.
        plan = _opted_out_only(assets, ledger)
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
    *,
    opted_out: frozenset[str] = frozenset(),
) -> str:
    """A hash of every input of a researcher's push: equal fingerprints need no ORCID request.

    ``opted_out`` (the assets the researcher chose not to send, from the ledger) counts only when there is one,
    so the fingerprints of researchers who never opted out stay what they were.
    """
    inputs: dict[str, Any] = {
        "settings": settings.fingerprint,
        "researcher": researcher.model_dump(
            mode="json", include={"id", "orcid", "profile_url", "department", "position"}
        ),
        "profile_url": context.profile_url(researcher.id),
        "scopes": sorted(token.scopes),
        "sandbox": context.sandbox,
        "assets": sorted((asset.id, asset.model_dump_json()) for asset in assets),
    }
    if opted_out:
        inputs["opted_out"] = sorted(opted_out)
    return content_hash(inputs)
