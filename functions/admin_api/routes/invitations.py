"""``/invitations``: email campaigns inviting researchers to connect their ORCID iD (sent by the invitation worker)."""

from __future__ import annotations

import uuid
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from orcid_sync import composition
from orcid_sync.domain.invitations.campaigns import CampaignRequest, CampaignResult, get_campaign, start_campaign
from orcid_sync.domain.invitations.models import Campaign, Invitation
from orcid_sync.domain.models import utc_now

from .audit import UNKNOWN_CALLER, audited
from .callers import caller_of
from .openapi_errors import BAD_REQUEST, NOT_FOUND, IdInPath

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


class CampaignList(BaseModel):
    campaigns: list[Campaign]


class InvitationView(BaseModel):
    """An invitation as the API shows it: never the address (the researcher record has it)."""

    researcher_id: str
    status: str
    skip_reason: str | None
    language: str
    sent_at: str | None
    reminders_sent: int
    last_sent_at: str | None
    opened_at: str | None
    connected_at: str | None

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationView:
        def iso(value: object) -> str | None:
            return value.isoformat() if value is not None else None  # type: ignore[attr-defined]

        return cls(
            researcher_id=invitation.researcher_id,
            status=invitation.status.value,
            skip_reason=invitation.skip_reason.value if invitation.skip_reason else None,
            language=invitation.language,
            sent_at=iso(invitation.sent_at),
            reminders_sent=invitation.reminders_sent,
            last_sent_at=iso(invitation.last_sent_at),
            opened_at=iso(invitation.opened_at),
            connected_at=iso(invitation.connected_at),
        )


class CampaignDetail(BaseModel):
    campaign: Campaign
    invitations: list[InvitationView]


@router.post(
    "/invitations",
    summary="Invite researchers by email to connect their ORCID iD",
    description=(
        "Give `researchers` (ids) or `statuses` (not_connected, revoked, token_invalid). Researchers without an "
        "email, unsubscribed, bounced or complained (and, named by id, already connected) are skipped and listed "
        "with the reason. `dry_run` lists who would get mail and writes nothing."
    ),
    tags=["invitations"],
    responses={202: {"description": "The campaign, its recipients and who was skipped"}, 400: BAD_REQUEST},
)
def start_campaign_route(request: Annotated[CampaignRequest, Body(embed=False)]) -> Response[CampaignResult]:
    result = start_campaign(
        request,
        created_by=caller_of(router.current_event) or UNKNOWN_CALLER,
        researchers=composition.researcher_store(),
        invitations=composition.invitation_store(),
        queue=composition.invitation_queue(),
        base_url=composition.public_base_url(
            domain_name=router.current_event.request_context.domain_name,
            host=router.current_event.headers.get("host"),
        ),
        now=utc_now(),
        token=uuid.uuid4().hex,
    )
    if not request.dry_run:
        audited(
            router.current_event,
            "invitations.send",
            result.campaign.campaign_id,
            after={"queued": len(result.recipients), "skipped": len(result.skipped)},
        )
    status = 200 if request.dry_run else 202
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=result)


@router.get("/invitations", summary="Invitation campaigns, newest first", tags=["invitations"])
def list_campaigns_route() -> CampaignList:
    return CampaignList(campaigns=composition.invitation_store().campaigns())


@router.get(
    "/invitations/<campaign_id>",
    summary="One campaign and what became of each invitation",
    tags=["invitations"],
    responses={404: NOT_FOUND},
)
def show_campaign_route(campaign_id: IdInPath) -> CampaignDetail:
    campaign, invitations = get_campaign(composition.invitation_store(), campaign_id)
    return CampaignDetail(campaign=campaign, invitations=[InvitationView.of(i) for i in invitations])
