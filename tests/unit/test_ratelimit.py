"""Token buckets: the local one's arithmetic, and the DynamoDB-shared one under moto."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from moto import mock_aws

from orcid_sync.orcid.ratelimit import DynamoDbTokenBucket, NoRateLimit, RateLimiter, TokenBucket

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class FakeClock:
    """A clock that only moves when someone sleeps on it (or the test advances it)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- local bucket -----------------------------------------------------------------------------


def test_full_bucket_grants_the_burst_at_once_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock, sleep=clock.sleep)

    for _ in range(5):
        bucket.acquire()
    assert clock.sleeps == []

    bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]


def test_refill_is_proportional_to_elapsed_time_and_capped_at_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=8, clock=clock, sleep=clock.sleep)
    for _ in range(8):
        bucket.acquire()

    clock.advance(0.5)
    assert bucket.available == pytest.approx(2.0)

    clock.advance(100)
    assert bucket.available == pytest.approx(8.0)


def test_try_acquire_reports_the_wait_without_taking_anything() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock, sleep=clock.sleep)

    assert bucket.try_acquire(3) == 0.0
    assert bucket.try_acquire(2) == pytest.approx(1.0)
    assert bucket.available == pytest.approx(0.0)


def test_cost_above_burst_or_below_one_is_refused() -> None:
    bucket = TokenBucket(rate=1, burst=2)
    with pytest.raises(ValueError, match="burst"):
        bucket.acquire(3)
    with pytest.raises(ValueError, match="at least 1"):
        bucket.acquire(0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_bucket_parameters_are_validated(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


def test_penalty_puts_the_bucket_in_debt_for_that_long() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=10, clock=clock, sleep=clock.sleep)

    bucket.penalise(2.0)
    bucket.acquire()

    assert sum(clock.sleeps) == pytest.approx(2.0 + 0.1)


def test_on_throttled_applies_the_default_penalty() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=10, clock=clock, sleep=clock.sleep, throttle_penalty=3.0)

    bucket.on_throttled()

    assert bucket.available == pytest.approx(-30.0)


def test_threads_never_share_out_more_than_the_bucket_holds() -> None:
    clock = FakeClock()  # never advanced: no refill, so exactly `burst` grants are possible
    bucket = TokenBucket(rate=1, burst=50, clock=clock, sleep=clock.sleep)
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = sum(1 for _ in range(100) if bucket.try_acquire() == 0.0)
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(granted) == 50


def test_no_rate_limit_satisfies_the_protocol_and_never_waits() -> None:
    limiter: RateLimiter = NoRateLimit()
    limiter.acquire(1_000)
    limiter.penalise(60)
    limiter.on_throttled()


# --- shared bucket on DynamoDB ------------------------------------------------------------------


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Table]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        created = dynamodb.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield created


def shared_bucket(table: Table, clock: FakeClock, **options: float) -> DynamoDbTokenBucket:
    settings: dict[str, float] = {"rate": 20, "burst": 10, "batch_size": 4} | options
    return DynamoDbTokenBucket(
        table,
        "ratelimit#orcid",
        rate=settings["rate"],
        burst=int(settings["burst"]),
        clock=clock,
        sleep=clock.sleep,
        batch_size=int(settings["batch_size"]),
        throttle_penalty=settings.get("throttle_penalty", 1.0),
    )


def stored_tokens(table: Table) -> float:
    tokens = table.get_item(Key={"id": "ratelimit#orcid"})["Item"]["tokens"]
    assert isinstance(tokens, Decimal)
    return float(tokens)


def test_two_workers_sharing_a_bucket_stay_within_rate_times_time_plus_burst(table: Table) -> None:
    rate, burst, batch = 20.0, 10, 4
    clock = FakeClock()
    workers = [shared_bucket(table, clock, rate=rate, burst=burst, batch_size=batch) for _ in range(2)]
    start = clock()
    grants: list[float] = []
    jitter = random.Random(7)

    # The workers take turns; a sleep by either moves the one clock they share, like real time.
    for worker in itertools.islice(itertools.cycle(workers), 400):
        worker.acquire()
        grants.append(clock())
        clock.advance(jitter.uniform(0, 0.02))  # the ORCID request itself

    epsilon = 1e-6
    # Since the start: never more than the burst plus what the rate has refilled.
    for count, granted_at in enumerate(grants, start=1):
        assert count <= burst + rate * (granted_at - start) + epsilon
    # Any window: the same, give or take what each worker held reserved when the window opened.
    slack = len(workers) * (batch - 1)
    for first in range(len(grants)):
        for last in range(first, len(grants)):
            assert last - first + 1 <= burst + rate * (grants[last] - grants[first]) + slack + epsilon
    # The limiter paced them rather than letting everything through at once.
    assert grants[-1] - start >= (len(grants) - burst) / rate - epsilon
    # Batching: far fewer DynamoDB calls than ORCID requests.
    assert sum(worker.dynamodb_calls for worker in workers) < len(grants)


