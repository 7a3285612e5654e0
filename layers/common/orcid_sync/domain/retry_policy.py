"""How often and how long a caller retries a transient failure (ORCID answers, network errors).

A plain value object: use cases choose a policy (the token probe's is short), and the ORCID adapter
runs it with tenacity (``orcid_sync.adapters.orcid_api.transport``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures; ``rng`` and ``sleep`` are injectable for tests."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    # A Retry-After beyond this is not worth holding a Lambda for; the caller's retry (SQS) is.
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay")

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based): Retry-After if given, else full jitter."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return self.rng.uniform(0, ceiling)
