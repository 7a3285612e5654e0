"""Injected faults for Member API calls: errors, latency, dropped connections and lost responses."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

LostResponseMode = Literal["error", "drop"]


class FaultKind(StrEnum):
    """The kinds of fault the sandbox counts."""

    LATENCY = "latency"
    ERROR = "error"
    DROP = "drop"
    LOST_RESPONSE = "lost_response"


@dataclass(frozen=True)
class FaultSettings:
    """Fault knobs; rates are fractions of Member API requests (0 = never, 1 = always)."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    latency_ms: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    # How a lost response reaches the client: a 500 error, or the connection closed without an answer.
    lost_response_as: LostResponseMode = "error"
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "lost_response_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not self.error_statuses or any(not 500 <= status <= 599 for status in self.error_statuses):
            raise ValueError("error_statuses must be a non-empty list of 5xx statuses")


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request."""

    latency_seconds: float = 0.0
    drop: bool = False
    error_status: int | None = None
    lose_response: LostResponseMode | None = None


NO_FAULTS = FaultPlan()


class FaultInjector:
    """Decides faults from a seeded RNG, so a run with the same seed and requests is reproducible."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._settings = settings or FaultSettings()
        self._random = random.Random(self._settings.seed)
        self._counts: Counter[FaultKind] = Counter()

    @property
    def settings(self) -> FaultSettings:
        """The settings in force."""
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        """Replace every knob and reseed the RNG."""
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)

    def _happens(self, rate: float) -> bool:
        # Only draw when the knob is on, so turning one fault on leaves the others' sequence unchanged.
        return rate > 0 and self._random.random() < rate

    def plan(self, *, is_write: bool) -> FaultPlan:
        """Draw the faults for one Member API request and count them."""
        with self._lock:
            settings = self._settings
            if settings == FaultSettings(seed=settings.seed):
                return NO_FAULTS
            latency = settings.latency_ms / 1000.0
            if latency:
                self._counts[FaultKind.LATENCY] += 1
            if self._happens(settings.drop_rate):
                self._counts[FaultKind.DROP] += 1
                return FaultPlan(latency_seconds=latency, drop=True)
            if self._happens(settings.error_rate):
                self._counts[FaultKind.ERROR] += 1
                status = self._random.choice(settings.error_statuses)
                return FaultPlan(latency_seconds=latency, error_status=status)
            if is_write and self._happens(settings.lost_response_rate):
                self._counts[FaultKind.LOST_RESPONSE] += 1
                return FaultPlan(latency_seconds=latency, lose_response=settings.lost_response_as)
            return FaultPlan(latency_seconds=latency)

    def counts(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        with self._lock:
            return {kind.value: self._counts[kind] for kind in FaultKind}

    def reset_counts(self) -> None:
        """Forget the fault counts (the settings stay)."""
        with self._lock:
            self._counts.clear()
