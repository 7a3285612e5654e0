"""The admin console in a real browser: an administrator signs in through the Cognito stand-in and runs the stack.

Headless Chromium against the local stack started as a person starts it (``orcid-sync-local up``, see
``harness.py``). The console's people are created as an administrator creates them in Cognito (the user pool the
stack provisioned in moto: a user, a permanent password, a group), then sign in at the stack's stand-in for
Cognito's managed login. Every console page is checked with axe-core (no serious or critical violation) at desktop
width and at 390 px; the README's screenshots of the dashboard and a researcher page are written to
``docs/screenshots/``. The server, not the buttons, is what refuses a viewer: their posts are sent by hand.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.e2e.harness import REPO, RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
ADMIN = "console-admin@example.edu"
VIEWER = "console-viewer@example.edu"
PASSWORD = "Console-e2e-" + secrets.token_hex(6) + "!A1"
RESEARCHERS = ("console-r1", "console-r2")
OUTPUTS = ("On the rotation of the Earth", "Notes on the analytical engine", "A brief history of iDs")


def _axe(page: Page, name: str) -> None:
    """No serious or critical accessibility violation on this page, at desktop width and at 390 px."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        results = Axe().run(page)
        bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        assert bad == [], f"{name} at {size['width']} px: " + "; ".join(
            f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in bad
        )
    page.set_viewport_size(DESKTOP)


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _console_people(stack: RunningStack) -> None:
    """An admin and a viewer in the stack's console pool, as `aws cognito-idp` would create them."""
    cognito = stack.aws("cognito-idp")
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    assert pools, "the stack provisioned no console user pool"
    pool_id = pools[0]["Id"]
    for email, group in ((ADMIN, "orcid-admins"), (VIEWER, "orcid-viewers")):
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=True)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)


def _sign_in(page: Page, stack: RunningStack, email: str) -> None:
    page.goto(stack.info["console_url"])
    # Signed out: the console sends the browser to the managed login (the stand-in), which comes back signed in.
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def _csrf(page: Page) -> str:
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token


def _rule_state(stack: RunningStack, job: str) -> str:
    """The daily rule's State in moto's EventBridge (``push`` → the PushScheduleRule the stack provisioned)."""
    logical_id = f"{job}ScheduleRule".lower()
    rules = [r for r in stack.aws("events").list_rules()["Rules"] if logical_id in r["Name"].lower()]
    assert len(rules) == 1, [r["Name"] for r in stack.aws("events").list_rules()["Rules"]]
    state: str = rules[0]["State"]
    return state


def _wait_for(check: Any, what: str, *, attempts: int = 120) -> None:
    """Reload-and-look until ``check()`` holds (a job finishing); bounded by attempts, never by a time limit."""
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"never saw {what}")


def _admin_api(stack: RunningStack, method: str, path: str, body: Any = None) -> Any:
    response = stack.signed(method, path, body)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def people(stack: RunningStack, browser: Browser) -> Iterator[None]:
    """The console's admin and viewer; two researchers: the first on ORCID (connected through their connect link,
    in the browser) with three outputs in the repository, the second not connected."""
    _console_people(stack)
    orcid = stack.sandbox(
        "POST", "/researchers", {"given_names": "Josiah", "family_name": "Carberry", "email": "jc@example.edu"}
    )["orcid"]
    first, second = RESEARCHERS
    _admin_api(
        stack,
        "PUT",
        f"/researchers/{first}",
        {"id": first, "given_names": "Josiah", "family_name": "Carberry", "orcid": orcid, "email": "jc@example.edu"},
    )
    _admin_api(stack, "PUT", f"/researchers/{second}", {"id": second, "given_names": "Ada", "family_name": "Lovelace"})
    for number, title in enumerate(OUTPUTS):
        asset_id = f"{first}-{number}"
        _admin_api(
            stack,
            "PUT",
            f"/assets/{asset_id}",
            {
                "id": asset_id,
                "researchers": [first],
                "type": "publication.journalArticle",
                "status": "approved",
                "visible": True,
                "date": "2024-05",
                "doi": f"10.5555/{asset_id}",
                "title": title,
            },
        )
    link = _admin_api(stack, "POST", f"/researchers/{first}/connect-link", {"expires_in_days": 7})
    context = browser.new_context(locale="en-GB")
    try:
        page = context.new_page()
        page.goto(link["url"])
        page.get_by_role("link", name="Connect your ORCID iD", exact=True).click()
        page.wait_for_url(f"{stack.orcid_url}/oauth/authorize**")
        page.get_by_role("button", name="Authorize access").click()
        page.wait_for_url(f"{stack.api_url}/orcid/callback**")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your ORCID iD is connected")
    finally:
        context.close()
    yield


