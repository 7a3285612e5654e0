"""Integration fixtures: moto in-process with the template's resources, and the functions' environment for them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from orcid_sync import composition
from orcid_sync_local.template import PhysicalResource
from tests.support.aws import CLIENT_ID, CLIENT_SECRET, SIGNING_KEY, AwsEnv, create_tables, template_resources
from tests.support.template_env import function_environment

# The stack's parameter values (template.yaml's Parameters) for the functions under test.
PARAMETERS = {
    "OrcidEnvironment": "sandbox",
    "OrcidClientId": CLIENT_ID,
    "PortalBaseUrl": "https://repository.example.edu/profiles",
    "PublicBaseUrl": "https://orcid-sync.example.edu",
}
# The functions' environment comes from the template's Globals; each test module calls the handlers it
# needs, so one function's variables (every one of them has the Globals') serve all.
FUNCTION = "AdminApiFunction"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    """moto with the template's tables, a KMS key, the ORCID secret, a bucket and a topic."""
    # What the template cannot know: moto's dummy credentials, the region, no X-Ray daemon.
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        tables = create_tables(boto3.client("dynamodb"), template_resources())
        key_arn = boto3.client("kms").create_key(Description="tokens")["KeyMetadata"]["Arn"]
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="orcid-secret",
            SecretString=json.dumps({"client_secret": CLIENT_SECRET, "signing_key": SIGNING_KEY}),
        )["ARN"]
        boto3.client("s3").create_bucket(Bucket="orcid-sync-data")
        topic_arn = boto3.client("sns").create_topic(Name="orcid-sync-jobs")["TopicArn"]
        created = {
            **{
                logical_id: PhysicalResource(logical_id, "AWS::DynamoDB::Table", name)
                for logical_id, name in tables.items()
            },
            "TokenKey": PhysicalResource("TokenKey", "AWS::KMS::Key", key_arn, {"Arn": key_arn}),
            "OrcidSecret": PhysicalResource("OrcidSecret", "AWS::SecretsManager::Secret", secret_arn),
            "DataBucket": PhysicalResource("DataBucket", "AWS::S3::Bucket", "orcid-sync-data"),
            "NotificationTopic": PhysicalResource("NotificationTopic", "AWS::SNS::Topic", topic_arn),
        }
        env = function_environment(FUNCTION, parameters=PARAMETERS, resources=created)
        # The local ORCID stand-ins' addresses (variables the template leaves unset on AWS).
        env |= {"ORCID_SITE_URL": "http://orcid.test", "ORCID_API_URL": "http://api.orcid.test"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        composition.reset()
        yield AwsEnv(env=env, key_id=key_arn)
        composition.reset()
