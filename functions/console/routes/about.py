"""``GET /console/about``: the stack's version and its ORCID registration (what to register where)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

import orcid_sync
from orcid_sync.config import get_settings
from orcid_sync.domain.connect.shared import callback_url
from orcid_sync.domain.console.sign_in import CALLBACK_PATH as CONSOLE_CALLBACK_PATH

if __package__ != "routes":
    from .. import auth, web
else:  # on Lambda this function's directory is the zip root
    import auth  # type: ignore[import-not-found, no-redef]
    import web  # type: ignore[import-not-found, no-redef]

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


class About(BaseModel):
    version: str
    orcid_environment: str
    orcid_site_url: str
    client_id: str
    redirect_uri: str
    console_callback: str
    base_url: str


@router.get("/console/about")
def about_page() -> Response[str]:
    event = router.current_event
    user = auth.viewer(event)
    if isinstance(user, Response):
        return user
    settings = get_settings()
    base = web.base_url(event).rstrip("/")
    about = About(
        version=orcid_sync.__version__,
        orcid_environment=settings.orcid_environment.value,
        orcid_site_url=settings.orcid_site_url,
        client_id=settings.orcid_client_id,
        redirect_uri=callback_url(base),
        console_callback=f"{base}{CONSOLE_CALLBACK_PATH}",
        base_url=base,
    )
    return web.page(event, "about.html.j2", user=user, nav_active="about", about=about)
