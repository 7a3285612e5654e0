"""Client-side rate limiting for ORCID requests, local or shared by every concurrent Lambda.

ORCID's Member API allows 24 requests/s with a burst of 40 per client id and answers 503 past
the burst. Every worker of this stack spends the same client id, so the limit that matters is
the one across all of them: :class:`DynamoDbTokenBucket` keeps one bucket in the state table.

Buckets may go *negative*: a throttle penalty is recorded as debt, so after ``penalise(s)``
nobody gets a token for ``s`` seconds, and the bucket then refills at the normal rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from orcid_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

Clock = Callable[[], float]
Sleep = Callable[[float], None]

DEFAULT_THROTTLE_PENALTY_SECONDS = 1.0
# Float arithmetic on wall-clock seconds (~1.7e9, a ulp of ~2e-7 s) leaves refills a hair short of a
# whole token; without a tolerance and a minimum sleep, a waiter could sleep 1e-17 s forever.
_TOKEN_TOLERANCE = 1e-4
_MIN_SLEEP_SECONDS = 0.001


class RateLimiter(Protocol):
    """What the ORCID client needs from a rate limiter."""

    def acquire(self, cost: int = 1) -> None:
        """Block until ``cost`` requests may be sent."""
        ...

    def penalise(self, seconds: float) -> None:
        """Let nobody send for ``seconds`` (ORCID said we went too fast)."""
        ...

    def on_throttled(self) -> None:
        """ORCID answered 503/429 without saying how long to wait: apply the default penalty."""
        ...


def _check_parameters(rate: float, burst: int) -> None:
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")


def _check_cost(cost: int, burst: int) -> None:
    if cost < 1:
        raise ValueError(f"cost must be at least 1, got {cost}")
    if cost > burst:
        raise ValueError(f"cost {cost} can never be granted by a bucket of burst {burst}")


class NoRateLimit:
    """A limiter that never waits (tests, or a stand-in ORCID with no limit)."""

    def acquire(self, cost: int = 1) -> None:
        """Return at once."""

    def penalise(self, seconds: float) -> None:
        """Ignore the penalty."""

    def on_throttled(self) -> None:
        """Ignore the throttle."""


class TokenBucket:
    """A thread-safe token bucket local to this process: ``rate`` tokens/s, at most ``burst`` saved."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        throttle_penalty: float = DEFAULT_THROTTLE_PENALTY_SECONDS,
    ) -> None:
        _check_parameters(rate, burst)
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._throttle_penalty = throttle_penalty
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated_at = clock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated_at = now

    def try_acquire(self, cost: int = 1) -> float:
        """Take ``cost`` tokens if there are enough and return 0, else return the seconds to wait."""
        _check_cost(cost, self.burst)
        with self._lock:
            self._refill(self._clock())
            if self._tokens + _TOKEN_TOLERANCE >= cost:
                self._tokens -= cost
                return 0.0
            return max(_MIN_SLEEP_SECONDS, (cost - self._tokens) / self.rate)

    def acquire(self, cost: int = 1) -> None:
        """Block until ``cost`` tokens have been taken."""
        while (wait := self.try_acquire(cost)) > 0:
            # Sleep outside the lock; another thread may win the tokens, so check again after.
            self._sleep(wait)

    def penalise(self, seconds: float) -> None:
        """Empty the bucket and put it ``seconds`` worth of tokens in debt."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self._tokens, 0.0) - max(0.0, seconds) * self.rate

    def on_throttled(self) -> None:
        """Apply the default throttle penalty."""
        self.penalise(self._throttle_penalty)

    @property
    def available(self) -> float:
        """Tokens in the bucket now (negative while a penalty lasts)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens


