"""Client-side rate limiting for ORCID requests, local or shared by every concurrent Lambda.

The protocol and the in-process limiters live in :mod:`~orcid_sync.adapters.orcid_api.limiters`, the
DynamoDB-shared bucket in :mod:`~orcid_sync.adapters.orcid_api.shared_bucket`; this module names them
together for the composition root and the tests.
"""

from __future__ import annotations

from orcid_sync.adapters.orcid_api.limiters import (
    DEFAULT_THROTTLE_PENALTY_SECONDS,
    Clock,
    NoRateLimit,
    RateLimiter,
    Sleep,
    TokenBucket,
)
from orcid_sync.adapters.orcid_api.shared_bucket import DynamoDbTokenBucket

__all__ = [
    "DEFAULT_THROTTLE_PENALTY_SECONDS",
    "Clock",
    "DynamoDbTokenBucket",
    "NoRateLimit",
    "RateLimiter",
    "Sleep",
    "TokenBucket",
]
