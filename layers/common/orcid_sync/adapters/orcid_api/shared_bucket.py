"""The ORCID rate limit shared by every concurrent Lambda: one GCRA bucket in a DynamoDB item, adaptive.

Every worker of this stack spends the same ORCID client id, so the limit that matters is the one across
all of them. It is our own code on purpose: no rate-limit library shares a GCRA bucket across Lambdas
through DynamoDB (they keep buckets in memory or Redis), nor backs off the way ORCID's 503s ask.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from orcid_sync.adapters.orcid_api.limiters import (
    DEFAULT_THROTTLE_PENALTY_SECONDS,
    MIN_SLEEP_SECONDS,
    Clock,
    Sleep,
    check_cost,
    check_parameters,
)
from orcid_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class DynamoDbTokenBucket:
    """One token bucket shared by every process and thread, stored as one item of a DynamoDB table.

    **A schedule, not a counter.** The item holds ``booked_until``: tokens are handed out, one every
    ``1 / rate`` seconds, up to that moment (GCRA). The bucket holds ``(now - booked_until) * rate``
    tokens, at most ``burst``; a ``booked_until`` in the future is debt. Taking ``n`` tokens is one
    UpdateItem: ``SET booked_until = booked_until + n / rate`` while the bucket is not full, or ``SET
    booked_until = now - burst / rate + n / rate`` when it is, each on the condition that tells the two
    apart. The new ``booked_until`` comes back: the tokens may be spent from then on, at once if it is
    not in the future, else the caller sleeps until then. Every caller gets its slot in one call, so
    workers never lose races for the item (the version check this replaced cost up to two more calls
    per reservation under load), and the fleet never exceeds ``rate`` per second plus ``burst``.

    **Adaptive pacing.** The item also holds the rate after the last cut (``rate``, ``cut_at``); the
    rate in force climbs back from it by ``rate / 8`` per second up to the configured ceiling (ORCID's
    24/s, ``rate``), which it never exceeds. A 503/429 from ORCID (:meth:`penalise`,
    :meth:`on_throttled`) halves it, at most once per ``cut_hold`` seconds however many workers saw
    the 503, and books the bucket up to the end of the Retry-After (or ``throttle_penalty``) seconds:
    nobody gets a token before then. Additive increase, multiplicative decrease: while ORCID answers,
    the fleet runs at the ceiling; when it pushes back, the fleet backs off at once. A process learns
    of a cut with its next reservation, which is still made at the rate it knew.

    **Reservations.** A process reserves up to ``batch_size`` tokens in one call and hands them to its
    threads: a whole batch when the bucket is full, else as many as its threads are waiting for or will
    ask for before the tokens go stale (its pace over the last second). A reserved token is spent
    within ``reservation_ttl`` seconds of the moment it was granted, or dropped, so a request never
    leaves more than that after its token: ORCID's proxy sees at most ``burst + rate * (window +
    reservation_ttl)`` requests in any window, which stays within ORCID's own burst of 40 with our
    burst of 20 (``ORCID_BURST``) at 24/s. A process never books further ahead than ``horizon``
    seconds (a long debt is waited out first).
    ``dynamodb_calls`` counts this instance's calls.

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
        batch_size: int = 8,
        reservation_ttl: float = 0.5,
        throttle_penalty: float = DEFAULT_THROTTLE_PENALTY_SECONDS,
        cut_factor: float = 0.5,
        cut_hold: float = 2.0,
        recovery_per_second: float | None = None,
        min_rate: float | None = None,
        horizon: float = 2.0,
    ) -> None:
        check_parameters(rate, burst)
        if not 1 <= batch_size <= burst:
            raise ValueError(f"batch_size must be between 1 and burst ({burst}), got {batch_size}")
        if not 0 < cut_factor < 1:
            raise ValueError(f"cut_factor must be between 0 and 1, got {cut_factor}")
        self.rate = rate
        self.burst = burst
        self.key = key
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._batch_size = batch_size
        self._reservation_ttl = reservation_ttl
        self._throttle_penalty = throttle_penalty
        self._cut_factor = cut_factor
        self._cut_hold = cut_hold
        self._recovery = recovery_per_second if recovery_per_second is not None else rate / 8
        self._min_rate = min(rate, min_rate if min_rate is not None else rate / 8)
        self._horizon = horizon
        # Local state: tokens reserved for this process's threads, and the item as last seen.
        self._lock = threading.Lock()
        self._reserve_lock = threading.Lock()
        self._reserved = 0
        self._reserved_at = 0.0
        self._waiting = 0
        self._taken: deque[float] = deque()  # when this process took its tokens in the last second
        self._penalties = 0
        # Until the item is seen, take the bucket for full (as a missing item is): one call starts it or finds it busy.
        self._seen = _Pace(booked_until=float("-inf"), rate=rate, cut_at=None)
        self.dynamodb_calls = 0

    # --- what the client calls ---

    def acquire(self, cost: int = 1) -> None:
        """Block until ``cost`` tokens have been taken from the shared bucket."""
        check_cost(cost, self.burst)
        with self._lock:
            self._waiting += 1
        try:
            while not self._take_reserved(cost):
                with self._reserve_lock:  # one reservation at a time per process; the others wait for it
                    if self._take_reserved(cost):
                        return
                    self._reserve_for_waiters(cost)
        finally:
            with self._lock:
                self._waiting -= 1

    def penalise(self, seconds: float) -> None:
        """ORCID pushed back: cut the shared rate (once per ``cut_hold``) and let nobody send for ``seconds``."""
        now = self._clock()
        with self._lock:
            self._reserved = 0
            self._penalties += 1
            current = self._seen.rate_at(now, self.rate, self._recovery)
        cut_applied = self._cut(max(self._min_rate, current * self._cut_factor), now)
        # Absolute, not added: many workers hit by the same 503 set the same debt rather than stacking theirs.
        debt_until = now + max(0.0, seconds)
        self._update(
            UpdateExpression="SET booked_until = :debt",
            ConditionExpression="attribute_not_exists(booked_until) OR booked_until < :debt",
            ExpressionAttributeValues={":debt": _decimal(debt_until)},
        )
        with self._lock:
            seen = self._seen
            self._seen = _Pace(booked_until=max(debt_until, seen.booked_until), rate=seen.rate, cut_at=seen.cut_at)
            rate = seen.rate_at(now, self.rate, self._recovery)
        logger.warning(
            "ORCID throttled us; shared rate limit penalised",
            bucket=self.key,
            seconds=seconds,
            rate_per_second=round(rate, 2),
            rate_cut=cut_applied,
        )

    def on_throttled(self) -> None:
        """Apply the default throttle penalty to the shared bucket."""
        self.penalise(self._throttle_penalty)

    def current_rate(self, now: float | None = None) -> float:
        """The rate in force as this process last saw the item (the ceiling until ORCID pushes back)."""
        with self._lock:
            return self._seen.rate_at(self._clock() if now is None else now, self.rate, self._recovery)

    # --- reservations ---

    def _take_reserved(self, cost: int) -> bool:
        with self._lock:
            if self._reserved and self._clock() - self._reserved_at > self._reservation_ttl:
                self._reserved = 0  # too old to spend: a request must leave soon after its token
            if self._reserved >= cost:
                self._reserved -= cost
                self._taken.extend([self._clock()] * cost)
                return True
            return False

    def _reserve_for_waiters(self, cost: int) -> None:
        """Take tokens for the threads waiting now and those about to ask (a batch if the bucket is full)."""
        with self._lock:
            needed = cost - self._reserved
            # This process's recent pace says how many more will ask before the tokens go stale.
            now = self._clock()
            while self._taken and self._taken[0] < now - 1.0:
                self._taken.popleft()
            soon = math.floor(len(self._taken) * self._reservation_ttl / 2)
            waiting = max(needed, min(self._batch_size, max(self._waiting, soon)))
            penalties = self._penalties
        asked_at = self._clock()
        count, ready_at = self._reserve(busy=waiting, full=max(needed, self._batch_size))
        wait = ready_at - self._clock()
        if wait > 0:
            self._sleep(max(MIN_SLEEP_SECONDS, wait))
        with self._lock:
            if self._penalties != penalties:
                return  # ORCID pushed back while we slept: these tokens go unspent
            self._reserved += count
            # Granted when the bucket had them (or when we asked, if it had them already): the TTL counts from there.
            self._reserved_at = max(ready_at, asked_at)

    def _reserve(self, *, busy: int, full: int) -> tuple[int, float]:
        """Book ``busy`` tokens (``full`` when the bucket is full) in the shared item: how many, and when usable."""
        for _ in range(_MAX_ATTEMPTS):
            now = self._clock()
            with self._lock:
                seen = self._seen
            rate = seen.rate_at(now, self.rate, self._recovery)
            full_before = now - self.burst / rate  # booked_until before this: the bucket is full
            queued = seen.booked_until >= full_before
            if queued:
                # Not full when last seen: book behind the others, unless that is beyond the horizon.
                count = min(self.burst, busy)
                latest = now + self._horizon - count / rate
                update = self._update(
                    UpdateExpression="SET booked_until = booked_until + :interval",
                    ConditionExpression="booked_until BETWEEN :full AND :latest",
                    ExpressionAttributeValues={
                        ":interval": _decimal(count / rate),
                        ":full": _decimal(full_before),
                        ":latest": _decimal(latest),
                    },
                    ReturnValues="ALL_NEW",
                )
            else:
                count = min(self.burst, full)
                update = self._update(
                    UpdateExpression="SET booked_until = :booked",
                    ConditionExpression="attribute_not_exists(booked_until) OR booked_until < :full",
                    ExpressionAttributeValues={
                        ":booked": _decimal(full_before + count / rate),
                        ":full": _decimal(full_before),
                    },
                    ReturnValues="ALL_NEW",
                )
            self._saw(update.values)
            if update.updated and update.values is not None:
                return count, float(update.values["booked_until"])
            booked = None if update.values is None else update.values.get("booked_until")
            if booked is None:
                # No bucket yet (or one from before the schedule): start it as a full one.
                with self._lock:
                    self._seen = _Pace(booked_until=float("-inf"), rate=self._seen.rate, cut_at=self._seen.cut_at)
            elif queued and float(booked) > latest:
                # Booked too far ahead (a long debt): wait until booking is within the horizon again.
                self._sleep(max(MIN_SLEEP_SECONDS, float(booked) - latest))
        raise RuntimeError(f"rate-limit bucket {self.key!r} stayed contended for {_MAX_ATTEMPTS} attempts")

    def _cut(self, rate: float, now: float) -> bool:
        """Lower the shared rate unless another worker cut it within ``cut_hold`` seconds; True if we did."""
        answer = self._update(
            UpdateExpression="SET rate = :rate, cut_at = :now",
            ConditionExpression="attribute_not_exists(cut_at) OR cut_at <= :hold",
            ExpressionAttributeValues={
                ":rate": _decimal(rate),
                ":now": _decimal(now),
                ":hold": _decimal(now - self._cut_hold),
            },
            ReturnValues="ALL_NEW",
        )
        self._saw(answer.values)
        return answer.updated

    def _saw(self, values: dict[str, Any] | None) -> None:
        if values is not None:
            with self._lock:
                self._seen = _Pace.from_item(values, ceiling=self.rate)

    def _update(self, **kwargs: Any) -> _Answer:
        """One conditional UpdateItem: the item as it is after it (or as it was, when the condition failed)."""
        with self._lock:
            self.dynamodb_calls += 1
        try:
            response = self._table.update_item(
                Key={"id": self.key}, ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = exc.response.get("Item")
            return _Answer(updated=False, values=_deserialize(current) if isinstance(current, dict) else None)
        attributes = response.get("Attributes")
        return _Answer(updated=True, values=dict(attributes) if attributes else None)


_MAX_ATTEMPTS = 50


class _Answer(NamedTuple):
    updated: bool
    values: dict[str, Any] | None


class _Pace:
    """The shared item's schedule and rate, as last seen."""

    __slots__ = ("booked_until", "cut_at", "rate")

    def __init__(self, *, booked_until: float, rate: float, cut_at: float | None) -> None:
        self.booked_until = booked_until
        self.rate = rate
        self.cut_at = cut_at

    @classmethod
    def from_item(cls, item: dict[str, Any], *, ceiling: float) -> _Pace:
        booked = item.get("booked_until")
        rate = item.get("rate")
        cut_at = item.get("cut_at")
        return cls(
            booked_until=float(booked) if booked is not None else float("-inf"),
            rate=min(ceiling, float(rate)) if rate is not None else ceiling,
            cut_at=float(cut_at) if cut_at is not None else None,
        )

    def rate_at(self, now: float, ceiling: float, recovery: float) -> float:
        """The rate in force: the last cut, climbing back by ``recovery`` per second, never above the ceiling."""
        if self.cut_at is None:
            return min(ceiling, self.rate)
        return min(ceiling, self.rate + recovery * max(0.0, now - self.cut_at))


def _deserialize(raw_item: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in raw_item.items()}


def _decimal(value: float) -> Decimal:
    # DynamoDB numbers must be Decimal; microsecond/micro-token precision is plenty.
    return Decimal(str(round(value, 6)))
