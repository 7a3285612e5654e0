"""moto in-process with the template's resources and the functions' environment (shared by test tiers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CLIENT_ID = "APP-TESTCLIENT000001"
CLIENT_SECRET = "test-client-secret"
SIGNING_KEY = "k" * 48


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML; intrinsic functions are kept as {"!Tag": value}."""


def _tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"!{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def template_resources() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)["Resources"]


@dataclass
class AwsEnv:
    """Names of the resources created in moto, as the functions' environment has them."""

    env: dict[str, str]
    key_id: str

    def table(self, env_name: str) -> Any:
        return boto3.resource("dynamodb").Table(self.env[env_name])


def create_tables(dynamodb: Any, resources: dict[str, Any]) -> dict[str, str]:
    names = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        kwargs: dict[str, Any] = {
            "TableName": logical_id,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props["BillingMode"],
        }
        if "GlobalSecondaryIndexes" in props:
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        dynamodb.create_table(**kwargs)
        names[logical_id] = logical_id
    return names
