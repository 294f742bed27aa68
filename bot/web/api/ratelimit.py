"""Token buckets, in this process only: requests per API key, failed authentications per client
address and per key prefix (N a minute each, bursts up to N, refilled evenly)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from collections.abc import Hashable
from dataclasses import dataclass

# buckets kept before the full ones (nobody used them lately) are dropped
PRUNE_ABOVE = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``per_minute`` events per key (bursts up to that many), refilling evenly."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._prune_at = PRUNE_ABOVE

    def acquire(self, key: Hashable) -> float:
        """Take one event for ``key``: 0.0 when allowed, else seconds until one is free."""
        bucket = self._refilled(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return self._wait(bucket)

    def wait_s(self, key: Hashable) -> float:
        """Seconds until ``key`` may have an event (0.0: now), taking nothing."""
        return self._wait(self._refilled(key)) if key in self._buckets else 0.0

    def _refilled(self, key: Hashable) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
                # many busy buckets (an attack from many addresses): prune again only at double
                self._prune_at = max(PRUNE_ABOVE, 2 * len(self._buckets))
            bucket = self._buckets[key] = _Bucket(tokens=self._capacity, updated=now)
        refill = (now - bucket.updated) * self._rate_per_s
        bucket.tokens = min(self._capacity, bucket.tokens + refill)
        bucket.updated = now
        return bucket

    def _wait(self, bucket: _Bucket) -> float:
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self._rate_per_s

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled: they hold nothing a new bucket would not."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self._rate_per_s >= self._capacity
        ]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class AuthThrottle:
    """Failed authentications allowed per client address and per key prefix, each a minute."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._addresses = RateLimiter(per_minute, clock=clock)
        self._prefixes = RateLimiter(per_minute, clock=clock)

    def wait_s(self, address: str, prefix: str | None) -> float:
        """Seconds until this address (and key prefix) may try again; 0.0 when it may now."""
        waits = [self._addresses.wait_s(address)]
        if prefix is not None:
            waits.append(self._prefixes.wait_s(prefix))
        return max(waits)

    def failed(self, address: str, prefix: str | None) -> None:
        """Count one failed authentication against the address and the prefix."""
        self._addresses.acquire(address)
        if prefix is not None:
            self._prefixes.acquire(prefix)


def retry_after_header(wait_s: float) -> str:
    """Whole seconds for a Retry-After header (at least 1)."""
    return str(max(1, math.ceil(wait_s)))
