"""The InvitationsTable adapter over moto: claims are conditional, reminders come due, suppressions are found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orcid_sync import composition
from orcid_sync.domain.invitations.models import (
    Campaign,
    CampaignSelection,
    Invitation,
    InvitationStatus,
    MailSuppression,
    SuppressionReason,
)
from orcid_sync.domain.invitations.ports import ClaimOutcome
from tests.support.aws import AwsEnv

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _campaign(campaign_id: str = "c1", at: datetime = NOW) -> Campaign:
    return Campaign(
        campaign_id=campaign_id,
        created_at=at,
        created_by="arn:aws:iam::123456789012:user/admin",
        selection=CampaignSelection(researchers=["ada"]),
    )


def _invitation(campaign_id: str = "c1", researcher_id: str = "ada") -> Invitation:
    return Invitation(
        campaign_id=campaign_id,
        researcher_id=researcher_id,
        email="ada@example.edu",
        status=InvitationStatus.SENDING,
    )


def test_campaigns_are_listed_newest_first_with_their_counts(aws: AwsEnv) -> None:
    store = composition.invitation_store()
    store.create_campaign(_campaign("old", NOW - timedelta(days=1)))
    store.create_campaign(_campaign("new", NOW))
    store.add_counts("new", sent=2, failed=1)
    store.add_counts("new", sent=1)

    assert [c.campaign_id for c in store.campaigns()] == ["new", "old"]
    counts = store.get_campaign("new").counts  # type: ignore[union-attr]
    assert (counts.sent, counts.failed) == (3, 1)


def test_a_claim_is_taken_once_and_a_stale_claim_can_be_taken_over(aws: AwsEnv) -> None:
    store = composition.invitation_store()
    fresh = NOW - timedelta(minutes=5)

    assert store.claim(_invitation(), now=NOW, stale_before=fresh) is ClaimOutcome.CLAIMED
    # A redelivery moments later: the first worker may still be sending.
    assert store.claim(_invitation(), now=NOW + timedelta(seconds=1), stale_before=fresh) is ClaimOutcome.BUSY
    # Much later, the claim is stale (its worker died between claim and send): taken over.
    later = NOW + timedelta(minutes=10)
    assert store.claim(_invitation(), now=later, stale_before=later - timedelta(minutes=5)) is ClaimOutcome.CLAIMED

    store.record_sent("c1", "ada", message_id="m-1", at=later)
    # Once sent, never again, however late the redelivery.
    much_later = NOW + timedelta(days=1)
    assert store.claim(_invitation(), now=much_later, stale_before=much_later) is ClaimOutcome.DONE
    sent = store.invitation("c1", "ada")
    assert sent is not None and sent.status is InvitationStatus.SENT and sent.message_id == "m-1"
    assert store.invitation_by_message("m-1") == sent


def test_reminders_come_due_and_stop_after_connection(aws: AwsEnv) -> None:
    store = composition.invitation_store()
    store.claim(_invitation(), now=NOW, stale_before=NOW)
    store.record_sent("c1", "ada", message_id="m-1", at=NOW)
    store.claim(_invitation(researcher_id="bob"), now=NOW, stale_before=NOW)
    store.record_sent("c1", "bob", message_id="m-2", at=NOW)

    assert [i.researcher_id for i in store.due_reminders(sent_before=NOW)] == []
    due = NOW + timedelta(days=14, seconds=1)
    assert sorted(i.researcher_id for i in store.due_reminders(sent_before=due)) == ["ada", "bob"]

    assert store.claim_reminder("c1", "ada", 1, now=due, stale_before=due) is ClaimOutcome.CLAIMED
    assert store.claim_reminder("c1", "ada", 1, now=due, stale_before=due - timedelta(minutes=5)) is ClaimOutcome.BUSY
    store.record_reminder_sent("c1", "ada", 1, message_id="m-3", at=due, last=False)
    assert store.claim_reminder("c1", "ada", 1, now=due, stale_before=due) is ClaimOutcome.DONE

    assert store.mark_connected("bob", due) == 1
    assert store.mark_opened("c1", "ada", due)
    assert not store.mark_opened("c1", "nobody", due)
    remaining = list(store.due_reminders(sent_before=due + timedelta(days=30)))
    assert [(i.researcher_id, i.reminders_sent) for i in remaining] == [("ada", 1)]
    assert remaining[0].opened_at == due


def test_suppressions_by_researcher_and_by_address(aws: AwsEnv) -> None:
    store = composition.invitation_store()
    store.suppress(MailSuppression(reason=SuppressionReason.UNSUBSCRIBED, at=NOW, researcher_id="ada"))
    store.suppress(MailSuppression(reason=SuppressionReason.BOUNCED, at=NOW, address="Bob@Example.edu"))

    assert [s.reason for s in store.suppressions(researcher_id="ada", address="ada@example.edu")] == ["unsubscribed"]
    assert [s.reason for s in store.suppressions(researcher_id="bob", address="bob@example.EDU")] == ["bounced"]
    assert store.suppressions(researcher_id="carol", address=None) == []
    assert set(store.suppressed_addresses(["bob@example.edu", "ada@example.edu"])) == {"bob@example.edu"}
