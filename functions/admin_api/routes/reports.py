"""``/reports``: reports for administrators (token health, bounced or complained addresses), as JSON or CSV; never a
token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.reports import TokenHealthReport, token_health_csv, token_health_report
from orcid_sync.observability import logger

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

CSV = "text/csv; charset=utf-8"


@router.get(
    "/reports/tokens",
    summary="Researchers whose ORCID tokens need attention",
    tags=["reports"],
    responses={
        200: {
            "description": (
                "Revoked or disconnected, missing a scope, expired or expiring within 90 days, or an email address "
                "that bounced or complained"
            ),
            "content": {
                content_types.APPLICATION_JSON: {"model": TokenHealthReport},
                CSV: {"schema": {"type": "string"}},
            },
        }
    },
)
def token_report_route(
    format: Annotated[Literal["json", "csv"] | None, Query(description="csv: one row per researcher")] = None,
) -> Response[Any]:
    report = token_health_report(
        composition.researcher_store(),
        composition.token_store(),
        now=utc_now(),
        invitations=composition.invitation_store(),
    )
    logger.info("token report", researchers_checked=report.researchers_checked, needing_attention=len(report.rows))
    wants_csv = format == "csv" or (format is None and "text/csv" in (router.current_event.headers.get("accept") or ""))
    if wants_csv:
        return Response(
            status_code=200,
            content_type=CSV,
            body=token_health_csv(report),
            headers={"Content-Disposition": 'attachment; filename="token-report.csv"'},
        )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=report)
