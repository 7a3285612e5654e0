"""What every console page shares: the security headers, the language, rendering, redirects, forms and cookies.

Every response the console sends goes through here (pages, redirects, problems, static files), so every one
carries the strict headers; ``app.py`` adds them again, without overriding, to anything a route built itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from orcid_sync import composition
from orcid_sync.domain.console.session import CONSOLE_PATH, ConsoleCookie, ConsoleUser, csrf_token
from orcid_sync.templates import console_pages

HTML = "text/html; charset=utf-8"
STATIC_PATH = f"{CONSOLE_PATH}/static"
LANG_COOKIE = "orcid_sync_console_lang"
_LANG_COOKIE_SECONDS = 365 * 24 * 3600


def content_security_policy() -> str:
    """Scripts and styles from the console itself only (htmx is served by this function, never a CDN); forms post
    to the console, or to the managed login (sign-out ends there); never framed."""
    form_action = f"'self' {composition.console_login_site().login_url}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
    }


# --- reading the request --------------------------------------------------------------------------


def cookie(event: APIGatewayProxyEventV2, name: str) -> str | None:
    """A request cookie's value (HTTP API v2 hands them over as a list)."""
    for entry in event.cookies or []:
        key, _, value = entry.strip().partition("=")
        if key == name:
            return value
    return None


def form(event: APIGatewayProxyEventV2) -> dict[str, str]:
    """An urlencoded form body (the first value of each field)."""
    body = event.decoded_body or ""
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def language(event: APIGatewayProxyEventV2) -> str:
    """``?lang=``, else the language the person chose before (a cookie), else ``Accept-Language``."""
    chosen = event.get_query_string_value("lang") or cookie(event, LANG_COOKIE)
    return console_pages.negotiate_language(chosen, event.headers.get("accept-language"))


def base_url(event: APIGatewayProxyEventV2) -> str:
    return composition.public_base_url(domain_name=event.request_context.domain_name, host=event.headers.get("host"))


def is_htmx(event: APIGatewayProxyEventV2) -> bool:
    return event.headers.get("hx-request") == "true"


def _lang_links(event: APIGatewayProxyEventV2) -> dict[str, str]:
    query = {key: value for key, value in (event.query_string_parameters or {}).items() if key != "lang"}
    return {code: f"{event.path}?{urlencode({**query, 'lang': code})}" for code in console_pages.CONSOLE_LANGUAGES}


# --- answering ------------------------------------------------------------------------------------


def to_cookies(cookies: list[ConsoleCookie] | None) -> list[Cookie]:
    return [
        Cookie(
            name=entry.name,
            value=entry.value,
            path=entry.path,
            secure=True,
            http_only=True,
            max_age=entry.max_age,
            same_site=SameSite.STRICT_MODE if entry.same_site == "Strict" else SameSite.LAX_MODE,
        )
        for entry in cookies or []
    ]


def page(
    event: APIGatewayProxyEventV2,
    template: str,
    *,
    user: ConsoleUser | None,
    status: int = 200,
    cookies: list[ConsoleCookie] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    """One console page (``templates/console/<template>``) in the person's language, with the strict headers.

    The context always has ``user``, ``csrf`` (the session's form token, "" signed out), ``lang``, ``t`` (the
    strings), ``nav_active`` (default ""), ``static`` and the language links.
    """
    lang = language(event)
    context.setdefault("nav_active", "")
    csrf = csrf_token(composition.link_signer(), user) if user else ""
    body = console_pages.render(
        template,
        lang=lang,
        user=user,
        csrf=csrf,
        static=STATIC_PATH,
        languages=console_pages.CONSOLE_LANGUAGES,
        lang_links=_lang_links(event),
        **context,
    )
    cookies = list(cookies or [])
    if event.get_query_string_value("lang") in console_pages.CONSOLE_LANGUAGES:
        cookies.append(ConsoleCookie(LANG_COOKIE, lang, CONSOLE_PATH, _LANG_COOKIE_SECONDS))
    return Response(
        status_code=status,
        content_type=HTML,
        body=body,
        headers={**security_headers(), **(headers or {})},
        cookies=to_cookies(cookies),
    )


def redirect(location: str, status: int = 303, *, cookies: list[ConsoleCookie] | None = None) -> Response[str]:
    return Response(
        status_code=status, body="", headers={**security_headers(), "Location": location}, cookies=to_cookies(cookies)
    )


def problem(event: APIGatewayProxyEventV2, user: ConsoleUser | None, status: int, message: str) -> Response[str]:
    """A page saying what went wrong (``message``: already in the person's language; never a secret)."""
    return page(event, "problem.html.j2", user=user, status=status, message=message)


def text(event: APIGatewayProxyEventV2, key: str) -> str:
    """One console string in the person's language."""
    return console_pages.strings(language(event))[key]
