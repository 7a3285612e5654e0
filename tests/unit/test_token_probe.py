"""Verifying a token: ORCID's answers to one record read, through the real ORCID client, mapped to verdicts."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from orcid_sync.adapters.orcid_api.client import OrcidClient
from orcid_sync.adapters.orcid_api.rate_limit import NoRateLimit
from orcid_sync.domain.retry_policy import RetryPolicy
from orcid_sync.domain.tokens.probe import client_probe
from orcid_sync.domain.tokens.verdicts import ProbeResult

API = "https://api.orcid.test"
ORCID = "0000-0002-1825-0097"
TOKEN = "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
RECORD_URL = f"{API}/v3.0/{ORCID}/record"


def orcid_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"response-code": status, "developer-message": message, "user-message": message, "error-code": code}


@pytest.fixture
def probe() -> Any:
    client = OrcidClient(
        api_url=API,
        site_url="https://orcid.test",
        client_id="APP-TESTCLIENT000001",
        client_secret=SecretStr("secret"),
        rate_limiter=NoRateLimit(),
        retry=RetryPolicy(max_attempts=2, base_delay=0, max_delay=0, sleep=lambda seconds: None),
    )
    return client_probe(client)


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, {"orcid-identifier": {"path": ORCID}}, ProbeResult.VALID),
        (
            401,
            {"error": "invalid_token", "error_description": f"Invalid access token: {TOKEN}"},
            ProbeResult.INVALID_TOKEN,
        ),
        (401, orcid_error(401, 9017, "Access token is for a different record"), ProbeResult.WRONG_RECORD),
        (403, orcid_error(403, 9038, "Insufficient or wrong scope"), ProbeResult.VALID),
        (404, orcid_error(404, 9016, "No record"), ProbeResult.NO_RECORD),
        (503, {}, ProbeResult.UNAVAILABLE),
        (409, orcid_error(409, 9018, "Record is locked"), ProbeResult.UNAVAILABLE),
    ],
)
@responses.activate
def test_orcid_answers_become_verdicts(
    probe: Any, status: int, body: dict[str, Any], verdict: ProbeResult, capsys: pytest.CaptureFixture[str]
) -> None:
    responses.add(responses.GET, RECORD_URL, json=body, status=status)
    assert probe(ORCID, SecretStr(TOKEN)) is verdict
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(responses.calls) == (2 if status == 503 else 1)  # one retry of a transient failure
    logs = capsys.readouterr()
    assert TOKEN not in logs.out + logs.err


@responses.activate
def test_no_answer_at_all_is_unavailable(probe: Any) -> None:
    responses.add(responses.GET, RECORD_URL, body=requests.ConnectionError("refused"))
    assert probe(ORCID, SecretStr(TOKEN)) is ProbeResult.UNAVAILABLE
    assert json.dumps([c.request.url for c in responses.calls]).count("record") == 2
