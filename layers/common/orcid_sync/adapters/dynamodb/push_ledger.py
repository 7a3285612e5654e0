"""The sync ledger: what we wrote to each researcher's ORCID record (put-codes and content hashes).

LedgerTable, partition ``researcher_id``, sort key ``item``:

- ``work#<asset_id>``: ``put_code``, ``content_hash``, ``state``, ``asset_updated_at``, ``last_pushed_at``
- ``researcher-url``: ``put_code``, ``content_hash`` (of url and link text), ``state``, ``message``
- ``employment``: ``put_code`` (sent once, never updated), ``content_hash``, ``state``
- ``push-state``: ``fingerprint`` of the inputs the last complete push ran with
- ``optout#<asset_id>``: the researcher chose not to send this asset (``at``, ``by = researcher``);
  no item means the asset is sent as any other

The push's items carry ``kind = push``, the researcher's choices ``kind = preference``: the one Query
per researcher reads both. The pull worker keeps ``pulled#…`` items (``kind = pull``) in the same
partition; this store never reads or writes them (and the pull ledger reads only ``pulled#…`` keys).

Writes are batched (:class:`LedgerBuffer`, :meth:`DynamoLedgerStore.write`): the push holds what ORCID
answered and writes it, 25 items per ``BatchWriteItem``, before its next request for the researcher
that touches works (see ``orcid_sync.domain.push``), so a bulk answer of 100 works costs 4 calls, not 100.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import batched
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key
from pydantic import BaseModel

from orcid_sync.adapters.dynamodb.batch_retry import BatchRetry
from orcid_sync.adapters.dynamodb.pagination import query_items
from orcid_sync.domain.push.ledger import (
    EmploymentEntry,
    LedgerChanges,
    LedgerWriteError,
    PushLedger,
    ResearcherUrlEntry,
    WorkEntry,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

WORK_PREFIX = "work#"
RESEARCHER_URL_ITEM = "researcher-url"
EMPLOYMENT_ITEM = "employment"
PUSH_STATE_ITEM = "push-state"
OPT_OUT_PREFIX = "optout#"
# Every item of ours carries kind=push (or preference), so one Query can leave the pull ledger's items out.
_KIND = "kind"
_PUSH_KIND = "push"
_PREFERENCE_KIND = "preference"


BATCH_WRITE_MAX = 25
"""Items per ``BatchWriteItem``: DynamoDB's limit."""


