"""The admin console's pages: ``templates/console/*.html.j2`` rendered with the researcher pages' Jinja2 environment.

The console's text is in ``templates/console/lang/<area>.<lang>.json`` (flat objects of message keys): each area
(the console's frame, a page) has its own file per language, and ``strings(lang)`` merges them into the ``t`` a
template reads (``{{ t.nav_dashboard }}``). A key defined twice, or missing from a language, is an error
(``tests/unit/test_console_templates.py``), so the languages cannot drift apart.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from orcid_sync import templates

CONSOLE_LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
_LANG_DIR = "templates/console/lang"


def _lang_files() -> list[tuple[str, str, Any]]:
    """(area, language, file) for every message file."""
    found = []
    for entry in resources.files("orcid_sync").joinpath(_LANG_DIR).iterdir():
        area, _, rest = entry.name.partition(".")
        lang, _, suffix = rest.partition(".")
        if suffix == "json" and lang in CONSOLE_LANGUAGES:
            found.append((area, lang, entry))
    return sorted(found, key=lambda item: (item[0], item[1]))


def area_strings() -> dict[str, dict[str, dict[str, str]]]:
    """{area: {lang: messages}}: what the consistency test compares."""
    areas: dict[str, dict[str, dict[str, str]]] = {}
    for area, lang, entry in _lang_files():
        areas.setdefault(area, {})[lang] = json.loads(entry.read_text(encoding="utf-8"))
    return areas


@lru_cache(maxsize=len(CONSOLE_LANGUAGES))
def strings(lang: str) -> MappingProxyType[str, str]:
    """Every console message in one language (read once per container)."""
    if lang not in CONSOLE_LANGUAGES:
        raise ValueError(f"no console messages for language {lang!r}")
    merged: dict[str, str] = {}
    for area, messages in area_strings().items():
        for key, text in messages.get(lang, {}).items():
            if key in merged:
                raise ValueError(f"console message {key!r} is defined twice (again in {area}.{lang}.json)")
            merged[key] = text
    return MappingProxyType(merged)


def negotiate_language(query_lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names a console language, else the best match for ``Accept-Language``."""
    if query_lang in CONSOLE_LANGUAGES:
        return str(query_lang)
    best = templates.negotiate_language(accept_language)
    return best if best in CONSOLE_LANGUAGES else DEFAULT_LANGUAGE


def render(template: str, *, lang: str, **context: Any) -> str:
    """One console page (``console/<template>``) in one language."""
    # The researcher pages' environment (autoescape, StrictUndefined), shared so a container builds it once.
    environment = templates._environment()
    return environment.get_template(f"console/{template}").render(lang=lang, t=strings(lang), **context)
