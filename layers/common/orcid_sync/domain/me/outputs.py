"""A researcher's outputs as "My ORCID" shows them: each asset, where it stands with ORCID and why, in plain words.

Everything comes from the assets table, the sync ledger (one Query: entries and the researcher's opt-outs) and
the integration settings: rendering makes no ORCID request. The state of an asset is read off the push's own plan
(:func:`orcid_sync.domain.push.plan_works`), so the page and the next push can never disagree. Works on the
researcher's ORCID record from other sources are never listed: we only know our ledger.

The researcher steers it with :func:`opt_out` ("Don't send this one": the next push deletes our work, and never
sends it again until :func:`opt_in`) and :func:`send_again` (a work they deleted on ORCID comes back, once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel

from orcid_sync.domain.errors import ConflictError, NotFoundError
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import Asset
from orcid_sync.domain.ports import AssetStore, ResearcherStore

if TYPE_CHECKING:
    from orcid_sync.domain.institution_settings import IntegrationSettings

    # The push (its planning, the ORCID models it builds works with) loads on the first view, not at import:
    # importing any module of orcid_sync.domain.push loads the whole package, and a function that shows the
    # page should pay for it when it renders one, not on every cold start.
    from orcid_sync.domain.push.leases import LeaseStore
    from orcid_sync.domain.push.ledger import LedgerStore, PushLedger, WorkEntry
    from orcid_sync.domain.push.planning import WorkChange


class OutputState(StrEnum):
    """Where one of the researcher's assets stands with their ORCID record."""

    ON_ORCID = "on_orcid"
    WILL_BE_ADDED = "will_be_added"
    WILL_BE_UPDATED = "will_be_updated"
    NOT_APPROVED = "not_approved"
    NOT_VISIBLE = "not_visible"
    TYPE_NOT_SENT = "type_not_sent"
    # The institution has not switched sending on (send_assets off).
    NOT_SENDING = "not_sending"
    OPTED_OUT = "opted_out"
    DELETED_BY_RESEARCHER = "deleted_by_researcher"
    REFUSED_BY_ORCID = "refused_by_orcid"
    # Not sent for a reason of the repository's record: a duplicate identifier, a field ORCID would refuse.
    HELD_BACK = "held_back"


class ResearcherOutput(BaseModel):
    """One asset of the researcher's, its state and the reason as a sentence for the researcher."""

    asset_id: str
    title: str
    asset_type: str
    year: int | None
    state: OutputState
    reason: str
    put_code: int | None
    """Our work's put-code on the researcher's ORCID record (a link to it), when it is there."""
    orcid_message: str | None
    """ORCID's own words when it refused the work (REFUSED_BY_ORCID)."""
    can_opt_out: bool
    can_opt_in: bool
    can_send_again: bool


class OutputsView(BaseModel):
    """Every asset of the researcher's, with the number in each state (every state, zeros included)."""

    researcher_id: str
    orcid: str | None
    outputs: list[ResearcherOutput]
    counts: dict[OutputState, int]


@dataclass(frozen=True)
class OutputsPorts:
    """What the page reads (DynamoDB only) and writes (the ledger's opt-outs, the lease of a "send it again")."""

    researchers: ResearcherStore
    assets: AssetStore
    ledger: LedgerStore
    settings: Callable[[], IntegrationSettings]
    leases: LeaseStore
    # Whether the stack talks to ORCID's sandbox: the works are built as the push builds them.
    sandbox: bool = False


NEXT_UPDATE = "in the next daily update"
REMOVED = f" It is on your ORCID record now and will be removed {NEXT_UPDATE}."


def _year(asset: Asset) -> int | None:
    if asset.date and asset.date[:4].isdigit():
        return int(asset.date[:4])
    return None


def _not_wanted_state(asset: Asset, settings: IntegrationSettings) -> tuple[OutputState, str]:
    """The institution's reason to leave the asset out, in the order ``eligibility.not_wanted`` checks them."""
    if not asset.is_approved:
        return OutputState.NOT_APPROVED, "Not sent: it is not yet approved in the repository."
    if not asset.visible:
        return OutputState.NOT_VISIBLE, "Not sent: it is not visible on the research portal."
    return OutputState.TYPE_NOT_SENT, f"Not sent: the repository does not send this type of output ({asset.type})."


def _deleted_by_researcher(entry: WorkEntry | None) -> bool:
    from orcid_sync.domain.push.ledger import EntryState  # noqa: PLC0415 - see the imports

    return entry is not None and entry.state is EntryState.DELETED_BY_RESEARCHER


def _on_orcid(entry: WorkEntry | None) -> int | None:
    """Our put-code when our work is on the record (not deleted by the researcher, not refused)."""
    if entry is None or entry.put_code is None or _deleted_by_researcher(entry):
        return None
    return entry.put_code


