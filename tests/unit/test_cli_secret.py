"""``orcid-sync secret set-client-secret``: the ORCID client secret set from stdin or a hidden prompt, never shown.

moto holds a stack (a tiny template whose ``OrcidSecretArn`` output names the secret) and the
secret, shaped as the template makes it: ``client_secret`` to set, ``signing_key`` generated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from orcid_sync_cli import errors, secret_cmd
from orcid_sync_cli.main import cli

REGION = "eu-west-1"
SECRET = "5c1e0a6f-9d2b-4c3e-8f71-0a2b3c4d5e6f"
SIGNING_KEY = "S" * 64
AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "ORCID_SYNC_DEBUG")


@dataclass
class Deployed:
    secret_arn: str

    def document(self) -> dict[str, Any]:
        client = boto3.client("secretsmanager", region_name=REGION)
        return json.loads(client.get_secret_value(SecretId=self.secret_arn)["SecretString"])  # type: ignore[no-any-return]

    def versions(self) -> int:
        client = boto3.client("secretsmanager", region_name=REGION)
        return len(client.list_secret_version_ids(SecretId=self.secret_arn)["Versions"])


def deploy(name: str, outputs: dict[str, Any]) -> None:
    template = {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployed]:
    """A stack named orcid-sync and its secret, as after `sam deploy` (client_secret still the placeholder)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="OrcidSecret-abc123",
            SecretString=json.dumps({"client_secret": "SET-ME-AFTER-DEPLOY", "signing_key": SIGNING_KEY}),
        )["ARN"]
        deploy("orcid-sync", {"OrcidSecretArn": {"Value": arn}, "ApiUrl": {"Value": "https://x.example"}})
        yield Deployed(arn)


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["secret", "set-client-secret", *args], input=stdin)


def assert_nothing_shown(result: Result, *values: str) -> None:
    for value in (SECRET, SIGNING_KEY, *values):
        assert value not in result.stdout
        assert value not in result.stderr


def test_the_secret_from_stdin_replaces_client_secret_only(deployed: Deployed) -> None:
    # When the secret is piped in (with the line end echo adds)
    result = run("--stack", "orcid-sync", "--region", REGION, stdin=SECRET + "\n")
    # Then client_secret is the value without the line end, signing_key is kept, and a new version was written
    assert result.exit_code == 0, result.output
    assert deployed.document() == {"client_secret": SECRET, "signing_key": SIGNING_KEY}
    assert deployed.versions() == 2
    # And the command says what it did, never the value
    assert f"Set client_secret of {deployed.secret_arn} (stack orcid-sync): new version" in result.stdout
    assert "Kept: signing_key" in result.stderr
    assert_nothing_shown(result)


def test_json_output_and_a_second_run_with_the_same_value_writes_nothing(deployed: Deployed) -> None:
    first = run("--stack", "orcid-sync", "--region", REGION, "-o", "json", stdin=SECRET + "\r\n")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary == {
        "stack": "orcid-sync",
        "secret_arn": deployed.secret_arn,
        "field": "client_secret",
        "changed": True,
        "version_id": summary["version_id"],
        "kept": ["signing_key"],
    }
    assert summary["version_id"]
    assert deployed.document()["client_secret"] == SECRET
    again = run("--stack", "orcid-sync", "--region", REGION, stdin=SECRET)
    assert again.exit_code == 0, again.output
    assert "already has this value: nothing written" in again.stdout
    assert deployed.versions() == 2
    assert_nothing_shown(first)
    assert_nothing_shown(again)


