"""server/admin.py: the admin token is compared in constant time, wrong ones are logged and throttled per address
(shared by teach and moderate)."""

from __future__ import annotations

import logging

import pytest

from replay_client.client import DoodleClient
from server.admin import AdminGate
from server.errors import ErrorCode, Fault
from tests.conftest import ServerProcess

ADMIN = "s3cret-admin"


def code_of(gate: AdminGate, token: str | None, address: str = "192.0.2.7") -> str | None:
    try:
        gate.check(token, address=address, what="tests")
    except Fault as e:
        return e.code
    return None


def test_wrong_tokens_past_the_allowance_throttle_that_address_only(caplog: pytest.LogCaptureFixture) -> None:
    """Three wrong tokens a minute allowed: each is forbidden and logged with the address; the fourth request,
    even with the right token, is rate_limited (logged once); another address is unaffected; none configured:
    forbidden."""
    gate = AdminGate(ADMIN, failures_per_minute=3)
    assert code_of(gate, ADMIN) is None
    assert code_of(gate, None) == ErrorCode.FORBIDDEN  # missing: a mistake, not a guess (not counted)
    with caplog.at_level(logging.WARNING, logger="doodlestream.admin"):
        assert [code_of(gate, f"guess{i}") for i in range(3)] == [ErrorCode.FORBIDDEN] * 3
        assert code_of(gate, ADMIN) == ErrorCode.RATE_LIMITED
        assert code_of(gate, "guess") == ErrorCode.RATE_LIMITED
        assert code_of(gate, ADMIN, address="198.51.100.1") is None
    lines = [r.getMessage() for r in caplog.records]
    assert sum("wrong one from 192.0.2.7" in line for line in lines) == 3
    assert sum("refusing its admin requests" in line for line in lines) == 1
    assert gate.wrong == 3 and gate.throttled == 2
    assert code_of(AdminGate(None), ADMIN) == ErrorCode.FORBIDDEN


async def test_a_live_server_throttles_wrong_admin_tokens_across_teach_and_moderate() -> None:
    """With --max-admin-failures-per-minute 2: two wrong tokens on teach, then moderate with the right one is
    rate_limited; the log names the wrong tokens."""
    s = ServerProcess("--admin-token", ADMIN, "--max-admin-failures-per-minute", "2")
    stroke = [([0, 10, 20], [0, 10, 0])]
    try:
        async with DoodleClient(s.url) as c:
            for _ in range(2):
                assert (await c.teach("w", [stroke], scope="server", admin_token="nope"))["code"] == ErrorCode.FORBIDDEN
            moderate = {"type": "moderate", "id": 1, "action": "hide", "admin_token": ADMIN}
            assert (await c.call(moderate))["code"] == ErrorCode.RATE_LIMITED
    finally:
        s.stop()
    assert s.stderr().count("admin token: a wrong one from 127.0.0.1") == 2
