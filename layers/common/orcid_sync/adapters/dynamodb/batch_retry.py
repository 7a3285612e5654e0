"""One retry policy for what a batch call leaves undone (``UnprocessedKeys``, ``UnprocessedItems``).

botocore retries a throttled ``BatchGetItem``/``BatchWriteItem`` call itself. The keys or items a
call that succeeded answers as unprocessed (a partition over its throughput) are ours to send again.
We send them again with exponential backoff and full jitter, and stop after ``attempts`` calls.
tenacity runs the attempts. What to do with what is still left is the caller's decision: a read
fails (:class:`UnprocessedKeysError`), and the push ledger applies its crash-safety rule (see
``DynamoLedgerStore.write``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import batched
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

BATCH_GET_MAX = 100
"""Keys per ``BatchGetItem``: DynamoDB's limit."""


class UnprocessedKeysError(RuntimeError):
    """DynamoDB still had not read some keys after every attempt. A silent gap would look like a missing item."""


@dataclass(frozen=True)
class BatchRetry:
    """How often, and after how long a wait, unprocessed keys or items are sent again.

    The wait before retry *n* is drawn uniformly from 0 to ``base_delay * 2**n``, capped at
    ``max_delay``. That is full jitter, so workers throttled together do not retry together.
    ``rng`` and ``sleep`` can be injected for tests.
    """

    attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def _wait(self, state: RetryCallState) -> float:
        # attempt_number is the number of calls made so far, which is the number of the retry to come.
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**state.attempt_number))

    def resend_unprocessed[Request](self, send: Callable[[Request], Request], request: Request) -> Request:
        """Call ``send(request)``, then ``send`` again with what it returns while that is not empty.

        ``send`` makes one batch call and returns what the call left unprocessed. The result is
        what is still unprocessed after the last attempt: empty when everything was done.
        Exceptions from ``send`` are not retried here and propagate as they are.
        """
        pending = request

        def attempt() -> Request:
            nonlocal pending
            pending = send(pending)
            return pending

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_result(bool),  # something is still unprocessed
            sleep=self.sleep,
            retry_error_callback=lambda _state: pending,  # out of attempts: hand back what is left
        )
        return retrying(attempt)


DEFAULT_BATCH_RETRY = BatchRetry()


def batch_get_items(
    table: Table, keys: Sequence[dict[str, Any]], *, retry: BatchRetry = DEFAULT_BATCH_RETRY, **options: Any
) -> Iterator[dict[str, Any]]:
    """Every item of ``keys`` that exists: one BatchGetItem per 100 keys, unprocessed keys asked again."""
    for chunk in batched(keys, BATCH_GET_MAX, strict=False):
        yield from _batch_get(table, {table.name: {"Keys": list(chunk), **options}}, retry)


def _batch_get(table: Table, request: dict[str, Any], retry: BatchRetry) -> list[dict[str, Any]]:
    client: Any = table.meta.client  # the resource's client: keys and items as Python values, as the Table takes
    found: list[dict[str, Any]] = []

    def get(pending: dict[str, Any]) -> dict[str, Any]:
        response = client.batch_get_item(RequestItems=pending)
        found.extend(response["Responses"].get(table.name, []))
        return response.get("UnprocessedKeys") or {}

    left = retry.resend_unprocessed(get, request)
    if left:
        count = len(left[table.name]["Keys"])
        raise UnprocessedKeysError(f"{count} key(s) of {table.name} stayed unprocessed after {retry.attempts} attempts")
    return found
