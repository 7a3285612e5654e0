"""Single-use OAuth ``state`` nonces in the StateTable (``id`` = ``oauth-state#<nonce>``, TTL ``expiration``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

_PREFIX = "oauth-state#"


def state_key(nonce: str) -> str:
    return f"{_PREFIX}{nonce}"


class DynamoOAuthStateStore:
    """Records each issued nonce; the callback consumes it with a conditional write, so a replay fails."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, nonce: str, *, researcher_id: str, expires_at: datetime) -> None:
        self._table.put_item(
            Item={
                "id": state_key(nonce),
                "researcher_id": researcher_id,
                "created_for": "oauth-state",
                "expires_at": expires_at.isoformat(),
                # DynamoDB's TTL removes the row once the state could no longer be honoured anyway.
                "expiration": int(expires_at.timestamp()),
            },
            ConditionExpression="attribute_not_exists(id)",
        )

    def consume(self, nonce: str, *, researcher_id: str, at: datetime) -> bool:
        try:
            self._table.update_item(
                Key={"id": state_key(nonce)},
                UpdateExpression="SET used_at = :at",
                # Unknown, already used, or issued to someone else: all are a refusal, never a second use.
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(used_at) AND researcher_id = :rid",
                ExpressionAttributeValues={":at": at.isoformat(), ":rid": researcher_id},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
