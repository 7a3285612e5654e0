"""Bad input against the admin API over HTTP: schemathesis from its own OpenAPI document, and spot checks.

Every operation of ``GET /openapi.json`` is called with generated requests (valid and invalid), signed
with SigV4 as an IAM caller signs them. Checks: no 5xx; every 4xx body has a ``message``; every 400
also lists ``problems``, each with a field and a reason; a token sent in a request never comes back.
Then spot checks that a rejected request stores nothing.

The fuzzer shares the stack tier's session stack, so it puts back what it may change: the integration
settings and the job schedules, and it waits for any job it started before the next test runs.
Bounded for CI: ``FUZZ_EXAMPLES`` examples per operation (default 12).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from orcid_sync_cli.api import ApiClient, ApiError
from orcid_sync_local.lambda_glue import LocalCredentials
from orcid_sync_local.stack import LocalStack

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


class SigV4(requests.auth.AuthBase):
    """Signs a prepared request for execute-api, as the CLI and any IAM caller do."""

    def __init__(self, credentials: LocalCredentials) -> None:
        self._credentials = Credentials(credentials.access_key_id, credentials.secret_access_key)
        self._region = credentials.region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        signed = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
        aws = AWSRequest(method=request.method, url=request.url, data=body, headers=signed)
        SigV4Auth(self._credentials, "execute-api", self._region).add_auth(aws)
        request.headers.update({k: v for k, v in aws.headers.items() if k.lower() != "content-type"})
        return request


@pytest.fixture(scope="module")
def api(local_stack: LocalStack) -> ApiClient:
    return ApiClient(local_stack.api_url, session=local_stack.session)


@pytest.fixture(scope="module")
def admin_api_schema(local_stack: LocalStack, api: ApiClient) -> Any:
    document = api.call("GET", "/openapi.json")
    return schemathesis.openapi.from_dict(document)


@pytest.fixture(scope="module", autouse=True)
def put_back_what_the_fuzzer_changes(local_stack: LocalStack, api: ApiClient) -> Iterator[None]:
    """Settings and schedules are the stack's, shared with the next tests; jobs it starts run in the background."""
    saved_settings = api.call("GET", "/settings")
    saved_schedules = api.call("GET", "/jobs/schedules")
    yield
    local_stack.wait_for_queues_idle(timeout=300)
    current = api.call("GET", "/settings")
    restored = {k: v for k, v in saved_settings.items() if k not in ("version", "updated_at")}
    api.call("PUT", "/settings", json_body={**restored, "version": current["version"]})
    for schedule in _schedules(saved_schedules):
        api.call("PUT", f"/jobs/schedules/{schedule['job_type']}", json_body={"enabled": schedule["enabled"]})


def _schedules(document: Any) -> list[dict[str, Any]]:
    items = document.get("items", document.get("schedules", [])) if isinstance(document, dict) else document
    return [
        {"job_type": item.get("job_type") or item.get("type"), "enabled": bool(item.get("enabled"))}
        for item in items
        if isinstance(item, dict)
    ]


def _tokens_in(body: Any) -> list[str]:
    """The token values of a POST /tokens body (JSON rows), long enough to be recognisable."""
    rows = body if isinstance(body, list) else []
    found = []
    for row in rows:
        if isinstance(row, dict):
            for key in ("access_token", "refresh_token", "access.token", "refresh.token"):
                value = row.get(key)
                if isinstance(value, str) and len(value.strip()) >= 12:
                    found.append(value.strip())
    return found


def check_problem_is_named(response: requests.Response, body_sent: Any) -> None:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:500]}"
    if 400 <= status < 500:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip(), body
        if status == 400:
            problems = body.get("problems")
            assert problems, f"a 400 without problems: {body}"
            assert all(p.get("field") and p.get("reason") for p in problems), body
    for token in _tokens_in(body_sent):
        assert token not in response.text, "a token sent in the request came back in the response"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_admin_api_answers_any_request_without_5xx_and_names_the_problem(
    admin_api_schema: Any, local_stack: LocalStack, mode: GenerationMode
) -> None:
    # (schemathesis' pytest plugin cannot take its schema from a fixture under pytest 9, so the operations are
    # walked here, each under Hypothesis, and every operation's first failure is reported together.)
    auth = SigV4(local_stack.credentials)
    statuses: dict[str, Counter[int]] = {}
    failures: dict[str, str] = {}
    unnegatable: list[str] = []
    for result in admin_api_schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same requests on every CI run: a failure reproduces
            database=None,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: schemathesis.Case) -> None:
            # Given any request the document allows (positive) or one it does not (negative)
            # When it reaches the API, signed like an IAM caller's
            response = case.call(base_url=local_stack.api_url, auth=auth, timeout=60)
            statuses.setdefault(case.operation.label, Counter())[response.status_code] += 1
            # Then the API never fails with a 5xx, and a 4xx says what is wrong
            case.validate_response(response, checks=[not_a_server_error])
            check_problem_is_named(response, case.body if isinstance(case.body, list) else None)

        try:
            call()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, or free-form strings only).
            unnegatable.append(operation.label)
        except Exception as exc:  # every operation is tried; all failures are reported below
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    print({label: dict(counts) for label, counts in statuses.items()})
    print(f"operations without any invalid input to generate: {unnegatable}")
    assert mode is GenerationMode.NEGATIVE or not unnegatable
    assert statuses, "the OpenAPI document has no operations"
    assert not failures, "\n\n".join(f"{label}: {failure}" for label, failure in failures.items())


