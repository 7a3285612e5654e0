"""What ``make demo`` reads off the answers it gets: the browser's part done by hand (forms, cookies) and the
counts and titles it prints."""

from __future__ import annotations

import html
import re
from typing import Any

import click
import requests


def absolute_url(url: str, base: str) -> str:
    return requests.compat.urljoin(base, url)


def unescaped(form: dict[str, str]) -> dict[str, str]:
    return {key: html.unescape(value) for key, value in form.items()}


def cookie_value(response: requests.Response, name: str) -> str | None:
    for header in response.raw.headers.getlist("Set-Cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


def batch_counts(result: Any) -> str:
    counts = result.get("counts", {}) if isinstance(result, dict) else {}
    return ", ".join(f"{value} {key}" for key, value in counts.items() if value) or "nothing"


def field_value(field: Any) -> Any:
    return field.get("value") if isinstance(field, dict) else field


def work_title(work: dict[str, Any]) -> str:
    title = work.get("title", {})
    return str(field_value(title.get("title")) if isinstance(title, dict) else title)


ORCID_ID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])")


def connect_in_sandbox(http: requests.Session, link: str, *, given_names: str, family_names: str, email: str) -> str:
    """A researcher's clicks from their connect link to our success page: the connect page's button, then "register"
    and "Authorize access" on the local ORCID sandbox. Their new iD, as the success page shows it."""
    page = http.get(link, timeout=30)
    start = re.search(r'href="([^"]*/connect/start[^"]*)"', page.text)
    if "Connect your ORCID iD" not in page.text or start is None:
        raise click.ClickException("the connect page has no 'Connect your ORCID iD' button")
    authorize = http.get(absolute_url(start.group(1).replace("&amp;", "&"), link), timeout=30)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', authorize.text))
    form.update(
        {
            "mode": "register",
            "given_names": given_names,
            "family_names": family_names,
            "email": email,
            "action": "authorize",
        }
    )
    decide = re.search(r'<form method="post" action="([^"]+)"', authorize.text)
    if decide is None:
        raise click.ClickException("the ORCID sandbox did not show its consent page")
    done = http.post(absolute_url(decide.group(1), authorize.url), data=unescaped(form), timeout=30)
    orcid = ORCID_ID.search(done.text)
    if done.status_code != 200 or orcid is None:
        raise click.ClickException(f"the connect flow did not end on the success page ({done.status_code})")
    return orcid.group(1)
