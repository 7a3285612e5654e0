"""The console's vendored htmx is the file npm published (its sha512 as recorded), and its strings agree in en/es."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from orcid_sync.templates import console_pages

STATIC = Path(__file__).resolve().parents[2] / "functions" / "console" / "static"


def test_htmx_is_the_pinned_file_with_its_recorded_integrity() -> None:
    manifest = json.loads((STATIC / "htmx.manifest.json").read_text())
    digest = base64.b64encode(hashlib.sha512((STATIC / "htmx.min.js").read_bytes()).digest()).decode()
    assert manifest["package"] == "htmx.org"
    assert manifest["tarball"].endswith(f"/htmx.org-{manifest['version']}.tgz")
    assert manifest["tarball_integrity"].startswith("sha512-")
    assert manifest["file_integrity"] == f"sha512-{digest}"


def test_every_console_string_exists_in_every_language() -> None:
    for area, languages in console_pages.area_strings().items():
        keys = {lang: set(messages) for lang, messages in languages.items()}
        assert set(keys) == set(console_pages.CONSOLE_LANGUAGES), f"{area} lacks a language"
        assert keys["en"] == keys["es"], f"{area}: {keys['en'] ^ keys['es']}"
    for lang in console_pages.CONSOLE_LANGUAGES:
        assert console_pages.strings(lang)["nav_dashboard"]


def test_the_language_is_the_query_then_the_browsers() -> None:
    assert console_pages.negotiate_language("es", "en") == "es"
    assert console_pages.negotiate_language(None, "es-ES,es;q=0.9,en;q=0.5") == "es"
    assert console_pages.negotiate_language("fr", "de") == "en"
