"""Request counters the benchmarks and chaos tests read from /_sandbox/stats."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

DROPPED = "dropped"


class RequestStats:
    """Counts requests by method, route template and status, and rate-limit rejections by client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int | str]] = Counter()
        self._requests_by_client: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()

    def record(self, *, method: str, route: str, status: int | str, client_id: str | None) -> None:
        """Count one answered (or dropped) request."""
        with self._lock:
            self._requests[(method, route, status)] += 1
            if client_id is not None:
                self._requests_by_client[client_id] += 1

    def record_rate_limited(self, client_key: str) -> None:
        """Count one 503 from the rate limiter."""
        with self._lock:
            self._rate_limited[client_key] += 1

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._requests.clear()
            self._requests_by_client.clear()
            self._rate_limited.clear()

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data."""
        with self._lock:
            rows = [
                {"method": method, "route": route, "status": status, "count": count}
                for (method, route, status), count in sorted(self._requests.items(), key=lambda item: str(item[0]))
            ]
            by_status: Counter[str] = Counter()
            for (_, _, status), count in self._requests.items():
                by_status[str(status)] += count
            return {
                "total": sum(self._requests.values()),
                "by_status": dict(sorted(by_status.items())),
                "requests": rows,
                "requests_by_client": dict(sorted(self._requests_by_client.items())),
                "rate_limited": sum(self._rate_limited.values()),
                "rate_limited_by_client": dict(sorted(self._rate_limited.items())),
            }
