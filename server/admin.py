"""The admin token (``--admin-token``): one check for every message that needs it, throttled per address.

Server-scope ``teach``/``forget`` (:mod:`server.teach`) and ``moderate``
(:mod:`server.history.service`) carry ``admin_token``.  :class:`AdminGate` judges it.
Promises:

* Without an admin token configured, every such request answers ``forbidden`` (saying the
  server has none).  A missing ``admin_token`` answers ``forbidden``.
* A token is compared in constant time (:func:`hmac.compare_digest`).  A wrong one answers
  ``forbidden`` and is logged (WARNING, with the client's address and what it asked for).
* Each client address (:func:`server.addresses.address_key`) may send at most
  ``max_admin_failures_per_minute`` wrong tokens a minute (a token bucket holding a
  minute's worth, :class:`server.ratelimit.PerAddress`).  Past it, every request of that
  address needing the token, right or wrong, answers ``rate_limited`` without being
  compared until the bucket refills (so guessing runs at that rate, not thousands a
  second); the first such refusal of an address is logged.
"""

from __future__ import annotations

import hmac
import logging

from server.errors import ErrorCode, Forbidden, LimitExceeded
from server.limits import MAX_ADMIN_FAILURES_PER_MINUTE
from server.ratelimit import PerAddress

__all__ = ["AdminGate"]

log = logging.getLogger("doodlestream.admin")


class AdminGate:
    """The admin-token check of one server (see module docstring); ``token`` ``None``: none configured."""

    def __init__(self, token: str | None, *, failures_per_minute: int = MAX_ADMIN_FAILURES_PER_MINUTE) -> None:
        self._token = token or None
        self.failures_per_minute = failures_per_minute
        self._failures = PerAddress(failures_per_minute / 60.0, failures_per_minute)
        #: Addresses whose throttling was logged and not yet lifted.
        self._throttled: set[str] = set()
        #: Wrong tokens seen, and requests refused unchecked because their address sent too many.
        self.wrong = 0
        self.throttled = 0

    @property
    def configured(self) -> bool:
        return self._token is not None

    def check(self, token: str | None, *, address: str, what: str) -> None:
        """Pass if ``token`` is the admin token; else raise ``forbidden`` or ``rate_limited`` (see module docstring).
        ``what`` names the request in messages and logs (``"server-scope words"``, ``"moderation"``)."""
        if self._token is None:
            raise Forbidden(f"{what} need the admin token, and this server has none (--admin-token)")
        if token is None:
            raise Forbidden(f"{what} need the admin token ('admin_token')")
        bucket = self._failures.bucket(address)
        if bucket.available() < 1.0:
            self.throttled += 1
            if address not in self._throttled:
                self._throttled.add(address)
                log.warning(
                    "admin token: %s sent more than %d wrong tokens in a minute; refusing its admin requests",
                    address or "?",
                    self.failures_per_minute,
                )
            raise LimitExceeded(
                f"too many wrong admin tokens from this address; retry in {bucket.wait_s():.0f} s",
                code=ErrorCode.RATE_LIMITED,
            )
        self._throttled.discard(address)
        if hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self._token.encode("utf-8")):
            return
        bucket.take(1.0)
        self.wrong += 1
        log.warning("admin token: a wrong one from %s for %s", address or "?", what)
        raise Forbidden(f"{what} need the admin token ('admin_token'); this one is wrong")
