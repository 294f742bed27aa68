"""A per-key token bucket: N requests a minute, refilled continuously, in this process only."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``per_minute`` requests per key (bursts up to that many), refilling evenly."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}

    def acquire(self, key_id: int) -> float:
        """Take one request for ``key_id``: 0.0 when allowed, else seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(tokens=self._capacity, updated=now)
        refill = (now - bucket.updated) * self._rate_per_s
        bucket.tokens = min(self._capacity, bucket.tokens + refill)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate_per_s


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for a Retry-After header (at least 1)."""
    return str(max(1, math.ceil(wait_s)))
