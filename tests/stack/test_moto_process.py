"""moto served from a child process (the benchmarks' stack): it serves, runs the patches it is given, and ends."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from orcid_sync_local.servers import MotoProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


def _dynamodb(url: str) -> object:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def test_moto_in_its_own_process_serves_applies_its_patches_and_ends() -> None:
    # Given moto started in a child process with the benchmarks' Query patch
    moto = MotoProcess(0, ["bench.partition_query:install"], cwd=REPO_ROOT)
    try:
        # Then it is another process, and it answers AWS calls
        assert moto.pid != os.getpid()
        client = _dynamodb(moto.url)
        client.create_table(  # type: ignore[attr-defined]
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for pk, sk in [("a", "2"), ("b", "1"), ("a", "1")]:
            client.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}})  # type: ignore[attr-defined]
        # ... as moto does, with the patch in place (a Query reads its partition in key order)
        answer = client.query(  # type: ignore[attr-defined]
            TableName="t", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "a"}}
        )
        assert [item["sk"]["S"] for item in answer["Items"]] == ["1", "2"]
    finally:
        moto.stop()

    # When it is stopped, the process has ended and its port answers no more
    assert Path(f"/proc/{moto.pid}").exists() is False
    with pytest.raises(Exception):  # noqa: B017 - any connection error
        _dynamodb(moto.url).list_tables()  # type: ignore[attr-defined]


def test_the_patches_run_in_the_child_and_one_that_cannot_be_found_stops_the_start() -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        MotoProcess(0, ["bench.no_such_module:install"], cwd=REPO_ROOT)
