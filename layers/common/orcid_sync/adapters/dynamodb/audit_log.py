"""The audit log in the AuditTable, newest first across months.

Items: ``pk`` = the month ``YYYY-MM`` (UTC) of the entry, ``sk`` = ``<ISO time>#<entry id>`` (so a Query with
``ScanIndexForward=False`` reads a month newest first), and the entry's fields, ``before``/``after`` as JSON text
(any JSON value, no Decimal conversion, and a stored entry reads back exactly).

A month bucket keeps partitions bounded (an institution makes hundreds of changes a month, not millions) and
lets a read go back in time without a Scan. Which months hold entries is kept in one small partition,
``pk = "MONTHS"``, one item per month, written with the month's first entry (a put of the same item again
changes nothing; each container remembers the months it marked, so the second write happens once per month and
container). A listing reads that partition once, then the months newest first until the page is full.

The cursor names the month and the last entry handed out: ``{"pk": "YYYY-MM", "sk": "..."}`` (base64 JSON, as
every listing's cursor in this stack). A filtered listing (one actor, one action) may hand out a cursor whose
next page is empty, when the older months hold nothing that matches: reading them all to know would cost a Query
per month on every page.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from orcid_sync.adapters.dynamodb.pagination import query_items, query_pages
from orcid_sync.adapters.dynamodb.stores import InvalidCursorError, decode_cursor, encode_cursor
from orcid_sync.domain.audit import AuditEntry, AuditPage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MONTHS_PK = "MONTHS"
"""The partition listing the months that hold entries (never a month: months read ``YYYY-MM``)."""


def month_of(entry: AuditEntry) -> str:
    return entry.at.strftime("%Y-%m")


def sort_key_of(entry: AuditEntry) -> str:
    # Fixed-width UTC ISO time (microseconds always written), so text order is time order.
    return f"{entry.at.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{entry.entry_id}"


class DynamoAuditLog:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._marked_months: set[str] = set()

    def record(self, entry: AuditEntry) -> None:
        month = month_of(entry)
        if month not in self._marked_months:
            self._table.put_item(Item={"pk": MONTHS_PK, "sk": month})
            self._marked_months.add(month)
        item: dict[str, Any] = {
            "pk": month,
            "sk": sort_key_of(entry),
            "entry_id": entry.entry_id,
            "at": entry.at.isoformat(),
            "actor": entry.actor,
            "actor_kind": entry.actor_kind,
            "action": entry.action,
            "target": entry.target,
        }
        if entry.before is not None:
            item["before"] = json.dumps(entry.before, sort_keys=True)
        if entry.after is not None:
            item["after"] = json.dumps(entry.after, sort_keys=True)
        # An entry is written once: a second write of the same id would be a bug, not a retry to absorb.
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")

    @staticmethod
    def _entry(item: dict[str, Any]) -> AuditEntry:
        return AuditEntry(
            entry_id=str(item["entry_id"]),
            at=str(item["at"]),  # pydantic parses the ISO text
            actor=str(item["actor"]),
            actor_kind=str(item["actor_kind"]),  # validated by the model
            action=str(item["action"]),
            target=str(item.get("target", "")),
            before=json.loads(str(item["before"])) if "before" in item else None,
            after=json.loads(str(item["after"])) if "after" in item else None,
        )

    def _months(self) -> list[str]:
        items = query_items(
            self._table, KeyConditionExpression=Key("pk").eq(MONTHS_PK), ScanIndexForward=False, ConsistentRead=True
        )
        return [str(item["sk"]) for item in items]

    def recent(
        self, *, limit: int, cursor: str | None = None, actor: str | None = None, action: str | None = None
    ) -> AuditPage:
        start = decode_cursor(cursor)
        if start is not None and (set(start) != {"pk", "sk"} or start["pk"] == MONTHS_PK):
            raise InvalidCursorError("cursor is not one this API returned")
        months = self._months()
        if start is not None:
            months = [m for m in months if m <= start["pk"]]
        condition: ConditionBase | None = None
        for name, value in (("actor", actor), ("action", action)):
            if value:
                clause = Attr(name).eq(value)
                condition = clause if condition is None else condition & clause
        entries: list[AuditEntry] = []
        for index, month in enumerate(months):
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": Key("pk").eq(month),
                "ScanIndexForward": False,
                "Limit": limit,
                # An action's entry shows on the audit page the administrator opens next.
                "ConsistentRead": True,
            }
            if condition is not None:
                # A filter applies after DynamoDB's Limit: read on until the page is full.
                kwargs["FilterExpression"] = condition
            if start is not None and month == start["pk"]:
                kwargs["ExclusiveStartKey"] = start
            for response in query_pages(self._table, **kwargs):
                for item in response["Items"]:
                    entries.append(self._entry(item))
                    if len(entries) == limit:
                        more = (
                            "LastEvaluatedKey" in response
                            or item is not response["Items"][-1]
                            or index < len(months) - 1
                        )
                        last = {"pk": month, "sk": str(item["sk"])}
                        return AuditPage(entries=entries, next_cursor=encode_cursor(last) if more else None)
        return AuditPage(entries=entries)
