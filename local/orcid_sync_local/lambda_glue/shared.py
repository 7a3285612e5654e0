"""What every part of the glue shares: its error, its logger, the local credentials and the activity tracker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("orcid_sync_local")


class GlueError(RuntimeError):
    """The template asks for something the local glue cannot do, or a handler cannot be loaded."""


@dataclass(frozen=True)
class LocalCredentials:
    """The dummy AWS credentials of a local stack (moto accepts any; the local API checks these)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"


class ActivityTracker:
    """Counts running invocations so that callers can wait until event-driven work has settled."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._running = 0
        self._started = 0

    @contextmanager
    def working(self) -> Iterator[None]:
        with self._condition:
            self._running += 1
            self._started += 1
        try:
            yield
        finally:
            with self._condition:
                self._running -= 1
                self._condition.notify_all()

    def snapshot(self) -> tuple[int, int]:
        """(invocations running now, invocations started ever)."""
        with self._condition:
            return self._running, self._started
