"""Bounces and complaints in the reports (issue 19): a campaign's invitations that SES bounced or that the researcher
marked as spam are counted per campaign and overall in ``report connections``, and the researchers are named in
``report tokens`` (JSON, CSV and the table), over moto and the admin API handler."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from orcid_sync import composition
from orcid_sync.domain.invitations.campaigns import record_delivery_event
from orcid_sync.domain.invitations.models import (
    Campaign,
    CampaignSelection,
    Invitation,
    InvitationStatus,
    MailDeliveryEvent,
    SuppressionReason,
)
from orcid_sync.domain.invitations.report import connections_csv, connections_report
from orcid_sync.domain.models import ResearcherInput
from tests.integration.test_cli_jobs import cli_api, run_cli  # noqa: F401 - the fixture is used by name

NOW = datetime.now(UTC).replace(microsecond=0)
SENT = NOW - timedelta(days=1)


def _invited(researcher_id: str) -> None:
    store = composition.invitation_store()
    invitation = Invitation(
        campaign_id="C1",
        researcher_id=researcher_id,
        email=f"{researcher_id}@example.edu",
        status=InvitationStatus.SENDING,
        claimed_at=SENT,
    )
    store.claim(invitation, now=SENT, stale_before=SENT - timedelta(minutes=15))
    store.record_sent("C1", researcher_id, message_id=f"ses-{researcher_id}", at=SENT)


@pytest.fixture
def campaign(cli_api: dict[str, str]) -> None:  # noqa: F811 - the imported fixture, by name
    """Campaign C1 mailed r1..r4 (none ever connected); r2's address bounced for good, r3 complained, r4's bounce
    was transient (changes nothing)."""
    researchers = composition.researcher_store()
    for researcher_id in ("r1", "r2", "r3", "r4"):
        researchers.upsert_profile(
            ResearcherInput(
                id=researcher_id, given_names="Test", family_name=researcher_id, email=f"{researcher_id}@Example.edu"
            )
        )
    store = composition.invitation_store()
    store.create_campaign(
        Campaign(
            campaign_id="C1",
            created_at=SENT,
            created_by="admin",
            selection=CampaignSelection(researchers=["r1", "r2", "r3", "r4"]),
        )
    )
    for researcher_id in ("r1", "r2", "r3", "r4"):
        _invited(researcher_id)
    for researcher_id, reason, permanent in (
        ("r2", SuppressionReason.BOUNCED, True),
        ("r3", SuppressionReason.COMPLAINED, True),
        ("r4", SuppressionReason.BOUNCED, False),
    ):
        record_delivery_event(
            MailDeliveryEvent(
                reason=reason,
                addresses=[f"{researcher_id}@example.edu"],
                message_id=f"ses-{researcher_id}",
                at=NOW,
                permanent=permanent,
            ),
            invitations=store,
        )


def test_the_connections_report_counts_bounces_and_complaints_per_campaign(campaign: None) -> None:
    report = connections_report(composition.invitation_store(), composition.researcher_store(), now=NOW)
    [row] = report.campaigns
    assert (row.invited, row.bounced, row.complained) == (4, 1, 1)
    assert (report.overall.bounced, report.overall.complained) == (1, 1)
    rows = list(csv.DictReader(io.StringIO(connections_csv(report))))
    assert [(r["scope"], r["bounced"], r["complained"]) for r in rows if not r["date"]] == [
        ("C1", "1", "1"),
        ("overall", "1", "1"),
    ]
    assert {(r["bounced"], r["complained"]) for r in rows if r["date"]} == {("", "")}
    table = run_cli("report", "connections")
    assert "Bounced/complained" in table.output and "1/1" in table.output


def test_the_token_report_names_the_bounced_and_complained_researchers(campaign: None) -> None:
    body = json.loads(run_cli("report", "tokens", "--output", "json").output)
    flagged = {row["researcher_id"]: (row["email_suppressed"], row["problems"]) for row in body["rows"]}
    assert flagged == {"r2": ("bounced", ["email_bounced"]), "r3": ("complained", ["email_complained"])}
    as_csv = list(csv.DictReader(io.StringIO(run_cli("report", "tokens", "--output", "csv").output)))
    assert [(r["researcher_id"], r["email_suppressed"]) for r in as_csv] == [("r2", "bounced"), ("r3", "complained")]
    table = run_cli("report", "tokens")
    assert "email bounced" in table.output and "email complained" in table.output
    assert "2 researchers' addresses bounced or complained" in table.output
