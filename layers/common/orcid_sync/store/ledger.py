"""The sync ledger: what we wrote to each researcher's ORCID record (put-codes and content hashes).

LedgerTable, partition ``researcher_id``, sort key ``item``:

- ``work#<asset_id>``: ``put_code``, ``content_hash``, ``state``, ``asset_updated_at``, ``last_pushed_at``
- ``researcher-url``: ``put_code``, ``content_hash`` (of url and link text), ``state``, ``message``
- ``employment``: ``put_code`` (sent once, never updated), ``content_hash``, ``state``
- ``push-state``: ``fingerprint`` of the inputs the last complete push ran with

Every item carries ``kind = push``. The pull worker keeps ``pulled#…`` items in the same partition;
this store never reads or writes them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from boto3.dynamodb.conditions import Attr, Key
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

WORK_PREFIX = "work#"
RESEARCHER_URL_ITEM = "researcher-url"
EMPLOYMENT_ITEM = "employment"
PUSH_STATE_ITEM = "push-state"
# Every item of ours carries kind=push, so one Query can leave the pull ledger's items out.
_KIND = "kind"
_PUSH_KIND = "push"


class EntryState(StrEnum):
    """Where an item we pushed stands."""

    SYNCED = "synced"
    # The researcher deleted it on ORCID (404 on PUT): not sent again unless the asset changes or an admin asks.
    DELETED_BY_RESEARCHER = "deleted_by_researcher"
    # ORCID rejected this exact content (400): not sent again until it changes, so a bad asset costs one request.
    REJECTED = "rejected"


class WorkEntry(BaseModel):
    """One asset's work on ORCID."""

    model_config = ConfigDict(frozen=True)

    asset_id: str
    put_code: int | None = None
    content_hash: str
    state: EntryState = EntryState.SYNCED
    asset_updated_at: datetime | None = None
    last_pushed_at: datetime
    message: str | None = None


class ResearcherUrlEntry(BaseModel):
    """The link to the researcher's repository profile."""

    model_config = ConfigDict(frozen=True)

    put_code: int | None = None
    content_hash: str
    state: EntryState = EntryState.SYNCED
    last_pushed_at: datetime
    message: str | None = None


class EmploymentEntry(BaseModel):
    """The institutional affiliation: sent once and never updated (as Esploro does), or rejected as is."""

    model_config = ConfigDict(frozen=True)

    put_code: int | None = None
    content_hash: str
    state: EntryState = EntryState.SYNCED
    last_pushed_at: datetime
    message: str | None = None


class PushLedger(BaseModel):
    """Everything the push knows about one researcher's record, from one Query."""

    works: dict[str, WorkEntry] = {}
    researcher_url: ResearcherUrlEntry | None = None
    employment: EmploymentEntry | None = None
    fingerprint: str | None = None


class LedgerStore(Protocol):
    def load(self, researcher_id: str) -> PushLedger: ...

    def put_work(self, researcher_id: str, entry: WorkEntry) -> None: ...

    def delete_work(self, researcher_id: str, asset_id: str) -> None: ...

    def put_researcher_url(self, researcher_id: str, entry: ResearcherUrlEntry) -> None: ...

    def put_employment(self, researcher_id: str, entry: EmploymentEntry) -> None: ...

    def set_fingerprint(self, researcher_id: str, fingerprint: str | None, at: datetime) -> None:
        """Record (or with None, forget) the inputs of the last complete push."""
        ...


def _entry_item(researcher_id: str, item: str, entry: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    values = entry.model_dump(mode="json", exclude_none=True, exclude=exclude)
    return {"researcher_id": researcher_id, "item": item, _KIND: _PUSH_KIND, **values}


class DynamoLedgerStore:
    """The ledger in DynamoDB; every write is one PutItem/DeleteItem, made as soon as ORCID answered."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def load(self, researcher_id: str) -> PushLedger:
        ledger = PushLedger()
        works: dict[str, WorkEntry] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("researcher_id").eq(researcher_id),
            # The pull ledger shares the partition; leave its items on the server (a filter cannot name the key).
            "FilterExpression": Attr(_KIND).eq(_PUSH_KIND),
            "ConsistentRead": True,
        }
        while True:
            response = self._table.query(**kwargs)
            for raw in response["Items"]:
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
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        ledger.works = works
        return ledger

    def put_work(self, researcher_id: str, entry: WorkEntry) -> None:
        item = _entry_item(researcher_id, f"{WORK_PREFIX}{entry.asset_id}", entry, exclude={"asset_id"})
        self._table.put_item(Item=item)

    def delete_work(self, researcher_id: str, asset_id: str) -> None:
        self._table.delete_item(Key={"researcher_id": researcher_id, "item": f"{WORK_PREFIX}{asset_id}"})

    def put_researcher_url(self, researcher_id: str, entry: ResearcherUrlEntry) -> None:
        self._table.put_item(Item=_entry_item(researcher_id, RESEARCHER_URL_ITEM, entry))

    def put_employment(self, researcher_id: str, entry: EmploymentEntry) -> None:
        self._table.put_item(Item=_entry_item(researcher_id, EMPLOYMENT_ITEM, entry))

    def set_fingerprint(self, researcher_id: str, fingerprint: str | None, at: datetime) -> None:
        key = {"researcher_id": researcher_id, "item": PUSH_STATE_ITEM}
        if fingerprint is None:
            self._table.delete_item(Key=key)
        else:
            self._table.put_item(Item={**key, _KIND: _PUSH_KIND, "fingerprint": fingerprint, "at": at.isoformat()})
