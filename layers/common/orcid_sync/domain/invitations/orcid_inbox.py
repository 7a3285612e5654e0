"""ORCID inbox permission requests: for researchers whose iD we know but who have not connected, a request in their
ORCID inbox whose button leads to our connect flow.

The request's ``authorization-url`` is the researcher's own signed connect link, not ORCID's authorize URL: ORCID's
guide asks for the URL "you would call if you were asking for the permission from your own application", and ours
starts at the connect page, which records a fresh single-use OAuth state and only then sends the researcher to
ORCID's authorize page. An authorize URL written into the notification would carry a state that has long expired
(states live an hour; inbox messages are read days later) and the callback would refuse it.

One run is a campaign (kind ``orcid_inbox``) in the invitation store. Each researcher is claimed before the request
is sent, as emails are (``InvitationStore.claim``), so re-running a campaign (``--campaign``), or a retry after a
crash, never puts a second request in the same researcher's inbox. A dry run sends and stores nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from orcid_sync.domain.connect.shared import connect_url
from orcid_sync.domain.connect.signing import Signer
from orcid_sync.domain.errors import InvalidInputError, NotFoundError, Problem
from orcid_sync.domain.institution_settings import IntegrationSettings
from orcid_sync.domain.invitations.models import (
    Campaign,
    CampaignKind,
    CampaignSelection,
    CampaignStatusSelector,
    Invitation,
    InvitationStatus,
)
from orcid_sync.domain.invitations.ports import ClaimOutcome, InvitationStore
from orcid_sync.domain.log import logger
from orcid_sync.domain.models import OrcidStatus, Researcher
from orcid_sync.domain.orcid.errors import NotFoundError as OrcidNotFoundError
from orcid_sync.domain.orcid.errors import OrcidApiError
from orcid_sync.domain.orcid.notifications import INTRO_MAX_LENGTH, NotificationItem, NotificationPermission
from orcid_sync.domain.ports import ResearcherStore

DEFAULT_LINK_DAYS = 90
"""How long the connect link in the request works: inbox messages reach researchers by email in batches, and may
sit unread for weeks."""
STALE_CLAIM = timedelta(minutes=15)
"""A claim older than this is taken to be from a run that died between claiming and sending."""
MESSAGE_ID_PREFIX = "orcid-inbox:"
"""The invitation's ``message_id`` is ``orcid-inbox:<put-code>`` (ORCID's id of the notification)."""

# Shown mid-sentence by ORCID ("Add <subject> to your ORCID record"): short, lower case (ORCID: under 25 characters).
_SUBJECTS = {"en": "your research outputs", "es": "tus resultados de investigación"}
_INTROS = {
    "en": (
        "{institution} would like to add the research outputs you publish in its repository to your ORCID record "
        "and keep them up to date, so you do not have to. Grant permission to connect your ORCID iD with "
        "{institution}; you can revoke it at any time in your ORCID account settings."
    ),
    "es": (
        "{institution} quiere añadir a tu registro ORCID los resultados de investigación que publicas en su "
        "repositorio y mantenerlos al día, para que no tengas que hacerlo tú. Concede el permiso para conectar tu "
        "iD de ORCID con {institution}; puedes revocarlo cuando quieras en la configuración de tu cuenta ORCID."
    ),
}
_CONTACT = {"en": " Questions: {contact}", "es": " Preguntas: {contact}"}
_ITEM_NAMES = {"en": "Research outputs from {institution}", "es": "Resultados de investigación de {institution}"}
_DEFAULT_INSTITUTION = {"en": "Your institution", "es": "Tu institución"}


class InboxSender(Protocol):
    """ORCID's notification API with the client's 2-legged /premium-notification token."""

    def send(self, orcid: str, notification: NotificationPermission) -> int:
        """Put the request in the inbox of ``orcid``; ORCID's put-code of it."""
        ...

    @property
    def requests(self) -> int:
        """ORCID requests made so far (the token's included)."""
        ...


@dataclass(frozen=True)
class OrcidInboxPorts:
    researchers: ResearcherStore
    invitations: InvitationStore
    signer: Signer
    settings: IntegrationSettings
    sender: InboxSender | None
    """None for a dry run: nothing is sent, so no ORCID client (or secret) is needed."""


