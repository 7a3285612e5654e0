""" "My ORCID" in a real browser: a connected researcher signs in with ORCID and sees, and steers, what is sent.

Headless Chromium against the local stack started as a person starts it (``orcid-sync-local up``, see
``harness.py``); its local ORCID sandbox plays ORCID's sign-in (``scope=openid``, an RS256 ``id_token`` signed with
the key it publishes at ``/oauth/jwks``). Pushes run as an administrator runs them (``orcid-sync jobs run push
--wait``). Every researcher page is checked with axe-core (no serious or critical violation); the README's
screenshots (desktop and 390 px) are written to ``docs/screenshots/``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.harness import REPO, RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
REFUSAL = "Invalid contributor role (ORCID error 9058)"


class Admin:
    """The institution's systems: the IAM-signed admin API of the local stack."""

    def __init__(self, stack: RunningStack) -> None:
        self._stack = stack

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._stack.signed(method, path, body)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def _axe(page: Page, name: str) -> None:
    """No serious or critical accessibility violation on this page."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert bad == [], f"{name}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in bad)


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _watch_console(page: Page, origin: str) -> list[str]:
    problems: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and page.url.startswith(origin):
            problems.append(message.text)

    page.on("console", record)
    return problems


def _push(stack: RunningStack) -> None:
    stack.cli("orcid-sync jobs run push --wait --interval 1").check()


def _works(stack: RunningStack, orcid: str) -> list[dict[str, Any]]:
    return list(stack.sandbox("GET", f"/records/{orcid}")["works"])


def _dois(stack: RunningStack, orcid: str) -> list[str]:
    return [i["normalized"] for w in _works(stack, orcid) for i in w["self_ids"] if i["type"] == "doi"]


def _ledger_table(stack: RunningStack) -> str:
    names = stack.aws("dynamodb").list_tables()["TableNames"]
    return next(name for name in names if "ledger" in name.lower())


def _mark_refused(stack: RunningStack, researcher_id: str, asset_id: str) -> None:
    """ORCID's 400 for this exact content, as the push records it (a valid asset the sandbox refuses cannot be made:
    the product checks everything ORCID checks before sending). Its earlier copy is gone from the ledger."""
    stack.aws("dynamodb").update_item(
        TableName=_ledger_table(stack),
        Key={"researcher_id": {"S": researcher_id}, "item": {"S": f"work#{asset_id}"}},
        UpdateExpression="SET #s = :rejected, message = :message REMOVE put_code",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":rejected": {"S": "rejected"}, ":message": {"S": REFUSAL}},
    )


def _output(page: Page, asset_id: str) -> Any:
    return page.locator(f"#asset-{asset_id}")


def test_a_researcher_signs_in_sees_each_state_and_steers_what_is_sent(stack: RunningStack, page: Page) -> None:
    admin = Admin(stack)
    console_errors = _watch_console(page, stack.api_url)
    # Given the institution's settings: sending on, books not sent, its name, contact and colour
    settings = admin.call("GET", "/settings")
    settings.update(
        institution_name="Carberry University",
        send_assets=True,
        asset_types={"include": ["all"], "exclude": ["publication.book"]},
        support_contact="orcid-help@carberry.example.edu",
        accent_color="#7a1f5c",
    )
    settings.pop("updated_at", None)
    admin.call("PUT", "/settings", settings)
    # And a researcher on ORCID and in the repository, with an asset in each state
    rid = f"me-{uuid.uuid4().hex[:8]}"
    email = f"{rid}@example.edu"
    orcid = str(
        stack.sandbox("POST", "/researchers", {"given_names": "Josiah", "family_name": "Carberry", "email": email})[
            "orcid"
        ]
    )
    admin.call(
        "PUT",
        f"/researchers/{rid}",
        {
            "id": rid,
            "given_names": "Josiah",
            "family_name": "Carberry",
            "email": email,
            "orcid": orcid,
            "profile_url": f"https://research.carberry.example.edu/people/{rid}",
        },
    )
    assets = {
        "onorcid": {"title": "On the rotation of the Earth"},
        "optout": {"title": "An early draft I regret"},
        "deleted": {"title": "Notes the researcher removed"},
        "refused": {"title": "A work ORCID refused"},
        "pending": {"title": "Awaiting approval", "status": "pending"},
        "hidden": {"title": "Hidden from the portal", "visible": False},
        "book": {"title": "A book the repository does not send", "type": "publication.book"},
    }
    ids = {key: f"{rid}-{key}" for key in assets}
    for key, extra in assets.items():
        body = {
            "id": ids[key],
            "researchers": [rid],
            "type": "publication.journalArticle",
            "status": "approved",
            "visible": True,
            "date": "2024-05",
            "doi": f"10.5555/{ids[key]}",
            **extra,
        }
        admin.call("PUT", f"/assets/{ids[key]}", body)

    # And they connected their iD through their connect link
    link = admin.call("POST", f"/researchers/{rid}/connect-link", {"expires_in_days": 7})
    page.goto(link["url"])
    expect(page.locator(".site-name")).to_contain_text("Carberry University")
    _axe(page, "connect page")
    page.get_by_role("link", name="Connect your ORCID iD", exact=True).click()
    page.wait_for_url(f"{stack.orcid_url}/oauth/authorize**")
    page.get_by_role("button", name="Authorize access").click()
    page.wait_for_url(f"{stack.api_url}/orcid/callback**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your ORCID iD is connected")
    _axe(page, "success page")

    # And the pushes sent four works; the researcher deleted one on ORCID, which the next push noticed
    _push(stack)
    assert len(_works(stack, orcid)) == 4
    deleted_code = next(
        w["put_code"] for w in _works(stack, orcid) if w["self_ids"][0]["normalized"].endswith(ids["deleted"])
    )
    stack.sandbox("DELETE", f"/records/{orcid}/works/{deleted_code}")
    edited = admin.call("GET", f"/assets/{ids['deleted']}")
    admin.call(
        "PUT",
        f"/assets/{ids['deleted']}",
        {k: v for k, v in edited.items() if k not in ("updated_at", "created_at")} | {"title": "Notes, revised"},
    )
    _push(stack)
    _mark_refused(stack, rid, ids["refused"])

    # When they open My ORCID and sign in with ORCID
    page.goto(f"{stack.api_url}/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("My ORCID")
    sign_in = page.get_by_role("link", name="Sign in with ORCID")
    expect(sign_in).to_be_visible()
    _axe(page, "sign-in page")
    _shot(page, "my-orcid-sign-in")
    sign_in.click()
    page.wait_for_url(f"{stack.orcid_url}/oauth/authorize**")
    assert "scope=openid" in page.url and "nonce=" in page.url
    page.get_by_label("I am an existing test researcher").check()
    page.get_by_label("ORCID iD or email").fill(orcid)
    page.get_by_role("button", name="Authorize access").click()
    page.wait_for_url(f"{stack.api_url}/me")

    # Then they see their authenticated iD, their connection and each output's state in plain words
    expect(page.get_by_role("heading", level=1)).to_have_text("My ORCID")
    id_link = page.get_by_role("link", name=f"https://sandbox.orcid.org/{orcid}")
    expect(id_link).to_have_attribute("href", f"https://sandbox.orcid.org/{orcid}")
    expect(page.get_by_role("img", name="ORCID iD icon").first).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text("Connected since")
    expect(main).to_contain_text("adding your research outputs and affiliation to your ORCID record")
    expect(page.get_by_role("link", name="Back to your profile")).to_have_attribute(
        "href", f"https://research.carberry.example.edu/people/{rid}"
    )
    expected = {
        "onorcid": "On your ORCID record",
        "optout": "On your ORCID record",
        "deleted": "You deleted it on ORCID — we will not add it again",
        "refused": "ORCID refused it",
        "pending": "Not sent: not yet approved",
        "hidden": "Not sent: not visible on the portal",
        "book": "Not sent: this type is not sent by the repository",
    }
    for key, words in expected.items():
        expect(_output(page, ids[key]).locator(".output-state")).to_have_text(words)
    expect(_output(page, ids["refused"])).to_contain_text(REFUSAL)
    expect(page.locator(".counts")).to_contain_text("2 On your ORCID record")
    # And rendering it asked ORCID nothing
    stack.sandbox("POST", "/stats/reset")
    page.reload()
    assert stack.sandbox("GET", "/stats")["total"] == 0
    _axe(page, "My ORCID page")
    page.set_viewport_size(DESKTOP)
    _shot(page, "my-orcid-desktop")
    page.set_viewport_size(PHONE)
    # At 390 px the iD stays on one line (the link may break only between the host and the iD)
    number = page.locator(".connected-id .orcid-number")
    box = number.bounding_box()
    assert box is not None and box["height"] < 30, box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _axe(page, "My ORCID page at 390 px")
    _shot(page, "my-orcid-390")
    page.set_viewport_size(DESKTOP)

    # When they choose not to send one, the next push deletes it from their ORCID record
    optout_code = next(
        w["put_code"] for w in _works(stack, orcid) if w["self_ids"][0]["normalized"].endswith(ids["optout"])
    )
    _output(page, ids["optout"]).get_by_role("button", name=re.compile("Don't send this one")).click()
    page.wait_for_url(re.compile(r".*/me\?done=opted_out.*"))
    expect(page.get_by_role("status")).to_contain_text("the repository will not send that output")
    expect(_output(page, ids["optout"]).locator(".output-state")).to_have_text("Not sent: you chose not to send it")
    _push(stack)
    assert optout_code not in [w["put_code"] for w in _works(stack, orcid)]
    assert not [d for d in _dois(stack, orcid) if d.endswith(ids["optout"])]

    # And "Send it again" on the work they deleted brings it back, exactly once
    assert not [d for d in _dois(stack, orcid) if d.endswith(ids["deleted"])]
    _output(page, ids["deleted"]).get_by_role("button", name=re.compile("Send it again")).click()
    page.wait_for_url(re.compile(r".*/me\?done=send_again.*"))
    _push(stack)
    _push(stack)
    assert len([d for d in _dois(stack, orcid) if d.endswith(ids["deleted"])]) == 1
    page.goto(f"{stack.api_url}/me")
    expect(_output(page, ids["deleted"]).locator(".output-state")).to_have_text("On your ORCID record")
    expect(_output(page, ids["optout"]).locator(".output-state")).to_have_text("Not sent: you chose not to send it")

    # The disconnect confirmation and a problem page are researcher pages too
    page.get_by_role("link", name="Disconnect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disconnect your ORCID iD?")
    _axe(page, "disconnect confirmation")
    page.get_by_role("link", name="No, go back").click()
    # No CSP violation or failed load on any page so far (the problem page below answers 400 on purpose)
    assert console_errors == []
    page.goto(f"{stack.api_url}/connect?link=not-a-link")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")
    expect(page.locator("footer")).to_contain_text("orcid-help@carberry.example.edu")
    _axe(page, "problem page")
    assert stack.function_errors() == []


def test_an_id_on_no_researcher_is_told_so_plainly(stack: RunningStack, page: Page) -> None:
    stranger = str(
        stack.sandbox(
            "POST",
            "/researchers",
            {"given_names": "Ann", "family_name": "Other", "email": f"{uuid.uuid4().hex[:8]}@example.org"},
        )["orcid"]
    )
    page.goto(f"{stack.api_url}/me")
    page.get_by_role("link", name="Sign in with ORCID").click()
    page.get_by_label("I am an existing test researcher").check()
    page.get_by_label("ORCID iD or email").fill(stranger)
    page.get_by_role("button", name="Authorize access").click()
    page.wait_for_url(f"{stack.api_url}/orcid/callback**")
    expect(page.get_by_role("heading", level=1)).to_have_text("This ORCID iD is not on any researcher profile")
    expect(page.locator("main")).to_contain_text(stranger)
    _axe(page, "unknown iD page")
    # Nothing to see without a session
    page.goto(f"{stack.api_url}/me")
    expect(page.get_by_role("link", name="Sign in with ORCID")).to_be_visible()


def test_screenshots_are_referenced_by_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("my-orcid-desktop", "my-orcid-390"):
        assert f"docs/screenshots/{name}.png" in readme
    assert Path(SCREENSHOTS).is_dir()
