"""The integration settings: one item of the state table, versioned for optimistic concurrency."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import ValidationError

from orcid_sync.domain.institution_settings import IntegrationSettings, StoredIntegrationSettings, VersionConflictError
from orcid_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

SETTINGS_ITEM_ID = "settings#integration"


class DynamoIntegrationSettingsStore:
    """``{"id": "settings#integration", "doc": <json>, "version": n, "updated_at", "updated_by"}``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self) -> StoredIntegrationSettings:
        item = self._table.get_item(Key={"id": SETTINGS_ITEM_ID}, ConsistentRead=True).get("Item")
        if item is None:
            return StoredIntegrationSettings()
        version = int(str(item["version"]))
        try:
            settings = IntegrationSettings.model_validate_json(str(item["doc"]))
        except ValidationError:
            # Only possible if a newer release stored a field this one rejects: run with the defaults
            # (which send nothing) rather than push with half-understood settings, and say so loudly.
            logger.exception("stored integration settings are invalid; using the defaults", version=version)
            return StoredIntegrationSettings(version=version)
        updated_at = item.get("updated_at")
        return StoredIntegrationSettings(
            settings=settings,
            version=version,
            updated_at=datetime.fromisoformat(str(updated_at)) if updated_at else None,
            updated_by=str(item["updated_by"]) if item.get("updated_by") else None,
        )

    def save(
        self, settings: IntegrationSettings, *, expected_version: int, at: datetime, by: str | None
    ) -> StoredIntegrationSettings:
        new_version = expected_version + 1
        item = {
            "id": SETTINGS_ITEM_ID,
            "doc": json.dumps(settings.model_dump(mode="json"), sort_keys=True),
            "version": new_version,
            "updated_at": at.isoformat(),
        }
        if by:
            item["updated_by"] = by
        condition = "attribute_not_exists(id)" if expected_version == 0 else "version = :expected"
        kwargs = {} if expected_version == 0 else {"ExpressionAttributeValues": {":expected": expected_version}}
        try:
            self._table.put_item(Item=item, ConditionExpression=condition, **kwargs)  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise VersionConflictError(expected_version, self.get().version) from None
        return StoredIntegrationSettings(settings=settings, version=new_version, updated_at=at, updated_by=by)