@pytest.mark.parametrize(("method", "path"), [("PUT", "/settings"), ("POST", "/researchers"), ("POST", "/jobs")])
def test_a_json_body_that_is_not_utf8_is_a_400_naming_the_body(api: ApiClient, method: str, path: str) -> None:
    response = api.request(method, path, data=b'\xff\xfe[{"id": 1}]', content_type="application/json")
    assert response.status_code == 400, response.text
    assert response.json()["problems"][0]["field"].startswith("body")


def test_an_unsupported_content_type_is_refused_with_a_message(api: ApiClient) -> None:
    response = api.request("POST", "/researchers", data=b"id\nr1\n", content_type="text/csv")
    assert response.status_code == 415
    assert response.json().get("message")


# --- a rejected request stores nothing ------------------------------------------------------------


def _researcher_ids(api: ApiClient) -> set[str]:
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        page = api.call("GET", "/researchers", params={"limit": 1000, "cursor": cursor})
        ids |= {item["id"] for item in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def _status(api: ApiClient, method: str, path: str, body: bytes, content_type: str = "application/json") -> int:
    return api.request(method, path, data=body, content_type=content_type).status_code


def test_rejected_researcher_batches_store_nothing(api: ApiClient) -> None:
    # Given the researchers there are now
    before = _researcher_ids(api)
    bad_rows = [
        {"id": "fuzz-spot-1", "given_names": "", "family_name": "X"},
        {"id": "fuzz-spot-2", "given_names": "A", "family_name": "B", "orcid": "0000-0002-1825-0098"},
        {"id": "fuzz spot 3", "given_names": "A", "family_name": "B"},
        "not an object",
    ]
    # When a batch of only invalid rows, a malformed body and an oversized batch are sent
    report = api.call("POST", "/researchers", json_body=bad_rows)
    statuses = [
        _status(api, "POST", "/researchers", b'[{"id": "fuzz-spot-4", "given_names": "A",'),
        _status(api, "POST", "/researchers", json.dumps([{**bad_rows[0], "given_names": "A"}] * 1001).encode()),
    ]
    # Then each row is rejected with its field named, the others are refused, and nothing was stored
    assert report["counts"]["rejected"] == len(bad_rows)
    assert all(row["problems"] and row["problems"][0]["field"] for row in report["rows"])
    assert statuses == [400, 413]
    assert _researcher_ids(api) == before


def test_rejected_asset_batches_store_nothing(api: ApiClient) -> None:
    good = {
        "id": "fuzz-asset-1",
        "researchers": ["fuzz-nobody"],
        "type": "publication.journalArticle",
        "status": "approved",
        "visible": True,
        "title": "A title",
    }
    bad_rows = [
        {**good, "id": "fuzz-asset-2", "type": "publication.poem"},
        {**good, "id": "fuzz-asset-3", "doi": "not-a-doi"},
        {**good, "id": "fuzz-asset-4", "date": "2023-02-30"},
        {**good, "id": "fuzz-asset-5", "unexpected": 1},
    ]
    report = api.call("POST", "/assets", json_body=bad_rows)
    too_many = [{**good, "id": f"fuzz-asset-many-{n}"} for n in range(1001)]
    statuses = [
        _status(api, "POST", "/assets", json.dumps(too_many).encode()),
        _status(api, "POST", "/assets", b"{not json"),
        _status(api, "PUT", "/assets/fuzz-asset-6", json.dumps({**good, "id": "fuzz-asset-7"}).encode()),
    ]
    assert report["counts"]["rejected"] == len(bad_rows)
    assert [row["problems"][0]["field"] for row in report["rows"]] == ["type", "doi", "date", "unexpected"]
    assert statuses == [413, 400, 400]
    for asset_id in ["fuzz-asset-2", "fuzz-asset-3", "fuzz-asset-4", "fuzz-asset-5", "fuzz-asset-6", "fuzz-asset-7"]:
        assert api.request("GET", f"/assets/{asset_id}").status_code == 404
    assert api.request("GET", "/assets/fuzz-asset-many-0").status_code == 404


def test_rejected_settings_change_nothing(api: ApiClient) -> None:
    before = api.call("GET", "/settings")
    document = {k: v for k, v in before.items() if k not in ("updated_at",)}
    for change in ({"send_affiliation": True, "organization": None}, {"asset_types": {"include": []}}, {"nope": 1}):
        with pytest.raises(ApiError) as refused:
            api.call("PUT", "/settings", json_body={**document, **change})
        assert refused.value.status == 400
        assert refused.value.body["problems"]
    assert api.call("GET", "/settings") == before


def test_rejected_token_rows_store_no_token(api: ApiClient) -> None:
    api.call("PUT", "/researchers/fuzz-tokens", json_body={"id": "fuzz-tokens", "given_names": "A", "family_name": "B"})
    rows = [
        # No researcher has this iD; this researcher has none; the scope cannot push; the iD's checksum is wrong.
        {"orcid": "0000-0002-1825-0097", "access_token": "a" * 36, "scope": "/activities/update", "expires_in": 600},
        {
            "orcid": "0000-0002-1825-0097",
            "access_token": "b" * 36,
            "scope": "/activities/update",
            "expires_in": 600,
            "researcher_id": "fuzz-tokens",
        },
        {"orcid": "0000-0002-1825-0098", "access_token": "c" * 36, "scope": "/activities/update", "expires_in": 600},
    ]
    report = api.call("POST", "/tokens", json_body=rows)
    assert report["counts"]["rejected"] == len(rows)
    assert all(row["outcome"] == "rejected" for row in report["rows"])
    assert all(p["field"] and p["reason"] for row in report["rows"] for p in row["problems"])
    assert not any(token * 36 in json.dumps(report) for token in "abc")
    assert api.call("GET", "/researchers/fuzz-tokens")["orcid_status"] == "none"
