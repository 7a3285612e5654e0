"""The local ORCID sandbox's rate limit (503 past the burst), injected faults and request counters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from orcid_sync_local.orcid_sandbox import RegisteredClient, SandboxConfig, SimulatedConnectionDrop, create_app
from orcid_sync_local.orcid_sandbox.testing import ALL_SCOPES, ORCID_HEADERS, FakeClock, RecordingSleep, work_payload

CLIENT = RegisteredClient("APP-RATELIMITCLIENT1", "secret-1", ["https://repo.example"], "Rate Limited Repo")
OTHER = RegisteredClient("APP-RATELIMITCLIENT2", "secret-2", ["https://other.example"], "Other Repo")


def make_app(clock: FakeClock, **settings: Any) -> Flask:
    app = create_app(SandboxConfig(clients=[CLIENT, OTHER], clock=clock, **settings))
    app.testing = True
    return app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> FlaskClient:
    return make_app(clock).test_client()


def connect(client: FlaskClient, registered: RegisteredClient = CLIENT) -> dict[str, str]:
    grant = {"client_id": registered.client_id, "scope": ALL_SCOPES}
    body: dict[str, str] = client.post("/_sandbox/researchers", json={"given_names": "Ada", "grant": grant}).json
    return body


def headers(token: dict[str, str]) -> dict[str, str]:
    return {**ORCID_HEADERS, "Authorization": f"Bearer {token['access_token']}"}


def read_works(client: FlaskClient, token: dict[str, str]) -> Any:
    return client.get(f"/v3.0/{token['orcid']}/works", headers=headers(token))


def post_work(client: FlaskClient, token: dict[str, str], doi: str = "10.1/a") -> Any:
    return client.post(f"/v3.0/{token['orcid']}/work", headers=headers(token), data=json.dumps(work_payload(doi)))


def stored_works(client: FlaskClient, token: dict[str, str]) -> list[dict[str, Any]]:
    works: list[dict[str, Any]] = client.get(f"/_sandbox/records/{token['orcid']}").json["works"]
    return works


def statuses(client: FlaskClient, token: dict[str, str], count: int) -> list[int]:
    return [read_works(client, token).status_code for _ in range(count)]


def set_faults(client: FlaskClient, **knobs: Any) -> None:
    response = client.put("/_sandbox/faults", json=knobs)
    assert response.status_code == 200, response.json


# --- rate limit -------------------------------------------------------------------------------------------------


def test_burst_of_40_then_503_without_retry_after(client: FlaskClient) -> None:
    # Given a connected researcher and ORCID's default limit (24/s, burst 40), time standing still
    token = connect(client)

    # When the client fires 41 requests at once
    answers = [read_works(client, token) for _ in range(41)]

    # Then 40 pass and the 41st gets the proxy's small HTML 503, with no Retry-After
    assert [answer.status_code for answer in answers[:40]] == [200] * 40
    rejected = answers[40]
    assert rejected.status_code == 503
    assert rejected.mimetype == "text/html"
    assert "503 Service Temporarily Unavailable" in rejected.text
    assert "Retry-After" not in rejected.headers
    stats = client.get("/_sandbox/stats").json
    assert stats["rate_limited"] == 1
    assert stats["rate_limited_by_client"] == {CLIENT.client_id: 1}


def test_bucket_refills_at_24_per_second(client: FlaskClient, clock: FakeClock) -> None:
    token = connect(client)
    assert statuses(client, token, 41)[-1] == 503

    clock.advance(0.05)
    after_a_moment = statuses(client, token, 2)
    clock.advance(1.0)
    after_a_second = statuses(client, token, 25)

    assert after_a_moment == [200, 503]
    assert after_a_second == [200] * 24 + [503]


def test_each_client_has_its_own_bucket(client: FlaskClient) -> None:
    ours, theirs = connect(client), connect(client, OTHER)
    assert statuses(client, ours, 41)[-1] == 503

    assert read_works(client, theirs).status_code == 200


def test_token_requests_count_but_sandbox_requests_do_not(client: FlaskClient) -> None:
    # Given a tiny burst
    assert client.put("/_sandbox/rate-limit", json={"rate": 1, "burst": 2}).json == {"rate": 1, "burst": 2}
    form = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "grant_type": "client_credentials"}

    # When /_sandbox is called many times and /oauth/token three times
    sandbox_answers = {client.get("/_sandbox/stats").status_code for _ in range(10)}
    token_answers = [client.post("/oauth/token", data=form).status_code for _ in range(3)]

    # Then only the token endpoint ran out
    assert sandbox_answers == {200}
    assert token_answers == [200, 200, 503]


def test_rate_zero_turns_the_limit_off(client: FlaskClient) -> None:
    token = connect(client)
    client.put("/_sandbox/rate-limit", json={"rate": 0, "burst": 1})

    assert set(statuses(client, token, 100)) == {200}


def test_time_scale_speeds_up_the_refill(clock: FakeClock) -> None:
    # Given a sandbox whose time runs ten times faster than its clock
    client = make_app(clock, time_scale=10).test_client()
    token = connect(client)
    assert statuses(client, token, 41)[-1] == 503

    # When just over a tenth of a clock second passes (just over one sandbox second; floats are not exact)
    clock.advance(0.104)

    # Then 24 more requests pass
    assert statuses(client, token, 25) == [200] * 24 + [503]


def test_changing_the_limit_starts_with_full_buckets(client: FlaskClient) -> None:
    token = connect(client)
    assert statuses(client, token, 41)[-1] == 503

    client.put("/_sandbox/rate-limit", json={"rate": 24, "burst": 5})

    assert statuses(client, token, 6) == [200] * 5 + [503]
    assert client.get("/_sandbox/rate-limit").json == {"rate": 24, "burst": 5}


@pytest.mark.parametrize("payload", [{"rate": -1, "burst": 5}, {"rate": 5, "burst": 0}, {"rate": 5}, {"burst": 5}])
def test_bad_rate_limit_settings_are_rejected(client: FlaskClient, payload: dict[str, Any]) -> None:
    assert client.put("/_sandbox/rate-limit", json=payload).status_code == 400


# --- injected errors --------------------------------------------------------------------------------------------


def test_injected_500_is_orcid_shaped_and_applies_nothing(client: FlaskClient) -> None:
    token = connect(client)
    set_faults(client, error_rate=1, error_statuses=[500])

    response = post_work(client, token)

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/vnd.orcid+json"
    assert response.json["error-code"] == 9008
    assert response.json["response-code"] == 500
    set_faults(client)
    assert stored_works(client, token) == []
    assert client.get("/_sandbox/stats").json["faults"]["error"] == 1


@pytest.mark.parametrize(("status", "reason"), [(503, "Service Temporarily Unavailable"), (502, "Bad Gateway")])
def test_injected_proxy_errors_are_small_html_pages(client: FlaskClient, status: int, reason: str) -> None:
    token = connect(client)
    set_faults(client, error_rate=1, error_statuses=[status])

    response = read_works(client, token)

    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert f"{status} {reason}" in response.text


def test_faults_leave_oauth_and_sandbox_endpoints_alone(client: FlaskClient) -> None:
    set_faults(client, error_rate=1, drop_rate=0, latency_ms=0)
    form = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "grant_type": "client_credentials"}

    token_response = client.post("/oauth/token", data=form)
    researcher = client.post("/_sandbox/researchers", json={"given_names": "Ada"})

    assert token_response.status_code == 200
    assert researcher.status_code == 201
    assert client.get("/_sandbox/stats").json["faults"]["error"] == 0


def test_the_same_seed_gives_the_same_faults(clock: FakeClock) -> None:
    def run() -> list[int]:
        client = make_app(clock, rate=0).test_client()
        token = connect(client)
        set_faults(client, error_rate=0.5, error_statuses=[500, 503], seed=7)
        return statuses(client, token, 30)

    first, second = run(), run()

    assert first == second
    assert {200, 500, 503} <= set(first)


def test_latency_is_injected_through_the_sleep(clock: FakeClock) -> None:
    # Given a recording sleep and a sandbox running twice as fast as its clock
    sleep = RecordingSleep()
    client = make_app(clock, sleep=sleep, time_scale=2).test_client()
    token = connect(client)
    set_faults(client, latency_ms=250)

    # When one Member API request and one /_sandbox request are made
    assert read_works(client, token).status_code == 200
    client.get("/_sandbox/stats")

    # Then only the Member API request waited, 250 sandbox ms = 125 clock ms
    assert sleep.calls == [0.125]
    assert client.get("/_sandbox/stats").json["faults"]["latency"] == 1


# --- dropped connections and lost responses ---------------------------------------------------------------------


def test_drop_closes_the_connection_and_applies_nothing(client: FlaskClient) -> None:
    token = connect(client)
    set_faults(client, drop_rate=1)

    with pytest.raises(ConnectionError):
        post_work(client, token)

    set_faults(client)
    assert stored_works(client, token) == []
    stats = client.get("/_sandbox/stats").json
    assert stats["faults"]["drop"] == 1
    assert {"method": "POST", "route": "/v3.0/{orcid}/work", "status": "dropped", "count": 1} in stats["requests"]


def test_lost_response_applies_the_write_but_answers_500(client: FlaskClient) -> None:
    token = connect(client)
    set_faults(client, lost_response_rate=1)

    response = post_work(client, token)

    assert response.status_code == 500
    assert response.json["error-code"] == 9008
    assert len(stored_works(client, token)) == 1
    assert client.get("/_sandbox/stats").json["faults"]["lost_response"] == 1


def test_lost_response_as_drop_applies_the_write_and_hangs_up(client: FlaskClient) -> None:
    token = connect(client)
    set_faults(client, lost_response_rate=1, lost_response_as="drop")

    with pytest.raises(SimulatedConnectionDrop):
        post_work(client, token)

    assert len(stored_works(client, token)) == 1


def test_lost_responses_only_hit_writes(client: FlaskClient) -> None:
    token = connect(client)
    set_faults(client, lost_response_rate=1)

    assert read_works(client, token).status_code == 200
    assert client.get("/_sandbox/stats").json["faults"]["lost_response"] == 0


@pytest.mark.parametrize(
    "knobs",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"error_statuses": [404]},
        {"error_statuses": []},
        {"lost_response_as": "maybe"},
        {"latency_ms": -5},
        {"typo_rate": 0.1},
    ],
)
def test_bad_fault_settings_are_rejected(client: FlaskClient, knobs: dict[str, Any]) -> None:
    assert client.put("/_sandbox/faults", json=knobs).status_code == 400


def test_fault_settings_are_replaced_whole_and_readable(client: FlaskClient) -> None:
    set_faults(client, error_rate=0.25, latency_ms=10, seed=3)
    set_faults(client, drop_rate=0.1)

    assert client.get("/_sandbox/faults").json == {
        "error_rate": 0.0,
        "error_statuses": [500, 503],
        "latency_ms": 0.0,
        "drop_rate": 0.1,
        "lost_response_rate": 0.0,
        "lost_response_as": "error",
        "seed": None,
    }


@pytest.fixture
def live_sandbox(clock: FakeClock) -> Iterator[tuple[str, FlaskClient]]:
    """The sandbox served by werkzeug on 127.0.0.1, as the local stack runs it."""
    app = make_app(clock, rate=0)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app.test_client()
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_real_http_client_sees_a_dropped_connection(live_sandbox: tuple[str, FlaskClient]) -> None:
    # Given the sandbox served over HTTP, dropping every Member API request
    base_url, admin = live_sandbox
    token = connect(admin)
    set_faults(admin, drop_rate=1)
    url = f"{base_url}/v3.0/{token['orcid']}/work"
    body = json.dumps(work_payload())

    # When a requests client posts a work
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url, data=body, headers=headers(token), timeout=5)

    # Then nothing was stored, and the server still answers afterwards
    set_faults(admin)
    assert stored_works(admin, token) == []
    assert requests.post(url, data=body, headers=headers(token), timeout=5).status_code == 201


def test_a_real_http_client_loses_the_response_of_an_applied_write(live_sandbox: tuple[str, FlaskClient]) -> None:
    base_url, admin = live_sandbox
    token = connect(admin)
    set_faults(admin, lost_response_rate=1, lost_response_as="drop")

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{base_url}/v3.0/{token['orcid']}/work",
            data=json.dumps(work_payload()),
            headers=headers(token),
            timeout=5,
        )

    assert len(stored_works(admin, token)) == 1


def test_served_location_uses_the_request_host_without_a_public_base_url(
    live_sandbox: tuple[str, FlaskClient],
) -> None:
    base_url, admin = live_sandbox
    token = connect(admin)

    response = requests.post(
        f"{base_url}/v3.0/{token['orcid']}/work", data=json.dumps(work_payload()), headers=headers(token), timeout=5
    )

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{base_url}/v3.0/{token['orcid']}/work/")


# --- counters ---------------------------------------------------------------------------------------------------


def test_stats_count_by_method_route_and_status_and_reset(client: FlaskClient) -> None:
    # Given a few Member API calls, one of them a 409
    token = connect(client)
    post_work(client, token)
    post_work(client, token)
    read_works(client, token)
    client.get(f"/v3.0/{token['orcid']}/work/1", headers=headers(token))

    # When the counters are read
    stats = client.get("/_sandbox/stats").json

    # Then each (method, route template, status) has its count, /_sandbox calls excluded
    assert stats["total"] == 4
    assert stats["by_status"] == {"200": 1, "201": 1, "404": 1, "409": 1}
    assert {"method": "POST", "route": "/v3.0/{orcid}/work", "status": 201, "count": 1} in stats["requests"]
    assert {"method": "POST", "route": "/v3.0/{orcid}/work", "status": 409, "count": 1} in stats["requests"]
    assert {"method": "GET", "route": "/v3.0/{orcid}/work/{put_code}", "status": 404, "count": 1} in stats["requests"]
    assert stats["requests_by_client"] == {CLIENT.client_id: 4}
    assert stats["rate_limit"] == {"rate": 24.0, "burst": 40}

    reset = client.post("/_sandbox/stats/reset").json
    assert reset["total"] == 0
    assert reset["requests"] == []
    assert set(reset["faults"].values()) == {0}