def _entry_item(researcher_id: str, item: str, entry: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    values = entry.model_dump(mode="json", exclude_none=True, exclude=exclude)
    return {"researcher_id": researcher_id, "item": item, _KIND: _PUSH_KIND, **values}


class DynamoLedgerStore:
    """The ledger in DynamoDB: a researcher's changes in ``BatchWriteItem`` calls of 25 (one item: one PutItem)."""

    def __init__(self, table: Table, *, retry: BatchRetry | None = None) -> None:
        self._table = table
        self._retry = retry or BatchRetry()

    def load(self, researcher_id: str) -> PushLedger:
        ledger = PushLedger()
        works: dict[str, WorkEntry] = {}
        opted_out: set[str] = set()
        items = query_items(
            self._table,
            KeyConditionExpression=Key("researcher_id").eq(researcher_id),
            # The pull ledger shares the partition; leave its items on the server (a filter cannot name the key).
            FilterExpression=Attr(_KIND).is_in([_PUSH_KIND, _PREFERENCE_KIND]),
            ConsistentRead=True,
        )
        for raw in items:
            # DynamoDB numbers arrive as Decimal; put-codes are integers.
            item: dict[str, Any] = {k: (int(str(v)) if isinstance(v, Decimal) else v) for k, v in raw.items()}
            key = str(item.pop("item"))
            item.pop("researcher_id", None)
            item.pop(_KIND, None)
            if key.startswith(WORK_PREFIX):
                entry = WorkEntry.model_validate({**item, "asset_id": key.removeprefix(WORK_PREFIX)})
                works[entry.asset_id] = entry
            elif key == RESEARCHER_URL_ITEM:
                ledger.researcher_url = ResearcherUrlEntry.model_validate(item)
            elif key == EMPLOYMENT_ITEM:
                ledger.employment = EmploymentEntry.model_validate(item)
            elif key == PUSH_STATE_ITEM:
                ledger.fingerprint = str(item["fingerprint"]) if item.get("fingerprint") else None
            elif key.startswith(OPT_OUT_PREFIX):
                opted_out.add(key.removeprefix(OPT_OUT_PREFIX))
        ledger.works = works
        ledger.opted_out = frozenset(opted_out)
        return ledger

    def write(self, researcher_id: str, changes: LedgerChanges) -> None:
        requests = _write_requests(researcher_id, changes)
        if len(requests) == 1:
            [request] = requests
            if "PutRequest" in request:
                self._table.put_item(Item=request["PutRequest"]["Item"])
            else:
                self._table.delete_item(Key=request["DeleteRequest"]["Key"])
            return
        # The fingerprint goes last: it may only be written once every other change is.
        recording = changes.fingerprint is not None and changes.fingerprint[0] is not None
        for chunk in batched(requests, BATCH_WRITE_MAX, strict=False):
            unwritten = self._batch_write(list(chunk))
            if unwritten:
                if recording and not any(_key_of(request) == PUSH_STATE_ITEM for request in unwritten):
                    # The fingerprint landed while an entry did not: the next push must not skip this researcher.
                    self._table.delete_item(Key={"researcher_id": researcher_id, "item": PUSH_STATE_ITEM})
                raise LedgerWriteError(
                    f"{len(unwritten)} ledger write(s) for researcher {researcher_id} stayed unprocessed after "
                    f"{self._retry.attempts} attempts"
                )

    def _batch_write(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One BatchWriteItem, and its unprocessed items again with backoff; what is still unwritten after that."""
        client: Any = self._table.meta.client  # the resource's client: items as Python values, as the Table takes

        def send(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            response = client.batch_write_item(RequestItems={self._table.name: pending})
            return list(response.get("UnprocessedItems", {}).get(self._table.name, []))

        return self._retry.resend_unprocessed(send, requests)

    def put_work(self, researcher_id: str, entry: WorkEntry) -> None:
        self.write(researcher_id, LedgerChanges(works={entry.asset_id: entry}))

    def delete_work(self, researcher_id: str, asset_id: str) -> None:
        self._table.delete_item(Key={"researcher_id": researcher_id, "item": f"{WORK_PREFIX}{asset_id}"})

    def put_researcher_url(self, researcher_id: str, entry: ResearcherUrlEntry) -> None:
        self.write(researcher_id, LedgerChanges(researcher_url=entry))

    def put_employment(self, researcher_id: str, entry: EmploymentEntry) -> None:
        self.write(researcher_id, LedgerChanges(employment=entry))

    def set_fingerprint(self, researcher_id: str, fingerprint: str | None, at: datetime) -> None:
        self.write(researcher_id, LedgerChanges(fingerprint=(fingerprint, at)))

    def set_opted_out(self, researcher_id: str, asset_id: str, opted_out: bool, *, at: datetime) -> None:
        key = {"researcher_id": researcher_id, "item": f"{OPT_OUT_PREFIX}{asset_id}"}
        if not opted_out:
            self._table.delete_item(Key=key)
            return
        self._table.put_item(Item={**key, _KIND: _PREFERENCE_KIND, "at": at.isoformat(), "by": "researcher"})


def _write_requests(researcher_id: str, changes: LedgerChanges) -> list[dict[str, Any]]:
    """The changes as BatchWriteItem requests, one per item, the fingerprint last."""

    def put(item: dict[str, Any]) -> dict[str, Any]:
        return {"PutRequest": {"Item": item}}

    def delete(item: str) -> dict[str, Any]:
        return {"DeleteRequest": {"Key": {"researcher_id": researcher_id, "item": item}}}

    requests: list[dict[str, Any]] = []
    for asset_id, entry in changes.works.items():
        key = f"{WORK_PREFIX}{asset_id}"
        requests.append(
            delete(key) if entry is None else put(_entry_item(researcher_id, key, entry, exclude={"asset_id"}))
        )
    if changes.researcher_url is not None:
        requests.append(put(_entry_item(researcher_id, RESEARCHER_URL_ITEM, changes.researcher_url)))
    if changes.employment is not None:
        requests.append(put(_entry_item(researcher_id, EMPLOYMENT_ITEM, changes.employment)))
    if changes.fingerprint is not None:
        fingerprint, at = changes.fingerprint
        if fingerprint is None:
            requests.append(delete(PUSH_STATE_ITEM))
        else:
            item = {"researcher_id": researcher_id, "item": PUSH_STATE_ITEM, _KIND: _PUSH_KIND}
            requests.append(put({**item, "fingerprint": fingerprint, "at": at.isoformat()}))
    return requests


def _key_of(request: dict[str, Any]) -> str:
    """The sort key a BatchWriteItem request writes."""
    body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key") or {}
    return str(body.get("item", ""))
