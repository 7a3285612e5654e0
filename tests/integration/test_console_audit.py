"""``GET /console/audit`` through the console handler, in-process against moto: newest first, filters, pages,
each change as a diff, for admins and viewers alike; signed out it leads to sign-in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qsl

import pytest

from orcid_sync import composition
from orcid_sync.domain.audit import record_action
from orcid_sync.domain.console.session import SESSION_COOKIE, Role, issue_session, session_cookie_value
from orcid_sync.domain.console.sign_in import LoginSite
from tests.support.apigw import http_event, lambda_context
from tests.support.aws import AwsEnv

T0 = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
ADMIN_ARN = "arn:aws:iam::123456789012:user/ops"


@pytest.fixture
def console(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    # The managed login's address comes from an SSM parameter the stack provisions; this tier has no pool.
    monkeypatch.setattr(
        composition, "console_login_site", lambda: LoginSite("https://login.example.edu", "console-client")
    )


def _cookie(role: Role = Role.ADMIN, email: str = "admin@example.edu", *, expired: bool = False) -> str:
    now = datetime.now(UTC) - (timedelta(hours=2) if expired else timedelta())
    user = issue_session(subject=f"sub-{role.value}", email=email, role=role, now=now)
    return f"{SESSION_COOKIE}={session_cookie_value(composition.link_signer(), user)}"


def _get(query: dict[str, str] | None = None, cookie: str | None = None) -> dict[str, Any]:
    from functions.console import app

    event = http_event("GET", "/console/audit", query=query, headers={"accept": "text/html"})
    del event["requestContext"]["authorizer"]  # the console's routes are Auth NONE: no IAM identity
    if cookie:
        event["cookies"] = [cookie]
    response: dict[str, Any] = app.lambda_handler(event, lambda_context())
    return response


def _seed() -> None:
    log = composition.audit_log()
    record_action(
        log, actor=ADMIN_ARN, actor_kind="api", action="schedule.activate", target="push",
        before={"enabled": False}, after={"enabled": True}, now=T0,
    )  # fmt: skip
    record_action(
        log, actor="admin@example.edu", actor_kind="console", action="settings.update", target="settings",
        before={"send_assets": False, "type_overrides": {}, "logo_url": "https://old.example/logo.png"},
        after={"send_assets": True, "type_overrides": {"publication.book": "book"}, "logo_url": None},
        now=T0 + timedelta(hours=2),
    )  # fmt: skip
    record_action(
        log, actor="admin@example.edu", actor_kind="console", action="job.start", target="push-123",
        after={"type": "push", "dry_run": True, "researchers": ["r1", "r2"], "access_token": "never-shown"},
        now=T0 + timedelta(hours=3),
    )  # fmt: skip


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


@pytest.mark.usefixtures("console")
@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_every_signed_in_person_reads_the_log_newest_first_with_each_change_as_a_diff(role: Role) -> None:
    _seed()
    response = _get(cookie=_cookie(role, f"{role.value}@example.edu"))
    assert response["statusCode"] == 200
    html = response["body"]
    rows = _rows(html)
    assert [re.search(r"<code>(.*?)</code>", row).group(1) for row in rows] == [  # type: ignore[union-attr]
        "job.start",
        "settings.update",
        "schedule.activate",
    ]
    job, settings, schedule = rows
    assert (
        "push-123" in job
        and "in the console" in job
        and '<ins><span class="visually-hidden">after: </span>true</ins>' in job
    )
    assert "never-shown" not in html and "access_token" not in html
    assert "<dt>send_assets</dt>" in settings
    assert '<del><span class="visually-hidden">before: </span>false</del>' in settings
    assert "<dt>type_overrides.publication.book</dt>" in settings  # nested: one line per leaf
    assert "<dt>logo_url</dt>" in settings and "https://old.example/logo.png</del>" in settings
    assert ADMIN_ARN in schedule and "through the admin API" in schedule
    assert 'aria-current="page"' in html.split('href="/console/audit"', 1)[1][:40]
    assert response["headers"]["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.usefixtures("console")
def test_filters_by_action_and_by_actor() -> None:
    _seed()
    only = _rows(_get({"action": "schedule.activate"}, _cookie())["body"])
    assert len(only) == 1 and "schedule.activate" in only[0]
    by_console = _rows(_get({"actor": "admin@example.edu"}, _cookie())["body"])
    assert len(by_console) == 2 and all("in the console" in row for row in by_console)
    nothing = _get({"actor": "nobody@example.edu"}, _cookie())["body"]
    assert "No entry matches this filter." in nothing and "<tbody>" not in nothing
    # An action the filter does not offer is ignored, not passed on
    assert len(_rows(_get({"action": "anything<script>"}, _cookie())["body"])) == 3


@pytest.mark.usefixtures("console")
def test_older_entries_are_a_link_away_and_a_forged_cursor_starts_again() -> None:
    log = composition.audit_log()
    for i in range(30):
        record_action(
            log, actor="a@example.edu", actor_kind="console", action="job.start", now=T0 + timedelta(minutes=i)
        )
    first = _get(cookie=_cookie())["body"]
    assert len(_rows(first)) == 25
    link = re.search(r'href="/console/audit\?([^"]+)">Older entries', first)
    assert link is not None
    query = dict(parse_qsl(unescape(link.group(1)), keep_blank_values=True))
    second = _get(query, _cookie())["body"]
    assert len(_rows(second)) == 5 and "Older entries" not in second
    assert len(_rows(_get({"cursor": "forged"}, _cookie())["body"])) == 25


@pytest.mark.usefixtures("console")
def test_an_empty_log_says_so_in_the_persons_language() -> None:
    assert "Nothing has been changed yet." in _get(cookie=_cookie())["body"]
    assert "Todavía no se ha cambiado nada." in _get({"lang": "es"}, _cookie())["body"]


@pytest.mark.usefixtures("console")
@pytest.mark.parametrize("cookie", [None, "forged", "expired"])
def test_signed_out_forged_or_expired_sessions_are_sent_to_sign_in(cookie: str | None) -> None:
    _seed()
    value = {None: None, "forged": f"{SESSION_COOKIE}=abc.def", "expired": _cookie(expired=True)}[cookie]
    response = _get(cookie=value)
    assert response["statusCode"] == 303
    assert response["headers"]["Location"].startswith("/console/signin?next=")
    assert "schedule.activate" not in (response.get("body") or "")
