"""DynamoDB implementations of the stores: the only place that knows the tables' item shapes."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from orcid_sync.adapters.dynamodb.batch_retry import batch_get_items
from orcid_sync.adapters.dynamodb.pagination import query_items, query_pages, scan_items
from orcid_sync.domain.models import (
    Asset,
    OrcidStatus,
    Researcher,
    ResearcherInput,
    SealedSecret,
    StoredToken,
    TokenInvalidReason,
    utc_now,
)
from orcid_sync.domain.ports import AssetState, Page, asset_content_hash

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from orcid_sync.domain.push.leases import ResearcherSync  # not at run time: the package loads the whole push


class InvalidCursorError(ValueError):
    """A pagination cursor that we did not hand out."""


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        raise InvalidCursorError("cursor is not one this API returned") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidCursorError("cursor is not one this API returned")
    return value


def _plain(value: Any) -> Any:
    """DynamoDB item values → plain Python (Binary → bytes, Decimal → int) for pydantic."""
    if isinstance(value, Binary):
        return value.value  # type: ignore[attr-defined]  # Binary wraps bytes in .value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value)
    return value


def _without_none(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None and v != []}


_PROFILE_FIELDS = tuple(name for name in ResearcherInput.model_fields if name != "id")


class DynamoResearcherStore:
    """Researchers keyed by id, with GSIs by ORCID iD and by connection status."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, researcher_id: str) -> Researcher | None:
        item = self._table.get_item(Key={"id": researcher_id}, ConsistentRead=True).get("Item")
        return Researcher.model_validate(_plain(item)) if item else None

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, Researcher]:
        found: dict[str, Researcher] = {}
        keys = [{"id": rid} for rid in dict.fromkeys(researcher_ids)]
        for item in batch_get_items(self._table, keys):
            researcher = Researcher.model_validate(_plain(item))
            found[researcher.id] = researcher
        return found

    def upsert_profile(self, profile: ResearcherInput) -> Researcher:
        values = profile.model_dump(mode="json")
        names = {f"#{field}": field for field in _PROFILE_FIELDS}
        sets = [f"#{field} = :{field}" for field in _PROFILE_FIELDS if values[field] is not None]
        removes = [f"#{field}" for field in _PROFILE_FIELDS if values[field] is None]
        expression = "SET " + ", ".join([*sets, "#orcid_status = if_not_exists(#orcid_status, :none)", "#u = :u"])
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        names |= {"#orcid_status": "orcid_status", "#u": "updated_at"}
        attribute_values: dict[str, Any] = {f":{f}": values[f] for f in _PROFILE_FIELDS if values[f] is not None}
        attribute_values |= {":none": OrcidStatus.NONE.value, ":u": utc_now().isoformat()}
        response = self._table.update_item(
            Key={"id": profile.id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
            ReturnValues="ALL_NEW",
        )
        return Researcher.model_validate(_plain(response["Attributes"]))

    def find_by_orcid(self, orcid: str) -> list[Researcher]:
        response = self._table.query(IndexName="by-orcid", KeyConditionExpression=Key("orcid").eq(orcid))
        return [Researcher.model_validate(_plain(item)) for item in response["Items"]]

    def list(self, *, status: OrcidStatus | None, limit: int, cursor: str | None) -> Page[Researcher]:
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        if status is None:
            response = self._table.scan(**kwargs)
        else:
            response = self._table.query(
                IndexName="by-status", KeyConditionExpression=Key("orcid_status").eq(status.value), **kwargs
            )
        items = [Researcher.model_validate(_plain(item)) for item in response["Items"]]
        return Page[Researcher](items=items, next_cursor=encode_cursor(response.get("LastEvaluatedKey")))

    def iter_all(self) -> Iterable[Researcher]:
        for item in scan_items(self._table):
            yield Researcher.model_validate(_plain(item))

    def count_by_status(self) -> dict[OrcidStatus, int]:
        """One COUNT query per status on the status index (DynamoDB pages it by 1 MB read; no item comes back)."""
        counts: dict[OrcidStatus, int] = {}
        for status in OrcidStatus:
            pages = query_pages(
                self._table,
                IndexName="by-status",
                KeyConditionExpression=Key("orcid_status").eq(status.value),
                Select="COUNT",
            )
            counts[status] = sum(int(page["Count"]) for page in pages)
        return counts

    def record_connection(
        self,
        researcher_id: str,
        *,
        orcid: str,
        scopes: Sequence[str],
        connected_at: datetime,
        authenticated: bool = True,
    ) -> Researcher:
        # Unproven (an imported token): keep whatever was known about this same iD, default false.
        authenticated_value = ":true" if authenticated else "if_not_exists(orcid_authenticated, :false)"
        response = self._table.update_item(
            Key={"id": researcher_id},
            UpdateExpression=(
                f"SET orcid = :orcid, orcid_status = :active, orcid_authenticated = {authenticated_value}, "
                "orcid_scopes = :scopes, connected_at = :at, updated_at = :at"
            ),
            # Only an existing researcher, and never over a different iD.
            ConditionExpression="attribute_exists(id) AND (attribute_not_exists(orcid) OR orcid = :orcid)",
            ExpressionAttributeValues={
                ":orcid": orcid,
                ":active": OrcidStatus.ACTIVE.value,
                **({":true": True} if authenticated else {":false": False}),
                ":scopes": sorted(scopes),
                ":at": connected_at.isoformat(),
            },
            ReturnValues="ALL_NEW",
        )
        return Researcher.model_validate(_plain(response["Attributes"]))

    def mark_authenticated(self, researcher_id: str, *, orcid: str) -> bool:
        try:
            self._table.update_item(
                Key={"id": researcher_id},
                UpdateExpression="SET orcid_authenticated = :true, updated_at = :at",
                ConditionExpression="orcid = :orcid",
                ExpressionAttributeValues={":true": True, ":orcid": orcid, ":at": utc_now().isoformat()},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def set_status(self, researcher_id: str, status: OrcidStatus, *, scopes: Sequence[str] | None = None) -> None:
        expression = "SET orcid_status = :status, updated_at = :at"
        values: dict[str, Any] = {":status": status.value, ":at": utc_now().isoformat()}
        if scopes is not None:
            expression += ", orcid_scopes = :scopes"
            values[":scopes"] = sorted(scopes)
        self._table.update_item(
            Key={"id": researcher_id},
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues=values,
        )

    def mark_synced(self, researcher_id: str, at: datetime) -> None:
        self._table.update_item(**self._sync(researcher_id, at))

    @staticmethod
    def _sync(researcher_id: str, at: datetime, confirm_orcid: str | None = None) -> dict[str, Any]:
        """``mark_synced``, and with ``confirm_orcid`` also ``mark_authenticated`` (on condition the iD is the same)."""
        expression = "SET last_sync_at = :at"
        condition = "attribute_exists(id)"
        values: dict[str, Any] = {":at": at.isoformat()}
        if confirm_orcid is not None:
            expression += ", orcid_authenticated = :true, updated_at = :now"
            condition += " AND orcid = :orcid"
            values |= {":true": True, ":now": utc_now().isoformat(), ":orcid": confirm_orcid}
        return {
            "Key": {"id": researcher_id},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }

    def sync_write(self, sync: ResearcherSync) -> dict[str, Any]:
        """What a finished push notes on the researcher, as one write of a transaction."""
        return {
            "Update": {"TableName": self._table.name, **self._sync(sync.researcher_id, sync.at, sync.confirm_orcid)}
        }


def _sealed_item(sealed: SealedSecret | None) -> dict[str, bytes] | None:
    if sealed is None:
        return None
    return {"data_key": sealed.data_key, "nonce": sealed.nonce, "ciphertext": sealed.ciphertext}


class DynamoTokenStore:
    """Encrypted tokens keyed by researcher id (one active token per researcher)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def _to_item(token: StoredToken) -> dict[str, Any]:
        item = token.model_dump(mode="json", exclude={"access_token", "refresh_token"})
        item["access_token"] = _sealed_item(token.access_token)
        item["refresh_token"] = _sealed_item(token.refresh_token)
        return _without_none(item)

    def get(self, researcher_id: str) -> StoredToken | None:
        item = self._table.get_item(Key={"researcher_id": researcher_id}, ConsistentRead=True).get("Item")
        return StoredToken.model_validate(_plain(item)) if item else None

    def get_many(self, researcher_ids: Sequence[str]) -> dict[str, StoredToken]:
        found: dict[str, StoredToken] = {}
        keys = [{"researcher_id": rid} for rid in dict.fromkeys(researcher_ids)]
        for item in batch_get_items(self._table, keys):
            token = StoredToken.model_validate(_plain(item))
            found[token.researcher_id] = token
        return found

    def put(self, token: StoredToken) -> None:
        self._table.put_item(Item=self._to_item(token))

    def put_many(self, tokens: Sequence[StoredToken]) -> None:
        with self._table.batch_writer(overwrite_by_pkeys=["researcher_id"]) as writer:
            for token in tokens:
                writer.put_item(Item=self._to_item(token))

    def mark_revoked(self, researcher_id: str, at: datetime) -> None:
        self._table.update_item(
            Key={"researcher_id": researcher_id},
            UpdateExpression="SET revoked_at = :at",
            ConditionExpression="attribute_exists(researcher_id)",
            ExpressionAttributeValues={":at": at.isoformat()},
        )

    def mark_invalid(self, researcher_id: str, *, at: datetime, reason: TokenInvalidReason, fingerprint: str) -> bool:
        # invalid_token is what "revoked" always meant here: keep revoked_at for it, so older readers agree.
        expression = "SET invalid_at = :at, invalid_reason = :reason"
        if reason is TokenInvalidReason.INVALID_TOKEN:
            expression += ", revoked_at = if_not_exists(revoked_at, :at)"
        try:
            self._table.update_item(
                Key={"researcher_id": researcher_id},
                UpdateExpression=expression,
                ConditionExpression="fingerprint = :fingerprint",
                ExpressionAttributeValues={":at": at.isoformat(), ":reason": reason.value, ":fingerprint": fingerprint},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, researcher_id: str) -> None:
        self._table.delete_item(Key={"researcher_id": researcher_id})


_ASSET_META = "META"


class ResearcherWithToken:
    """A researcher and their token in one TransactGetItems (strongly consistent, like the two GetItems it replaces,
    and authorised by the GetItem each store may do); the two GetItems if a concurrent write cancelled it."""

    def __init__(self, researchers: DynamoResearcherStore, tokens: DynamoTokenStore) -> None:
        self._researchers = researchers
        self._tokens = tokens

    def __call__(self, researcher_id: str) -> tuple[Researcher | None, StoredToken | None]:
        client = self._researchers._table.meta.client  # the two stores of this module
        try:
            answer = client.transact_get_items(
                TransactItems=[
                    {"Get": {"TableName": self._researchers._table.name, "Key": {"id": researcher_id}}},
                    {"Get": {"TableName": self._tokens._table.name, "Key": {"researcher_id": researcher_id}}},
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return self._researchers.get(researcher_id), self._tokens.get(researcher_id)
        researcher_item, token_item = (response.get("Item") for response in answer["Responses"])
        researcher = Researcher.model_validate(_plain(researcher_item)) if researcher_item else None
        token = StoredToken.model_validate(_plain(token_item)) if token_item else None
        return researcher, token


def _asset_pk(asset_id: str) -> str:
    return f"ASSET#{asset_id}"


def _researcher_pk(researcher_id: str) -> str:
    return f"RESEARCHER#{researcher_id}"


class DynamoAssetStore:
    """Assets, each stored once under its id and once per researcher for one-Query reads by researcher.

    The ``META`` item also carries ``content_hash`` (:func:`asset_content_hash` of the document) and
    ``researcher_ids``, so that a load learns whether an asset changed, and which copies it has, by
    reading those two small attributes. An item stored before they existed has its hash computed
    from its document instead.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, asset_id: str) -> Asset | None:
        item = self._table.get_item(Key={"pk": _asset_pk(asset_id), "sk": _ASSET_META}, ConsistentRead=True).get("Item")
        return self._asset(item) if item else None

    @staticmethod
    def _asset(item: dict[str, Any]) -> Asset:
        return Asset.model_validate(json.loads(item["doc"]))

    def states(self, asset_ids: Sequence[str]) -> dict[str, AssetState]:
        # One BatchGetItem per 100 assets, projected to the two attributes: a re-sent batch of 1,000
        # unchanged assets costs 10 reads and no write. (A conditional write per asset would cost 1,000
        # calls, and a refused condition is still a billed write.)
        found: dict[str, AssetState] = {}
        hashless: list[str] = []
        for item in self._batch_get(asset_ids, ("pk", "content_hash", "researcher_ids")):
            asset_id = str(item["pk"]).removeprefix(_asset_pk(""))
            if item.get("content_hash") and item.get("researcher_ids"):
                researchers = [str(rid) for rid in item["researcher_ids"]]
                found[asset_id] = AssetState(content_hash=str(item["content_hash"]), researchers=researchers)
            else:
                hashless.append(asset_id)
        for item in self._batch_get(hashless, ("pk", "doc")):  # stored before content hashes: hash the document
            asset = self._asset(item)
            found[asset.id] = AssetState.of(asset)
        return found

    def _batch_get(self, asset_ids: Sequence[str], attributes: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The META items of these assets (consistent reads), with only ``attributes``."""
        names = {f"#a{n}": name for n, name in enumerate(attributes)}
        keys = [{"pk": _asset_pk(asset_id), "sk": _ASSET_META} for asset_id in dict.fromkeys(asset_ids)]
        yield from batch_get_items(
            self._table,
            keys,
            ConsistentRead=True,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )

    def write(self, asset: Asset, *, previous: AssetState | None) -> None:
        doc = asset.model_dump_json(exclude_none=True)
        meta = {
            "pk": _asset_pk(asset.id),
            "sk": _ASSET_META,
            "doc": doc,
            "content_hash": asset_content_hash(asset),
            "researcher_ids": list(asset.researchers),
        }
        writes: list[dict[str, Any]] = [{"Put": meta}]
        writes += [
            {"Put": {"pk": _researcher_pk(rid), "sk": _asset_pk(asset.id), "doc": doc}} for rid in asset.researchers
        ]
        removed = set(previous.researchers) - set(asset.researchers) if previous else set()
        writes += [{"Delete": {"pk": _researcher_pk(rid), "sk": _asset_pk(asset.id)}} for rid in sorted(removed)]
        self._transact(writes)

    def put(self, asset: Asset) -> Asset | None:
        previous = self.get(asset.id)
        self.write(asset, previous=AssetState.of(previous) if previous else None)
        return previous

    def delete(self, asset_id: str) -> Asset | None:
        previous = self.get(asset_id)
        if previous is None:
            return None
        writes: list[dict[str, Any]] = [{"Delete": {"pk": _asset_pk(asset_id), "sk": _ASSET_META}}]
        writes += [{"Delete": {"pk": _researcher_pk(rid), "sk": _asset_pk(asset_id)}} for rid in previous.researchers]
        self._transact(writes)
        return previous

    def list_for_researcher(self, researcher_id: str) -> list[Asset]:
        items = query_items(
            self._table, KeyConditionExpression=Key("pk").eq(_researcher_pk(researcher_id)), ConsistentRead=True
        )
        return [self._asset(item) for item in items]

    def _transact(self, writes: list[dict[str, Any]]) -> None:
        """Apply writes atomically (100 per transaction; only an asset with ~100 researchers needs two)."""
        # The resource's client (de)serialises plain Python values itself.
        items: list[Any] = []
        for write in writes:
            [(operation, item)] = write.items()
            if operation == "Put":
                items.append({"Put": {"TableName": self._table.name, "Item": item}})
            else:
                items.append({"Delete": {"TableName": self._table.name, "Key": item}})
        for start in range(0, len(items), 100):
            self._table.meta.client.transact_write_items(TransactItems=items[start : start + 100])
