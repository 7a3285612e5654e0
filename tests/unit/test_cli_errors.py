"""Errors are one or two lines with a documented exit status, never a traceback (but with --debug)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner, Result
from moto import mock_aws

from orcid_sync_cli import errors
from orcid_sync_cli.main import cli

API = "https://admin.orcid-sync.test"
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "ORCID_SYNC_API_URL",
    "ORCID_SYNC_LOCAL_STATE",
    "ORCID_SYNC_DEBUG",
)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A machine with no AWS configuration at all (and no instance metadata to fall back on)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)  # no .orcid-sync/local.json here or above
    return tmp_path


@pytest.fixture
def signed(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_short(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("orcid-sync: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_api_unreachable(signed: responses.RequestsMock) -> None:
    signed.stop(allow_assert=False)  # real HTTP, to a port nobody listens on
    url = f"http://127.0.0.1:{closed_port()}"
    result = run("jobs", "list", "--api", url)
    assert_short(result, errors.UNREACHABLE, f"cannot reach the API at {url}/jobs", "Connection refused")


def test_debug_shows_the_traceback(signed: responses.RequestsMock) -> None:
    signed.stop(allow_assert=False)
    url = f"http://127.0.0.1:{closed_port()}"
    for args in (("--debug", "jobs", "list", "--api", url), ("jobs", "list", "--api", url, "--debug")):
        result = run(*args)
        assert result.exit_code == errors.UNREACHABLE
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith("orcid-sync: cannot reach the API")


def test_credentials_missing(no_aws: Path) -> None:
    result = run("jobs", "list", "--api", "https://abc123.execute-api.eu-west-1.amazonaws.com")
    assert_short(result, errors.CONFIG, "no AWS credentials", "--profile")


def test_region_missing(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    assert_short(run("jobs", "list", "--api", "https://admin.example.edu"), errors.CONFIG, "no AWS region", "--region")
    assert_short(run("jobs", "list", "--stack", "orcid-sync"), errors.CONFIG, "no AWS region")


def test_unknown_profile(no_aws: Path) -> None:
    result = run("--profile", "nope", "jobs", "list", "--stack", "orcid-sync")
    assert_short(result, errors.CONFIG, "nope")
    assert_short(run("jobs", "list", "--stack", "orcid-sync", "--profile", "nope"), errors.CONFIG, "nope")


def test_stack_not_found(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    with mock_aws():
        result = run("jobs", "list", "--stack", "no-such-stack", "--region", "eu-west-1")
    assert_short(result, errors.NOT_FOUND, "stack no-such-stack not found in eu-west-1")


def test_stack_found_by_name_in_the_region_given(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"ApiUrl": {"Value": API}}})
    with mock_aws():
        boto3.client("cloudformation", region_name="eu-central-1").create_stack(
            StackName="orcid-sync", TemplateBody=template
        )
        with responses.RequestsMock() as mock:
            mock.add_passthru("https://cloudformation.eu-central-1.amazonaws.com")
            seen = mock.get(f"{API}/jobs/schedules", json=[])
            result = run("--region", "eu-central-1", "jobs", "status", "--stack", "orcid-sync", "-o", "json")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "[]"
    assert "/eu-central-1/execute-api/" in seen.calls[0].request.headers["Authorization"]


@pytest.mark.parametrize(
    ("status", "body", "exit_code", "shown"),
    [
        (404, {"message": "no job run has id nope"}, errors.API_ERROR, "HTTP 404: no job run has id nope"),
        (400, {"message": "bad", "problems": [{"field": "limit", "reason": "too big"}]}, 1, "  - limit: too big"),
        (500, {"message": "Internal Server Error"}, errors.API_ERROR, "HTTP 500: Internal Server Error"),
        (503, "<html>Service Unavailable</html>", errors.API_ERROR, "HTTP 503: <html>Service Unavailable</html>"),
        (403, {"message": "The security token included in the request is invalid."}, errors.CONFIG, "HTTP 403"),
    ],
)
def test_http_errors_show_the_apis_message(
    signed: responses.RequestsMock, status: int, body: object, exit_code: int, shown: str
) -> None:
    if isinstance(body, str):
        signed.get(f"{API}/jobs/nope", body=body, status=status)
    else:
        signed.get(f"{API}/jobs/nope", json=body, status=status)
    result = run("jobs", "show", "nope", "--api", API)
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert shown in result.stderr
    assert len(result.stderr.splitlines()) <= 3


def test_no_stack_named_is_a_usage_error(no_aws: Path) -> None:
    assert_short(run("jobs", "list"), errors.USAGE, "--stack NAME", "--local")
    assert run("jobs", "list", "--local", "--stack", "x").exit_code == errors.USAGE
    assert run("jobs", "list", "--no-such-option").exit_code == errors.USAGE


def test_an_unexpected_answer_is_one_line_too(signed: responses.RequestsMock) -> None:
    signed.get(f"{API}/jobs", json=["not", "a", "page"])
    result = run("jobs", "list", "--api", API)
    assert_short(result, errors.API_ERROR, "unexpected error", "--debug")


def test_local_needs_the_development_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an install without the local stack (the package cannot be imported)
    import sys

    monkeypatch.setitem(sys.modules, "orcid_sync_local", None)
    monkeypatch.delitem(sys.modules, "orcid_sync_local.cli", raising=False)
    result = run("local", "up")
    assert_short(result, errors.CONFIG, "development install", "orcid-sync-local up")
    assert "local" in run("--help").stdout  # still listed, without importing it


def test_local_alias_reaches_orcid_sync_local() -> None:
    result = run("local", "up", "--help")
    assert result.exit_code == 0, result.output
    assert "--state-file" in result.stdout and "--seed-demo" in result.stdout
