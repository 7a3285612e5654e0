"""Token buckets: the local one's arithmetic, and the DynamoDB-shared one under moto."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orcid_sync.adapters.orcid_api.rate_limit import DynamoDbTokenBucket, NoRateLimit, RateLimiter, TokenBucket

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


def shared_bucket(table: Table, clock: FakeClock | None = None, **options: float) -> DynamoDbTokenBucket:
    settings: dict[str, float] = {"rate": 20, "burst": 10, "batch_size": 4} | options
    timing: dict[str, Any] = {} if clock is None else {"clock": clock, "sleep": clock.sleep}
    return DynamoDbTokenBucket(
        table,
        KEY,
        rate=settings["rate"],
        burst=int(settings["burst"]),
        batch_size=int(settings["batch_size"]),
        throttle_penalty=settings.get("throttle_penalty", 1.0),
        reservation_ttl=settings.get("reservation_ttl", 0.5),
        **timing,
    )


KEY = "ratelimit#orcid"


def stored(table: Table) -> dict[str, Any]:
    return dict(table.get_item(Key={"id": KEY})["Item"])


def assert_within_envelope(grants: list[float], *, rate: float, burst: int, slack_seconds: float = 0.0) -> None:
    """No window of grants holds more than the burst plus what the rate refills (plus ``slack_seconds`` of it)."""
    epsilon = 1e-6
    for first in range(len(grants)):
        for last in range(first, len(grants)):
            span = grants[last] - grants[first]
            assert last - first + 1 <= burst + rate * (span + slack_seconds) + epsilon, (first, last, span)


def test_workers_sharing_a_bucket_stay_within_rate_times_time_plus_burst(table: Table) -> None:
    rate, burst = 24.0, 20
    clock = FakeClock()
    workers = [shared_bucket(table, clock, rate=rate, burst=burst, batch_size=8) for _ in range(3)]
    start = clock()
    grants: list[float] = []
    jitter = random.Random(7)

    # The workers take turns; a sleep by either moves the one clock they share, like real time.
    for worker in itertools.islice(itertools.cycle(workers), 400):
        worker.acquire()
        grants.append(clock())
        clock.advance(jitter.uniform(0, 0.02))  # the ORCID request itself

    # Since the start: never more than the burst plus what the rate has refilled.
    for count, granted_at in enumerate(grants, start=1):
        assert count <= burst + rate * (granted_at - start) + 1e-6
    # Any window: the same, give or take the reservation TTL (a reserved token may be spent up to 0.5 s late).
    assert_within_envelope(grants, rate=rate, burst=burst, slack_seconds=0.5)
    # The limiter paced them, and no faster than the rate allows.
    assert grants[-1] - start == pytest.approx((len(grants) - burst) / rate, rel=0.05)


def test_a_reservation_is_one_call_and_no_worker_loses_a_race(table: Table) -> None:
    clock = FakeClock()
    workers = [shared_bucket(table, clock, rate=10, burst=5, batch_size=1) for _ in range(3)]

    for worker in itertools.islice(itertools.cycle(workers), 35):
        worker.acquire()

    # 5 from the burst, then one every 1/rate: 30 more take exactly 3 seconds.
    assert clock() - FakeClock().now == pytest.approx(3.0)
    # Each worker's first call finds the bucket as it is (one more call when its view was stale); then one
    # UpdateItem per reservation: the item is a schedule (GCRA), so a reservation never loses a race.
    assert sum(worker.dynamodb_calls for worker in workers) <= 35 + len(workers)


def test_a_worker_with_a_stale_view_does_not_take_the_others_tokens(table: Table) -> None:
    clock = FakeClock()
    first = shared_bucket(table, clock, rate=1, burst=4, batch_size=4)
    second = shared_bucket(table, clock, rate=1, burst=4, batch_size=4)
    first.acquire()  # reserves all 4 of an idle bucket
    clock.advance(0.1)

    second.acquire()  # takes the bucket for full too; finds it booked and books one token behind

    assert sum(clock.sleeps) == pytest.approx(1.0 - 0.1)
    assert second.dynamodb_calls == 2


def test_threads_of_one_process_share_its_reservations(table: Table) -> None:
    # Real threads and the real clock: 8 threads x 5 requests at 50/s with a burst of 5 take 0.7 s.
    bucket = shared_bucket(table, rate=50, burst=5, batch_size=5)
    started = threading.Barrier(8)

    def requests() -> None:
        started.wait()
        for _ in range(5):
            bucket.acquire()

    threads = [threading.Thread(target=requests) for _ in range(8)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - began >= (40 - 5) / 50 - 0.05
    # A reservation serves the threads waiting for it: far fewer DynamoDB calls than requests.
    assert bucket.dynamodb_calls <= 40 / 2


def test_a_throttle_halves_the_rate_puts_the_bucket_in_debt_and_slows_everyone(table: Table) -> None:
    clock = FakeClock()
    first = shared_bucket(table, clock, rate=20, burst=10, batch_size=1)
    second = shared_bucket(table, clock, rate=20, burst=10, batch_size=1)
    first.acquire()
    second.acquire()
    clock.sleeps.clear()

    first.penalise(2.0)
    second.acquire()

    # The debt (2 s), then one token: at the halved rate, or at the rate it knew if it learns of the cut only
    # with this reservation (here it does before: the debt reaches its 2 s horizon, so it waits first) ...
    assert 2.0 + 1 / 20 - 1e-6 <= sum(clock.sleeps) <= 2.0 + 1 / 10 + 1e-6
    assert float(stored(table)["rate"]) == pytest.approx(10.0)
    assert second.current_rate() == pytest.approx(10 + 20 / 8 * sum(clock.sleeps))
    # ... and the next at the halved rate, climbing back by 20/8 per second
    clock.sleeps.clear()
    second.acquire()
    assert sum(clock.sleeps) == pytest.approx(1 / second.current_rate(clock() - sum(clock.sleeps)), rel=0.01)


def test_one_503_seen_by_many_workers_cuts_the_rate_once(table: Table) -> None:
    clock = FakeClock()
    workers = [shared_bucket(table, clock, rate=24, burst=20, batch_size=1) for _ in range(4)]
    for worker in workers:
        worker.acquire()

    for worker in workers:  # the same burst of 503s answers each of them
        worker.on_throttled()
        clock.advance(0.05)

    assert float(stored(table)["rate"]) == pytest.approx(12.0)
    clock.advance(3.0)  # past the hold: the next 503 cuts again, from where the rate climbed back to
    workers[0].on_throttled()
    assert float(stored(table)["rate"]) == pytest.approx(min(24.0, 12 + 3 * 3.2) / 2, rel=0.01)


def test_after_a_cut_the_rate_climbs_back_to_the_ceiling_and_never_past_it(table: Table) -> None:
    clock = FakeClock()
    worker = shared_bucket(table, clock, rate=24, burst=20, batch_size=1)
    worker.acquire()
    worker.penalise(0.0)  # the rate halves; the bucket is empty
    cut_at = clock()
    grants: list[float] = []

    for _ in range(400):
        worker.acquire()
        grants.append(clock())

    # Additive increase: ceiling/8 per second, from 12/s back to 24/s in 4 s.
    assert worker.current_rate() == pytest.approx(24.0)
    early = [t for t in grants if t - cut_at <= 1.0]
    assert len(early) <= 20 + 12.0 + 1.5 + 1  # a full bucket at most, then about 12 to 15 per second
    late = [t for t in grants if t - cut_at >= 5.0]
    assert_within_envelope(late, rate=24.0, burst=20)
    assert (late[-1] - late[0]) == pytest.approx((len(late) - 1) / 24.0, rel=0.02)


def test_a_penalising_worker_drops_its_own_reservation(table: Table) -> None:
    clock = FakeClock()
    worker = shared_bucket(table, clock, rate=20, burst=10, batch_size=4)
    worker.acquire()  # an idle bucket: a whole batch reserved, one spent

    worker.on_throttled()
    worker.acquire()

    # The penalty (1 s) and then one token at the halved rate, not the three tokens it had reserved.
    assert sum(clock.sleeps) == pytest.approx(1.0 + 1 / 10)


def test_stale_reservations_are_dropped_not_spent_late(table: Table) -> None:
    clock = FakeClock()
    worker = shared_bucket(table, clock, rate=1, burst=4, batch_size=4)
    other = shared_bucket(table, clock, rate=1, burst=4, batch_size=1)
    worker.acquire()  # holds 3 more tokens
    clock.advance(5)  # beyond the 0.5 s reservation TTL; the bucket refills to 4 meanwhile
    for _ in range(4):
        other.acquire()
    assert clock.sleeps == []

    worker.acquire()

    # Waits for a fresh token instead of spending the three it reserved 5 s ago.
    assert sum(clock.sleeps) == pytest.approx(1.0)


def test_a_long_debt_is_waited_out_without_booking_a_slot_behind_it(table: Table) -> None:
    clock = FakeClock()
    worker = shared_bucket(table, clock, rate=20, burst=10, batch_size=1)
    other = shared_bucket(table, clock, rate=20, burst=10, batch_size=1)
    worker.acquire()
    other.penalise(30.0)  # ORCID's Retry-After: 30 s
    calls = worker.dynamodb_calls

    worker.acquire()

    assert sum(clock.sleeps) == pytest.approx(30.0 + 1 / 20, rel=0.01)
    assert worker.dynamodb_calls - calls <= 3  # refused once (too far ahead), then a slot after the wait


def test_bucket_item_lives_in_the_state_table(table: Table) -> None:
    clock = FakeClock()
    shared_bucket(table, clock, rate=20, burst=10, batch_size=4).acquire()

    item = stored(table)

    # The bucket was full: 4 tokens reserved leave it 4/20 s short of full.
    assert float(item["booked_until"]) == pytest.approx(clock() - 10 / 20 + 4 / 20)
    assert "rate" not in item  # no cut yet: the ceiling


def test_a_bucket_item_from_before_the_schedule_is_taken_over(table: Table) -> None:
    table.put_item(Item={"id": KEY, "tokens": Decimal("-3.5"), "updated_at": Decimal("1"), "version": 812})
    clock = FakeClock()

    shared_bucket(table, clock).acquire()

    assert clock.sleeps == []
    assert "booked_until" in stored(table)


def test_shared_bucket_validates_its_parameters(table: Table) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        shared_bucket(table, FakeClock(), burst=4, batch_size=5)
    with pytest.raises(ValueError, match="cut_factor"):
        DynamoDbTokenBucket(table, KEY, rate=24, burst=20, cut_factor=1.5)
