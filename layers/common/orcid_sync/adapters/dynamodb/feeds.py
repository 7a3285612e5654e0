"""Feeds in the FeedsTable: one item per feed, its configuration and its harvest state.

``{"feed_id", "config": <json>, "created_at", "chosen_prefix", "granularity", "last_harvest_from",
"last_harvest_at", "last_job_id", "checkpoint": <json>, "checkpoint_job", "checkpoint_pages"}``. The
checkpoint's job and page count are top-level attributes so that every checkpoint is a conditional write:
a second invocation of the same harvest (a redelivery beside a continuation) finds its page already
recorded and stops, instead of counting it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orcid_sync.adapters.dynamodb.pagination import scan_items
from orcid_sync.domain.errors import ConflictError
from orcid_sync.domain.feeds.models import FeedConfig, FeedState, HarvestCheckpoint, StoredFeed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoFeedStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def _feed(item: dict[str, Any]) -> StoredFeed:
        checkpoint = item.get("checkpoint")
        state = FeedState(
            chosen_prefix=item.get("chosen_prefix"),
            granularity=item.get("granularity"),
            last_harvest_from=item.get("last_harvest_from"),
            last_harvest_at=item.get("last_harvest_at"),
            last_job_id=item.get("last_job_id"),
            checkpoint=HarvestCheckpoint.model_validate_json(str(checkpoint)) if checkpoint else None,
        )
        return StoredFeed(
            config=FeedConfig.model_validate_json(str(item["config"])),
            state=state,
            created_at=datetime.fromisoformat(str(item["created_at"])),
        )

    def create(self, feed: StoredFeed) -> None:
        item = {
            "feed_id": feed.config.feed_id,
            "config": feed.config.model_dump_json(),
            "created_at": feed.created_at.isoformat(),
        }
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(feed_id)")
        except ClientError as exc:
            if _conditional_failed(exc):
                raise ConflictError(f"a feed with id {feed.config.feed_id} exists already") from None
            raise

    def get(self, feed_id: str) -> StoredFeed | None:
        item = self._table.get_item(Key={"feed_id": feed_id}, ConsistentRead=True).get("Item")
        return self._feed(item) if item else None

    def list(self) -> Sequence[StoredFeed]:
        # A feed per repository (or set): a handful of items, read whole.
        feeds = [self._feed(item) for item in scan_items(self._table, ConsistentRead=True)]
        return sorted(feeds, key=lambda f: f.config.feed_id)

    def delete(self, feed_id: str) -> bool:
        response = self._table.delete_item(Key={"feed_id": feed_id}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def _conditional_update(self, feed_id: str, expression: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._table.update_item(
                Key={"feed_id": feed_id},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def begin_harvest(
        self, feed_id: str, checkpoint: HarvestCheckpoint, *, chosen_prefix: str, granularity: str
    ) -> bool:
        return self._conditional_update(
            feed_id,
            "SET checkpoint = :c, checkpoint_job = :job, checkpoint_pages = :pages, chosen_prefix = :prefix, "
            "granularity = :granularity",
            "attribute_exists(feed_id) AND attribute_not_exists(checkpoint_job)",
            {
                ":c": checkpoint.model_dump_json(),
                ":job": checkpoint.job_id,
                ":pages": checkpoint.pages,
                ":prefix": chosen_prefix,
                ":granularity": granularity,
            },
        )

    def save_checkpoint(self, feed_id: str, checkpoint: HarvestCheckpoint, *, previous_pages: int) -> bool:
        return self._conditional_update(
            feed_id,
            "SET checkpoint = :c, checkpoint_pages = :pages",
            "checkpoint_job = :job AND checkpoint_pages = :previous",
            {
                ":c": checkpoint.model_dump_json(),
                ":pages": checkpoint.pages,
                ":job": checkpoint.job_id,
                ":previous": previous_pages,
            },
        )

    def end_harvest(self, feed_id: str, job_id: str, *, succeeded_from: str | None, at: datetime) -> bool:
        values: dict[str, Any] = {":job": job_id}
        sets = ["last_job_id = :job"]
        if succeeded_from is not None:
            sets += ["last_harvest_from = :from", "last_harvest_at = :at"]
            values |= {":from": succeeded_from, ":at": at.isoformat()}
        return self._conditional_update(
            feed_id,
            "SET " + ", ".join(sets) + " REMOVE checkpoint, checkpoint_job, checkpoint_pages",
            "checkpoint_job = :job",
            values,
        )