class InboxOutcomeKind(StrEnum):
    SENT = "sent"
    WOULD_SEND = "would_send"
    """A dry run's answer for a researcher who would get a request."""
    ALREADY_SENT = "already_sent"
    """This campaign already put a request in their inbox (a re-run or a redelivery): nothing sent."""
    BUSY = "busy"
    """Another run claimed them moments ago."""
    SKIPPED = "skipped"
    FAILED = "failed"


class InboxOutcome(BaseModel):
    researcher_id: str
    outcome: InboxOutcomeKind
    reason: str | None = None
    put_code: int | None = None


class InboxCampaignReport(BaseModel):
    campaign_id: str | None
    """None for a dry run (nothing is stored)."""
    dry_run: bool
    selected: int = 0
    sent: int = 0
    already_sent: int = 0
    skipped: int = 0
    failed: int = 0
    orcid_requests: int = 0
    """Requests made to ORCID by this run (under the shared rate limit), the 2-legged token's included."""
    outcomes: list[InboxOutcome] = Field(default_factory=list)


def permission_request(
    researcher: Researcher, *, authorization_url: str, settings: IntegrationSettings, language: str = "en"
) -> NotificationPermission:
    """The request a researcher gets: subject, intro and item from the institution's settings, in ``language``."""
    lang = language if language in _SUBJECTS else "en"
    institution = settings.institution_name or _DEFAULT_INSTITUTION[lang]
    intro = _INTROS[lang].format(institution=institution)
    if settings.support_contact:
        intro += _CONTACT[lang].format(contact=settings.support_contact)
    item_name = _ITEM_NAMES[lang].format(institution=institution)
    return NotificationPermission(
        authorization_url=authorization_url,
        subject=_SUBJECTS[lang],
        intro=intro[:INTRO_MAX_LENGTH],
        items=(NotificationItem(item_type="work", item_name=item_name),),
    )


def _unconnected_reason(researcher: Researcher | None) -> str | None:
    if researcher is None:
        return "unknown_researcher"
    if not researcher.orcid:
        return "no_orcid"
    if researcher.orcid_status is OrcidStatus.ACTIVE:
        return "connected"
    return None


def _chosen(
    researchers: ResearcherStore, researcher_ids: Sequence[str] | None
) -> tuple[list[Researcher], list[InboxOutcome]]:
    """The researchers to ask, and the named ones who cannot be asked (and why)."""
    if not researcher_ids:
        candidates: Iterable[Researcher] = researchers.iter_all()
        return [researcher for researcher in candidates if _unconnected_reason(researcher) is None], []
    found = researchers.get_many(list(dict.fromkeys(researcher_ids)))
    chosen: list[Researcher] = []
    skipped: list[InboxOutcome] = []
    for researcher_id in dict.fromkeys(researcher_ids):
        researcher = found.get(researcher_id)
        reason = _unconnected_reason(researcher)
        if researcher is not None and reason is None:
            chosen.append(researcher)
        else:
            skipped.append(InboxOutcome(researcher_id=researcher_id, outcome=InboxOutcomeKind.SKIPPED, reason=reason))
    return chosen, skipped


def _campaign(
    store: InvitationStore,
    campaign_id: str | None,
    *,
    researcher_ids: Sequence[str] | None,
    created_by: str,
    now: datetime,
) -> Campaign:
    if campaign_id is not None:
        existing = store.get_campaign(campaign_id)
        if existing is None:
            raise NotFoundError(f"campaign {campaign_id} does not exist")
        if existing.kind is not CampaignKind.ORCID_INBOX:
            raise InvalidInputError(
                f"campaign {campaign_id} is an email campaign, not an ORCID inbox one",
                [Problem(field="campaign_id", reason="must name an ORCID inbox campaign (invitations notify-orcid)")],
            )
        return existing
    selection = (
        CampaignSelection(researchers=list(researcher_ids))
        if researcher_ids
        else CampaignSelection(statuses=list(CampaignStatusSelector))
    )
    campaign = Campaign(
        campaign_id=f"inbox-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        created_at=now,
        created_by=created_by,
        selection=selection,
        kind=CampaignKind.ORCID_INBOX,
    )
    store.create_campaign(campaign)
    return campaign


