"""``GET /reports/connections``: invited, opened the link, connected, per campaign and overall, with the daily
connection rate, as JSON or CSV (the CLI's ``report connections``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.domain.invitations.report import ConnectionsReport, connections_csv, connections_report
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger

from .reports import CSV

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


@router.get(
    "/reports/connections",
    summary="What the invitation campaigns achieved",
    tags=["reports", "invitations"],
    responses={
        200: {
            "description": "Invited, opened, connected per campaign and overall, and the daily connection rate",
            "content": {
                content_types.APPLICATION_JSON: {"model": ConnectionsReport},
                CSV: {"schema": {"type": "string"}},
            },
        },
        404: {"description": "No such campaign"},
    },
)
def connections_report_route(
    campaign: Annotated[str | None, Query(description="only this campaign", min_length=1, max_length=128)] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="csv: one table")] = None,
) -> Response[Any]:
    report = connections_report(
        composition.invitation_store(), composition.researcher_store(), now=utc_now(), campaign_id=campaign
    )
    logger.info(
        "connections report",
        campaigns=len(report.campaigns),
        invited=report.overall.invited,
        connected=report.overall.connected,
    )
    wants_csv = format == "csv" or (format is None and "text/csv" in (router.current_event.headers.get("accept") or ""))
    if wants_csv:
        return Response(
            status_code=200,
            content_type=CSV,
            body=connections_csv(report),
            headers={"Content-Disposition": 'attachment; filename="connections-report.csv"'},
        )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=report)
