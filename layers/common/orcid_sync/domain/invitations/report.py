"""The connections report: of the researchers invited (by email or through their ORCID inbox), how many opened their
link and how many connected, per campaign and overall, and the connection rate day by day.

- **invited**: the campaign reached them (an email SES accepted, or a request ORCID put in their inbox); chosen but
  skipped researchers and claims never confirmed do not count.
- **opened**: they opened the campaign's connect link (``opened_at``).
- **connected**: the invitation recorded their connection (``connected_at``), or the researcher is connected now and
  connected after the invitation reached them (a connection made some other way still answers the invitation).
- **bounced** / **complained** (per campaign and overall; the daily series leaves them out, as an invitation keeps
  no date for them): SES accepted the email but the address bounced for good, or the researcher marked it as spam;
  no more mail goes there (the token report names them too).

Overall counts are of distinct researchers (a researcher invited twice counts once, as connected if either
invitation was answered). The daily series is cumulative: on each day, the researchers invited by then, and of
them, those who had opened and connected by the end of that day.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

from orcid_sync.domain.errors import NotFoundError
from orcid_sync.domain.invitations.models import Campaign, CampaignKind, Invitation, InvitationStatus
from orcid_sync.domain.invitations.ports import InvitationStore
from orcid_sync.domain.models import OrcidStatus, Researcher
from orcid_sync.domain.ports import ResearcherStore

MAX_CAMPAIGNS = 100
MAX_DAYS = 366
"""The daily series covers at most the last year."""
_UNDELIVERED = frozenset({InvitationStatus.BOUNCED, InvitationStatus.COMPLAINED})
_REACHED = frozenset(
    {InvitationStatus.SENT, InvitationStatus.BOUNCED, InvitationStatus.COMPLAINED, InvitationStatus.UNSUBSCRIBED}
)
CSV_COLUMNS = (
    "scope",
    "kind",
    "date",
    "invited",
    "opened",
    "connected",
    "open_rate",
    "connection_rate",
    "bounced",
    "complained",
)


class ConnectionCounts(BaseModel):
    invited: int = 0
    opened: int = 0
    connected: int = 0
    open_rate: float = 0.0
    """opened / invited (0 when nobody was invited)."""
    connection_rate: float = 0.0
    """connected / invited (0 when nobody was invited)."""


class DeliveryCounts(ConnectionCounts):
    """The counts plus the invited researchers whose address bounced or complained."""

    bounced: int = 0
    complained: int = 0


class CampaignConnections(DeliveryCounts):
    campaign_id: str
    kind: CampaignKind
    created_at: datetime


class DailyConnections(ConnectionCounts):
    day: date


class ConnectionsReport(BaseModel):
    generated_at: datetime
    campaign_id: str | None = None
    """The one campaign the report is about, when asked for one."""
    overall: DeliveryCounts
    campaigns: list[CampaignConnections] = Field(default_factory=list)
    daily: list[DailyConnections] = Field(default_factory=list)


class _Reach:
    """When one researcher was reached, opened the link and connected (the earliest of each)."""

    def __init__(self) -> None:
        self.invited_at: datetime | None = None
        self.opened_at: datetime | None = None
        self.connected_at: datetime | None = None
        self.undelivered: set[InvitationStatus] = set()
        """Bounced and/or complained, from any of the researcher's invitations counted."""

    def add(self, invitation: Invitation, invited_at: datetime, connected_at: datetime | None) -> None:
        self.invited_at = _earliest(self.invited_at, invited_at)
        self.opened_at = _earliest(self.opened_at, invitation.opened_at)
        self.connected_at = _earliest(self.connected_at, connected_at)
        if invitation.status in _UNDELIVERED:
            self.undelivered.add(invitation.status)


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def _counts(reaches: Iterable[_Reach]) -> ConnectionCounts:
    invited = opened = connected = 0
    for reach in reaches:
        invited += 1
        opened += reach.opened_at is not None
        connected += reach.connected_at is not None
    return ConnectionCounts(
        invited=invited,
        opened=opened,
        connected=connected,
        open_rate=round(opened / invited, 4) if invited else 0.0,
        connection_rate=round(connected / invited, 4) if invited else 0.0,
    )


def _delivery_counts(reaches: Iterable[_Reach]) -> DeliveryCounts:
    counted = list(reaches)
    return DeliveryCounts(
        **_counts(counted).model_dump(),
        bounced=sum(InvitationStatus.BOUNCED in reach.undelivered for reach in counted),
        complained=sum(InvitationStatus.COMPLAINED in reach.undelivered for reach in counted),
    )


