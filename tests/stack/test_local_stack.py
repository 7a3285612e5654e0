"""The local stack itself: `local up` as a process, and the Lambda glue proven on a small fixture template."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from click.testing import CliRunner

from orcid_sync_local.cli import local
from orcid_sync_local.lambda_glue import LocalCredentials
from orcid_sync_local.stack import LocalStack, LocalStackError

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "template.yaml"
CONNECTION_KEYS = {
    "api_url",
    "orcid_url",
    "aws_endpoint_url",
    "client_id",
    "region",
    "aws_access_key_id",
    "aws_secret_access_key",
    "oai_provider_url",
    "console_url",
    "cognito_login_url",
    "console_user_pool_id",
}

SignedRequest = Callable[..., requests.Response]


def _port_is_closed(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) != 0


def _records(stack: LocalStack, kind: str) -> list[dict[str, Any]]:
    table = stack.resource("RecordsTable").ref
    items = stack.client("dynamodb").scan(TableName=table)["Items"]
    return [
        {name: next(iter(value.values())) for name, value in item.items()}
        for item in items
        if item["id"]["S"].startswith(f"{kind}#")
    ]


# --- the glue, on a template of its own ---------------------------------------------------------


@pytest.fixture
def stack(fixture_stack: LocalStack) -> LocalStack:
    return fixture_stack


class TestGlueOnFixtureTemplate:
    """HTTP API, SQS, schedules and S3 notifications, with fixture functions under tests/stack/fixtures."""

    def test_public_route_receives_a_payload_v2_event(self, stack: LocalStack) -> None:
        # Given a public route with a greedy path parameter
        url = f"{stack.api_url}/public/reports/2024%20Q1?tag=a&tag=b&empty="

        # When a browser-like client calls it with cookies
        response = requests.get(url, cookies={"session": "abc", "theme": "dark"}, timeout=30)

        # Then the function got API Gateway's payload 2.0 event, and its response was honoured
        assert response.status_code == 200
        assert response.headers["x-greeting"] == "bonjour"
        assert response.raw.headers.getlist("Set-Cookie") == ["first=1; Path=/", "second=2; Path=/"]
        body = response.json()
        event = body["event"]
        assert event["version"] == "2.0"
        assert event["routeKey"] == "ANY /public/{proxy+}"
        assert event["rawPath"] == "/public/reports/2024%20Q1"
        assert event["rawQueryString"] == "tag=a&tag=b&empty="
        assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
        assert event["pathParameters"] == {"proxy": "reports/2024 Q1"}
        assert sorted(event["cookies"]) == ["session=abc", "theme=dark"]
        assert "cookie" not in event["headers"]
        assert all(name == name.lower() for name in event["headers"])
        assert event["headers"]["x-forwarded-proto"] == "http"
        context = event["requestContext"]
        assert context["http"]["method"] == "GET"
        assert context["http"]["path"] == "/public/reports/2024%20Q1"
        assert context["stage"] == "$default"
        assert context["routeKey"] == event["routeKey"]
        assert context["apiId"] == stack.resource("Api").ref
        assert context["accountId"] == "123456789012"
        assert "authorizer" not in context
        assert event["isBase64Encoded"] is False
        assert "body" not in event
        assert body["function_name"] == stack.resource("EchoFunction").ref
        assert 0 < body["remaining_ms"] <= 10_000

    def test_binary_bodies_travel_base64_encoded(self, stack: LocalStack) -> None:
        # Given a binary upload and a function answering with bytes
        payload = bytes(range(256))

        # When they pass through the local API
        upload = requests.post(
            f"{stack.api_url}/public/upload", data=payload, headers={"Content-Type": "image/png"}, timeout=30
        )
        download = requests.get(f"{stack.api_url}/public/bytes", timeout=30)

        # Then the event carries the upload base64-encoded and the response is decoded
        event = upload.json()["event"]
        assert upload.status_code == 201
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == payload
        assert download.content == b"\x00\x01\xfe"
        assert download.headers["content-type"] == "application/octet-stream"

    def test_text_bodies_travel_as_text(self, stack: LocalStack) -> None:
        response = requests.post(f"{stack.api_url}/public/items", json={"name": "Ada"}, timeout=30)

        event = response.json()["event"]
        assert event["isBase64Encoded"] is False
        assert json.loads(event["body"]) == {"name": "Ada"}

    def test_iam_routes_refuse_unsigned_and_wrongly_signed_requests(
        self, stack: LocalStack, iam_request: SignedRequest
    ) -> None:
        url = f"{stack.api_url}/items/42"
        wrong_key = LocalCredentials("AKIAEXAMPLEEXAMPLE00", stack.credentials.secret_access_key, "us-east-1")
        wrong_secret = LocalCredentials(stack.credentials.access_key_id, "not-the-secret", "us-east-1")

        unsigned = requests.get(url, timeout=30)
        other_key = iam_request("GET", url, wrong_key)
        bad_signature = iam_request("GET", url, wrong_secret)

        assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
        assert (other_key.status_code, other_key.json()) == (403, {"message": "Forbidden"})
        assert bad_signature.status_code == 403
        assert "signature" in bad_signature.json()["message"]

    def test_a_signature_does_not_carry_over_to_another_request(self, stack: LocalStack) -> None:
        # Given a request signed for /items/1
        signed = requests.Request("GET", f"{stack.api_url}/items/1").prepare()
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        aws_request = AWSRequest(method="GET", url=signed.url)
        credentials = Credentials(stack.credentials.access_key_id, stack.credentials.secret_access_key)
        SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(aws_request)

        # When its headers are replayed on /items/2
        response = requests.get(f"{stack.api_url}/items/2", headers=dict(aws_request.headers.items()), timeout=30)

        # Then API Gateway's IAM check refuses it
        assert response.status_code == 403

    def test_iam_routes_accept_requests_signed_with_the_stack_credentials(
        self, stack: LocalStack, iam_request: SignedRequest
    ) -> None:
        response = iam_request("GET", f"{stack.api_url}/items/42?full=true", stack.credentials)

        assert response.status_code == 200
        event = response.json()["event"]
        assert event["routeKey"] == "GET /items/{id}"
        assert event["pathParameters"] == {"id": "42"}
        assert event["queryStringParameters"] == {"full": "true"}
        assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == stack.credentials.access_key_id
        assert event["requestContext"]["authorizer"]["iam"]["accountId"] == "123456789012"

    def test_unknown_routes_and_methods_are_not_found(self, stack: LocalStack, iam_request: SignedRequest) -> None:
        unknown = requests.get(f"{stack.api_url}/nothing/here", timeout=30)
        wrong_method = iam_request("DELETE", f"{stack.api_url}/items/42", stack.credentials)

        assert (unknown.status_code, unknown.json()) == (404, {"message": "Not Found"})
        assert (wrong_method.status_code, wrong_method.json()) == (404, {"message": "Not Found"})

    def test_a_failing_handler_is_a_500(self, stack: LocalStack, iam_request: SignedRequest) -> None:
        response = iam_request("GET", f"{stack.api_url}/items/boom", stack.credentials)

        assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})

    def test_bodies_over_10_mb_are_refused(self, stack: LocalStack) -> None:
        response = requests.post(f"{stack.api_url}/public/upload", data=b"x" * (10 * 1024 * 1024 + 1), timeout=60)

        assert response.status_code == 413

    def test_sqs_consumer_partial_failures_retries_and_redrive(self, stack: LocalStack) -> None:
        # Given three messages: one fine, one that always fails, one whose first delivery fails the whole batch
        sqs = stack.client("sqs")
        queue_url = stack.resource("WorkQueue").ref
        bodies = [{"key": "fine"}, {"key": "poison", "fail": True}, {"key": "flaky", "raise_first": True}]
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(index), "MessageBody": json.dumps(body)} for index, body in enumerate(bodies)],
        )

        # When the poller has worked through them (retries included)
        stack.wait_for_queues_idle(timeout=60)

        # Then the good ones are recorded once, the flaky one on its second delivery ...
        done = {item["id"]: item for item in _records(stack, "done")}
        assert set(done) == {"done#fine", "done#flaky"}
        assert int(done["done#flaky"]["receive_count"]) == 2
        assert done["done#fine"]["source"] == stack.resource("WorkQueue").get_att("Arn")
        # ... and the poison message went to the DLQ after maxReceiveCount (2) deliveries
        poison_attempts = [item for item in _records(stack, "attempt") if '"poison"' in item["body"]]
        assert max(int(item["id"].rsplit("#", 1)[1]) for item in poison_attempts) == 2
        dead = sqs.receive_message(QueueUrl=stack.resource("WorkDeadLetterQueue").ref, MaxNumberOfMessages=10)
        assert [json.loads(message["Body"]) for message in dead["Messages"]] == [bodies[1]]
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"

    def test_maximum_concurrency_runs_batches_side_by_side_in_separate_containers(self, stack: LocalStack) -> None:
        # Given a consumer whose batches each wait for another one to run at the same time
        sqs = stack.client("sqs")
        queue_url = stack.resource("GateQueue").ref

        # When two messages arrive (BatchSize 1, MaximumConcurrency 2)
        for key in ("left", "right"):
            sqs.send_message(QueueUrl=queue_url, MessageBody=key)
        stack.wait_for_queues_idle(timeout=60)

        # Then both batches met (they ran concurrently), each in its own copy of the handler module
        records = _records(stack, "gate")
        assert len(records) == 2
        assert len({record["container"] for record in records}) == 2

    def test_daily_schedule_respects_the_rule_state_and_run_now_does_not(self, stack: LocalStack) -> None:
        # Given SAM's rule for a Schedule event created with Enabled: false
        rule = stack.resource("ObserverFunctionDaily")
        events = stack.client("events")
        assert events.describe_rule(Name=rule.ref)["State"] == "DISABLED"

        # When the daily trigger fires, then "run now" does
        daily = stack.fire_schedule("ObserverFunctionDaily", respect_enabled=True)
        assert (daily.fired, _records(stack, "scheduled")) == (False, [])
        run_now = stack.fire_schedule("ObserverFunctionDaily", respect_enabled=False)

        # Then only "run now" invoked the function, with EventBridge's Scheduled Event
        assert run_now.fired
        (record,) = _records(stack, "scheduled")
        event = json.loads(record["event"])
        assert event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events"
        assert event["resources"] == [rule.get_att("Arn")]
        assert event["detail"] == {}

        # And once the rule is enabled (as an administrator activating the job does), the daily trigger fires
        events.enable_rule(Name=rule.ref)
        try:
            assert stack.fire_schedule(rule.ref, respect_enabled=True).fired
            assert len(_records(stack, "scheduled")) == 2
        finally:
            events.disable_rule(Name=rule.ref)

    def test_scheduler_schedules_follow_their_state_too(self, stack: LocalStack) -> None:
        scheduler = stack.client("scheduler")
        name = stack.resource("ObserverFunctionWeekly").ref

        disabled = stack.fire_schedule("ObserverFunctionWeekly", respect_enabled=True)
        current = scheduler.get_schedule(Name=name)
        scheduler.update_schedule(
            Name=name,
            ScheduleExpression=current["ScheduleExpression"],
            FlexibleTimeWindow=current["FlexibleTimeWindow"],
            Target=current["Target"],
            State="ENABLED",
        )
        enabled = stack.fire_schedule("ObserverFunctionWeekly", respect_enabled=True)

        assert (disabled.fired, enabled.fired) == (False, True)
        events = [json.loads(item["event"]) for item in _records(stack, "scheduled")]
        assert any(event["source"] == "aws.scheduler" for event in events)

    def test_a_rule_target_input_replaces_the_scheduled_event(self, stack: LocalStack) -> None:
        firing = stack.fire_schedule("PullRule", respect_enabled=True)

        assert firing.fired
        assert [json.loads(item["event"]) for item in _records(stack, "input")] == [{"job": "pull"}]

    def test_unknown_schedules_are_named_in_the_error(self, stack: LocalStack) -> None:
        with pytest.raises(KeyError, match="ObserverFunctionDaily"):
            stack.fire_schedule("NoSuchRule", respect_enabled=False)

    def test_s3_notifications_follow_the_event_filter(self, stack: LocalStack) -> None:
        # Given objects in and out of the notification's prefix/suffix filter
        s3 = stack.client("s3")
        bucket = stack.resource("UploadBucket").ref
        s3.put_object(Bucket=bucket, Key="incoming/report 1.csv", Body=b"a,b")
        s3.put_object(Bucket=bucket, Key="incoming/notes.txt", Body=b"no")
        s3.put_object(Bucket=bucket, Key="elsewhere/other.csv", Body=b"no")

        # When the stack settles
        stack.wait_for_queues_idle(timeout=30)

        # Then exactly one S3 event record reached the function
        (record,) = _records(stack, "s3")
        (s3_record,) = json.loads(record["event"])["Records"]
        assert s3_record["eventSource"] == "aws:s3"
        assert s3_record["eventName"] == "ObjectCreated:Put"
        assert s3_record["s3"]["bucket"]["name"] == bucket
        assert s3_record["s3"]["object"]["key"] == "incoming/report+1.csv"
        assert s3_record["s3"]["object"]["size"] == 3

    def test_the_functions_environment_comes_from_the_template(self, stack: LocalStack) -> None:
        assert os.environ["RECORDS_TABLE"] == stack.resource("RecordsTable").ref
        assert os.environ["GREETING"] == "bonjour"
        assert os.environ["CLIENT_ID"] == stack.client_id
        assert os.environ["AWS_ENDPOINT_URL"] == stack.aws_endpoint_url
        assert os.environ["ORCID_API_URL"] == stack.orcid_url
        assert stack.outputs()["ApiEndpoint"] == stack.api_url

    def test_the_client_secret_is_stored_in_the_stack_secret(self, stack: LocalStack) -> None:
        secret_arn = stack.resource("AppSecret").ref
        document = json.loads(stack.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])

        assert document["client_secret"] not in ("", "SET-ME")
        assert len(document["signing_key"]) == 40

    def test_only_one_stack_runs_in_a_process(self, stack: LocalStack) -> None:
        with pytest.raises(LocalStackError, match="already running"):
            LocalStack(template_path=FIXTURE_TEMPLATE).start()


@pytest.mark.usefixtures("without_shared_stack")
def test_a_stack_owns_the_environment_while_running_and_gives_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an environment that would send boto3 elsewhere
    monkeypatch.setenv("AWS_PROFILE", "someone-elses")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.example.invalid")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("RECORDS_TABLE", raising=False)

    # When a stack runs, then stops
    stack = LocalStack(template_path=FIXTURE_TEMPLATE).start()
    try:
        running = dict(os.environ)
        urls = [stack.api_url, stack.orcid_url, stack.aws_endpoint_url, stack.oai_provider_url]
    finally:
        stack.stop()

    # Then it had the environment to itself, and put everything back
    assert running["AWS_ENDPOINT_URL"] == urls[2]
    assert "AWS_PROFILE" not in running
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in running
    assert os.environ["AWS_PROFILE"] == "someone-elses"
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == "https://dynamodb.example.invalid"
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert "RECORDS_TABLE" not in os.environ
    assert all(_port_is_closed(url) for url in urls)


# --- `orcid-sync local up` as a process ---------------------------------------------------------


def test_local_up_prints_one_json_line_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    # Given `local up` started as its own process
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "orcid_sync_local.cli", "up"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            first_line: list[str] = []
            reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()))  # type: ignore[union-attr]
            reader.start()
            reader.join(timeout=120)
            assert first_line and first_line[0], f"no JSON line; stderr:\n{stderr_path.read_text()}"
            info = json.loads(first_line[0])

            # Then the line says where everything is, and everything answers
            assert set(info) == CONNECTION_KEYS
            assert info["client_id"] == "APP-LOCAL00000000001"
            dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=info["aws_endpoint_url"],
                region_name=info["region"],
                aws_access_key_id=info["aws_access_key_id"],
                aws_secret_access_key=info["aws_secret_access_key"],
            )
            assert dynamodb.list_tables()["TableNames"]
            clients = requests.get(f"{info['orcid_url']}/_sandbox/clients", timeout=30).json()["clients"]
            assert {"client_id": info["client_id"], "redirect_uris": [f"{info['api_url']}/orcid/callback"]}.items() <= (
                next(client for client in clients if client["client_id"] == info["client_id"]).items()
            )
            assert requests.get(f"{info['api_url']}/researchers", timeout=30).status_code == 403
            # And the local OAI-PMH provider answers, empty without --seed-demo
            identify = requests.get(info["oai_provider_url"], params={"verb": "Identify"}, timeout=30)
            assert "<deletedRecord>persistent</deletedRecord>" in identify.text
            oai_admin = info["oai_provider_url"].removesuffix("/oai/request") + "/_provider/stats"
            assert requests.get(oai_admin, timeout=30).json()["records"] == 0
            # And the admin console sends a signed-out browser to sign in, through the Cognito stand-in
            console = requests.get(info["console_url"], allow_redirects=False, timeout=30)
            assert console.status_code == 303
            assert "/console/signin" in console.headers["Location"]

            # When it is sent SIGTERM
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    # Then it exits 0, printed nothing more on stdout, and every port is closed
    assert exit_code == 0, stderr_path.read_text()
    assert process.stdout is not None and process.stdout.read() == ""
    for key in ("api_url", "orcid_url", "aws_endpoint_url", "oai_provider_url"):
        assert _port_is_closed(info[key]), f"{key} still open"


def test_local_up_with_orcid_sandbox_needs_client_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCID_CLIENT_ID", raising=False)
    monkeypatch.delenv("ORCID_CLIENT_SECRET", raising=False)

    result = CliRunner().invoke(local, ["up", "--orcid", "sandbox"])

    assert result.exit_code == 2
    assert "ORCID_CLIENT_ID and ORCID_CLIENT_SECRET" in result.output


# --- the product's own template (the shared stack) ------------------------------------------------


def test_the_real_admin_api_is_served_behind_iam(local_stack: LocalStack, iam_request: SignedRequest) -> None:
    unsigned = requests.get(f"{local_stack.api_url}/openapi.json", timeout=30)
    signed = iam_request("GET", f"{local_stack.api_url}/openapi.json", local_stack.credentials)

    assert unsigned.status_code == 403
    assert signed.status_code == 200
    assert signed.json()["openapi"].startswith("3.")


def test_the_real_schedules_are_created_disabled(local_stack: LocalStack) -> None:
    events = local_stack.client("events")
    rules = [resource for resource in local_stack.provisioned.of_type("AWS::Events::Rule").values() if resource.ref]

    assert rules
    assert {events.describe_rule(Name=rule.ref)["State"] for rule in rules} == {"DISABLED"}
    for rule in rules:
        assert not local_stack.fire_schedule(rule.logical_id, respect_enabled=True).fired


def test_activating_a_job_through_the_admin_api_lets_the_daily_trigger_fire(
    local_stack: LocalStack, iam_request: SignedRequest
) -> None:
    # Given the pull schedule, created disabled
    assert not local_stack.fire_schedule("PullScheduleRule", respect_enabled=True).fired

    # When an administrator activates it through the admin API
    activate = iam_request(
        "PUT",
        f"{local_stack.api_url}/jobs/schedules/pull",
        local_stack.credentials,
        body=json.dumps({"enabled": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        # Then the rule is enabled in moto, and the daily trigger runs the real job scheduler
        assert activate.status_code == 200, activate.text
        rule_name = local_stack.resource("PullScheduleRule").ref
        assert local_stack.client("events").describe_rule(Name=rule_name)["State"] == "ENABLED"
        assert local_stack.fire_schedule("PullScheduleRule", respect_enabled=True).fired
        local_stack.wait_for_queues_idle(timeout=120)
    finally:
        local_stack.client("events").disable_rule(Name=local_stack.resource("PullScheduleRule").ref)
