"""server/ratelimit.py: token buckets, buckets per address (bounded), and shares of the event loop's time."""

from __future__ import annotations

import time

import msgpack
import pytest

from bench.adversary import teach_frame
from replay_client.client import DoodleClient
from server import ratelimit
from server.ratelimit import PerAddress, TimeShare, TokenBucket
from tests.conftest import ServerProcess


def test_a_bucket_takes_whole_requests_only_and_refills_at_its_rate() -> None:
    """A burst of 3 allows 3 takes, then none; take(n) takes all n or nothing; it says how long to wait."""
    b = TokenBucket(1.0, 3)
    assert [b.take() for _ in range(4)] == [True, True, True, False]
    assert not b.take(2) and 0 < b.wait_s(2) <= 2
    assert not b.full


def test_per_address_buckets_stay_bounded_by_forgetting_full_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ALLOWANCES_KEPT addresses the full buckets are forgotten; with none full, new ones share OVERFLOW."""
    monkeypatch.setattr(ratelimit, "ALLOWANCES_KEPT", 3)
    p = PerAddress(0.001, 2)
    for a in ("a", "b", "c"):
        assert p.take(a)
    assert p.take("d") and len(p) == 3 + 1  # none was full: d shares the overflow bucket (one more)
    assert p.bucket("e") is p.bucket("f")  # so do e and f


def test_a_time_share_in_debt_says_how_long_to_wait() -> None:
    """Charging 0.5 s of work to a share of 0.25 with 0.25 s of allowance leaves a debt of about 1 s."""
    s = TimeShare(0.25, 0.25)
    assert s.debt_s() == 0
    s.charge(0.5)
    assert 0.9 < s.debt_s() <= 1.0


async def time_for(url: str, frames: int) -> float:
    """Seconds one session takes to get ``frames`` costly teach frames (20 examples, tens of ms each to decode)
    answered (refused: rate_limited), one after the other."""
    async with DoodleClient(url) as c:
        frame = teach_frame(c.welcome["limits"], "costly", 1)
        assert len(msgpack.unpackb(frame)["drawings"]) == 20
        start = time.monotonic()
        for _ in range(frames):
            await c.send_raw(frame)
            assert (await c.recv())["code"] == "rate_limited"
        return time.monotonic() - start


async def test_an_address_decoding_costly_messages_gets_only_its_share_of_the_event_loop() -> None:
    """With --loop-share-per-address 0.05 (and almost no allowance) 12 costly frames take at least 3 times as
    long as with 1.0: the address waits for its share (the same frames in the same run, so the machine's speed
    cancels out)."""
    took = {}
    for share in ("1.0", "0.05"):
        s = ServerProcess(
            *("--loop-share-per-address", share, "--decode-burst-s", "0.01"),
            *("--max-teach-examples-per-minute", "1"),  # every frame is decoded, then refused: decoding is the cost
        )
        try:
            took[share] = await time_for(s.url, 12)
        finally:
            s.stop()
    print(f"12 costly teach frames answered in: {took} s")
    assert took["0.05"] >= 3 * took["1.0"], took
