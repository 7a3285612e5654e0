"""Counts of the ORCID requests one client made: the scarce resource job reports and metrics show."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

NO_ANSWER = "no-answer"
"""The outcome recorded in :class:`RequestStats` when ORCID never answered (timeout, refused connection)."""


class RequestStats:
    """Counts of ORCID requests (the scarce resource): per method and outcome, retries, throttles.

    One client serves several threads (a push worker pushes the researchers of its batch at once), so
    :attr:`thread_total` counts the attempts of the calling thread alone: one researcher's requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._this_thread = threading.local()
        self.by_method_and_outcome: Counter[tuple[str, str]] = Counter()
        self.retries = 0
        self.retried_posts = 0
        self.throttled = 0

    def record(self, method: str, outcome: str) -> None:
        """Count one HTTP attempt; ``outcome`` is the status code or :data:`NO_ANSWER`."""
        with self._lock:
            self.by_method_and_outcome[(method, outcome)] += 1
        self._this_thread.total = self.thread_total + 1

    @property
    def thread_total(self) -> int:
        """Every HTTP attempt the calling thread made through this client."""
        return int(getattr(self._this_thread, "total", 0))

    def record_retry(self, method: str) -> None:
        """Count a retry (a POST retry may have created a duplicate)."""
        with self._lock:
            self.retries += 1
            if method == "POST":
                self.retried_posts += 1

    def record_throttled(self) -> None:
        """Count a 503/429 answer."""
        with self._lock:
            self.throttled += 1

    @property
    def total(self) -> int:
        """Every HTTP attempt, answered or not."""
        return sum(self.by_method_and_outcome.values())

    def by_method(self) -> dict[str, int]:
        """Attempts per HTTP method."""
        counts: Counter[str] = Counter()
        for (method, _), count in self.by_method_and_outcome.items():
            counts[method] += count
        return dict(counts)

    def by_outcome(self) -> dict[str, int]:
        """Attempts per status code (or :data:`NO_ANSWER`)."""
        counts: Counter[str] = Counter()
        for (_, outcome), count in self.by_method_and_outcome.items():
            counts[outcome] += count
        return dict(counts)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for job reports and benchmarks."""
        with self._lock:
            return {
                "total": self.total,
                "by_method": self.by_method(),
                "by_outcome": self.by_outcome(),
                "retries": self.retries,
                "retried_posts": self.retried_posts,
                "throttled": self.throttled,
            }

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.by_method_and_outcome.clear()
            self.retries = self.retried_posts = self.throttled = 0
