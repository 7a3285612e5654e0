"""Per-client token bucket standing in for the proxy in front of ORCID's Member API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class TokenBucketLimiter:
    """A token bucket per key: `rate` tokens a second, at most `burst` stored; rate 0 turns it off."""

    def __init__(self, *, rate: float, burst: int, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._rate = rate
        self._burst = burst

    @property
    def rate(self) -> float:
        """Tokens added per second of sandbox time."""
        return self._rate

    @property
    def burst(self) -> int:
        """Bucket capacity."""
        return self._burst

    def configure(self, *, rate: float, burst: int) -> None:
        """Change the limit; every bucket starts full again."""
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        with self._lock:
            self._rate = rate
            self._burst = burst
            self._buckets.clear()

    def try_acquire(self, key: str) -> bool:
        """Take one token for `key`; False means the request is over the burst."""
        if self._rate == 0:
            return True
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self._burst), updated_at=now)
            # A clock stepping backwards must not drain the bucket.
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(float(self._burst), bucket.tokens + elapsed * self._rate)
            bucket.updated_at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            return False
