"""A researcher connects their ORCID iD in a real browser: headless Chromium against the local stack.

The stack's local ORCID sandbox plays ORCID's sign-in and consent page. Chromium is Debian's
package (never ``playwright install``); the session fixture installs it when missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from orcid_sync_local.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path("/tmp/orcid-sync-screenshots")

SignedRequest = Callable[..., requests.Response]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when it is missing (root here and in CI)."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        assert apt, "Chromium is missing and apt-get is not available to install it"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "update"], check=True, env=env)
        subprocess.run([apt, "install", "-y", "chromium"], check=True, env=env)
    assert CHROMIUM.exists(), f"{CHROMIUM} was not installed"
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB")
    try:
        yield context.new_page()
    finally:
        context.close()


class Admin:
    """The institution's systems: the IAM-signed admin API of the local stack."""

    def __init__(self, stack: LocalStack, signed: SignedRequest) -> None:
        self._stack = stack
        self._signed = signed

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        response = self._signed(
            method, f"{self._stack.api_url}{path}", self._stack.credentials, body=data, headers=headers
        )
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture
def admin(local_stack: LocalStack, iam_request: SignedRequest) -> Admin:
    return Admin(local_stack, iam_request)


def _sandbox_researcher(stack: LocalStack, given: str, family: str, email: str) -> str:
    """A record on the local ORCID sandbox; returns its iD."""
    response = requests.post(
        f"{stack.orcid_url}/_sandbox/researchers",
        json={"given_names": given, "family_name": family, "email": email},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["orcid"])


def _researcher(admin: Admin, stack: LocalStack) -> tuple[str, str]:
    """A researcher in the repository and on ORCID (same email); returns (researcher id, ORCID iD)."""
    rid = f"e2e-{uuid.uuid4().hex[:10]}"
    email = f"{rid}@example.edu"
    orcid = _sandbox_researcher(stack, "Josiah", "Carberry", email)
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


def test_a_researcher_connects_their_orcid_id(local_stack: LocalStack, admin: Admin, page: Page) -> None:
    # Given a researcher with a personal connect link
    rid, orcid = _researcher(admin, local_stack)
    link = admin.call("POST", f"/researchers/{rid}/connect-link", {"expires_in_days": 7})
    console_errors = _watch_console(page, local_stack.api_url)

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
    page.wait_for_url(f"{local_stack.orcid_url}/oauth/authorize**")
    page.get_by_role("button", name="Authorize access").click()

    # Then they land on the success page showing their authenticated iD
    page.wait_for_url(f"{local_stack.api_url}/orcid/callback**")
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


def test_a_researcher_who_denies_access_gets_a_friendly_page(local_stack: LocalStack, admin: Admin, page: Page) -> None:
    rid, _ = _researcher(admin, local_stack)
    link = admin.call("POST", f"/researchers/{rid}/connect-link", {})
    console_errors = _watch_console(page, local_stack.api_url)

    page.goto(link["url"])
    page.get_by_role("link", name="Connect your ORCID iD", exact=True).click()
    page.wait_for_url(f"{local_stack.orcid_url}/oauth/authorize**")
    page.get_by_role("button", name="Deny access").click()

    page.wait_for_url(f"{local_stack.api_url}/orcid/callback**")
    expect(page.get_by_role("heading", level=1)).to_have_text("You did not authorize access")
    expect(page.locator("main")).to_contain_text("nothing was stored")
    _shot(page, "denied-page")
    assert console_errors == []
    assert admin.call("GET", f"/researchers/{rid}")["orcid_status"] == "none"

    # The page offers a fresh link, which leads back to a working connect page.
    page.get_by_role("link", name="Try again").click()
    assert urlsplit(page.url).path == "/connect"
    expect(page.get_by_role("link", name="Connect your ORCID iD", exact=True)).to_be_visible()