def test_other_fields_of_the_secret_are_kept(deployed: Deployed) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    extra = {"client_secret": "old", "signing_key": SIGNING_KEY, "note": "rotated 2026"}
    client.put_secret_value(SecretId=deployed.secret_arn, SecretString=json.dumps(extra))
    result = run("--stack", "orcid-sync", "--region", REGION, stdin=SECRET)
    assert result.exit_code == 0, result.output
    assert deployed.document() == {**extra, "client_secret": SECRET}
    assert "Kept: note, signing_key" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "said"),
    [
        ("", "the client secret is empty"),
        ("\n", "the client secret is empty"),
        (f"{SECRET} \n", "holds a space or tab at character 37 of 37"),
        (f" {SECRET}", "holds a space or tab at character 1 of 37"),
        (f"{SECRET}\n{SECRET}\n", "holds a line break at character 37"),
        (f"{SECRET}\n\n", "holds a line break at character 37 of 37"),
        (f"{SECRET[:8]}\t{SECRET[9:]}", "holds a space or tab at character 9"),
    ],
)
def test_an_empty_value_or_one_with_whitespace_is_refused_and_nothing_changes(
    deployed: Deployed, stdin: str, said: str
) -> None:
    result = run("--stack", "orcid-sync", "--region", REGION, stdin=stdin)
    assert result.exit_code == errors.USAGE, result.output
    assert said in result.stderr
    assert result.stderr.startswith("orcid-sync: ")
    assert deployed.document()["client_secret"] == "SET-ME-AFTER-DEPLOY"
    assert deployed.versions() == 1
    assert_nothing_shown(result, SECRET[:8], SECRET[9:])


def test_on_a_terminal_the_secret_is_asked_twice_and_never_echoed(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secret_cmd, "_stdin_is_terminal", lambda: True)
    result = run("--stack", "orcid-sync", "--region", REGION, stdin=f"{SECRET}\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "ORCID client secret (not shown): " in result.stderr
    assert "Again, to confirm: " in result.stderr
    assert deployed.document() == {"client_secret": SECRET, "signing_key": SIGNING_KEY}
    assert_nothing_shown(result)


def test_the_secret_given_as_an_argument_is_refused_without_repeating_it(deployed: Deployed) -> None:
    for args in ((SECRET,), ("--client-secret", SECRET), (f"--value={SECRET}",)):
        result = run("--stack", "orcid-sync", "--region", REGION, *args, stdin=SECRET)
        assert result.exit_code == errors.USAGE, result.output
        assert "never given on the command line" in result.stderr
        assert_nothing_shown(result)
    assert deployed.versions() == 1


def test_debug_shows_a_traceback_but_not_the_secret(deployed: Deployed) -> None:
    # A secret whose current value is not a JSON object: refused (its signing_key would be lost)
    client = boto3.client("secretsmanager", region_name=REGION)
    client.put_secret_value(SecretId=deployed.secret_arn, SecretString=f"{SIGNING_KEY} not json")
    result = run("--stack", "orcid-sync", "--region", REGION, "--debug", stdin=SECRET)
    assert result.exit_code == errors.API_ERROR, result.output
    assert "does not hold a JSON object" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert_nothing_shown(result)
    assert deployed.versions() == 2  # the broken one, untouched


def test_a_missing_stack_or_output_is_not_found_and_no_stack_is_a_usage_error(deployed: Deployed) -> None:
    result = run("--stack", "nope", "--region", REGION, stdin=SECRET)
    assert result.exit_code == errors.NOT_FOUND, result.output
    assert f"stack nope not found in {REGION}" in result.stderr
    deploy("other", {"ApiUrl": {"Value": "https://x.example"}})
    result = run("--stack", "other", "--region", REGION, stdin=SECRET)
    assert result.exit_code == errors.NOT_FOUND, result.output
    assert "stack other has no OrcidSecretArn output" in result.stderr
    result = run("--region", REGION, stdin=SECRET)
    assert result.exit_code == errors.USAGE, result.output
    assert "--stack NAME" in result.stderr
    result = run("--stack", "orcid-sync", stdin=SECRET)
    assert result.exit_code == errors.CONFIG, result.output
    assert "no AWS region" in result.stderr
    assert deployed.versions() == 1


def test_the_global_region_option_counts(deployed: Deployed) -> None:
    result = CliRunner().invoke(
        cli, ["--region", REGION, "secret", "set-client-secret", "--stack", "orcid-sync"], input=SECRET
    )
    assert result.exit_code == 0, result.output
    assert deployed.document()["client_secret"] == SECRET
