"""Connecting researchers to ORCID, for administrators: personal connect links, and disconnecting."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from orcid_sync import composition
from orcid_sync.config import get_settings
from orcid_sync.domain.connect import (
    ConnectLink,
    ConnectLinkRequest,
    Disconnected,
    OrcidUnavailableError,
    disconnect,
    issue_connect_link,
    request_base_url,
)
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.signing import Signer
from orcid_sync.observability import logger

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
    settings = get_settings()
    event = router.current_event
    link = issue_connect_link(
        researcher_id,
        expires_in_days=(request or ConnectLinkRequest()).expires_in_days,
        base_url=request_base_url(
            configured=settings.public_base_url,
            domain_name=event.request_context.domain_name,
            host=event.headers.get("host"),
        ),
        researchers=composition.researcher_store(),
        signer=Signer(composition.app_secrets().signing_key),
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
    # The only admin route that calls ORCID: its client (requests, ORCID's models) is imported here.
    from orcid_sync.adapters.orcid_api.client import OrcidClient  # noqa: PLC0415
    from orcid_sync.adapters.orcid_api.rate_limit import NoRateLimit  # noqa: PLC0415
    from orcid_sync.domain.retry_policy import RetryPolicy  # noqa: PLC0415

    settings = get_settings()
    return disconnect(
        researcher_id,
        researchers=composition.researcher_store(),
        tokens=composition.token_store(),
        cipher=composition.token_cipher(),
        # Revocation is an OAuth call, outside the Member API's shared rate limit; an administrator is waiting.
        oauth=OrcidClient.from_settings(
            settings,
            client_secret=composition.app_secrets().client_secret,
            rate_limiter=NoRateLimit(),
            retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, max_retry_after=2.0),
        ),
    )


@router.exception_handler(OrcidUnavailableError)
def _orcid_unavailable(exc: OrcidUnavailableError) -> Response[str]:
    return Response(status_code=502, content_type=content_types.APPLICATION_JSON, body={"message": exc.message})  # type: ignore[arg-type]
