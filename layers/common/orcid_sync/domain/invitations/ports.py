"""What the invitation use cases need stored, sent and read, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from orcid_sync.domain.invitations.models import Campaign, Invitation, InvitationTask, MailSuppression


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    """This worker may send now."""
    DONE = "done"
    """Already sent (or settled otherwise): a redelivery; nothing to do."""
    BUSY = "busy"
    """Another worker claimed it moments ago and may still be sending: try again later."""


class InvitationStore(Protocol):
    # --- campaigns ---------------------------------------------------------------------------------
    def create_campaign(self, campaign: Campaign) -> None: ...

    def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    def campaigns(self, *, limit: int = 100) -> list[Campaign]:
        """Newest first."""
        ...

    def add_counts(self, campaign_id: str, **deltas: int) -> None:
        """Atomically add to the campaign's counts (names of ``CampaignCounts`` fields)."""
        ...

    # --- invitations -------------------------------------------------------------------------------
    def invitations(self, campaign_id: str) -> list[Invitation]: ...

    def invitation(self, campaign_id: str, researcher_id: str) -> Invitation | None: ...

    def researcher_invitations(self, researcher_id: str) -> list[Invitation]:
        """Every campaign's invitation of one researcher, oldest first."""
        ...

    def record_skipped(self, invitation: Invitation) -> None:
        """Store a chosen researcher who gets no mail (status ``skipped``), unless the pair exists already."""
        ...

    def claim(self, invitation: Invitation, *, now: datetime, stale_before: datetime) -> ClaimOutcome:
        """Claim the first email of (campaign, researcher): create it as ``sending``, or take over a ``sending``
        claimed before ``stale_before`` (its worker died between claim and confirmation)."""
        ...

    def record_sent(self, campaign_id: str, researcher_id: str, *, message_id: str, at: datetime) -> None: ...

    def release_claim(self, campaign_id: str, researcher_id: str) -> None:
        """SES refused (an error, not a crash): drop the claim so the redelivery can try again at once."""
        ...

    def due_reminders(self, *, sent_before: datetime) -> Iterator[Invitation]:
        """Invitations sent (first mail or last reminder) before the cutoff whose researcher has neither connected
        nor unsubscribed, and that are not settled (bounced, complained, out of reminders)."""
        ...

    def claim_reminder(
        self, campaign_id: str, researcher_id: str, number: int, *, now: datetime, stale_before: datetime
    ) -> ClaimOutcome: ...

    def record_reminder_sent(
        self, campaign_id: str, researcher_id: str, number: int, *, message_id: str, at: datetime, last: bool
    ) -> None:
        """``last``: no reminder follows this one (the invitation leaves the due list)."""
        ...

    def release_reminder_claim(self, campaign_id: str, researcher_id: str, number: int) -> None: ...

    def retire(self, campaign_id: str, researcher_id: str) -> None:
        """No reminder will ever be due for it (a newer campaign invited the researcher again)."""
        ...

    def mark_opened(self, campaign_id: str, researcher_id: str, at: datetime) -> bool:
        """The researcher opened the campaign's link (first time only); False when there is no such invitation."""
        ...

    def mark_connected(self, researcher_id: str, at: datetime) -> int:
        """The researcher connected: every invitation of theirs not yet connected records it and stops reminding."""
        ...

    def mark_status(self, campaign_id: str, researcher_id: str, status: str) -> None:
        """Bounced, complained or unsubscribed: no reminder follows."""
        ...

    # --- suppressions ------------------------------------------------------------------------------
    def suppress(self, suppression: MailSuppression) -> None: ...

    def suppressions(self, *, researcher_id: str, address: str | None) -> list[MailSuppression]:
        """What stops mail to this researcher, or to their address."""
        ...

    def invitation_by_message(self, message_id: str) -> Invitation | None:
        """The invitation whose last email SES knows by this id (for bounces and complaints)."""
        ...

    def suppressed_addresses(self, addresses: Sequence[str]) -> dict[str, MailSuppression]:
        """Bounced or complained addresses among these (lowercased), for the reports."""
        ...


@dataclass(frozen=True)
class OutgoingMail:
    """One rendered email."""

    to: str
    subject: str
    html: str
    text: str
    unsubscribe_url: str
    """Put in the ``List-Unsubscribe`` header too (with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``)."""
    tags: dict[str, str]

    def __repr__(self) -> str:  # never the address or the body (the personal link) in a log line
        return f"OutgoingMail(subject={self.subject!r})"


class MailSender(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Send; return SES's message id. Raises ``MailRefusedError`` when SES refuses this message for good
        (unverified sender in the sandbox, a suppressed or malformed address), other errors when it may work later."""
        ...


class MailRefusedError(Exception):
    """SES refused this message and would refuse it again."""


class InvitationRenderer(Protocol):
    def render(self, context: InvitationContent) -> tuple[str, str, str]:
        """(subject, html, text) in the content's language."""
        ...


@dataclass(frozen=True)
class InvitationContent:
    """What an invitation email says (the renderer only lays it out)."""

    language: str
    researcher_name: str
    connect_url: str
    unsubscribe_url: str
    institution_name: str
    logo_url: str | None
    support_contact: str | None
    scopes: tuple[str, ...]
    reminder: int = 0
    """0 for the first email, n for the n-th reminder."""
    expires_at: datetime | None = None


class InvitationQueue(Protocol):
    def send_invitations(self, tasks: Sequence[InvitationTask]) -> None: ...