@pytest.fixture
def admin_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-GB", viewport=DESKTOP)
    try:
        yield context
    finally:
        context.close()


@pytest.mark.usefixtures("people")
def test_an_admin_runs_the_stack_from_the_console_and_every_change_is_in_the_audit_log(
    stack: RunningStack, admin_context: BrowserContext, tmp_path: Path
) -> None:
    page = admin_context.new_page()
    console = stack.info["console_url"]
    _sign_in(page, stack, ADMIN)
    # The session cookie as Chromium keeps it: HttpOnly, Secure, Strict, the console's path, at most an hour
    (session,) = [c for c in admin_context.cookies() if c["name"] == "orcid_sync_console"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert session["path"] == "/console" and 0 < session["expires"] - time.time() <= 3600
    expect(page.locator(".tile").first).to_contain_text("1")
    _axe(page, "dashboard")
    _shot(page, "console-dashboard")

    # The push toggle flips the EventBridge rule, exactly as `orcid-sync jobs activate push`
    assert _rule_state(stack, "push") == "DISABLED"
    page.get_by_role("button", name="Activate Push").click()
    expect(page.get_by_role("button", name="Deactivate Push")).to_be_visible()
    assert _rule_state(stack, "push") == "ENABLED"

    # A dry-run push for two researchers, followed to its end, then its events
    page.goto(f"{console}/jobs")
    _axe(page, "jobs")
    page.get_by_label("Researcher ids (optional)").fill(" ".join(RESEARCHERS))
    page.get_by_label("Dry run: plan and report").check()
    page.get_by_role("button", name="Start the job").click()
    expect(page).to_have_url(re.compile(r"/console/jobs/push-"))
    job_url = page.url.split("?")[0]

    def finished() -> bool:
        page.goto(job_url)
        return page.get_by_text("Ended").count() > 0

    _wait_for(finished, "the dry-run push finish")
    expect(page.get_by_text("Nothing was written to ORCID.")).to_be_visible()
    expect(page.get_by_role("heading", name="Events (errors first)")).to_be_visible()
    _axe(page, "job")

    # A researcher's page (for the README)
    page.goto(f"{console}/researchers/{RESEARCHERS[0]}")
    expect(page.get_by_role("heading", name="Josiah Carberry")).to_be_visible()
    expect(page.get_by_text("Connected", exact=True)).to_be_visible()
    for title in OUTPUTS:
        expect(page.get_by_role("rowheader", name=re.compile(title))).to_be_visible()
    _axe(page, "researcher")
    _shot(page, "console-researcher")
    page.get_by_role("button", name=re.compile("^Disconnect")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Disconnect")
    _axe(page, "disconnect confirmation")
    page.goto(f"{console}/researchers/{RESEARCHERS[1]}")
    _axe(page, "researcher not connected")
    page.goto(f"{console}/researchers")
    _axe(page, "researchers")
    page.goto(f"{console}/researchers/attention")
    _axe(page, "token report")
    answer = page.goto(f"{console}/researchers/nobody-by-this-id")
    assert answer is not None and answer.status == 404
    _axe(page, "not found")

    # A setting changed: the preview first, then the save
    page.goto(f"{console}/settings")
    _axe(page, "settings")
    page.locator("input[name=send_assets]").check()
    page.get_by_role("button", name="Preview the change").click()
    expect(page.get_by_role("heading", name="Review the change before saving")).to_be_visible()
    # Sending switched on: the connected researcher's three outputs would be added, to one record
    expect(page.get_by_role("row", name=re.compile(r"^Add\b"))).to_have_text(re.compile(r"Add\s*3\s*1"))
    _axe(page, "settings preview")
    page.get_by_role("button", name="Save the settings").click()

    # A token file with a bad row: stored rows and the rejected one, read per row
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(
        "orcid,access_token,scope,expires_in\n0000-0002-1825-009X,abc,/activities/update,631138518\n",
        encoding="utf-8",
    )
    page.goto(f"{console}/tokens")
    _axe(page, "tokens")
    page.get_by_label("Token file", exact=True).set_input_files(str(tokens))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("heading", name="Token upload")).to_be_visible()

    def rejected_shown() -> bool:
        page.reload()
        return page.get_by_role("heading", name="Rejected rows").count() > 0

    _wait_for(rejected_shown, "the token upload's rejected row")
    _axe(page, "token upload")
    assert "abc" not in page.content()  # a token value is never shown back

    # The audit log holds each of these actions, newest first, by this admin, in the console
    page.goto(f"{console}/audit")
    _axe(page, "audit log")
    actions = page.locator("table.audit tbody tr code").all_inner_texts()
    for action in ("schedule.activate", "job.start", "settings.update", "tokens.upload"):
        assert action in actions, actions
    assert actions.index("tokens.upload") < actions.index("settings.update") < actions.index("job.start")
    assert actions.index("job.start") < actions.index("schedule.activate")
    expect(page.locator("table.audit tbody tr").first).to_contain_text(ADMIN)
    expect(page.locator("table.audit tbody tr").first).to_contain_text("in the console")
    page.goto(f"{console}/about")
    _axe(page, "about")

    # Deactivated again (the other tests expect the template's state)
    page.goto(console)
    page.get_by_role("button", name="Deactivate Push").click()
    expect(page.get_by_role("button", name="Activate Push")).to_be_visible()
    assert _rule_state(stack, "push") == "DISABLED"

    # Signing out ends the session (and the managed login's) and lands on the console's signed-out page
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/console/signedout$"))
    _axe(page, "signed out")
    assert [c for c in admin_context.cookies() if c["name"] == "orcid_sync_console"] == []
    answer = page.goto(f"{console}/jobs")
    assert answer is not None and "/oauth2/authorize" in page.url


@pytest.mark.usefixtures("people")
def test_a_viewer_sees_everything_and_the_server_refuses_every_change(stack: RunningStack, browser: Browser) -> None:
    context = browser.new_context(locale="en-GB", viewport=DESKTOP)
    try:
        page = context.new_page()
        console = stack.info["console_url"]
        _sign_in(page, stack, VIEWER)
        expect(page.get_by_role("button", name="Activate Push")).to_have_count(0)
        for path in ("", "/jobs", "/researchers", "/settings", "/tokens", "/audit", "/about"):
            response = page.goto(f"{console}{path}")
            assert response is not None and response.status == 200, path
        csrf = _csrf(page)
        before = _rule_state(stack, "push")
        audit_before = stack.signed("GET", "/audit?limit=100").json()["entries"]
        # The form a viewer never sees, posted anyway with their session and a valid CSRF token
        refused = page.request.post(f"{console}/schedules/push", form={"csrf": csrf, "enabled": "true"})
        assert refused.status == 403
        assert "cannot change" in refused.text()
        refused = page.request.post(f"{console}/jobs", form={"csrf": csrf, "type": "push", "dry_run": "true"})
        assert refused.status == 403
        assert _rule_state(stack, "push") == before
        assert stack.signed("GET", "/audit?limit=100").json()["entries"] == audit_before
    finally:
        context.close()


@pytest.mark.usefixtures("people")
def test_signed_out_forged_and_csrf_less_requests_are_refused(stack: RunningStack, browser: Browser) -> None:
    console = stack.info["console_url"]
    context = browser.new_context(locale="en-GB", viewport=DESKTOP)
    try:
        page = context.new_page()
        # Signed out: every page redirects to sign-in, a post too
        answer = page.request.get(f"{console}/jobs", max_redirects=0)
        assert answer.status == 303 and answer.headers["location"].startswith("/console/signin?next=")
        answer = page.request.post(f"{console}/schedules/push", form={"enabled": "true"}, max_redirects=0)
        assert answer.status == 303
        # A forged session is no session
        context.add_cookies([{"name": "orcid_sync_console", "value": "forged.value", "url": console}])
        answer = page.request.get(f"{console}/audit", max_redirects=0)
        assert answer.status == 303 and "/console/signin" in answer.headers["location"]
        # Signed in as admin, a change without the CSRF token is refused and changes nothing
        context.clear_cookies()
        _sign_in(page, stack, ADMIN)
        before = _rule_state(stack, "push")
        answer = page.request.post(f"{console}/schedules/push", form={"enabled": "true"}, max_redirects=0)
        assert answer.status == 403
        answer = page.request.post(
            f"{console}/schedules/push", form={"enabled": "true", "csrf": "not-the-token"}, max_redirects=0
        )
        assert answer.status == 403
        assert _rule_state(stack, "push") == before
    finally:
        context.close()


def test_the_console_screenshots_are_referenced_by_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("console-dashboard", "console-researcher"):
        assert f"docs/screenshots/{name}.png" in readme