# Keyed by the values of planning's ``Step`` (a StrEnum: its members look these up).
_PLANNED: dict[str, tuple[OutputState, str]] = {
    "create": (OutputState.WILL_BE_ADDED, f"Will be added to your ORCID record {NEXT_UPDATE}."),
    "update": (
        OutputState.WILL_BE_UPDATED,
        f"On your ORCID record; the repository's changes go there {NEXT_UPDATE}.",
    ),
    "unchanged": (OutputState.ON_ORCID, "On your ORCID record."),
    "skip": (OutputState.REFUSED_BY_ORCID, "ORCID refused it. It is sent again when the repository corrects it."),
    "duplicate": (
        OutputState.HELD_BACK,
        "Not sent: the repository holds this output twice ({reason}); only one copy is sent.",
    ),
    "invalid": (
        OutputState.HELD_BACK,
        "Not sent: ORCID would not accept it as the repository has it ({reason}); the repository team can correct it.",
    ),
}
"""What a step of the push's plan means for the researcher (``{reason}``: the plan's own reason)."""


def _chosen_state(
    asset: Asset, change: WorkChange | None, entry: WorkEntry | None, ledger: PushLedger
) -> tuple[OutputState, str] | None:
    """The researcher's own choices, which come first: not sending it, or deleting it on ORCID."""
    from orcid_sync.domain.push.planning import Step  # noqa: PLC0415 - see the imports

    if asset.id in ledger.opted_out:
        removed = REMOVED if change is not None and change.step is Step.DELETE else ""
        return OutputState.OPTED_OUT, f"Not sent: you chose not to send it.{removed}"
    if _deleted_by_researcher(entry):
        return (
            OutputState.DELETED_BY_RESEARCHER,
            "You deleted it from your ORCID record: we will not add it again unless you ask us to.",
        )
    return None


def _state(
    asset: Asset, change: WorkChange | None, entry: WorkEntry | None, ledger: PushLedger, settings: IntegrationSettings
) -> tuple[OutputState, str]:
    """The asset's state from what the next push plans for it (``change``, None when it plans nothing)."""
    from orcid_sync.domain.push.planning import Step  # noqa: PLC0415 - see the imports

    chosen = _chosen_state(asset, change, entry, ledger)
    if chosen is not None:
        return chosen
    put_code = _on_orcid(entry)
    if not settings.send_assets:
        if put_code is not None:
            return OutputState.ON_ORCID, "On your ORCID record. The repository is not sending changes at the moment."
        return OutputState.NOT_SENDING, "Not sent: the repository has not switched on sending outputs to ORCID."
    if change is None or change.step in (Step.DELETE, Step.FORGET):
        # Left out by the institution (not approved, hidden, type not sent): our work, if any, leaves ORCID.
        state, reason = _not_wanted_state(asset, settings)
        return state, reason + (REMOVED if change is not None and change.step is Step.DELETE else "")
    # WITHHELD and OPTED_OUT were answered above, from the ledger the plan read them from.
    state, reason = _PLANNED[change.step]
    if change.step is Step.SKIP and put_code is not None:
        reason += " The earlier version stays on your ORCID record."
    return state, reason.format(reason=change.reason)


def _output(
    asset: Asset, change: WorkChange | None, ledger: PushLedger, settings: IntegrationSettings
) -> ResearcherOutput:
    entry = ledger.works.get(asset.id)
    state, reason = _state(asset, change, entry, ledger, settings)
    refused = state is OutputState.REFUSED_BY_ORCID
    return ResearcherOutput(
        asset_id=asset.id,
        title=asset.title,
        asset_type=asset.type,
        year=_year(asset),
        state=state,
        reason=reason,
        put_code=_on_orcid(entry),
        orcid_message=(entry.message if entry is not None else None) if refused else None,
        can_opt_out=state not in (OutputState.OPTED_OUT, OutputState.DELETED_BY_RESEARCHER),
        can_opt_in=state is OutputState.OPTED_OUT,
        can_send_again=state is OutputState.DELETED_BY_RESEARCHER,
    )


def _view(
    researcher_id: str, orcid: str | None, assets: list[Asset], ledger: PushLedger, ports: OutputsPorts
) -> OutputsView:
    from orcid_sync.domain.push.planning import plan_works  # noqa: PLC0415 - see the imports

    settings = ports.settings()
    plan = plan_works(assets, ledger, settings, sandbox=ports.sandbox)
    changes = {change.asset_id: change for change in plan.works}
    outputs = [_output(asset, changes.get(asset.id), ledger, settings) for asset in sorted(assets, key=_order)]
    counts = dict.fromkeys(OutputState, 0)
    for output in outputs:
        counts[output.state] += 1
    return OutputsView(researcher_id=researcher_id, orcid=orcid, outputs=outputs, counts=counts)


def _order(asset: Asset) -> tuple[int, str, str]:
    """Newest first, then by title: the order a researcher scans a publication list in."""
    return (-(_year(asset) or 0), asset.title.casefold(), asset.id)


