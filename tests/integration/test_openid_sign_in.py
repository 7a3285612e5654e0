"""Sign in with ORCID end to end, over HTTP: the local sandbox issues a code for ``scope=openid`` with a nonce, the
product's ORCID client exchanges it (an ``OAuthToken`` carrying ``id_token``), and the product's verifier checks it
against the sandbox's published keys, as built by the composition root from the stack's settings."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from orcid_sync import composition
from orcid_sync.domain.me.ports import IdTokenError
from orcid_sync.domain.orcid.models import OAuthToken
from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, AwsEnv

CALLBACK = "https://orcid-sync.example.edu/me/callback"


@pytest.fixture
def sandbox_url(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The sandbox on 127.0.0.1 (its issuer is the URL it is reached at), and the stack pointed at it."""
    client = RegisteredClient(CLIENT_ID, CLIENT_SECRET, [CALLBACK], "orcid-sync test")
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, create_app(SandboxConfig(clients=[client], rate=0)), threaded=True
    )
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ORCID_SITE_URL", url)
    monkeypatch.setenv("ORCID_API_URL", url)
    composition.reset()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=5)
        composition.reset()


def sign_in_at_sandbox(url: str, nonce: str, scope: str = "openid") -> tuple[str, str]:
    """A researcher of the sandbox signs in on its authorize page; their iD and the code the redirect carries."""
    orcid = requests.post(f"{url}/_sandbox/researchers", json={"given_names": "Josiah"}, timeout=10).json()["orcid"]
    form = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": scope,
        "redirect_uri": CALLBACK,
        "state": "s1",
        "nonce": nonce,
        "action": "authorize",
        "mode": "signin",
        "signin_id": orcid,
    }
    response = requests.post(f"{url}/oauth/authorize", data=form, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return orcid, parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def test_the_sandbox_id_token_is_exchanged_and_verified_by_the_product(sandbox_url: str) -> None:
    # Given a sign-in at the sandbox for scope=openid with our nonce
    nonce = secrets.token_urlsafe(24)
    orcid, code = sign_in_at_sandbox(sandbox_url, nonce)

    # When the product exchanges the code and checks the id_token
    token = composition.oauth_client().exchange_code(code, CALLBACK)
    assert isinstance(token, OAuthToken)
    assert token.id_token is not None
    assert token.scopes == {"openid"}
    authenticated = composition.id_token_verifier().verify(token.id_token.get_secret_value(), nonce=nonce)

    # Then the authenticated iD is the one who signed in, and the token never shows in the model's text
    assert authenticated.orcid == orcid == token.orcid
    assert token.id_token.get_secret_value() not in repr(token)
    # And the sandbox's record of the sign-in agrees
    issued = requests.get(f"{sandbox_url}/_sandbox/issued-tokens", timeout=10).json()
    assert [claims["sub"] for claims in issued["id_tokens"]] == [orcid]
    assert int(authenticated.authenticated_at.timestamp()) == issued["id_tokens"][0]["auth_time"]


def test_the_product_refuses_the_sandbox_id_token_for_another_nonce(sandbox_url: str) -> None:
    _, code = sign_in_at_sandbox(sandbox_url, "the-nonce-we-sent")
    token = composition.oauth_client().exchange_code(code, CALLBACK)
    assert token.id_token is not None

    with pytest.raises(IdTokenError, match="nonce"):
        composition.id_token_verifier().verify(token.id_token.get_secret_value(), nonce="a-nonce-from-elsewhere")


def test_the_connect_flow_token_has_no_id_token(sandbox_url: str) -> None:
    _, code = sign_in_at_sandbox(sandbox_url, "unused", scope="/read-limited /activities/update /person/update")

    token = composition.oauth_client().exchange_code(code, CALLBACK)

    assert token.id_token is None
    assert token.scopes == {"/read-limited", "/activities/update", "/person/update"}
