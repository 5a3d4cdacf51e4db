"""Rate limits: a token bucket, and one bucket per client address.

* :class:`TokenBucket` allows ``rate`` tokens per second with a ``burst`` allowance; a
  request takes some tokens or, when the bucket holds too few, none.
* :class:`TimeShare` is a share of a thread's time: work done is charged after the fact,
  and the next work waits until the share is back in credit.
* :class:`PerAddress` keeps one bucket per client address (the key of
  :func:`server.addresses.address_key`), made on first use.  Memory stays bounded: past
  ``ALLOWANCES_KEPT`` addresses, those whose bucket is full again are forgotten (a full
  bucket is what a new one would be), and if none is, the new address shares the
  overflow bucket :data:`OVERFLOW` (so a flood of addresses is limited together).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["ALLOWANCES_KEPT", "OVERFLOW", "PerAddress", "TimeShare", "TokenBucket"]

#: Addresses whose buckets are kept before the full ones are forgotten, in addresses.
ALLOWANCES_KEPT = 4_096
#: The key the addresses past ``ALLOWANCES_KEPT`` share.
OVERFLOW = "(overflow)"


class TokenBucket:
    """``rate`` tokens per second with a ``burst`` allowance (it starts full), timed by ``clock`` (seconds;
    a Sans-I/O owner such as a room passes its own)."""

    __slots__ = ("burst", "clock", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens = float(burst)
        self.stamp = clock()

    def available(self) -> float:
        """The tokens the bucket holds now."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if the bucket holds them (else take none)."""
        if self.available() >= n:
            self.tokens -= n
            return True
        return False

    def wait_s(self, n: float = 1.0) -> float:
        """Seconds until the bucket holds ``n`` tokens (0 if it does)."""
        return max(0.0, (n - self.tokens) / self.rate) if self.rate > 0 else float("inf")

    @property
    def full(self) -> bool:
        """Whether it has refilled completely since it was last taken from (it can be forgotten)."""
        return self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst


class TimeShare:
    """A share of one thread's time (the event loop's) that work may use: ``share`` seconds per second, with
    ``burst_s`` seconds of allowance.  :meth:`charge` records work done (the share may go into debt);
    :meth:`debt_s` is how long to wait before the next work so that the share holds."""

    __slots__ = ("bucket",)

    def __init__(self, share: float, burst_s: float) -> None:
        self.bucket = TokenBucket(share, burst_s)

    def charge(self, seconds: float) -> None:
        self.bucket.available()
        self.bucket.tokens -= seconds

    def debt_s(self) -> float:
        """Seconds until the share is back in credit (0 when it is)."""
        left = self.bucket.available()
        return 0.0 if left >= 0 else -left / self.bucket.rate


class PerAddress:
    """One :class:`TokenBucket` of ``rate`` per second and ``burst`` per client address (see module docstring)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def bucket(self, address: str) -> TokenBucket:
        """The address's bucket (a full one the first time)."""
        found = self._buckets.get(address)
        if found is not None:
            return found
        if len(self._buckets) >= ALLOWANCES_KEPT:
            for key in [k for k, b in self._buckets.items() if b.full]:
                del self._buckets[key]
            if len(self._buckets) >= ALLOWANCES_KEPT:
                address = OVERFLOW
                found = self._buckets.get(address)
                if found is not None:
                    return found
        made = self._buckets[address] = TokenBucket(self.rate, self.burst)
        return made

    def take(self, address: str, n: float = 1.0) -> bool:
        """Take ``n`` tokens from the address's bucket if it holds them."""
        return self.bucket(address).take(n)
