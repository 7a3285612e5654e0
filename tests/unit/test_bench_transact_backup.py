"""The benchmarks' cheaper moto TransactWriteItems (bench.transact_backup) commits and rolls back as moto's does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench import transact_backup

NESTED = {"M": {"x": {"N": "1"}, "l": {"L": [{"S": "q"}, {"BOOL": True}]}}}


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    transact_backup.install()
    transact_backup.install()  # idempotent
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="assets",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="feeds",
            KeySchema=[{"AttributeName": "feed_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "feed_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="assets", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": NESTED})
        client.put_item(TableName="feeds", Item={"feed_id": {"S": "f"}, "pages": {"N": "3"}})
        yield client


def _get(client: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(TableName=table, Key=key).get("Item")
    return item


def test_a_failed_transaction_leaves_every_item_as_it_was(dynamodb: Any) -> None:
    # moto's own backup is off (the table is not copied): what is restored here, the patch restored
    from moto.dynamodb.models import DynamoDBBackend

    assert getattr(DynamoDBBackend.transact_write_items, "backs_up_items", False)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "assets", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "new"}}}},
                {"Put": {"TableName": "assets", "Item": {"pk": {"S": "b"}, "sk": {"S": "2"}}}},
                {"Delete": {"TableName": "feeds", "Key": {"feed_id": {"S": "f"}}}},
                {
                    "Update": {
                        "TableName": "feeds",
                        "Key": {"feed_id": {"S": "g"}},
                        "UpdateExpression": "SET pages = :p",
                        "ConditionExpression": "attribute_exists(feed_id)",
                        "ExpressionAttributeValues": {":p": {"N": "4"}},
                    }
                },
            ]
        )
    assert _get(dynamodb, "assets", {"pk": {"S": "a"}, "sk": {"S": "1"}}) == {
        "pk": {"S": "a"},
        "sk": {"S": "1"},
        "v": NESTED,
    }
    assert _get(dynamodb, "assets", {"pk": {"S": "b"}, "sk": {"S": "2"}}) is None
    assert _get(dynamodb, "feeds", {"feed_id": {"S": "f"}}) == {"feed_id": {"S": "f"}, "pages": {"N": "3"}}
    assert _get(dynamodb, "feeds", {"feed_id": {"S": "g"}}) is None


def test_a_transaction_that_holds_is_applied(dynamodb: Any) -> None:
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "assets", "Item": {"pk": {"S": "b"}, "sk": {"S": "2"}, "v": {"S": "new"}}}},
            {
                "Update": {
                    "TableName": "feeds",
                    "Key": {"feed_id": {"S": "f"}},
                    "UpdateExpression": "SET pages = :p",
                    "ConditionExpression": "pages = :three",
                    "ExpressionAttributeValues": {":p": {"N": "4"}, ":three": {"N": "3"}},
                }
            },
        ]
    )
    assert _get(dynamodb, "assets", {"pk": {"S": "b"}, "sk": {"S": "2"}}) == {
        "pk": {"S": "b"},
        "sk": {"S": "2"},
        "v": {"S": "new"},
    }
    assert _get(dynamodb, "feeds", {"feed_id": {"S": "f"}}) == {"feed_id": {"S": "f"}, "pages": {"N": "4"}}