def _load(ports: OutputsPorts, researcher_id: str) -> tuple[str | None, list[Asset], PushLedger]:
    researcher = ports.researchers.get(researcher_id)
    if researcher is None:
        raise NotFoundError(f"no researcher has id {researcher_id}")
    # The same two reads as the push's (its assets, its ledger), so the page shows what the push will do.
    return researcher.orcid, ports.assets.list_for_researcher(researcher_id), ports.ledger.load(researcher_id)


def researcher_outputs(ports: OutputsPorts, researcher_id: str) -> OutputsView:
    """Every asset of the researcher's with its state and reason (DynamoDB only: no ORCID request)."""
    orcid, assets, ledger = _load(ports, researcher_id)
    return _view(researcher_id, orcid, assets, ledger, ports)


def _one(view: OutputsView, researcher_id: str, asset_id: str) -> ResearcherOutput:
    found = next((output for output in view.outputs if output.asset_id == asset_id), None)
    if found is None:
        raise NotFoundError(f"asset {asset_id} is not an output of researcher {researcher_id}")
    return found


def _after(
    ports: OutputsPorts,
    researcher_id: str,
    asset_id: str,
    *,
    orcid: str | None,
    assets: list[Asset],
    ledger: PushLedger,
) -> ResearcherOutput:
    """The asset's output once the change is made (computed from what was read and the change, no second read)."""
    return _one(_view(researcher_id, orcid, assets, ledger, ports), researcher_id, asset_id)


def opt_out(ports: OutputsPorts, researcher_id: str, asset_id: str, *, now: datetime) -> ResearcherOutput:
    """ "Don't send this one": the next push deletes our work for it from ORCID and never sends it until opt-in.

    NotFoundError when the asset is not the researcher's; ConflictError when it is opted out already or is a
    work the researcher deleted on ORCID (not sent anyway).
    """
    orcid, assets, ledger = _load(ports, researcher_id)
    current = _one(_view(researcher_id, orcid, assets, ledger, ports), researcher_id, asset_id)
    if not current.can_opt_out:
        raise ConflictError(f"asset {asset_id} is not sent to ORCID already ({current.state.value})")
    ports.ledger.set_opted_out(researcher_id, asset_id, True, at=now)
    logger.info("researcher opted out of an asset", researcher_id=researcher_id, asset_id=asset_id)
    changed = ledger.model_copy(update={"opted_out": ledger.opted_out | {asset_id}})
    return _after(ports, researcher_id, asset_id, orcid=orcid, assets=assets, ledger=changed)


def opt_in(ports: OutputsPorts, researcher_id: str, asset_id: str, *, now: datetime) -> ResearcherOutput:
    """Undo :func:`opt_out`: the asset is sent as any other again (a new work, once, on the next push).

    NotFoundError when the asset is not the researcher's; ConflictError when it is not opted out.
    """
    orcid, assets, ledger = _load(ports, researcher_id)
    current = _one(_view(researcher_id, orcid, assets, ledger, ports), researcher_id, asset_id)
    if not current.can_opt_in:
        raise ConflictError(f"asset {asset_id} is not opted out ({current.state.value})")
    ports.ledger.set_opted_out(researcher_id, asset_id, False, at=now)
    logger.info("researcher opted back in to an asset", researcher_id=researcher_id, asset_id=asset_id)
    changed = ledger.model_copy(update={"opted_out": ledger.opted_out - {asset_id}})
    return _after(ports, researcher_id, asset_id, orcid=orcid, assets=assets, ledger=changed)


def send_again(ports: OutputsPorts, researcher_id: str, asset_id: str, *, now: datetime) -> ResearcherOutput:
    """The researcher asks for a work they deleted on ORCID back: the next push re-creates it, once.

    The push's own :func:`~orcid_sync.domain.push.resend_deleted` (under the researcher's lease). NotFoundError
    when the asset is not the researcher's; ConflictError when it is not a work they deleted, or while a push runs.
    """
    orcid, assets, ledger = _load(ports, researcher_id)
    current = _one(_view(researcher_id, orcid, assets, ledger, ports), researcher_id, asset_id)
    if not current.can_send_again:
        raise ConflictError(f"asset {asset_id} is not a work you deleted on ORCID ({current.state.value})")
    from orcid_sync.domain.push.resend import resend_deleted  # noqa: PLC0415 - see the imports

    try:
        resend_deleted(researcher_id, asset_id, ledger=ports.ledger, leases=ports.leases, now=now)
    except NotFoundError:
        # The tombstone went between our read and the lease (another "send it again", an administrator's resend).
        raise ConflictError(f"asset {asset_id} is being sent again already") from None
    works = {key: entry for key, entry in ledger.works.items() if key != asset_id}
    changed = ledger.model_copy(update={"works": works})
    return _after(ports, researcher_id, asset_id, orcid=orcid, assets=assets, ledger=changed)
