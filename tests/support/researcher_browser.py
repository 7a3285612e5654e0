"""A researcher's browser without a browser: the connect page, the local sandbox's consent form and "My ORCID".

``requests`` with the redirects followed by hand and the cookies kept by hand: the researcher pages set
``Secure`` cookies, which a browser sends to ``http://127.0.0.1`` (a secure context) and ``requests`` would not.
"""

from __future__ import annotations

import html
import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_FORM = re.compile(r'<form method="post" action="([^"]+)"')


class ResearcherBrowser:
    """Follows redirects and keeps each host's cookies (Secure ones included), like a browser on localhost."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.cookies: dict[str, dict[str, str]] = {}

    def request(self, method: str, url: str, data: dict[str, str] | None = None) -> requests.Response:
        for _ in range(10):
            host = urlsplit(url).netloc
            jar = self.cookies.setdefault(host, {})
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
            response = self.http.request(method, url, data=data, headers=headers, allow_redirects=False, timeout=60)
            for header in response.raw.headers.getlist("Set-Cookie"):
                for name, morsel in SimpleCookie(header).items():
                    if morsel.value and morsel["max-age"] != "0":
                        jar[name] = morsel.value
                    else:
                        jar.pop(name, None)
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            url = urljoin(url, response.headers["Location"])
            if response.status_code in (301, 302, 303):
                method, data = "GET", None
        raise AssertionError(f"too many redirects, at {url}")

    def get(self, url: str) -> requests.Response:
        return self.request("GET", url)

    def submit(self, page: requests.Response, action_path: str | None = None, **fields: str) -> requests.Response:
        """POST the page's form (the one whose action contains ``action_path``): its hidden fields plus ``fields``."""
        forms = [(html.unescape(match.group(1)), match.end()) for match in _FORM.finditer(page.text)]
        chosen = next(((a, at) for a, at in forms if action_path is None or action_path in a), None)
        assert chosen is not None, f"no form posting to {action_path!r} on {page.url}: {[a for a, _ in forms]}"
        action, start = chosen
        form_html = page.text[start : page.text.find("</form>", start)]
        data = {name: html.unescape(value) for name, value in _HIDDEN.findall(form_html)} | fields
        return self.request("POST", urljoin(page.url, action), data=data)


def authorize_at_sandbox(
    browser: ResearcherBrowser, consent_page: requests.Response, **fields: Any
) -> requests.Response:
    """Answer the local sandbox's consent form: ``mode="register"`` with names and email, or ``mode="signin"``
    with ``signin_id``; returns the page the redirect back to the stack ends on."""
    return browser.submit(consent_page, None, action="authorize", **{k: str(v) for k, v in fields.items()})


def hosted_link(page: requests.Response, path: str) -> str:
    """The absolute URL of the first link on ``page`` whose href contains ``path``."""
    found = re.search(rf'href="([^"]*{re.escape(path)}[^"]*)"', page.text)
    assert found is not None, f"no link to {path} on {page.url}: {page.text[:500]}"
    return urljoin(page.url, html.unescape(found.group(1)))
