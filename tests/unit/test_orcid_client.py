"""The ORCID client over mocked HTTP: requests it sends, answers it parses, errors, retries, secrecy."""

from __future__ import annotations

import io
import json
import logging
import random
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import SecretStr

from orcid_sync.adapters.orcid_api.client import NO_ANSWER, OrcidClient, Timeout, put_code_from_location
from orcid_sync.config import Settings
from orcid_sync.domain.orcid.errors import (
    ConflictError,
    DeprecatedRecordError,
    DuplicateWorkError,
    ForbiddenError,
    InsufficientScopeError,
    InvalidTokenError,
    NotFoundError,
    NotSourceError,
    OAuthError,
    OrcidApiError,
    OrcidUnreachableError,
    RetryableOrcidError,
    ServiceUnavailableError,
    TokenForOtherRecordError,
    TooManyRequestsError,
    UnexpectedResponseError,
    ValidationFailedError,
    error_from_response,
    exception_for,
    redact,
)
from orcid_sync.domain.orcid.models import Employment, OrcidError, ResearcherUrl, Work
from orcid_sync.domain.retry_policy import RetryPolicy
from orcid_sync.observability import logger
from tests.unit.orcid_responses import (
    ACCESS_TOKEN,
    API,
    BAD_CLIENT_CREDENTIALS_BODY,
    CLIENT_ID,
    CLIENT_SECRET,
    EMPLOYMENT,
    EMPLOYMENTS,
    ERRORS,
    INVALID_GRANT_BODY,
    ORCID,
    RECORD,
    REFRESH_TOKEN,
    RESEARCHER_URL,
    RESEARCHER_URLS,
    SERVICE_UNAVAILABLE_HTML,
    SITE,
    TOKEN_RESPONSE,
    TOO_MANY_REQUESTS_TEXT,
    WORK,
    WORKS_SUMMARY,
    bulk_answer,
    error_body,
    invalid_token_body,
    orcid_error,
    saved_work,
)

TOKEN = SecretStr(ACCESS_TOKEN)
WORKS_URL = f"{API}/v3.0/{ORCID}"
MAX_ATTEMPTS = 3
AUTH_CODE = "Ab12Cd"  # the code INVALID_GRANT_BODY echoes
REDIRECT_URI = "https://repo.example/orcid/callback"


class RecordingLimiter:
    """A rate limiter that grants everything and remembers what it was told."""

    def __init__(self) -> None:
        self.acquired = 0
        self.penalties: list[float] = []
        self.throttles = 0

    def acquire(self, cost: int = 1) -> None:
        self.acquired += cost

    def penalise(self, seconds: float) -> None:
        self.penalties.append(seconds)

    def on_throttled(self) -> None:
        self.throttles += 1


