"""ORCID inbox permission requests end to end, in-process: the admin API's ``POST /invitations/orcid-inbox`` (and the
use case behind it) over moto, sending through the product's ORCID client to the local ORCID sandbox over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from orcid_sync import composition
from orcid_sync.domain.invitations.models import CampaignKind, InvitationStatus
from orcid_sync.domain.models import ResearcherInput
from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, create_app
from tests.support.apigw import http_event, lambda_context, response_json
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, AwsEnv

UNKNOWN_AT_ORCID = "0000-0002-1825-0097"  # a valid iD the sandbox has no record of


@pytest.fixture
def sandbox_url(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    client = RegisteredClient(CLIENT_ID, CLIENT_SECRET, ["https://orcid-sync.example.edu"], "orcid-sync test")
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


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from functions.admin_api import app

    response = app.lambda_handler(http_event(method, path, **kwargs), lambda_context())
    return response["statusCode"], response_json(response)


def sandbox_record(url: str, name: str) -> str:
    answer = requests.post(f"{url}/_sandbox/researchers", json={"given_names": name}, timeout=10)
    return str(answer.json()["orcid"])


def notifications(url: str) -> list[dict[str, Any]]:
    return list(requests.get(f"{url}/_sandbox/notifications", timeout=10).json()["notifications"])


@pytest.fixture
def researchers(sandbox_url: str) -> dict[str, str]:
    """r1 and r2: iDs known, not connected; r3: no iD; r4: an iD ORCID does not know; r5: connected."""
    store = composition.researcher_store()
    orcids = {"r1": sandbox_record(sandbox_url, "Ada"), "r2": sandbox_record(sandbox_url, "Grace")}
    orcids["r4"] = UNKNOWN_AT_ORCID
    orcids["r5"] = sandbox_record(sandbox_url, "Katherine")
    for researcher_id in ("r1", "r2", "r3", "r4", "r5"):
        store.upsert_profile(
            ResearcherInput(
                id=researcher_id, given_names="Test", family_name=researcher_id, orcid=orcids.get(researcher_id)
            )
        )
    store.record_connection("r5", orcid=orcids["r5"], scopes=["/activities/update"], connected_at=datetime.now(UTC))
    return orcids


def test_every_unconnected_researcher_with_an_id_gets_one_request_leading_to_their_connect_link(
    sandbox_url: str, researchers: dict[str, str]
) -> None:
    status, report = call("POST", "/invitations/orcid-inbox", body={})
    assert status == 200, report
    outcomes = {item["researcher_id"]: (item["outcome"], item["reason"]) for item in report["outcomes"]}
    assert outcomes == {
        "r1": ("sent", None),
        "r2": ("sent", None),
        "r4": ("failed", f"ORCID has no record {UNKNOWN_AT_ORCID}"),
    }
    # The 2-legged token once, then one POST per researcher, all counted (and drawn from the shared bucket).
    assert report["orcid_requests"] == 4

    sent = notifications(sandbox_url)
    assert sorted(item["orcid"] for item in sent) == sorted([researchers["r1"], researchers["r2"]])
    signer = composition.link_signer()
    for item in sent:
        uri = item["authorization-url"]["uri"]
        assert urlsplit(uri).path == "/connect"
        claims = signer.verify_link(parse_qs(urlsplit(uri).query)["link"][0], now=datetime.now(UTC))
        assert researchers[claims.researcher_id] == item["orcid"]
        assert item["notification-subject"] == "your research outputs"

    campaign = composition.invitation_store().get_campaign(report["campaign_id"])
    assert campaign is not None
    assert campaign.kind is CampaignKind.ORCID_INBOX
    assert campaign.counts.sent == 2
    stored = {item.researcher_id: item for item in composition.invitation_store().invitations(campaign.campaign_id)}
    assert stored["r1"].status is InvitationStatus.SENT
    assert stored["r1"].message_id is not None and stored["r1"].message_id.startswith("orcid-inbox:")
    assert "r4" not in stored or stored["r4"].status is not InvitationStatus.SENT


def test_the_same_campaign_never_asks_a_researcher_twice(sandbox_url: str, researchers: dict[str, str]) -> None:
    _, first = call("POST", "/invitations/orcid-inbox", body={"researchers": ["r1"]})
    status, again = call(
        "POST", "/invitations/orcid-inbox", body={"researchers": ["r1", "r2"], "campaign_id": first["campaign_id"]}
    )
    assert status == 200
    assert {item["researcher_id"]: item["outcome"] for item in again["outcomes"]} == {
        "r1": "already_sent",
        "r2": "sent",
    }
    assert [item["orcid"] for item in notifications(sandbox_url)].count(researchers["r1"]) == 1


def test_named_researchers_who_cannot_be_asked_are_skipped_with_the_reason(
    sandbox_url: str, researchers: dict[str, str]
) -> None:
    status, report = call("POST", "/invitations/orcid-inbox", body={"researchers": ["r3", "r5", "nobody"]})
    assert status == 200
    assert {item["researcher_id"]: item["reason"] for item in report["outcomes"]} == {
        "r3": "no_orcid",
        "r5": "connected",
        "nobody": "unknown_researcher",
    }
    assert notifications(sandbox_url) == []


def test_a_dry_run_sends_and_stores_nothing(sandbox_url: str, researchers: dict[str, str]) -> None:
    requests.post(f"{sandbox_url}/_sandbox/stats/reset", timeout=10)
    status, report = call("POST", "/invitations/orcid-inbox", body={"dry_run": True})
    assert status == 200
    assert report["campaign_id"] is None
    assert sorted(item["researcher_id"] for item in report["outcomes"]) == ["r1", "r2", "r4"]
    assert {item["outcome"] for item in report["outcomes"]} == {"would_send"}
    assert notifications(sandbox_url) == []
    assert requests.get(f"{sandbox_url}/_sandbox/stats", timeout=10).json()["total"] == 0
    assert composition.invitation_store().campaigns() == []


def test_a_campaign_of_another_kind_cannot_be_continued(sandbox_url: str, researchers: dict[str, str]) -> None:
    status, _ = call("POST", "/invitations/orcid-inbox", body={"campaign_id": "no-such-campaign"})
    assert status == 404


def test_the_cli_notify_orcid_dry_run_then_send(
    sandbox_url: str, researchers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import re

    import responses as mocked
    from click.testing import CliRunner

    from orcid_sync_cli.main import cli

    api = "https://api.orcid-sync.test"

    def handle(request: Any) -> tuple[int, dict[str, str], str]:
        from functions.admin_api import app

        event = http_event(request.method, urlsplit(request.url).path, body=json.loads(request.body))
        answer = app.lambda_handler(event, lambda_context())
        return answer["statusCode"], {"Content-Type": "application/json"}, answer["body"]

    with mocked.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(sandbox_url)
        mock.add_callback(mocked.POST, re.compile(f"{api}/.*"), callback=handle)
        dry = CliRunner().invoke(cli, ["invitations", "notify-orcid", "--dry-run", "--output", "json", "--api", api])
        assert dry.exit_code == 0, dry.output
        assert {row["outcome"] for row in json.loads(dry.output)["outcomes"]} == {"would_send"}
        assert notifications(sandbox_url) == []
        sent = CliRunner().invoke(cli, ["invitations", "notify-orcid", "--researchers", "r1,r2", "--api", api])
        assert sent.exit_code == 0, sent.output
        assert "2 sent" in sent.output
    assert len(notifications(sandbox_url)) == 2
