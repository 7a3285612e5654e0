"""``orcid-sync console add-admin EMAIL --local`` against the local stack, and the invited person's first sign-in
(Cognito's NEW_PASSWORD_REQUIRED at the stand-in, the pool's password policy applied by moto)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orcid_sync_cli.console_cmd import add_admin
from orcid_sync_local.stack import LocalStack
from tests.support.console_browser import ConsoleBrowser


@pytest.fixture
def local_state(local_stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "local.json"
    path.write_text(json.dumps({**local_stack.connection_info(), "pid": os.getpid()}))
    monkeypatch.setenv("ORCID_SYNC_LOCAL_STATE", str(path))
    return path


def _form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def _run(*args: str) -> Any:
    return CliRunner().invoke(add_admin, [*args, "--output", "json"], catch_exceptions=False)


def _groups(stack: LocalStack, email: str) -> list[str]:
    answer = stack.client("cognito-idp").admin_list_groups_for_user(
        UserPoolId=stack.resource("ConsoleUserPool").ref, Username=email
    )
    return [group["GroupName"] for group in answer["Groups"]]


def test_add_admin_invites_a_new_person_who_sets_a_password_and_signs_in(
    local_stack: LocalStack, local_state: Path
) -> None:
    result = _run("invited@example.org", "--local")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["invited"] is True and document["group"] == "orcid-admins"
    assert document["console_url"] == local_stack.console_url
    assert _groups(local_stack, "invited@example.org") == ["orcid-admins"]

    browser = ConsoleBrowser(local_stack)
    start = browser.get(f"{local_stack.api_url}/console/signin", allow_redirects=False)
    login = browser.get(start.headers["Location"])
    challenge = browser.post(
        f"{local_stack.cognito_login_url}/login",
        data={
            **_form_fields(login.text),
            "username": "invited@example.org",
            "password": document["temporary_password"],  # printed locally: no e-mail is sent
        },
    )
    assert "new password" in challenge.text.lower()
    weak = browser.post(
        f"{local_stack.cognito_login_url}/login/new-password",
        data={**_form_fields(challenge.text), "new_password": "short", "confirm_password": "short"},
    )
    assert weak.status_code == 400  # the pool's password policy (12 characters, every class)
    strong = "A-much-longer-passw0rd!"
    done = browser.post(
        f"{local_stack.cognito_login_url}/login/new-password",
        data={**_form_fields(weak.text), "new_password": strong, "confirm_password": strong},
        allow_redirects=False,
    )
    assert done.status_code == 302
    callback = browser.get(done.headers["Location"], allow_redirects=False)
    assert callback.status_code == 303
    assert "orcid_sync_console=" in callback.headers["Set-Cookie"]
    assert browser.get(f"{local_stack.api_url}/console/nowhere").status_code == 404  # signed in: not sent to sign in


def test_add_admin_for_someone_with_an_account_only_adds_the_group(local_stack: LocalStack, local_state: Path) -> None:
    assert _run("twice@example.org", "--local", "--viewer").exit_code == 0
    again = _run("twice@example.org", "--local")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["invited"] is False
    assert sorted(_groups(local_stack, "twice@example.org")) == ["orcid-admins", "orcid-viewers"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-address", "--local"], "not an e-mail address"),
        (["a@example.org"], "say which stack"),
        (["a@example.org", "--local", "--stack", "x"], "say which stack"),
    ],
)
def test_add_admin_says_what_is_wrong(local_state: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(add_admin, args)
    assert result.exit_code == 2
    assert re.search(message, result.output)
