"""What the ORCID client needs from a rate limiter, and the limiters local to one process.

ORCID's Member API allows 24 requests/s with a burst of 40 per client id and answers 503 past the
burst. Buckets may go into *debt*: a throttle penalty means that after ``penalise(s)`` nobody gets a
token for ``s`` seconds, and the bucket then refills at the normal rate. The limiter every Lambda
shares is :class:`~orcid_sync.adapters.orcid_api.shared_bucket.DynamoDbTokenBucket`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], None]

DEFAULT_THROTTLE_PENALTY_SECONDS = 1.0
# Float arithmetic on wall-clock seconds (~1.7e9, a ulp of ~2e-7 s) leaves refills a hair short of a
# whole token; without a tolerance and a minimum sleep, a waiter could sleep 1e-17 s forever.
TOKEN_TOLERANCE = 1e-4
MIN_SLEEP_SECONDS = 0.001


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


def check_parameters(rate: float, burst: int) -> None:
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")


def check_cost(cost: int, burst: int) -> None:
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
        check_parameters(rate, burst)
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
        check_cost(cost, self.burst)
        with self._lock:
            self._refill(self._clock())
            if self._tokens + TOKEN_TOLERANCE >= cost:
                self._tokens -= cost
                return 0.0
            return max(MIN_SLEEP_SECONDS, (cost - self._tokens) / self.rate)

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