class DynamoDbTokenBucket:
    """One token bucket shared by every process, stored as one item of a DynamoDB table.

    The item (``{"id": key, "tokens", "updated_at", "version"}``) is refilled lazily: each
    caller computes ``min(burst, tokens + (now - updated_at) * rate)`` from the state it read
    and writes the result minus what it takes, on condition that ``version`` is unchanged
    (optimistic concurrency); a lost race re-reads and tries again.

    Trade-off of batching: to keep DynamoDB traffic well below ORCID traffic, a worker reserves
    up to ``batch_size`` tokens in one UpdateItem and spends them locally. Reserved tokens are
    invisible to other workers, so the shared limit is never exceeded, but a worker that stops
    early wastes its remainder and requests may bunch by up to ``batch_size`` per worker within
    ``reservation_ttl``. Reservations older than ``reservation_ttl`` seconds are dropped rather
    than spent late, which bounds that bunching. When the bucket is short, a worker waits for a
    whole batch rather than one token, adding up to ``(batch_size - 1) / rate`` seconds of latency
    but no loss of throughput (the bucket is the bottleneck then anyway). ``batch_size=1`` gives
    one write per request and exact smoothing. ``dynamodb_calls`` counts this instance's calls.

    The clock must be comparable across Lambdas (wall-clock time, not ``time.monotonic``).
    """

    def __init__(
        self,
        table: Table,
        key: str,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        batch_size: int = 4,
        reservation_ttl: float = 1.0,
        throttle_penalty: float = DEFAULT_THROTTLE_PENALTY_SECONDS,
        max_races: int = 50,
    ) -> None:
        _check_parameters(rate, burst)
        if not 1 <= batch_size <= burst:
            raise ValueError(f"batch_size must be between 1 and burst ({burst}), got {batch_size}")
        self.rate = rate
        self.burst = burst
        self.key = key
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._batch_size = batch_size
        self._reservation_ttl = reservation_ttl
        self._throttle_penalty = throttle_penalty
        self._max_races = max_races
        self._lock = threading.Lock()
        self._reserved = 0
        self._reserved_at = 0.0
        # The last item state we saw; spares a GetItem per reservation when nobody else wrote.
        self._state: _BucketState | None = None
        self.dynamodb_calls = 0

    def acquire(self, cost: int = 1) -> None:
        """Block until ``cost`` tokens have been taken from the shared bucket."""
        _check_cost(cost, self.burst)
        with self._lock:
            now = self._clock()
            if self._reserved and now - self._reserved_at > self._reservation_ttl:
                self._reserved = 0
            while self._reserved < cost:
                needed = cost - self._reserved
                self._reserved += self._reserve(needed, max(needed, self._batch_size))
                self._reserved_at = self._clock()
            self._reserved -= cost

    def penalise(self, seconds: float) -> None:
        """Put the shared bucket ``seconds`` worth of tokens in debt, so that every worker backs off."""
        debt = -max(0.0, seconds) * self.rate
        with self._lock:
            self._reserved = 0
            self._state = None
            self.dynamodb_calls += 1
        # Unconditional and absolute: many workers hit by the same 503 set the same debt rather than
        # stacking theirs, and the bumped version makes every worker's cached state fail its next write.
        self._table.update_item(
            Key={"id": self.key},
            UpdateExpression="SET tokens = :debt, updated_at = :now ADD version :one",
            ExpressionAttributeValues={":debt": _decimal(debt), ":now": _decimal(self._clock()), ":one": 1},
        )
        logger.warning("ORCID throttled us; shared rate limit penalised", bucket=self.key, seconds=seconds)

    def on_throttled(self) -> None:
        """Apply the default throttle penalty to the shared bucket."""
        self.penalise(self._throttle_penalty)

    def _reserve(self, needed: int, wanted: int) -> int:
        """Take at least ``needed`` and at most ``wanted`` tokens, sleeping until ``needed`` are there."""
        races = 0
        while True:
            state = self._state or self._read()
            now = self._clock()
            available = state.available(now, self.rate, self.burst)
            if available + _TOKEN_TOLERANCE < needed:
                # Short anyway: wait for a whole batch, so one write serves several requests.
                self._sleep(max(_MIN_SLEEP_SECONDS, (wanted - available) / self.rate))
                continue
            take = max(needed, min(wanted, math.floor(available + _TOKEN_TOLERANCE)))
            if self._write(state, tokens=available - take, now=now):
                return take
            races += 1
            if races >= self._max_races:
                raise RuntimeError(f"rate-limit bucket {self.key!r} stayed contended for {races} attempts")

    def _read(self) -> _BucketState:
        self.dynamodb_calls += 1
        item = self._table.get_item(Key={"id": self.key}, ConsistentRead=True).get("Item")
        if item is None:
            return _BucketState(tokens=float(self.burst), updated_at=self._clock(), version=0)
        return _BucketState.from_item(item)

    def _write(self, state: _BucketState, *, tokens: float, now: float) -> bool:
        """Store the new state if nobody wrote since ``state``; False (and a fresh read next time) if they did."""
        condition = "attribute_not_exists(id)" if state.version == 0 else "version = :expected"
        values: dict[str, Any] = {":tokens": _decimal(tokens), ":now": _decimal(now), ":version": state.version + 1}
        if state.version:
            values[":expected"] = state.version
        self.dynamodb_calls += 1
        try:
            response = self._table.update_item(
                Key={"id": self.key},
                UpdateExpression="SET tokens = :tokens, updated_at = :now, version = :version",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # The winner's state comes back with the failure, sparing a GetItem before the next try.
            current = exc.response.get("Item")
            self._state = _BucketState.from_item(_deserialize(current)) if isinstance(current, dict) else None
            return False
        self._state = _BucketState.from_item(response["Attributes"])
        return True


class _BucketState:
    """The bucket item as last read or written."""

    __slots__ = ("tokens", "updated_at", "version")

    def __init__(self, *, tokens: float, updated_at: float, version: int) -> None:
        self.tokens = tokens
        self.updated_at = updated_at
        self.version = version

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> _BucketState:
        return cls(tokens=float(item["tokens"]), updated_at=float(item["updated_at"]), version=int(item["version"]))

    def available(self, now: float, rate: float, burst: int) -> float:
        elapsed = max(0.0, now - self.updated_at)
        return min(float(burst), self.tokens + elapsed * rate)


def _deserialize(raw_item: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in raw_item.items()}


def _decimal(value: float) -> Decimal:
    # DynamoDB numbers must be Decimal; microsecond/micro-token precision is plenty.
    return Decimal(str(round(value, 6)))
