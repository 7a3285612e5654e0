"""Who the push sends to, and which assets it sends: why a researcher or an asset is left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from orcid_sync.domain.identifiers import doi_key, pmid_key
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.models import Asset, OrcidStatus, Researcher, StoredToken
from orcid_sync.domain.push.ledger import (
    EntryState,
    PushLedger,
    WorkEntry,
)


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


def not_wanted(asset: Asset, settings: IntegrationSettings) -> str | None:
    if not asset.is_approved:
        return f"status is {asset.status}, not approved"
    if not asset.visible:
        return "not visible on the profile"
    return settings.asset_types.refusal(asset.type)


WITHHELD_REASON = (
    "the researcher deleted this work on ORCID; it is not sent again unless they ask for it or an administrator "
    "resends it (jobs run push --resend-deleted)"
)


OPTED_OUT_REASON = "the researcher chose not to send it; it is not sent until they opt back in"
OPTED_OUT_DELETE_REASON = "the researcher chose not to send"
"""The deletion event's reason: "the researcher chose not to send: 2 works deleted from ORCID"."""


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
