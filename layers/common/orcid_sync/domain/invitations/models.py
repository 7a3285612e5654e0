"""Invitation campaigns as stored: the campaign, one invitation per (campaign, researcher), and suppressed addresses.

An invitation is claimed (``sending``) before its email goes out and becomes ``sent`` once SES accepted it, so a
redelivered worker message never mails a researcher twice in one campaign (see ``campaigns.py``). The email address
is stored (reminders go to the address invited) but never logged: ``Invitation.__repr__`` leaves it out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orcid_sync.domain.models import OrcidStatus

LANGUAGES = ("en", "es")
"""The languages an invitation is written in; anything else gets English."""
DEFAULT_LANGUAGE = "en"


class InvitationStatus(StrEnum):
    SENDING = "sending"
    """Claimed by a worker, the email not yet confirmed as accepted by SES (see ``campaigns.py`` on redelivery)."""
    SENT = "sent"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    SKIPPED = "skipped"
    """Chosen, but not mailed: no email address, unsubscribed, bounced or complained before (``skip_reason``)."""


class SkipReason(StrEnum):
    NO_EMAIL = "no_email"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    CONNECTED = "connected"
    """Chosen by id but already connected (an active, authenticated iD): nothing to invite them to."""
    UNKNOWN = "unknown_researcher"
    REFUSED = "refused_by_ses"
    """SES refused the message for good (e.g. an unverified sender in the SES sandbox, a malformed address)."""


class SuppressionReason(StrEnum):
    """Why no more mail goes to a researcher or an address."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"

    @property
    def skip_reason(self) -> SkipReason:
        return SkipReason(self.value)


class CampaignStatusSelector(StrEnum):
    """``--status``: which researchers a campaign invites, as the token health report names them."""

    NOT_CONNECTED = "not_connected"
    """No ORCID connection at all (status ``none``), or one the researcher ended (``disconnected``)."""
    REVOKED = "revoked"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - a status name, not a secret

    def matches(self, status: OrcidStatus) -> bool:
        if self is CampaignStatusSelector.NOT_CONNECTED:
            return status in (OrcidStatus.NONE, OrcidStatus.DISCONNECTED)
        return status.value == self.value


class CampaignSelection(BaseModel):
    """Whom a campaign invites: named researchers, or everyone in some connection statuses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    researchers: Annotated[list[str], Field(max_length=10000)] = Field(default_factory=list)
    statuses: list[CampaignStatusSelector] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_of(self) -> CampaignSelection:
        if bool(self.researchers) == bool(self.statuses):
            raise ValueError("give either researchers or statuses (one of them, not empty)")
        return self


class CampaignKind(StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    ORCID_INBOX = "orcid_inbox"
    """Permission requests put in researchers' ORCID inboxes (``invitations notify-orcid``; no email)."""


class CampaignCounts(BaseModel):
    """What a campaign did. ``selected``/``queued``/``skipped`` are written when it starts; the rest are counted
    as workers send (atomic additions), so they are exact even with redeliveries (a redelivery adds nothing)."""

    selected: int = 0
    queued: int = 0
    skipped: int = 0
    sent: int = 0
    failed: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0


class SkippedResearcher(BaseModel):
    researcher_id: str
    reason: SkipReason


class Campaign(BaseModel):
    """One ``invitations send`` (or ``POST /invitations``)."""

    model_config = ConfigDict(extra="ignore")

    campaign_id: str
    created_at: datetime
    created_by: str
    """The caller (an IAM ARN, a console user's email, or ``scheduler`` for reminders)."""
    selection: CampaignSelection
    dry_run: bool = False
    kind: CampaignKind = CampaignKind.INVITATION
    base_url: str = ""
    """The connect pages' public URL the campaign's links (and later its reminders' links) point at."""
    counts: CampaignCounts = Field(default_factory=CampaignCounts)
    skipped: list[SkippedResearcher] = Field(default_factory=list)
    """Who was chosen but not mailed, and why (never their address)."""


class Invitation(BaseModel):
    """One researcher invited by one campaign, and what became of it."""

    model_config = ConfigDict(extra="ignore")

    campaign_id: str
    researcher_id: str
    email: str | None = Field(default=None, repr=False)
    """Where it went (stored for reminders; never logged, never in a response's log line)."""
    language: Literal["en", "es"] = "en"
    status: InvitationStatus
    skip_reason: SkipReason | None = None
    claimed_at: datetime | None = None
    """When a worker claimed the send (status ``sending``); a claim older than the stale limit is retried."""
    sent_at: datetime | None = None
    reminders_sent: int = 0
    last_sent_at: datetime | None = None
    reminder_claimed: int | None = None
    """The number of the reminder being sent (claimed, not yet confirmed), like ``sending`` for the first mail."""
    reminder_claimed_at: datetime | None = None
    opened_at: datetime | None = None
    connected_at: datetime | None = None
    message_id: str | None = None
    """SES's id of the last email sent (matches bounce and complaint notifications)."""


class MailSuppression(BaseModel):
    """No more mail to this researcher (an unsubscribe) or address (a bounce or complaint)."""

    reason: SuppressionReason
    at: datetime
    researcher_id: str | None = None
    address: str | None = Field(default=None, repr=False)
    detail: str | None = None
    """SES's bounce type or complaint feedback type, e.g. ``Permanent/General`` (never the address)."""


class MailDeliveryEvent(BaseModel):
    """A bounce or complaint as the mail-events function reads it from SES's notification."""

    reason: Literal[SuppressionReason.BOUNCED, SuppressionReason.COMPLAINED]
    addresses: list[str] = Field(repr=False)
    message_id: str | None = None
    at: datetime
    detail: str | None = None
    permanent: bool = True
    """A transient (soft) bounce does not stop mail to the address."""


class InvitationTask(BaseModel):
    """The InvitationQueue's message: mail this researcher for this campaign (``reminder`` 0) or remind them."""

    campaign_id: str
    researcher_id: str
    reminder: int = 0
    job_id: str | None = None
    """The reminder job run this reminder belongs to (its history counts it)."""
    base_url: str
    """The connect pages' public URL (the campaign's, as its admin request saw it), for the links in the email."""
