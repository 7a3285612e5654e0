"""The unsubscribe link of invitation emails: ``GET /invitations/unsubscribe?token=…`` shows a confirm page (mail
scanners follow links, so a GET changes nothing), ``POST`` records it. The POST also serves RFC 8058 one-click
unsubscribe (``List-Unsubscribe-Post: List-Unsubscribe=One-Click``): the mail provider POSTs to the same URL, the
token in its query string."""

from __future__ import annotations

from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from orcid_sync import composition
from orcid_sync.domain.errors import InvalidInputError, NotFoundError
from orcid_sync.domain.invitations.campaigns import (
    CAMPAIGN_MARK_PARAM,
    UNSUBSCRIBE_PATH,
    UnsubscribeView,
    open_unsubscribe,
    record_connected,
    record_opened,
    unsubscribe,
)
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger

if __package__:
    from . import pages
else:
    import pages  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


def _token() -> str | None:
    event = router.current_event
    token = event.get_query_string_value("token")
    if token:
        return token
    body = event.decoded_body or ""
    tokens = parse_qs(body).get("token")
    return tokens[0] if tokens else None


def _page(view: UnsubscribeView | None, *, status: int = 200, token: str | None = None) -> Response[str]:
    return pages.page(
        router.current_event,
        "unsubscribe.html.j2",
        status=status,
        forms=True,
        view=view,
        token=token,
        action=UNSUBSCRIBE_PATH,
    )


@router.get(UNSUBSCRIBE_PATH)
def confirm_page() -> Response[str]:
    token = _token()
    try:
        view = open_unsubscribe(
            token,
            researchers=composition.researcher_store(),
            invitations=composition.invitation_store(),
            signer=composition.link_signer(),
        )
    except (InvalidInputError, NotFoundError):
        return _page(None, status=400)
    return _page(view, token=token)


@router.post(UNSUBSCRIBE_PATH)
def record() -> Response[str]:
    try:
        view = unsubscribe(
            _token(),
            researchers=composition.researcher_store(),
            invitations=composition.invitation_store(),
            signer=composition.link_signer(),
            now=utc_now(),
        )
    except (InvalidInputError, NotFoundError):
        return _page(None, status=400)
    return _page(view)


# --- what the connect flow tells the campaigns ----------------------------------------------------------------------
# Best effort: a researcher's page or connection never fails because the invitation bookkeeping did.


def link_opened(event: APIGatewayProxyEventV2) -> None:
    """The connect page was opened with a valid link; a campaign's mark on it records "opened the link"."""
    mark = event.get_query_string_value(CAMPAIGN_MARK_PARAM)
    if not mark:
        return
    try:
        signer = composition.link_signer()
        claims = signer.verify_link(event.get_query_string_value("link") or "", now=utc_now())
        record_opened(
            composition.invitation_store(), signer, mark, link_researcher_id=claims.researcher_id, now=utc_now()
        )
    except Exception as exc:
        logger.warning("could not record the invitation as opened", error=type(exc).__name__)


def researcher_connected(researcher_id: str) -> None:
    """The researcher connected: their invitations record it and stop reminding."""
    try:
        record_connected(composition.invitation_store(), researcher_id, now=utc_now())
    except Exception as exc:
        logger.warning("could not record the connection on the invitations", error=type(exc).__name__)
