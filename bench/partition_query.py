"""moto's Query, made to read the one partition it asks for, as DynamoDB does (the benchmarks install it).

moto 5 answers a Query on a table's own key by sorting *every* item of the table and keeping those
with the hash key (``Table.all_items``). With the push's 24,000 ledger entries and 48,000 asset items,
each researcher's two Queries then cost the single Python process tens of milliseconds of sorting,
under the GIL every worker shares, and the local wall time measured moto rather than the push.
DynamoDB reads one partition. :func:`install` hands moto's Query that partition alone (sorted by
range key, as ``all_items`` would have listed it), and leaves index queries, scans and everything
else to moto; results are the same, only the time spent is not.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

_partition = threading.local()


def install() -> None:
    """Patch moto's ``Table.query``/``Table.all_items`` once per process (idempotent)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "reads_one_partition", False):
        return

    original_query = Table.query
    original_all_items = Table.all_items
    signature = inspect.signature(original_query)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        hash_key = arguments.get("hash_key")
        if arguments.get("index_name") or hash_key is None or not self.range_key_attr:
            return original_query(self, *args, **kwargs)
        _partition.key = hash_key
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _partition.key = None

    def all_items(self: Any) -> Any:
        key = getattr(_partition, "key", None)
        if key is None:
            return original_all_items(self)
        _partition.key = None  # the Query's one listing; anything else it calls gets moto's own
        partition = self.items.get(key, {})  # a defaultdict: get() does not add the key
        return sorted(partition.values(), key=lambda item: item.range_key)

    query.reads_one_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
