"""The researcher-facing pages: autoescaped Jinja2 templates, with each language's text in ``lang/<code>.html.j2``.

Adding a language is adding one file beside ``lang/en.html.j2`` that defines the same names;
the pages pick it up from the browser's ``Accept-Language``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

# Jinja2 is imported with the environment, when the first page is rendered or a language negotiated
# (once per container): the stylesheet, and any module importing this one, do without it.
if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.environment import TemplateModule

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Branding:
    """The institution on a researcher page (integration settings); ``profile_url`` is the researcher's own profile."""

    institution_name: str = ""
    logo_url: str | None = None
    support_contact: str | None = None
    support_href: str | None = None
    accent_color: str | None = None
    profile_url: str | None = None

    @property
    def accent_style(self) -> str | None:
        """The one inline rule a page carries (allowed by its hash in the CSP), or None."""
        return f":root{{--accent:{self.accent_color}}}" if self.accent_color else None


NO_BRANDING = Branding()

_LANG_DIR = "lang/"
_LANG_SUFFIX = ".html.j2"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined  # noqa: PLC0415 - see the imports above

    # Every template is HTML, so escape everything; a missing message is an error, not an empty string.
    return Environment(
        loader=PackageLoader("orcid_sync", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


@lru_cache(maxsize=1)
def languages() -> frozenset[str]:
    """The language codes there is a message file for."""
    names = _environment().list_templates(filter_func=lambda n: n.startswith(_LANG_DIR) and n.endswith(_LANG_SUFFIX))
    return frozenset(name[len(_LANG_DIR) : -len(_LANG_SUFFIX)] for name in names)


@lru_cache(maxsize=16)
def messages(lang: str) -> TemplateModule:
    """A language's messages: the ``messages``/``problems``/``scope_purposes`` dicts and its macros."""
    if lang not in languages():
        raise ValueError(f"no messages for language {lang!r}")
    return _environment().get_template(f"{_LANG_DIR}{lang}{_LANG_SUFFIX}").make_module()


def negotiate_language(accept_language: str | None) -> str:
    """The best language we have for an ``Accept-Language`` header (English when nothing matches)."""
    available = languages()
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "").split(","):
        tag, _, parameters = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if primary in available and quality > best_quality:
            best, best_quality = primary, quality
    return best


def render_page(template: str, *, lang: str, stylesheet_url: str, brand: Branding = NO_BRANDING, **context: Any) -> str:
    """Render one page in one language, with the institution's branding."""
    return (
        _environment()
        .get_template(template)
        .render(lang=lang, t=messages(lang), stylesheet_url=stylesheet_url, brand=brand, **context)
    )


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The pages' CSS, served from a URL so the CSP can forbid inline styles."""
    return resources.files("orcid_sync").joinpath("templates/style.css").read_text(encoding="utf-8")