def notify_orcid_inbox(
    ports: OrcidInboxPorts,
    *,
    researcher_ids: Sequence[str] | None,
    dry_run: bool,
    base_url: str,
    created_by: str,
    now: datetime,
    campaign_id: str | None = None,
    language: str = "en",
    link_days: int = DEFAULT_LINK_DAYS,
) -> InboxCampaignReport:
    """Ask the chosen (or every) researcher with a known iD who has not connected, through their ORCID inbox."""
    chosen, skipped = _chosen(ports.researchers, researcher_ids)
    report = InboxCampaignReport(
        campaign_id=None, dry_run=dry_run, selected=len(chosen) + len(skipped), skipped=len(skipped), outcomes=skipped
    )
    if dry_run:
        report.outcomes += [
            InboxOutcome(researcher_id=researcher.id, outcome=InboxOutcomeKind.WOULD_SEND) for researcher in chosen
        ]
        return report
    if ports.sender is None:
        raise ValueError("a run that sends needs an ORCID inbox sender")
    campaign = _campaign(ports.invitations, campaign_id, researcher_ids=researcher_ids, created_by=created_by, now=now)
    report.campaign_id = campaign.campaign_id
    requests_before = ports.sender.requests
    link_expiry = (now + timedelta(days=link_days)).replace(microsecond=0)
    for researcher in chosen:
        outcome = _ask(
            ports,
            ports.sender,
            campaign_id=campaign.campaign_id,
            researcher=researcher,
            base_url=base_url,
            link_expiry=link_expiry,
            language=language,
            now=now,
        )
        report.outcomes.append(outcome)
        if outcome.outcome is InboxOutcomeKind.SENT:
            report.sent += 1
        elif outcome.outcome in (InboxOutcomeKind.ALREADY_SENT, InboxOutcomeKind.BUSY):
            report.already_sent += 1
        else:
            report.failed += 1
    report.orcid_requests = ports.sender.requests - requests_before
    new_counts = {"selected": report.selected, "skipped": report.skipped} if campaign_id is None else {}
    ports.invitations.add_counts(campaign.campaign_id, sent=report.sent, failed=report.failed, **new_counts)
    logger.info(
        "ORCID inbox requests sent",
        campaign_id=campaign.campaign_id,
        sent=report.sent,
        already_sent=report.already_sent,
        failed=report.failed,
        skipped=report.skipped,
        orcid_requests=report.orcid_requests,
    )
    return report


def _ask(
    ports: OrcidInboxPorts,
    sender: InboxSender,
    *,
    campaign_id: str,
    researcher: Researcher,
    base_url: str,
    link_expiry: datetime,
    language: str,
    now: datetime,
) -> InboxOutcome:
    """Claim, send and record one researcher's request."""
    claim = Invitation(
        campaign_id=campaign_id,
        researcher_id=researcher.id,
        language="es" if language == "es" else "en",
        status=InvitationStatus.SENDING,
        claimed_at=now,
    )
    claimed = ports.invitations.claim(claim, now=now, stale_before=now - STALE_CLAIM)
    if claimed is ClaimOutcome.DONE:
        return InboxOutcome(researcher_id=researcher.id, outcome=InboxOutcomeKind.ALREADY_SENT)
    if claimed is ClaimOutcome.BUSY:
        return InboxOutcome(researcher_id=researcher.id, outcome=InboxOutcomeKind.BUSY)
    link = connect_url(base_url, ports.signer.sign_link(researcher.id, link_expiry))
    request = permission_request(researcher, authorization_url=link, settings=ports.settings, language=language)
    orcid = researcher.orcid or ""
    try:
        put_code = sender.send(orcid, request)
    except OrcidNotFoundError:
        ports.invitations.release_claim(campaign_id, researcher.id)
        return InboxOutcome(
            researcher_id=researcher.id, outcome=InboxOutcomeKind.FAILED, reason=f"ORCID has no record {orcid}"
        )
    except OrcidApiError as error:
        ports.invitations.release_claim(campaign_id, researcher.id)
        logger.warning(
            "ORCID refused an inbox request",
            researcher_id=researcher.id,
            status=error.status,
            error=type(error).__name__,
        )
        return InboxOutcome(
            researcher_id=researcher.id,
            outcome=InboxOutcomeKind.FAILED,
            reason=f"ORCID answered {error.status} ({type(error).__name__})",
        )
    ports.invitations.record_sent(campaign_id, researcher.id, message_id=f"{MESSAGE_ID_PREFIX}{put_code}", at=now)
    return InboxOutcome(researcher_id=researcher.id, outcome=InboxOutcomeKind.SENT, put_code=put_code)