def _reached_at(invitation: Invitation) -> datetime | None:
    if invitation.status not in _REACHED:
        return None
    return invitation.sent_at or invitation.last_sent_at


def _connected_at(invitation: Invitation, invited_at: datetime, researcher: Researcher | None) -> datetime | None:
    if invitation.connected_at is not None:
        return invitation.connected_at
    if (
        researcher is not None
        and researcher.orcid_status is OrcidStatus.ACTIVE
        and researcher.connected_at is not None
        and researcher.connected_at >= invited_at
    ):
        return researcher.connected_at
    return None


def _campaigns(store: InvitationStore, campaign_id: str | None) -> list[Campaign]:
    if campaign_id is None:
        return [campaign for campaign in store.campaigns(limit=MAX_CAMPAIGNS) if not campaign.dry_run]
    campaign = store.get_campaign(campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} does not exist")
    return [campaign]


def _daily(reaches: Sequence[_Reach], today: date) -> list[DailyConnections]:
    invited_days = [reach.invited_at.astimezone(UTC).date() for reach in reaches if reach.invited_at is not None]
    if not invited_days:
        return []
    first = max(min(invited_days), today - timedelta(days=MAX_DAYS - 1))
    series: list[DailyConnections] = []
    day = first
    while day <= today:
        end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        by_then = [reach for reach in reaches if reach.invited_at is not None and reach.invited_at < end_of_day]
        snapshot = []
        for reach in by_then:
            state = _Reach()
            state.invited_at = reach.invited_at
            state.opened_at = reach.opened_at if reach.opened_at and reach.opened_at < end_of_day else None
            state.connected_at = reach.connected_at if reach.connected_at and reach.connected_at < end_of_day else None
            snapshot.append(state)
        series.append(DailyConnections(day=day, **_counts(snapshot).model_dump()))
        day += timedelta(days=1)
    return series


def connections_report(
    invitations: InvitationStore, researchers: ResearcherStore, *, now: datetime, campaign_id: str | None = None
) -> ConnectionsReport:
    """Invited, opened and connected, per campaign (newest first) and overall, and the daily series."""
    campaigns = _campaigns(invitations, campaign_id)
    rows = [(campaign, invitations.invitations(campaign.campaign_id)) for campaign in campaigns]
    researcher_ids = sorted({invitation.researcher_id for _, found in rows for invitation in found})
    known = researchers.get_many(researcher_ids) if researcher_ids else {}
    overall: dict[str, _Reach] = {}
    campaign_rows: list[CampaignConnections] = []
    for campaign, found in rows:
        per_campaign: dict[str, _Reach] = {}
        for invitation in found:
            invited_at = _reached_at(invitation)
            if invited_at is None:
                continue
            connected_at = _connected_at(invitation, invited_at, known.get(invitation.researcher_id))
            for reaches in (per_campaign, overall):
                reaches.setdefault(invitation.researcher_id, _Reach()).add(invitation, invited_at, connected_at)
        counts = _delivery_counts(per_campaign.values())
        campaign_rows.append(
            CampaignConnections(
                campaign_id=campaign.campaign_id,
                kind=campaign.kind,
                created_at=campaign.created_at,
                **counts.model_dump(),
            )
        )
    return ConnectionsReport(
        generated_at=now,
        campaign_id=campaign_id,
        overall=_delivery_counts(overall.values()),
        campaigns=campaign_rows,
        daily=_daily(list(overall.values()), now.astimezone(UTC).date()),
    )


def connections_csv(report: ConnectionsReport) -> str:
    """One table: a row per campaign, the overall row, then the overall row of each day (``date`` set; its
    bounced and complained cells empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(scope: str, kind: str, day: str, counts: ConnectionCounts) -> None:
        undelivered = [counts.bounced, counts.complained] if isinstance(counts, DeliveryCounts) else ["", ""]
        writer.writerow(
            [
                scope,
                kind,
                day,
                counts.invited,
                counts.opened,
                counts.connected,
                counts.open_rate,
                counts.connection_rate,
                *undelivered,
            ]
        )

    for campaign in report.campaigns:
        row(campaign.campaign_id, campaign.kind.value, "", campaign)
    row("overall", "", "", report.overall)
    for point in report.daily:
        row("overall", "", point.day.isoformat(), point)
    return buffer.getvalue()
