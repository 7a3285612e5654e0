"""Bad OAuth callbacks against the connect function on the local stack: a clear page, and nothing stored.

tests/integration/test_connect_flow.py already refuses a missing, tampered or expired state, a missing
code, a replayed callback and ORCID's refusals, in-process with ORCID mocked. Here the whole path runs
over HTTP (local API → connect function → the local ORCID sandbox's real /oauth/token), with what that
file leaves out: oversized state and code (> 8 KB), repeated ``code``/``state`` parameters, a state
signed with another key, a code already exchanged, markup in ``error``, and generated query strings.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from orcid_sync.domain.connect.signing import Signer, new_nonce
from orcid_sync_cli.api import ApiClient
from orcid_sync_local.stack import LocalStack

OVERSIZED = 9 * 1024  # past 8 KB


@pytest.fixture(scope="module")
def api(local_stack: LocalStack) -> ApiClient:
    return ApiClient(local_stack.api_url, session=local_stack.session)


@pytest.fixture(scope="module")
def signing_key(local_stack: LocalStack) -> SecretStr:
    """The stack's own key for links and states (from its secret, as the functions read it)."""
    secret_id = local_stack.resource("OrcidSecret").ref
    document = json.loads(local_stack.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    return SecretStr(document["signing_key"])


class Researcher:
    """A researcher of the repository who is about to connect, and what the stack holds for them."""

    def __init__(self, stack: LocalStack, api: ApiClient, researcher_id: str) -> None:
        self.stack = stack
        self.api = api
        self.id = researcher_id
        api.call(
            "PUT",
            f"/researchers/{researcher_id}",
            json_body={"id": researcher_id, "given_names": "C", "family_name": "F"},
        )
        self.http = requests.Session()

    def authorize(self) -> tuple[str, str]:
        """Start the flow and click Authorize on the sandbox; the (code, state) ORCID sends back, not yet used."""
        link = self.api.call("POST", f"/researchers/{self.id}/connect-link", json_body={})["url"]
        start = self.http.get(urljoin(link, "/connect/start") + "?" + urlsplit(link).query, allow_redirects=False)
        assert start.status_code == 302, start.text
        page = self.http.get(start.headers["Location"], timeout=30)
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        form = {k: html.unescape(v) for k, v in form.items()}
        form.update(
            mode="register",
            given_names="C",
            family_names="F",
            email=f"{self.id}-{uuid.uuid4().hex[:6]}@example.edu",
            action="authorize",
        )
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None, page.text[:500]
        back = self.http.post(urljoin(page.url, html.unescape(action.group(1))), data=form, allow_redirects=False)
        assert back.status_code == 302, back.text[:500]
        query = parse_qs(urlsplit(back.headers["Location"]).query)
        return query["code"][0], query["state"][0]

    def stored(self) -> tuple[str, Any]:
        """(orcid_status the admin API shows, the token item in TokensTable or None)."""
        status = self.api.call("GET", f"/researchers/{self.id}")["orcid_status"]
        item = (
            self.stack.client("dynamodb")
            .get_item(TableName=self.stack.resource("TokensTable").ref, Key={"researcher_id": {"S": self.id}})
            .get("Item")
        )
        return status, item


def callback(stack: LocalStack, query: str | list[tuple[str, str]]) -> requests.Response:
    text = query if isinstance(query, str) else urlencode(query)
    return requests.get(f"{stack.api_url}/orcid/callback?{text}", headers={"Accept-Language": "en"}, timeout=60)


def token_exchanges(stack: LocalStack) -> int:
    stats = requests.get(f"{stack.orcid_url}/_sandbox/stats", timeout=30).json()
    return sum(row["count"] for row in stats["requests"] if row["route"].startswith("/oauth/token"))


def assert_clear_refusal(response: requests.Response, *, sent: Sequence[str] = ()) -> None:
    """A 4xx HTML page with a title and an explanation, the security headers, and none of the input raw."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/html")
    assert re.search(r"<h1>[^<]+</h1>", response.text) and '<p class="lead">' in response.text
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    for value in sent:
        if len(value) >= 8:
            assert value not in response.text, "the page repeats what was sent"


@pytest.fixture
def researcher(local_stack: LocalStack, api: ApiClient) -> Researcher:
    return Researcher(local_stack, api, f"cbfuzz-{uuid.uuid4().hex[:12]}")


def test_an_oversized_state_is_refused_without_exchanging_the_code(
    local_stack: LocalStack, researcher: Researcher
) -> None:
    # Given a real code from ORCID, and a state of 9 KB instead of ours
    code, _state = researcher.authorize()
    exchanges = token_exchanges(local_stack)
    # When the callback gets them
    response = callback(local_stack, [("code", code), ("state", "A" * OVERSIZED)])
    # Then a clear page, no token exchange, nothing stored
    assert_clear_refusal(response, sent=[code])
    assert token_exchanges(local_stack) == exchanges
    assert researcher.stored() == ("none", None)


def test_an_oversized_code_is_refused_and_nothing_stored(local_stack: LocalStack, researcher: Researcher) -> None:
    _code, state = researcher.authorize()
    response = callback(local_stack, [("code", "C" * OVERSIZED), ("state", state)])
    assert_clear_refusal(response, sent=["C" * 64])
    assert researcher.stored() == ("none", None)


@pytest.mark.parametrize("repeated", ["code", "state"])
def test_a_repeated_parameter_is_refused_and_nothing_stored(
    local_stack: LocalStack, researcher: Researcher, repeated: str
) -> None:
    # API Gateway joins repeated query parameters with commas: neither value may be taken on its own.
    code, state = researcher.authorize()
    pairs = [("code", code), ("state", state)]
    pairs.append((repeated, code if repeated == "code" else state))
    response = callback(local_stack, pairs)
    assert_clear_refusal(response, sent=[code])
    assert researcher.stored() == ("none", None)


def test_a_state_signed_with_another_key_is_refused(local_stack: LocalStack, researcher: Researcher) -> None:
    code, _state = researcher.authorize()
    exchanges = token_exchanges(local_stack)
    forged = Signer(SecretStr(secrets.token_urlsafe(48))).sign_state(
        researcher.id, new_nonce(), datetime.now(UTC) + timedelta(minutes=10)
    )
    response = callback(local_stack, [("code", code), ("state", forged)])
    assert_clear_refusal(response, sent=[code])
    assert token_exchanges(local_stack) == exchanges
    assert researcher.stored() == ("none", None)


def test_an_expired_state_is_refused(local_stack: LocalStack, researcher: Researcher, signing_key: SecretStr) -> None:
    code, _state = researcher.authorize()
    expired = Signer(signing_key).sign_state(researcher.id, new_nonce(), datetime.now(UTC) - timedelta(seconds=1))
    response = callback(local_stack, [("code", code), ("state", expired)])
    assert_clear_refusal(response, sent=[code])
    assert researcher.stored() == ("none", None)


def test_a_genuine_state_whose_record_was_never_made_is_refused(
    local_stack: LocalStack, researcher: Researcher, signing_key: SecretStr
) -> None:
    # Signed with the right key but never issued by /connect/start: there is no single-use record for it.
    code, _state = researcher.authorize()
    unissued = Signer(signing_key).sign_state(researcher.id, new_nonce(), datetime.now(UTC) + timedelta(minutes=5))
    response = callback(local_stack, [("code", code), ("state", unissued)])
    assert_clear_refusal(response, sent=[code])
    assert researcher.stored() == ("none", None)


def test_a_replayed_callback_and_a_reused_code_change_nothing(local_stack: LocalStack, researcher: Researcher) -> None:
    # Given a researcher who connected
    code, state = researcher.authorize()
    assert callback(local_stack, [("code", code), ("state", state)]).status_code == 200
    connected = researcher.stored()
    assert connected[0] == "active" and connected[1] is not None
    # When the same callback comes again, and the used code comes with a fresh state
    replay = callback(local_stack, [("code", code), ("state", state)])
    _new_code, fresh_state = researcher.authorize()
    reused = callback(local_stack, [("code", code), ("state", fresh_state)])
    # Then both are refused with a page, and the stored connection is exactly as it was
    assert_clear_refusal(replay, sent=[code])
    assert_clear_refusal(reused, sent=[code])
    assert researcher.stored() == connected


def test_markup_in_orcids_error_is_not_reflected(local_stack: LocalStack, researcher: Researcher) -> None:
    _code, state = researcher.authorize()
    script = "<script>alert(document.cookie)</script>"
    response = callback(local_stack, [("error", script), ("error_description", script), ("state", state)])
    assert_clear_refusal(response)
    assert "<script>alert" not in response.text
    assert researcher.stored() == ("none", None)


query_values = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="AZaz09-_.~", min_size=2000, max_size=9000),
    st.sampled_from(["", ",", "%00", "null", "undefined", "access_denied"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["code", "state", "error", "error_description", "lang", "x"]), query_values),
        max_size=5,
    )
)
def test_any_callback_query_gets_a_clear_page_and_stores_nothing(
    local_stack: LocalStack, api: ApiClient, pairs: list[tuple[str, str]]
) -> None:
    # Given a researcher who has not connected, and any query string at all (none holds a state we issued)
    before = Researcher(local_stack, api, "cbfuzz-generated").stored()
    response = callback(local_stack, pairs)
    assert_clear_refusal(response, sent=[value for _, value in pairs if value.strip() and not value.isalpha()])
    assert Researcher(local_stack, api, "cbfuzz-generated").stored() == before == ("none", None)
