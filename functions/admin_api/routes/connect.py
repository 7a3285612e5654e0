"""Connecting researchers to ORCID, for administrators: personal connect links, and disconnecting."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.domain.connect.disconnect import Disconnected, OrcidUnavailableError, disconnect
from orcid_sync.domain.connect.links import issue_connect_link
from orcid_sync.domain.connect.shared import ConnectLink, ConnectLinkRequest
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger

from .audit import audited

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


@router.post(
    "/researchers/<researcher_id>/connect-link",
    summary="Mint a researcher's personal connect URL",
    description="A signed link to the hosted connect page, valid for `expires_in_days` (default 30).",
    tags=["connect"],
)
def create_connect_link(
    researcher_id: str, request: Annotated[ConnectLinkRequest | None, Body(embed=False)] = None
) -> ConnectLink:
    event = router.current_event
    link = issue_connect_link(
        researcher_id,
        expires_in_days=(request or ConnectLinkRequest()).expires_in_days,
        base_url=composition.public_base_url(
            domain_name=event.request_context.domain_name, host=event.headers.get("host")
        ),
        researchers=composition.researcher_store(),
        signer=composition.link_signer(),
        now=utc_now(),
    )
    logger.info("connect link issued", researcher_id=researcher_id, expires_at=link.expires_at.isoformat())
    return link


@router.delete(
    "/researchers/<researcher_id>/orcid",
    summary="Disconnect a researcher from ORCID",
    description="Revokes the token at ORCID, deletes it, and sets the status to disconnected. Works stay on ORCID.",
    tags=["connect"],
)
def disconnect_orcid(researcher_id: str) -> Disconnected:
    # The only admin route that calls ORCID; revocation is an OAuth call and an administrator is waiting.
    outcome = disconnect(
        researcher_id,
        researchers=composition.researcher_store(),
        tokens=composition.token_store(),
        cipher=composition.token_cipher(),
        oauth=composition.oauth_client(),
    )
    audited(
        router.current_event,
        "researcher.disconnect",
        researcher_id,
        after={"orcid_status": outcome.orcid_status.value, "token_revocation": outcome.token_revocation.value},
    )
    return outcome


@router.exception_handler(OrcidUnavailableError)
def _orcid_unavailable(exc: OrcidUnavailableError) -> Response[str]:
    return Response(status_code=502, content_type=content_types.APPLICATION_JSON, body={"message": exc.message})  # type: ignore[arg-type]
