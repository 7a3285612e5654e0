"""Integration fixtures: moto in-process with the template's resources, env for the handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from orcid_sync import wiring
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, SIGNING_KEY, AwsEnv, create_tables, template_resources


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    """moto with the template's tables, a KMS key, the ORCID secret, a bucket and a topic."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "OrcidSyncTest",
        "POWERTOOLS_SERVICE_NAME": "orcid-sync",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        tables = create_tables(boto3.client("dynamodb"), template_resources())
        key_id = boto3.client("kms").create_key(Description="tokens")["KeyMetadata"]["Arn"]
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="orcid-secret",
            SecretString=json.dumps({"client_secret": CLIENT_SECRET, "signing_key": SIGNING_KEY}),
        )["ARN"]
        boto3.client("s3").create_bucket(Bucket="orcid-sync-data")
        topic_arn = boto3.client("sns").create_topic(Name="orcid-sync-jobs")["TopicArn"]
        env = {
            "ORCID_ENVIRONMENT": "sandbox",
            "ORCID_CLIENT_ID": CLIENT_ID,
            "ORCID_SECRET_ID": secret_arn,
            "ORCID_SITE_URL": "http://orcid.test",
            "ORCID_API_URL": "http://api.orcid.test",
            "PORTAL_BASE_URL": "https://repository.example.edu/profiles",
            "PUBLIC_BASE_URL": "https://orcid-sync.example.edu",
            "TOKEN_KEY_ID": key_id,
            "RESEARCHERS_TABLE": tables["ResearchersTable"],
            "TOKENS_TABLE": tables["TokensTable"],
            "ASSETS_TABLE": tables["AssetsTable"],
            "LEDGER_TABLE": tables["LedgerTable"],
            "JOBS_TABLE": tables["JobsTable"],
            "STATE_TABLE": tables["StateTable"],
            "DATA_BUCKET": "orcid-sync-data",
            "NOTIFICATION_TOPIC_ARN": topic_arn,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        parameters.clear_caches()
        yield AwsEnv(env=env, key_id=key_id)
        wiring.reset()
        parameters.clear_caches()
