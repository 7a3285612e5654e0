"""moto's TransactWriteItems, made to back up only the items a transaction touches, as its cost is in DynamoDB.

moto 5 deep-copies every table a transaction names before applying it (to roll back on a failed condition), so
each transaction costs time proportional to the table: a harvest writing N assets one transaction each costs
O(N²) there, where DynamoDB's cost is per item (``workload.seeding_assets`` avoids it while setting up; a
harvest is measured, so it must keep its transactions). :func:`install` hands moto the table itself instead of a
copy, keeps a deep copy of each item the transaction names (by its key), and on a failed transaction puts those
items back as they were (and removes those that did not exist). Results are the same, only the time spent is not.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_state = threading.local()


def install() -> None:
    """Patch moto's ``DynamoDBBackend.transact_write_items`` once per process (idempotent)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "backs_up_items", False):
        return
    if getattr(models, "copy", None) is not copy:
        raise RuntimeError("moto's DynamoDB models no longer deep-copy through `copy`: re-check bench/transact_backup")

    real_copy = copy  # the module moto's code calls as ``copy.deepcopy``

    class _Copy:
        """``copy`` as moto's module sees it: a Table named by the transaction in progress is not copied."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if getattr(_state, "active", False) and isinstance(value, Table):
                return value
            return real_copy.deepcopy(value, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

    models.copy = _Copy()  # type: ignore[attr-defined,assignment]  # moto's module global, swapped for a shim
    original = DynamoDBBackend.transact_write_items

    def _key(table: Table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
        attributes = op.get("Key") or op.get("Item") or {}
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        return hash_key, range_key

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            try:
                hash_key, range_key = _key(table, op)
                current = table.get_item(hash_key, range_key)
            except Exception:
                continue
            saved.append((table, hash_key, range_key, real_copy.deepcopy(current) if current else None))
        _state.active = True
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if table.get_item(hash_key, range_key) is not None:
                    table.delete_item(hash_key, range_key)
                if item is not None:
                    table.put_item(item.to_json()["Attributes"])
            raise
        finally:
            _state.active = False

    transact_write_items.backs_up_items = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
