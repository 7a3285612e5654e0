"""A console user on the local stack: made in the stack's Cognito pool (moto) and signed in through the managed-login
stand-in, as a browser does (the sign-in itself is tested in tests/stack/test_console_sign_in.py)."""

from __future__ import annotations

import re
import secrets
from html import unescape
from typing import Any

import requests

from orcid_sync_local.console_users import create_console_user
from orcid_sync_local.stack import LocalStack


class ConsoleBrowser(requests.Session):
    """Chromium sends ``Secure`` cookies to http://127.0.0.1 (a secure context); Python's jar does not, so the flag
    is dropped once a cookie is received. ``post`` adds the page's CSRF token as the console's forms do."""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__()
        self.stack = stack
        self.csrf = ""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        found = re.search(r'name="csrf" value="([^"]+)"', response.text or "")
        if found:
            self.csrf = unescape(found.group(1))
        return response

    def page(self, path: str, **params: str) -> requests.Response:
        answer = self.get(f"{self.stack.api_url}{path}", params=params or None)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        return answer

    def submit(self, path: str, form: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        data = {"csrf": self.csrf, **(form or {})}
        return self.post(f"{self.stack.api_url}{path}", data=data, allow_redirects=False, **kwargs)


def console_user(stack: LocalStack, email: str, group: str) -> ConsoleBrowser:
    """A person in ``group`` (orcid-admins or orcid-viewers), signed in."""
    password = "Console-" + secrets.token_hex(6) + "!A1"
    create_console_user(stack, email, password, group)
    browser = ConsoleBrowser(stack)
    start = browser.get(f"{stack.api_url}/console/signin", allow_redirects=False)
    login = browser.get(start.headers["Location"])
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', login.text))
    answer = browser.post(
        f"{stack.cognito_login_url}/login",
        data={**fields, "username": email, "password": password},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    callback = browser.get(answer.headers["Location"], allow_redirects=False)
    assert callback.status_code in (302, 303), callback.text[:500]
    browser.page("/console")
    return browser
