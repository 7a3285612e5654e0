"""A researcher connects their ORCID iD in a real browser: headless Chromium against the local stack.

The stack is started as a person starts it (``orcid-sync-local up``, see ``harness.py``); its local
ORCID sandbox plays ORCID's sign-in and consent page. Chromium is Debian's package, installed by
``make test`` (never ``playwright install``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.harness import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOTS = Path("/tmp/orcid-sync-screenshots")


class Admin:
    """The institution's systems: the IAM-signed admin API of the local stack."""

    def __init__(self, stack: RunningStack) -> None:
        self._stack = stack

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._stack.signed(method, path, body)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture
def admin(stack: RunningStack) -> Admin:
    return Admin(stack)


def _researcher(admin: Admin, stack: RunningStack) -> tuple[str, str]:
    """A researcher in the repository and on ORCID (same email); returns (researcher id, ORCID iD)."""
    rid = f"e2e-{uuid.uuid4().hex[:10]}"
    email = f"{rid}@example.edu"
    orcid = str(
        stack.sandbox("POST", "/researchers", {"given_names": "Josiah", "family_name": "Carberry", "email": email})[
            "orcid"
        ]
    )
    admin.call(
        "PUT", f"/researchers/{rid}", {"id": rid, "given_names": "Josiah", "family_name": "Carberry", "email": email}
    )
    return rid, orcid


def _watch_console(page: Page, origin: str) -> list[str]:
    """Errors the browser reports on our pages (a CSP violation is one)."""
    problems: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and page.url.startswith(origin):
            problems.append(message.text)

    page.on("console", record)
    return problems


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_researcher_connects_their_orcid_id(stack: RunningStack, admin: Admin, page: Page) -> None:
    # Given a researcher with a personal connect link
    rid, orcid = _researcher(admin, stack)
    link = admin.call("POST", f"/researchers/{rid}/connect-link", {"expires_in_days": 7})
    console_errors = _watch_console(page, stack.api_url)

    # When they open it
    response = page.goto(link["url"])
    assert response is not None and response.status == 200
    assert "default-src 'none'" in (response.headers.get("content-security-policy") or "")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect your ORCID iD")
    expect(page.locator("main")).to_contain_text("Josiah Carberry")
    button = page.get_by_role("link", name="Connect your ORCID iD", exact=True)
    expect(button).to_be_visible()
    # The stylesheet loaded under the CSP (the ORCID button is styled), and the button takes keyboard focus.
    assert button.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "8px"
    button.focus()
    assert button.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    button.blur()
    _shot(page, "connect-page")

    # And connect at ORCID
    button.click()
    page.wait_for_url(f"{stack.orcid_url}/oauth/authorize**")
    page.get_by_role("button", name="Authorize access").click()

    # Then they land on the success page showing their authenticated iD
    page.wait_for_url(f"{stack.api_url}/orcid/callback**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your ORCID iD is connected")
    id_link = page.get_by_role("link", name="View ORCID record")
    expect(id_link).to_have_attribute("href", f"https://sandbox.orcid.org/{orcid}")
    expect(id_link).to_contain_text(f"https://sandbox.orcid.org/{orcid}")
    expect(page.get_by_role("img", name="ORCID iD icon")).to_be_visible()
    _shot(page, "success-page")
    assert console_errors == []

    # And the administrators see the connection
    researcher = admin.call("GET", f"/researchers/{rid}")
    assert researcher["orcid"] == orcid
    assert researcher["orcid_status"] == "active"
    assert researcher["connected_at"]

    # And reloading the callback (a replay) is refused without changing anything
    reload = page.reload()
    assert reload is not None and reload.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("This sign-in has already been used")
    assert admin.call("GET", f"/researchers/{rid}")["orcid_status"] == "active"


def test_a_researcher_who_denies_access_gets_a_friendly_page(stack: RunningStack, admin: Admin, page: Page) -> None:
    rid, _ = _researcher(admin, stack)
    link = admin.call("POST", f"/researchers/{rid}/connect-link", {})
    console_errors = _watch_console(page, stack.api_url)

    page.goto(link["url"])
    page.get_by_role("link", name="Connect your ORCID iD", exact=True).click()
    page.wait_for_url(f"{stack.orcid_url}/oauth/authorize**")
    page.get_by_role("button", name="Deny access").click()

    page.wait_for_url(f"{stack.api_url}/orcid/callback**")
    expect(page.get_by_role("heading", level=1)).to_have_text("You did not authorize access")
    expect(page.locator("main")).to_contain_text("nothing was stored")
    _shot(page, "denied-page")
    assert console_errors == []
    assert admin.call("GET", f"/researchers/{rid}")["orcid_status"] == "none"

    # The page offers a fresh link, which leads back to a working connect page.
    page.get_by_role("link", name="Try again").click()
    assert urlsplit(page.url).path == "/connect"
    expect(page.get_by_role("link", name="Connect your ORCID iD", exact=True)).to_be_visible()