class CeilingRng(random.Random):
    """Jitter that always picks the top of the range, so backoff ceilings are observable."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def client(limiter: RecordingLimiter, sleeps: list[float]) -> OrcidClient:
    return OrcidClient(
        api_url=API,
        site_url=SITE,
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        rate_limiter=limiter,
        retry=RetryPolicy(
            max_attempts=MAX_ATTEMPTS, base_delay=0.5, max_delay=4.0, rng=CeilingRng(), sleep=sleeps.append
        ),
        timeout=Timeout(connect=2.0, read=7.0),
    )


@pytest.fixture
def orcid_http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the shared Powertools logger writes, formatted exactly as in Lambda (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    stdlib_logger = logging.getLogger(logger.name)
    stdlib_logger.addHandler(handler)
    yield stream
    stdlib_logger.removeHandler(handler)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def work() -> Work:
    return Work.model_validate(WORK)


def created(url: str, put_code: int) -> dict[str, Any]:
    return {"status": 201, "headers": {"Location": f"{url}/{put_code}"}}


def everything_said_about(exc: BaseException) -> str:
    """Every way an exception reaches a person: str, repr, args, attributes, formatted traceback."""
    return " ".join([str(exc), repr(exc), repr(exc.args), repr(vars(exc)), "".join(traceback.format_exception(exc))])


# --- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("json_parse", ValidationFailedError),
        ("too_many_in_bulk", ValidationFailedError),
        ("put_code_mismatch", ValidationFailedError),
        ("invalid_message", ValidationFailedError),
        ("title_required", ValidationFailedError),
        ("external_id_invalid", ValidationFailedError),
        ("put_code_on_create", ValidationFailedError),
        ("invalid_enum", ValidationFailedError),
        ("invalid_org", ValidationFailedError),
        ("wrong_record", TokenForOtherRecordError),
        ("not_source", NotSourceError),
        ("visibility_change", ForbiddenError),
        ("insufficient_scope", InsufficientScopeError),
        ("not_found", NotFoundError),
        ("duplicate_work", DuplicateWorkError),
        ("locked_record", ConflictError),
        ("duplicate_researcher_url", ConflictError),
        ("too_many_works", ConflictError),
    ],
)
def test_each_orcid_error_maps_to_its_exception_and_is_not_retried(
    client: OrcidClient,
    orcid_http: responses.RequestsMock,
    sleeps: list[float],
    name: str,
    expected: type[OrcidApiError],
) -> None:
    status, code, message = ERRORS[name]
    orcid_http.post(f"{WORKS_URL}/work", status=status, body=error_body(name), content_type="application/json")

    with pytest.raises(expected) as caught:
        client.create_work(ORCID, TOKEN, work())

    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.error_code == code
    assert caught.value.developer_message == message
    assert caught.value.attempts == 1
    assert f"HTTP {status}" in str(caught.value) and str(code) in str(caught.value)
    assert len(orcid_http.calls) == 1
    assert sleeps == []


def test_duplicate_work_names_the_existing_put_code(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.post(f"{WORKS_URL}/work", status=409, body=error_body("duplicate_work"))

    with pytest.raises(DuplicateWorkError) as caught:
        client.create_work(ORCID, TOKEN, work())

    assert caught.value.existing_put_code == 123456
    assert not isinstance(caught.value, ConflictError)  # "other 409" handlers must not swallow it


def test_token_for_another_record_is_an_invalid_token_flagged_wrong_record(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=401, body=error_body("wrong_record"))

    with pytest.raises(InvalidTokenError) as caught:
        client.read_works(ORCID, TOKEN)

    assert caught.value.wrong_record is True


def test_revoked_token_is_invalid_and_never_echoed(
    client: OrcidClient, orcid_http: responses.RequestsMock, log_output: io.StringIO
) -> None:
    orcid_http.get(
        f"{WORKS_URL}/works", status=401, body=invalid_token_body(ACCESS_TOKEN), content_type="application/json"
    )

    with pytest.raises(InvalidTokenError) as caught:
        client.read_works(ORCID, TOKEN)

    assert caught.value.wrong_record is False
    assert caught.value.developer_message == "invalid_token: Invalid access token: [REDACTED]"
    assert ACCESS_TOKEN not in everything_said_about(caught.value)
    assert log_output.getvalue(), "the request should have been logged"
    assert ACCESS_TOKEN not in log_output.getvalue()


def test_token_and_client_secret_never_reach_logs_or_errors_across_retries(
    client: OrcidClient, orcid_http: responses.RequestsMock, log_output: io.StringIO
) -> None:
    echo = f"Authorization: Bearer {ACCESS_TOKEN}; client_secret={CLIENT_SECRET}"
    orcid_http.post(f"{WORKS_URL}/work", status=502, body=echo, content_type="text/plain")

    with pytest.raises(RetryableOrcidError) as caught:
        client.create_work(ORCID, TOKEN, work())

    said = everything_said_about(caught.value) + log_output.getvalue()
    assert len(log_lines(log_output)) >= MAX_ATTEMPTS
    assert ACCESS_TOKEN not in said
    assert CLIENT_SECRET not in said


def test_deprecated_record_is_not_followed(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    primary = f"{API}/v3.0/0000-0001-2345-6789/works"
    orcid_http.get(
        f"{WORKS_URL}/works", status=301, body=error_body("deprecated_record"), headers={"Location": primary}
    )

    with pytest.raises(DeprecatedRecordError) as caught:
        client.read_works(ORCID, TOKEN)

    assert caught.value.primary_location == primary
    assert caught.value.error_code == 9007
    assert len(orcid_http.calls) == 1


def test_bulk_over_100_answered_with_413_is_a_validation_failure(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.post(f"{WORKS_URL}/works", status=413, body="")

    with pytest.raises(ValidationFailedError) as caught:
        client.create_works(ORCID, TOKEN, [work()])

    assert caught.value.status == 413
    assert caught.value.developer_message == "empty body"


def test_unknown_client_error_is_the_base_error(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=406, body="")

    with pytest.raises(OrcidApiError) as caught:
        client.read_works(ORCID, TOKEN)

    assert type(caught.value) is OrcidApiError
    assert len(orcid_http.calls) == 1


def test_insufficient_scope_in_oauth_shape_is_recognised() -> None:
    body = json.dumps({"error": "insufficient_scope", "error_description": "Insufficient scope for this resource"})

    assert isinstance(error_from_response(403, body), InsufficientScopeError)


def test_html_503_is_described_not_copied() -> None:
    error = error_from_response(503, SERVICE_UNAVAILABLE_HTML, content_type="text/html; charset=utf-8")

    assert isinstance(error, ServiceUnavailableError)
    assert error.developer_message == f"text/html body of {len(SERVICE_UNAVAILABLE_HTML)} characters"


def test_plain_text_429_keeps_a_short_snippet() -> None:
    error = error_from_response(429, TOO_MANY_REQUESTS_TEXT, content_type="text/plain", retry_after=30)

    assert isinstance(error, TooManyRequestsError)
    assert error.retry_after == 30
    assert error.developer_message.startswith("Too Many Requests. You have exceeded the daily quota")
    assert len(error.developer_message) <= 200


def test_bulk_item_errors_convert_to_the_same_exceptions() -> None:
    status, code, message = ERRORS["duplicate_work"]
    item = OrcidError.model_validate(orcid_error(status, code, message))

    error = exception_for(item)

    assert isinstance(error, DuplicateWorkError)
    assert error.existing_put_code == 123456


def test_redact_removes_known_secrets_and_token_shaped_text() -> None:
    text = f"token: abc123 and Bearer xyz and {CLIENT_SECRET} and access_token=qqq"

    cleaned = redact(text, [CLIENT_SECRET])

    for secret in ("abc123", "xyz", CLIENT_SECRET, "qqq"):
        assert secret not in cleaned


# --- retries ----------------------------------------------------------------------------------


def test_503_is_retried_then_succeeds(
    client: OrcidClient, orcid_http: responses.RequestsMock, limiter: RecordingLimiter, sleeps: list[float]
) -> None:
    orcid_http.post(f"{WORKS_URL}/work", status=503, body=SERVICE_UNAVAILABLE_HTML, content_type="text/html")
    orcid_http.post(f"{WORKS_URL}/work", **created(f"{WORKS_URL}/work", 777))

    assert client.create_work(ORCID, TOKEN, work()) == 777

    assert len(orcid_http.calls) == 2
    assert sleeps == [0.5]
    assert limiter.throttles == 1
    assert client.stats.retries == 1
    assert client.stats.retried_posts == 1
    assert client.stats.throttled == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_retried(client: OrcidClient, orcid_http: responses.RequestsMock, status: int) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=status, body=error_body("internal_error"))
    orcid_http.get(f"{WORKS_URL}/works", json=WORKS_SUMMARY)

    works = client.read_works(ORCID, TOKEN)

    assert works.work_summaries[0].put_code == 178602
    assert len(orcid_http.calls) == 2


def test_gives_up_after_max_attempts_with_the_last_status(
    client: OrcidClient, orcid_http: responses.RequestsMock, sleeps: list[float]
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=503, body=SERVICE_UNAVAILABLE_HTML, content_type="text/html")

    with pytest.raises(ServiceUnavailableError) as caught:
        client.read_works(ORCID, TOKEN)

    assert caught.value.status == 503
    assert caught.value.attempts == MAX_ATTEMPTS
    assert f"after {MAX_ATTEMPTS} attempts" in str(caught.value)
    assert len(orcid_http.calls) == MAX_ATTEMPTS
    # Exponential ceilings (full jitter pinned to its top): 0.5, then 1.0; no sleep after the last attempt.
    assert sleeps == [0.5, 1.0]


def test_backoff_is_capped_at_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rng=CeilingRng())

    assert [policy.delay(n, None) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_full_jitter_stays_within_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rng=random.Random(3))

    delays = [policy.delay(n, None) for n in range(1, 6) for _ in range(50)]

    assert all(0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 1


def test_retry_after_is_honoured_and_shared_with_the_limiter(
    client: OrcidClient, orcid_http: responses.RequestsMock, limiter: RecordingLimiter, sleeps: list[float]
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=429, body=TOO_MANY_REQUESTS_TEXT, headers={"Retry-After": "7"})
    orcid_http.get(f"{WORKS_URL}/works", json=WORKS_SUMMARY)

    client.read_works(ORCID, TOKEN)

    assert sleeps == [7.0]
    assert limiter.penalties == [7.0]
    assert limiter.throttles == 0


def test_unparseable_retry_after_falls_back_to_backoff(
    client: OrcidClient, orcid_http: responses.RequestsMock, limiter: RecordingLimiter, sleeps: list[float]
) -> None:
    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    orcid_http.get(f"{WORKS_URL}/works", status=503, body="", headers={"Retry-After": when})
    orcid_http.get(f"{WORKS_URL}/works", json=WORKS_SUMMARY)

    client.read_works(ORCID, TOKEN)

    assert sleeps == [0.5]
    assert limiter.throttles == 1


def test_retry_after_is_capped() -> None:
    assert RetryPolicy(max_retry_after=60).delay(1, 3600) == 60


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection refused"), requests.ConnectTimeout("slow"), requests.ReadTimeout("slow")],
)
def test_no_answer_is_retried(
    client: OrcidClient, orcid_http: responses.RequestsMock, failure: Exception, sleeps: list[float]
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", body=failure)
    orcid_http.get(f"{WORKS_URL}/works", json=WORKS_SUMMARY)

    client.read_works(ORCID, TOKEN)

    assert len(orcid_http.calls) == 2
    assert len(sleeps) == 1
    assert client.stats.by_outcome() == {NO_ANSWER: 1, "200": 1}


def test_no_answer_at_all_gives_up_without_chaining_the_request(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(OrcidUnreachableError) as caught:
        client.read_works(ORCID, TOKEN)

    assert caught.value.status is None
    assert caught.value.reason == "ConnectTimeout"
    assert caught.value.attempts == MAX_ATTEMPTS
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert ACCESS_TOKEN not in everything_said_about(caught.value)


def test_client_errors_are_never_retried(
    client: OrcidClient, orcid_http: responses.RequestsMock, limiter: RecordingLimiter, sleeps: list[float]
) -> None:
    orcid_http.post(f"{WORKS_URL}/work", status=400, body=error_body("title_required"))

    with pytest.raises(ValidationFailedError):
        client.create_work(ORCID, TOKEN, work())

    assert len(orcid_http.calls) == 1
    assert limiter.acquired == 1
    assert sleeps == []


def test_rate_limiter_is_asked_once_per_attempt(
    client: OrcidClient, orcid_http: responses.RequestsMock, limiter: RecordingLimiter
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=502, body="")
    orcid_http.get(f"{WORKS_URL}/works", body=requests.ConnectionError("reset"))
    orcid_http.get(f"{WORKS_URL}/works", json=WORKS_SUMMARY)

    client.read_works(ORCID, TOKEN)

    assert limiter.acquired == len(orcid_http.calls) == 3


def test_non_transient_transport_failure_is_wrapped_without_the_request(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.get(f"{WORKS_URL}/works", body=requests.exceptions.InvalidHeader("bad header"))

    with pytest.raises(OrcidApiError) as caught:
        client.read_works(ORCID, TOKEN)

    assert caught.value.status is None
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(orcid_http.calls) == 1


# --- requests and answers -----------------------------------------------------------------------


def test_api_requests_carry_orcid_json_headers_and_the_bearer_token(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.post(f"{WORKS_URL}/work", **created(f"{WORKS_URL}/work", 1))

    client.create_work(ORCID, TOKEN, work())

    sent = orcid_http.calls[0].request
    assert sent.headers["Accept"] == "application/vnd.orcid+json"
    assert sent.headers["Content-Type"] == "application/vnd.orcid+json"
    assert sent.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert json.loads(sent.body or b"") == work().to_orcid_json()
    assert "put-code" not in json.loads(sent.body or b"")


def test_timeouts_are_explicit(limiter: RecordingLimiter) -> None:
    seen: list[object] = []

    class TimeoutSpy(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            seen.append(kwargs["timeout"])
            response = requests.Response()
            response.status_code = 204
            return response

    spy = OrcidClient(
        api_url=API,
        site_url=SITE,
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        rate_limiter=limiter,
        timeout=Timeout(connect=2.0, read=7.0),
        session=TimeoutSpy(),
    )

    spy.delete_work(ORCID, TOKEN, 5)

    assert seen == [(2.0, 7.0)]


@pytest.mark.parametrize(
    ("location", "put_code"),
    [
        (f"{API}/v3.0/{ORCID}/work/123456", 123456),
        (f"{API}/v3.0/{ORCID}/work/42/", 42),
        (f"{API}/v3.0/{ORCID}/researcher-urls/41387", 41387),
        (f"/v3.0/{ORCID}/employment/7001", 7001),
    ],
)
def test_put_code_comes_from_the_last_location_segment(location: str, put_code: int) -> None:
    assert put_code_from_location(location) == put_code


@pytest.mark.parametrize("location", [None, "", f"{API}/v3.0/{ORCID}/work/", f"{API}/v3.0/{ORCID}/work/abc"])
def test_missing_put_code_in_location_is_an_unexpected_response(location: str | None) -> None:
    with pytest.raises(UnexpectedResponseError):
        put_code_from_location(location)


def test_create_without_location_is_an_unexpected_response(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.post(f"{WORKS_URL}/work", status=201)

    with pytest.raises(UnexpectedResponseError, match="Location"):
        client.create_work(ORCID, TOKEN, work())


def test_bulk_create_returns_put_codes_and_errors_in_request_order(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    status, code, message = ERRORS["duplicate_work"]
    invalid = orcid_error(*ERRORS["invalid_enum"])
    orcid_http.post(
        f"{WORKS_URL}/works",
        status=200,
        body=bulk_answer(
            {"work": saved_work(501, "first")},
            {"error": orcid_error(status, code, message)},
            {"work": saved_work(503, "third")},
            {"error": invalid},
        ),
        content_type="application/vnd.orcid+json",
    )
    works = [work() for _ in range(4)]

    results = client.create_works(ORCID, TOKEN, works)

    assert results[0] == 501
    assert isinstance(results[1], OrcidError) and results[1].duplicate_put_code == 123456
    assert results[2] == 503
    assert isinstance(results[3], OrcidError) and results[3].error_code == 9037
    sent = json.loads(orcid_http.calls[0].request.body or b"")
    assert [item["work"] for item in sent["bulk"]] == [w.to_orcid_json() for w in works]


def test_bulk_answer_with_a_different_length_is_unexpected(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.post(f"{WORKS_URL}/works", body=bulk_answer({"work": saved_work(1)}))

    with pytest.raises(UnexpectedResponseError):
        client.create_works(ORCID, TOKEN, [work(), work()])


def test_bulk_limits_are_checked_before_any_request(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    with pytest.raises(ValueError, match="100"):
        client.create_works(ORCID, TOKEN, [work()] * 101)
    with pytest.raises(ValueError, match="100"):
        client.read_works_by_put_codes(ORCID, TOKEN, list(range(1, 102)))

    assert client.create_works(ORCID, TOKEN, []) == []
    assert client.read_works_by_put_codes(ORCID, TOKEN, []) == []
    assert len(orcid_http.calls) == 0


def test_read_works_by_put_codes_asks_for_all_in_one_path(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    missing = orcid_error(*ERRORS["not_found"])
    orcid_http.get(f"{WORKS_URL}/works/11,999", body=bulk_answer({"work": saved_work(11)}, {"error": missing}))

    items = client.read_works_by_put_codes(ORCID, TOKEN, [11, 999])

    assert isinstance(items[0], Work) and items[0].put_code == 11
    assert isinstance(items[1], OrcidError) and items[1].error_code == 9016
    assert orcid_http.calls[0].request.method == "GET"


def test_read_work_and_record(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.get(f"{WORKS_URL}/work/11", json=saved_work(11))
    orcid_http.get(f"{WORKS_URL}/record", json=RECORD)

    assert client.read_work(ORCID, TOKEN, 11).put_code == 11
    assert client.read_record(ORCID, TOKEN)["orcid-identifier"]["path"] == ORCID


def test_update_work_puts_the_put_code_in_path_and_body(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.put(f"{WORKS_URL}/work/11", json=saved_work(11, "renamed"))

    saved = client.update_work(ORCID, TOKEN, 11, work())

    assert saved.put_code == 11 and saved.title.title.value == "renamed"
    sent = json.loads(orcid_http.calls[0].request.body or b"")
    assert sent["put-code"] == 11
    assert sent["title"] == WORK["title"]


def test_update_with_a_different_put_code_in_the_item_is_refused(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    with pytest.raises(ValueError, match="put-code"):
        client.update_work(ORCID, TOKEN, 11, Work.model_validate(saved_work(12)))
    assert len(orcid_http.calls) == 0


def test_update_of_a_work_deleted_on_orcid_is_not_found(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.put(f"{WORKS_URL}/work/999", status=404, body=error_body("not_found"))

    with pytest.raises(NotFoundError):
        client.update_work(ORCID, TOKEN, 999, work())


def test_delete_work(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.delete(f"{WORKS_URL}/work/11", status=204)

    client.delete_work(ORCID, TOKEN, 11)

    assert orcid_http.calls[0].request.method == "DELETE"


def test_researcher_urls_use_the_plural_path(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    url = ResearcherUrl.model_validate(RESEARCHER_URL)
    orcid_http.post(f"{WORKS_URL}/researcher-urls", **created(f"{WORKS_URL}/researcher-urls", 41387))
    orcid_http.get(f"{WORKS_URL}/researcher-urls", json=RESEARCHER_URLS)
    orcid_http.put(f"{WORKS_URL}/researcher-urls/41387", json=RESEARCHER_URLS["researcher-url"][0])
    orcid_http.delete(f"{WORKS_URL}/researcher-urls/41387", status=204)

    assert client.create_researcher_url(ORCID, TOKEN, url) == 41387
    assert client.read_researcher_urls(ORCID, TOKEN).researcher_url[0].put_code == 41387
    assert client.update_researcher_url(ORCID, TOKEN, 41387, url).put_code == 41387
    client.delete_researcher_url(ORCID, TOKEN, 41387)

    assert json.loads(orcid_http.calls[0].request.body or b"") == RESEARCHER_URL
    assert json.loads(orcid_http.calls[2].request.body or b"")["put-code"] == 41387


def test_duplicate_researcher_url_is_a_conflict(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.post(f"{WORKS_URL}/researcher-urls", status=409, body=error_body("duplicate_researcher_url"))

    with pytest.raises(ConflictError) as caught:
        client.create_researcher_url(ORCID, TOKEN, ResearcherUrl.model_validate(RESEARCHER_URL))

    assert caught.value.error_code == 9030


def test_employment_calls(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    employment = Employment.model_validate(EMPLOYMENT)
    orcid_http.post(f"{WORKS_URL}/employment", **created(f"{WORKS_URL}/employment", 7001))
    orcid_http.get(f"{WORKS_URL}/employments", json=EMPLOYMENTS)
    orcid_http.put(f"{WORKS_URL}/employment/7001", json={"put-code": 7001, **EMPLOYMENT})
    orcid_http.delete(f"{WORKS_URL}/employment/7001", status=204)

    assert client.create_employment(ORCID, TOKEN, employment) == 7001
    assert client.read_employments(ORCID, TOKEN).employment_summaries[0].put_code == 7001
    assert client.update_employment(ORCID, TOKEN, 7001, employment).put_code == 7001
    client.delete_employment(ORCID, TOKEN, 7001)

    assert [call.request.method for call in orcid_http.calls] == ["POST", "GET", "PUT", "DELETE"]


def test_an_invalid_orcid_id_or_put_code_is_refused_before_any_request(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    with pytest.raises(ValueError, match="check character"):
        client.read_works("0000-0002-1825-0098", TOKEN)
    with pytest.raises(ValueError, match="put-code"):
        client.delete_work(ORCID, TOKEN, 0)
    with pytest.raises(ValueError):
        client.read_works("../admin", TOKEN)

    assert len(orcid_http.calls) == 0


def test_unexpected_body_shape_is_reported_without_values(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.post(f"{SITE}/oauth/token", json={"access_token": ACCESS_TOKEN, "token_type": "bearer"})

    with pytest.raises(UnexpectedResponseError) as caught:
        client.exchange_code(AUTH_CODE, REDIRECT_URI)

    assert "refresh_token" in str(caught.value)
    assert ACCESS_TOKEN not in everything_said_about(caught.value)


def test_non_json_success_body_is_unexpected(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.get(f"{WORKS_URL}/works", body="<html>maintenance</html>", content_type="text/html")

    with pytest.raises(UnexpectedResponseError, match="not JSON"):
        client.read_works(ORCID, TOKEN)


# --- OAuth ------------------------------------------------------------------------------------


def test_exchange_code_posts_the_form_and_returns_a_secret_token(
    client: OrcidClient, orcid_http: responses.RequestsMock
) -> None:
    orcid_http.post(f"{SITE}/oauth/token", json=TOKEN_RESPONSE)

    token = client.exchange_code(AUTH_CODE, REDIRECT_URI)

    assert token.access_token.get_secret_value() == ACCESS_TOKEN
    assert token.refresh_token.get_secret_value() == REFRESH_TOKEN
    assert token.orcid == ORCID
    assert "/activities/update" in token.scopes
    assert ACCESS_TOKEN not in repr(token)
    sent = orcid_http.calls[0].request
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in sent.headers
    assert parse_qs(str(sent.body)) == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["authorization_code"],
        "code": [AUTH_CODE],
        "redirect_uri": [REDIRECT_URI],
    }


@pytest.mark.parametrize(
    ("status", "body", "oauth_error"),
    [(400, INVALID_GRANT_BODY, "invalid_grant"), (401, BAD_CLIENT_CREDENTIALS_BODY, "invalid_client")],
)
def test_refused_exchange_is_an_oauth_error(
    client: OrcidClient, orcid_http: responses.RequestsMock, status: int, body: str, oauth_error: str
) -> None:
    orcid_http.post(f"{SITE}/oauth/token", status=status, body=body, content_type="application/json")

    with pytest.raises(OAuthError) as caught:
        client.exchange_code(AUTH_CODE, REDIRECT_URI)

    assert caught.value.oauth_error == oauth_error
    assert caught.value.status == status
    assert not isinstance(caught.value, InvalidTokenError)
    assert AUTH_CODE not in everything_said_about(caught.value)
    assert CLIENT_SECRET not in everything_said_about(caught.value)
    assert len(orcid_http.calls) == 1


def test_revoke_posts_client_credentials_and_the_token(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.post(f"{SITE}/oauth/revoke", status=200)

    client.revoke(TOKEN)

    form = parse_qs(str(orcid_http.calls[0].request.body))
    assert form == {"client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET], "token": [ACCESS_TOKEN]}


# --- stats and logs -----------------------------------------------------------------------------


def test_stats_count_requests_by_method_and_outcome(client: OrcidClient, orcid_http: responses.RequestsMock) -> None:
    orcid_http.get(f"{WORKS_URL}/works", status=503, body="")
    orcid_http.get(f"{WORKS_URL}/works", json=WORKS_SUMMARY)
    orcid_http.post(f"{WORKS_URL}/work", status=409, body=error_body("duplicate_work"))
    orcid_http.delete(f"{WORKS_URL}/work/1", status=204)

    client.read_works(ORCID, TOKEN)
    with pytest.raises(DuplicateWorkError):
        client.create_work(ORCID, TOKEN, work())
    client.delete_work(ORCID, TOKEN, 1)

    assert client.stats.as_dict() == {
        "total": 4,
        "by_method": {"GET": 2, "POST": 1, "DELETE": 1},
        "by_outcome": {"503": 1, "200": 1, "409": 1, "204": 1},
        "retries": 1,
        "retried_posts": 0,
        "throttled": 1,
    }
    client.stats.reset()
    assert client.stats.total == 0


def test_each_attempt_is_logged_with_method_path_status_and_attempt(
    client: OrcidClient, orcid_http: responses.RequestsMock, log_output: io.StringIO
) -> None:
    orcid_http.post(f"{WORKS_URL}/work", status=503, body="")
    orcid_http.post(f"{WORKS_URL}/work", **created(f"{WORKS_URL}/work", 9))

    client.create_work(ORCID, TOKEN, work())

    lines = log_lines(log_output)
    requests_logged = [line for line in lines if line["message"] == "ORCID request"]
    assert [(line["method"], line["path"], line["status"], line["attempt"]) for line in requests_logged] == [
        ("POST", f"/v3.0/{ORCID}/work", "503", 1),
        ("POST", f"/v3.0/{ORCID}/work", "201", 2),
    ]
    assert all("duration_ms" in line for line in requests_logged)
    retry = next(line for line in lines if line["message"] == "retrying ORCID request")
    assert retry["may_duplicate"] is True
    assert ACCESS_TOKEN not in log_output.getvalue()
    assert "Psychoceramics" not in log_output.getvalue()  # no bodies in logs


def test_from_settings_uses_the_configured_hosts_and_timeout(orcid_http: responses.RequestsMock) -> None:
    settings = Settings.from_env(
        {
            "ORCID_ENVIRONMENT": "sandbox",
            "ORCID_CLIENT_ID": CLIENT_ID,
            "ORCID_SECRET_ID": "orcid-secret",
            "ORCID_API_URL": "http://127.0.0.1:9999",
            "PORTAL_BASE_URL": "https://repo.example",
            "TOKEN_KEY_ID": "key",
            "RESEARCHERS_TABLE": "r",
            "TOKENS_TABLE": "t",
            "ASSETS_TABLE": "a",
            "LEDGER_TABLE": "l",
            "JOBS_TABLE": "j",
            "STATE_TABLE": "s",
            "DATA_BUCKET": "b",
            "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:n",
            "ORCID_TIMEOUT_SECONDS": "2",
        }
    )
    local = OrcidClient.from_settings(settings, client_secret=SecretStr(CLIENT_SECRET), rate_limiter=RecordingLimiter())
    orcid_http.get(f"http://127.0.0.1:9999/v3.0/{ORCID}/works", json=WORKS_SUMMARY)

    local.read_works(ORCID, TOKEN)

    assert local.site_url == SITE
    assert local.client_id == CLIENT_ID
    assert len(orcid_http.calls) == 1
