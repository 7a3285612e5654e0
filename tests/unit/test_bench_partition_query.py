"""The benchmarks' faster moto Query (bench.partition_query) answers exactly as moto's own does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from moto import mock_aws

from bench import partition_query


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        created = boto3.resource("dynamodb").create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        with created.batch_writer() as writer:
            for p in range(30):
                for s in range(40):
                    writer.put_item(Item={"pk": f"p{p:02d}", "sk": f"item#{(s * 7) % 40:03d}", "n": s, "odd": s % 2})
        yield created


def queries(table: Any) -> list[Any]:
    """The same Queries, with and without pages, ranges, filters and order."""
    answers = []
    for kwargs in (
        {"KeyConditionExpression": Key("pk").eq("p07")},
        {"KeyConditionExpression": Key("pk").eq("p07") & Key("sk").begins_with("item#01")},
        {"KeyConditionExpression": Key("pk").eq("p07"), "ScanIndexForward": False, "Limit": 7},
        {"KeyConditionExpression": Key("pk").eq("missing")},
    ):
        pages, start = [], None
        while True:
            page = table.query(**kwargs, **({"ExclusiveStartKey": start} if start else {}))
            pages.append((page["Items"], page.get("Count"), page.get("LastEvaluatedKey")))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        answers.append(pages)
    return answers


def test_a_query_answers_as_moto_does_reading_one_partition(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    # moto's own methods come back after the test, for the rest of this process
    monkeypatch.setattr(Table, "query", Table.query)
    monkeypatch.setattr(Table, "all_items", Table.all_items)
    before = queries(table)

    partition_query.install()
    partition_query.install()  # once is enough; a second call changes nothing

    assert queries(table) == before
    assert len(table.scan()["Items"]) == 30 * 40  # a scan still lists every partition
