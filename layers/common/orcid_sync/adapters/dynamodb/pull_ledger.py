"""The pull ledger: which of a researcher's DOIs and PMIDs a pull run already put into a CSV.

It shares the LedgerTable with the sync ledger (``store/ledger.py``): partition ``researcher_id``,
sort key ``item`` = ``pulled#doi:<key>`` or ``pulled#pmid:<key>``, where the key is ORCID's
normalised form (``identifiers.doi_key`` / ``pmid_key``). Each item names the job that pulled it,
so a redelivered message of the same job can tell its own earlier write from a real earlier run.
Items carry ``kind = pull``; the sync ledger's reads filter them out by that attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from orcid_sync.adapters.dynamodb.pagination import query_items
from orcid_sync.domain.pull.ledger import PulledEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

PULLED_PREFIX = "pulled#"
_KIND = "kind"
_PULL_KIND = "pull"
# DynamoDB refuses sort keys over 1,024 bytes; a DOI that long is kept under its hash instead.
_MAX_SORT_KEY_BYTES = 1024


def sort_key(key: str) -> str:
    """The ``item`` value of a ledger key; the same function for writes and reads keeps them in step."""
    item = f"{PULLED_PREFIX}{key}"
    if len(item.encode("utf-8")) <= _MAX_SORT_KEY_BYTES:
        return item
    kind = key.split(":", 1)[0]
    return f"{PULLED_PREFIX}{kind}:sha256:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


class DynamoPullLedgerStore:
    """The pull ledger in the LedgerTable: one Query per researcher to read, batched puts to write."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def load(self, researcher_id: str) -> dict[str, PulledEntry]:
        entries: dict[str, PulledEntry] = {}
        items = query_items(
            self._table,
            KeyConditionExpression=Key("researcher_id").eq(researcher_id) & Key("item").begins_with(PULLED_PREFIX),
            ConsistentRead=True,
        )
        for item in items:
            put_code = item.get("put_code")
            entry = PulledEntry(
                key=str(item["key"]),
                job_id=str(item["job_id"]),
                put_code=int(str(put_code)) if put_code is not None else None,
                pulled_at=datetime.fromisoformat(str(item["pulled_at"])),
            )
            entries[entry.key] = entry
        return entries

    def mark_pulled(self, researcher_id: str, entries: Sequence[PulledEntry]) -> None:
        if not entries:
            return
        with self._table.batch_writer(overwrite_by_pkeys=["researcher_id", "item"]) as writer:
            for entry in entries:
                item: dict[str, Any] = {
                    "researcher_id": researcher_id,
                    "item": sort_key(entry.key),
                    _KIND: _PULL_KIND,
                    "key": entry.key,
                    "job_id": entry.job_id,
                    "pulled_at": entry.pulled_at.isoformat(),
                }
                if entry.put_code is not None:
                    item["put_code"] = entry.put_code
                writer.put_item(Item=item)
