"""``POST /invitations/orcid-inbox``: permission requests in the ORCID inboxes of researchers whose iD we know but who
have not connected (the CLI's ``invitations notify-orcid``)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from orcid_sync import composition
from orcid_sync.domain.invitations.orcid_inbox import InboxCampaignReport, notify_orcid_inbox
from orcid_sync.domain.models import utc_now

from .audit import UNKNOWN_CALLER, audited
from .callers import caller_of
from .openapi_errors import BAD_REQUEST

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


class OrcidInboxRequest(BaseModel):
    """Whom to ask: named researchers, or (none named) every researcher with an iD who has not connected."""

    model_config = ConfigDict(extra="forbid")

    researchers: Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=10000)] = Field(
        default_factory=list
    )
    dry_run: bool = False
    campaign_id: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    """Continue this ORCID inbox campaign: who already got a request in it is not asked again."""
    language: Annotated[str, Field(pattern="^(en|es)$")] = "en"


@router.post(
    "/invitations/orcid-inbox",
    summary="Ask researchers to connect through their ORCID inbox",
    description=(
        "Puts an ORCID permission request (its button leads to the researcher's connect link) in the inbox of each "
        "researcher with a known iD who has not connected; never twice in one campaign. `dry_run` sends nothing."
    ),
    tags=["invitations"],
    responses={400: BAD_REQUEST},
)
def notify_orcid_inbox_route(
    request: Annotated[OrcidInboxRequest | None, Body(embed=False)] = None,
) -> InboxCampaignReport:
    body = request or OrcidInboxRequest()
    event = router.current_event
    report = notify_orcid_inbox(
        composition.orcid_inbox_ports(dry_run=body.dry_run),
        researcher_ids=body.researchers or None,
        dry_run=body.dry_run,
        base_url=composition.public_base_url(
            domain_name=event.request_context.domain_name, host=event.headers.get("host")
        ),
        created_by=caller_of(event) or UNKNOWN_CALLER,
        now=utc_now(),
        campaign_id=body.campaign_id,
        language=body.language,
    )
    if not body.dry_run and report.campaign_id is not None:
        audited(
            event,
            "invitations.orcid_inbox",
            report.campaign_id,
            after={"sent": report.sent, "failed": report.failed, "skipped": report.skipped},
        )
    return report
