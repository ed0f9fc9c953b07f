"""Token buckets: per connection, and keyed (per IP address, per conversation), and the
throttle on failed token attempts per address.

A bucket holds ``capacity`` tokens and refills at ``capacity`` per ``period`` seconds
(so a burst of ``capacity``, then ``capacity / period`` a second); the classic token
bucket (e.g. RFC 2697's committed burst, without colours).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["AuthThrottle", "KeyedBuckets", "TokenBucket"]


@dataclass
class TokenBucket:
    """Rate limiter: ``capacity`` frames, refilled at ``capacity`` per ``period`` seconds."""

    capacity: int
    period: float = 60.0
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)
        self.stamp = self.clock()

    def level(self) -> float:
        """Tokens left now (refilled up to ``capacity``)."""
        now = self.clock()
        self.tokens = min(
            self.capacity, self.tokens + (now - self.stamp) * self.capacity / self.period
        )
        self.stamp = now
        return self.tokens

    def take(self) -> bool:
        """Spend one token; False when none is left."""
        if self.level() >= 1:
            self.tokens -= 1
            return True
        return False


class KeyedBuckets:
    """One :class:`TokenBucket` per key (an IP address, a conversation id), shared by
    every connection with that key. Full buckets are forgotten now and then, so memory
    follows the keys active in the last ``period`` seconds, not every key ever seen."""

    def __init__(
        self, capacity: int, period: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.period = period
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._next_prune = clock() + period

    def take(self, key: str) -> bool:
        """Spend one of ``key``'s tokens; False when none is left."""
        return self._bucket(key).take()

    def level(self, key: str) -> float:
        """``key``'s tokens left now."""
        bucket = self._buckets.get(key)
        return bucket.level() if bucket is not None else float(self.capacity)

    def _bucket(self, key: str) -> TokenBucket:
        if self.clock() >= self._next_prune:
            self._prune()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.capacity, self.period, self.clock)
        return bucket

    def _prune(self) -> None:
        self._buckets = {k: b for k, b in self._buckets.items() if b.level() < b.capacity}
        self._next_prune = self.clock() + self.period

    def __len__(self) -> int:
        return len(self._buckets)


class AuthThrottle:
    """Failed token attempts per IP address: ``limit`` a ``period`` (seconds). Once an
    address has spent them, :meth:`blocked` is true until the bucket refills one: every
    attempt from it is refused unchecked, valid token or not, so guessing costs time."""

    def __init__(
        self, limit: int, period: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = KeyedBuckets(limit, period, clock)

    def blocked(self, address: str) -> bool:
        """Whether ``address`` has no failed attempt left for now."""
        return self._failures.level(address) < 1

    def failed(self, address: str) -> None:
        """Count a failed attempt from ``address``."""
        self._failures.take(address)

    def seconds_blocked(self, address: str) -> float:
        """Seconds until ``address`` may try again (0 when it may now): until its bucket
        holds one attempt."""
        missing = 1.0 - self._failures.level(address)
        return max(0.0, missing * self._failures.period / self._failures.capacity)
