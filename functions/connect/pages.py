"""What every researcher page shares: the security headers, the language, the institution's branding, rendering.

The branding (name, logo, support contact, accent colour) comes from the integration settings through a cached
read (at most once a minute per container). The accent colour reaches the page as one inline ``<style>`` rule
allowed by its hash in the CSP (no ``unsafe-inline``); the logo is allowed from its own origin only.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from orcid_sync import composition, templates
from orcid_sync.config import get_settings
from orcid_sync.domain.connect.shared import stylesheet_url
from orcid_sync.domain.me.session import SetCookie
from orcid_sync.observability import logger
from orcid_sync.templates import Branding

# The settings' model imports ORCID's models: loaded with the first page that shows the branding, not at cold start.
if TYPE_CHECKING:
    from orcid_sync.domain.institution_settings import IntegrationSettings

HTML = "text/html; charset=utf-8"
# No script at all, styles only from our own stylesheet, never framed (ORCID forbids iframes). The connect pages
# have no form; "My ORCID" posts its forms to itself only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    # The connect link is in the page's URL: never hand it to ORCID or anyone else as a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def integration_settings() -> IntegrationSettings:
    """The settings as they are now (one GetItem: a page view is rare, and an institution that renames itself
    or changes its contact sees it on the next page, not a minute later); the built-in defaults when they cannot
    be read (a page still shows)."""
    from orcid_sync.domain.institution_settings import IntegrationSettings  # noqa: PLC0415 - see the imports

    try:
        return composition.integration_settings_store().get().settings
    except Exception as exc:
        logger.warning("could not read the integration settings for the page's branding", error=type(exc).__name__)
        return IntegrationSettings()


def branding(*, profile_url: str | None = None) -> Branding:
    settings = integration_settings()
    return Branding(
        institution_name=settings.institution_name,
        logo_url=settings.logo_url,
        support_contact=settings.support_contact,
        support_href=settings.support_href,
        accent_color=settings.accent_color,
        profile_url=profile_url,
    )


def content_security_policy(brand: Branding, *, forms: bool) -> str:
    style = ["'self'"]
    if brand.accent_style:
        digest = base64.b64encode(hashlib.sha256(brand.accent_style.encode("utf-8")).digest()).decode("ascii")
        style.append(f"'sha256-{digest}'")
    parts = ["default-src 'none'"]
    if brand.logo_url:
        logo = urlsplit(brand.logo_url)
        parts.append(f"img-src {logo.scheme}://{logo.netloc}")
    parts += [
        f"style-src {' '.join(style)}",
        "form-action 'self'" if forms else "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    return "; ".join(parts)


def _cookies(cookies: list[SetCookie] | None) -> list[Cookie]:
    return [
        Cookie(
            name=cookie.name,
            value=cookie.value,
            path=cookie.path,
            secure=True,
            http_only=True,
            max_age=cookie.max_age,
            same_site=SameSite.LAX_MODE,
        )
        for cookie in cookies or []
    ]


def base_url(event: APIGatewayProxyEventV2) -> str:
    return composition.public_base_url(domain_name=event.request_context.domain_name, host=event.headers.get("host"))


def language(event: APIGatewayProxyEventV2) -> str:
    return templates.negotiate_language(event.headers.get("accept-language"))


def page(
    event: APIGatewayProxyEventV2,
    template: str,
    *,
    status: int,
    brand: Branding | None = None,
    forms: bool = False,
    cookies: list[SetCookie] | None = None,
    **context: Any,
) -> Response[str]:
    """One researcher page, in the browser's language, with the institution's branding and the strict headers."""
    brand = brand or branding()
    # The stylesheet's path depends only on configuration, so even an error page about the request has it.
    style = stylesheet_url(get_settings().public_base_url)
    body = templates.render_page(template, lang=language(event), stylesheet_url=style, brand=brand, **context)
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": content_security_policy(brand, forms=forms)}
    return Response(status_code=status, content_type=HTML, body=body, headers=headers, cookies=_cookies(cookies))


def redirect(location: str, *, status: int = 302, cookies: list[SetCookie] | None = None) -> Response[str]:
    return Response(
        status_code=status, body="", headers={**SECURITY_HEADERS, "Location": location}, cookies=_cookies(cookies)
    )