class RacingTable:
    """A table that lets a rival worker write between our read and our first write."""

    def __init__(self, table: Table, rival_turn: Callable[[], None]) -> None:
        self._table = table
        self._rival_turn: Callable[[], None] | None = rival_turn

    def get_item(self, **kwargs: Any) -> Any:
        return self._table.get_item(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        if self._rival_turn is not None:
            rival_turn, self._rival_turn = self._rival_turn, None
            rival_turn()
        return self._table.update_item(**kwargs)


def test_worker_that_loses_a_race_does_not_take_the_winners_tokens(table: Table) -> None:
    clock = FakeClock()
    rival = shared_bucket(table, clock, rate=1, burst=4, batch_size=4)
    racing_table = RacingTable(table, rival_turn=rival.acquire)
    loser = DynamoDbTokenBucket(
        cast("Table", racing_table), "ratelimit#orcid", rate=1, burst=4, clock=clock, sleep=clock.sleep, batch_size=4
    )

    loser.acquire()  # read 4 available, but the rival reserved all 4 before our write landed

    assert sum(clock.sleeps) >= 1.0
    assert stored_tokens(table) >= 0


def test_batch_of_one_is_exact(table: Table) -> None:
    clock = FakeClock()
    workers = [shared_bucket(table, clock, rate=10, burst=5, batch_size=1) for _ in range(3)]

    for worker in itertools.islice(itertools.cycle(workers), 35):
        worker.acquire()

    # 5 from the burst, then one every 1/rate: 30 more take exactly 3 seconds.
    assert clock() - FakeClock().now == pytest.approx(3.0)


def test_throttle_seen_by_one_worker_slows_the_other(table: Table) -> None:
    clock = FakeClock()
    first = shared_bucket(table, clock, rate=20, burst=10, batch_size=1)
    second = shared_bucket(table, clock, rate=20, burst=10, batch_size=1)
    first.acquire()
    second.acquire()
    clock.sleeps.clear()

    first.penalise(2.0)
    second.acquire()

    assert sum(clock.sleeps) == pytest.approx(2.0 + 1 / 20)


def test_after_a_throttle_a_batching_worker_spends_at_most_its_reservation(table: Table) -> None:
    clock = FakeClock()
    batch = 4
    first = shared_bucket(table, clock, batch_size=batch, throttle_penalty=2.0)
    second = shared_bucket(table, clock, batch_size=batch, throttle_penalty=2.0)
    first.acquire()
    second.acquire()  # reserves a batch, spends one

    first.on_throttled()
    immediate = 0
    while not clock.sleeps:
        second.acquire()
        if not clock.sleeps:
            immediate += 1

    assert immediate == batch - 1
    assert sum(clock.sleeps) >= 2.0


def test_penalising_worker_drops_its_own_reservation(table: Table) -> None:
    clock = FakeClock()
    worker = shared_bucket(table, clock, batch_size=4)
    worker.acquire()

    worker.on_throttled()
    worker.acquire()

    # The penalty, then the time a fresh batch of 4 takes to refill at 20/s.
    assert sum(clock.sleeps) == pytest.approx(1.0 + 4 / 20)


def test_stale_reservations_are_dropped_not_spent_late(table: Table) -> None:
    clock = FakeClock()
    worker = shared_bucket(table, clock, rate=1, burst=4, batch_size=4)
    other = shared_bucket(table, clock, rate=1, burst=4, batch_size=1)
    worker.acquire()  # holds 3 more tokens
    clock.advance(5)  # beyond the 1 s reservation TTL; the bucket refills to 4 meanwhile
    for _ in range(4):
        other.acquire()
    assert clock.sleeps == []

    worker.acquire()

    # Waits for a fresh batch instead of spending the three tokens it reserved 5 s ago.
    assert clock.sleeps == [pytest.approx(4.0)]


def test_bucket_item_lives_in_the_state_table(table: Table) -> None:
    clock = FakeClock()
    shared_bucket(table, clock).acquire()

    item = table.get_item(Key={"id": "ratelimit#orcid"})["Item"]

    assert item["version"] == 1
    assert stored_tokens(table) == pytest.approx(10 - 4)


def test_shared_bucket_validates_batch_size(table: Table) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        shared_bucket(table, FakeClock(), burst=4, batch_size=5)
