"""What ``make demo`` reads off the answers it gets: the browser's part done by hand (forms, cookies) and the
counts and titles it prints."""

from __future__ import annotations

import html
from typing import Any

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
