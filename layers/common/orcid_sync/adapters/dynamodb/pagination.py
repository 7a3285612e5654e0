"""Reading every page of a Query or Scan: the one place that follows ``LastEvaluatedKey``.

Why one small helper over the Table, and not boto3's paginator: the paginator lives on the client
(``table.meta.client.get_paginator("query")``), and its typed interface is the low-level one. It
wants ``TableName`` and expression strings with hand-built ``ExpressionAttributeValues`` instead of
``Key(...)``/``Attr(...)`` conditions, and it hands back ``{"S": ...}`` attribute values, so each
caller would need a ``TypeSerializer``/``TypeDeserializer`` pass or ``Any`` casts (the resource's
client does convert at run time, but mypy cannot see it). It also bypasses the ``Table`` object that
the tests and the benchmarks count calls on. ``Table.query``/``Table.scan`` already speak plain
Python values and conditions; following their ``LastEvaluatedKey`` is the paginator's whole job
and fits in the loop below. The job list, which hands out its own cursor mid-page, reads
:func:`query_pages` to see each page's key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

Page = Mapping[str, Any]
"""One Query or Scan response: ``Items`` and, when there is more to read, ``LastEvaluatedKey``."""


def _pages(read: Callable[..., Page], params: dict[str, Any]) -> Iterator[Page]:
    while True:
        page = read(**params)
        yield page
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return
        params = {**params, "ExclusiveStartKey": last_key}


def query_pages(table: Table, **params: Any) -> Iterator[Page]:
    """Every page of ``table.query(**params)``; pass ``ExclusiveStartKey`` to start after a cursor."""
    return _pages(table.query, params)


def query_items(table: Table, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item ``table.query(**params)`` finds, across all pages."""
    for page in query_pages(table, **params):
        yield from page["Items"]


def scan_items(table: Table, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item ``table.scan(**params)`` finds, across all pages."""
    for page in _pages(table.scan, params):
        yield from page["Items"]
