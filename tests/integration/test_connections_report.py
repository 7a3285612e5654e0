"""The connections report from a seeded invitation store (moto): its numbers per campaign and overall, the daily
series, the CSV's shape, and ``orcid-sync report connections`` (table, CSV, the PNG chart, a missing matplotlib)."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orcid_sync import composition
from orcid_sync.domain.invitations.models import Campaign, CampaignKind, CampaignSelection, Invitation, InvitationStatus
from orcid_sync.domain.invitations.report import CSV_COLUMNS, connections_csv, connections_report
from orcid_sync.domain.models import ResearcherInput
from tests.integration.test_cli_jobs import cli_api, run_cli  # noqa: F401 - the fixture is used by name

NOW = datetime.now(UTC).replace(microsecond=0)
DAY1 = NOW - timedelta(days=2)


def invite(campaign_id: str, researcher_id: str, at: datetime) -> None:
    store = composition.invitation_store()
    invitation = Invitation(
        campaign_id=campaign_id,
        researcher_id=researcher_id,
        email=f"{researcher_id}@example.edu",
        status=InvitationStatus.SENDING,
        claimed_at=at,
    )
    store.claim(invitation, now=at, stale_before=at - timedelta(minutes=15))
    store.record_sent(campaign_id, researcher_id, message_id=f"m-{campaign_id}-{researcher_id}", at=at)


@pytest.fixture
def seeded(cli_api: dict[str, str]) -> None:  # noqa: F811 - the imported fixture, by name
    """Email campaign A invites r1..r4 on day 1: r1 and r2 open the link, r1 connects on day 2. ORCID inbox campaign
    B asks r4 and r5 on day 2; r5 connects the same day (not through the invitation: the researcher record says)."""
    researchers = composition.researcher_store()
    for researcher_id in ("r1", "r2", "r3", "r4", "r5"):
        researchers.upsert_profile(ResearcherInput(id=researcher_id, given_names="Test", family_name=researcher_id))
    store = composition.invitation_store()
    store.create_campaign(
        Campaign(
            campaign_id="A",
            created_at=DAY1,
            created_by="admin",
            selection=CampaignSelection(statuses=["not_connected"]),
        )
    )
    store.create_campaign(
        Campaign(
            campaign_id="B",
            created_at=DAY1 + timedelta(days=1),
            created_by="admin",
            selection=CampaignSelection(researchers=["r4", "r5"]),
            kind=CampaignKind.ORCID_INBOX,
        )
    )
    for researcher_id in ("r1", "r2", "r3", "r4"):
        invite("A", researcher_id, DAY1)
    store.mark_opened("A", "r1", DAY1 + timedelta(hours=1))
    store.mark_opened("A", "r2", DAY1 + timedelta(hours=2))
    for researcher_id in ("r4", "r5"):
        invite("B", researcher_id, DAY1 + timedelta(days=1))
    store.mark_connected("r1", DAY1 + timedelta(days=1, hours=1))
    researchers.record_connection(
        "r5", orcid="0000-0002-1825-0097", scopes=["/activities/update"], connected_at=DAY1 + timedelta(days=1, hours=3)
    )


def test_the_report_counts_per_campaign_and_distinct_researchers_overall(seeded: None) -> None:
    report = connections_report(composition.invitation_store(), composition.researcher_store(), now=NOW)
    by_campaign = {row.campaign_id: (row.invited, row.opened, row.connected) for row in report.campaigns}
    assert by_campaign == {"A": (4, 2, 1), "B": (2, 0, 1)}
    assert (report.overall.invited, report.overall.opened, report.overall.connected) == (5, 2, 2)
    assert report.overall.connection_rate == 0.4
    series = [(point.day, point.invited, point.connected) for point in report.daily]
    assert series == [
        (DAY1.date(), 4, 0),
        (DAY1.date() + timedelta(days=1), 5, 2),
        (DAY1.date() + timedelta(days=2), 5, 2),
    ]
    only_b = connections_report(
        composition.invitation_store(), composition.researcher_store(), now=NOW, campaign_id="B"
    )
    assert [row.campaign_id for row in only_b.campaigns] == ["B"]
    assert (only_b.overall.invited, only_b.overall.connected) == (2, 1)


def test_the_csv_is_one_table_of_campaigns_overall_and_days(seeded: None) -> None:
    report = connections_report(composition.invitation_store(), composition.researcher_store(), now=NOW)
    rows = list(csv.DictReader(io.StringIO(connections_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(row["scope"], row["date"]) for row in rows][:3] == [("B", ""), ("A", ""), ("overall", "")]
    days = [row for row in rows if row["date"]]
    assert len(days) == 3
    assert days[-1]["connection_rate"] == "0.4"


def test_the_cli_prints_the_table_and_the_csv(seeded: None) -> None:
    table = run_cli("report", "connections")
    assert table.exit_code == 0, table.output
    assert "orcid inbox" in table.output
    assert "40%" in table.output
    as_csv = run_cli("report", "connections", "--format", "csv")
    assert as_csv.output.splitlines()[0] == ",".join(CSV_COLUMNS)
    as_json = json.loads(run_cli("report", "connections", "--campaign", "A", "--output", "json").output)
    assert as_json["overall"]["invited"] == 4
    assert run_cli("report", "connections", "--campaign", "nope").exit_code != 0


def test_the_chart_is_a_png(seeded: None, tmp_path: Path) -> None:
    chart = tmp_path / "rate.png"
    result = run_cli("report", "connections", "--chart", str(chart))
    assert result.exit_code == 0, result.output
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_a_missing_matplotlib_names_the_extra(seeded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = run_cli("report", "connections", "--chart", str(tmp_path / "rate.png"))
    assert result.exit_code == 2
    assert "orcid-sync-cli[charts]" in result.output
    assert not (tmp_path / "rate.png").exists()
