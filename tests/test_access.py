"""Privacy with --token: history routes and /healthz details need the token; --public-gallery opens the gallery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from websockets.datastructures import Headers

from replay_client.client import DoodleClient
from server.access import COOKIE, Grant, TokenGate
from server.plugin import Access
from server.spawn import Loopback
from tests.conftest import ServerProcess
from tests.support import InProcessServer, get

TOKEN = "g4llery-s3cret"
#: Routes that show players' drawings (one stored drawing has id 1).
HISTORY_ROUTES = [
    "/gallery",
    "/gallery/",
    "/gallery/gallery.js",
    "/api/doodles",
    "/api/doodles/1",
    "/doodles/1",
    "/doodles/1.png",
    "/doodles/1/sprite.png",
]
#: Routes anyone may read, token or not.
PUBLIC_ROUTES = ["/", "/classes", "/main.js", "/words.json", "/api/access", "/healthz"]


async def store_one(srv: Loopback, token: str | None) -> None:
    url = srv.url + (f"?token={quote(token)}" if token else "")
    async with DoodleClient(url) as c:
        await c.request({"type": "stroke", "x": [0, 50, 100], "y": [0, 80, 0]})
        saved = await c.request({"type": "submit", "word": "secret word"})
    assert saved["type"] == "saved" and saved["id"] == 1, saved


@pytest.fixture(scope="module")
def tokened() -> Iterator[InProcessServer]:
    """A server with a token holding drawing 1 (stored here: the module's tests run on any worker, in any order)."""
    # many requests from one address in a row: the HTTP rate limit is tested in test_gallery.py
    srv = InProcessServer("--max-http-requests-per-second", "1000", env={"DOODLESTREAM_TOKEN": TOKEN})
    asyncio.run(store_one(srv, TOKEN))
    yield srv
    srv.stop()


async def test_history_routes_need_the_token_and_public_ones_do_not(tokened: InProcessServer) -> None:
    """With a token, every history route answers 401 without it (HTML or JSON) and 200 with a Bearer header."""
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in HISTORY_ROUTES:
        status, headers, body = get(tokened.port, path)
        assert status == 401, (path, status)
        assert b"secret word" not in body
        assert headers["WWW-Authenticate"].startswith("Bearer")
        if path.startswith("/api/"):
            assert json.loads(body)["status"] == 401
        assert get(tokened.port, path, {"Authorization": "Bearer wrong"})[0] == 401, path
        status, headers, body = get(tokened.port, path, bearer)
        assert status == 200, (path, status, body[:200])
        assert "public" not in headers.get("Cache-Control", ""), (path, headers["Cache-Control"])
    assert b"secret word" in get(tokened.port, "/api/doodles/1", bearer)[2]
    for path in PUBLIC_ROUTES:
        assert get(tokened.port, path)[0] == 200, path


async def test_healthz_tells_the_public_only_that_the_server_is_up(tokened: InProcessServer) -> None:
    """Without the token /healthz is exactly {"status": "ok"}; with it, the details (pid, sessions, counts)."""
    status, _, body = get(tokened.port, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, _, body = get(tokened.port, "/healthz", {"Authorization": f"Bearer {TOKEN}"})
    details = json.loads(body)
    assert status == 200 and {"pid", "sessions", "pending_drawings", "classifications"} <= set(details)


async def test_a_token_link_sets_a_strict_httponly_cookie_that_opens_the_gallery(tokened: InProcessServer) -> None:
    """/gallery?token= answers the page and a cookie (HttpOnly, SameSite=Strict, Path=/, not the token itself)
    that then opens the API and pictures; a forged cookie does not."""
    status, headers, body = get(tokened.port, "/gallery?token=" + quote(TOKEN))
    assert status == 200 and TOKEN.encode() not in body
    cookie = headers["Set-Cookie"]
    flags = [f.strip() for f in cookie.split(";")]
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(flags), cookie
    name, _, value = flags[0].partition("=")
    assert name == COOKIE and value and TOKEN not in value
    sent = {"Cookie": f"other=1; {COOKIE}={value}"}
    for path in ["/api/doodles", "/doodles/1", "/doodles/1.png", "/healthz"]:
        status, _, body = get(tokened.port, path, sent)
        assert status == 200, path
    assert "pid" in json.loads(get(tokened.port, "/healthz", sent)[2])
    assert get(tokened.port, "/api/doodles", {"Cookie": f"{COOKIE}={value[:-1]}0"})[0] == 401
    assert get(tokened.port, "/gallery?token=wrong")[0] == 401
    # A bearer request or a JSON route gets no cookie: only a browser page opened from a token link.
    assert "Set-Cookie" not in get(tokened.port, "/api/doodles?token=" + quote(TOKEN))[1]


async def test_the_players_token_link_on_the_public_page_sets_the_cookie_and_api_access_tells_the_page(
    tokened: ServerProcess, server: ServerProcess
) -> None:
    """/?token= (a public page) sets the same cookie; /api/access says whether a request holds the token: not without
    it or with a wrong one, yes with the cookie or a bearer header, always on a server without a token."""
    status, headers, _ = get(tokened.port, "/?mode=play&token=" + quote(TOKEN))
    assert status == 200 and headers["Set-Cookie"].startswith(COOKIE + "=")
    assert "Set-Cookie" not in get(tokened.port, "/?token=wrong")[1] and "Set-Cookie" not in get(tokened.port, "/")[1]
    cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}
    access = {
        "none": get(tokened.port, "/api/access"),
        "wrong": get(tokened.port, "/api/access?token=wrong"),
        "cookie": get(tokened.port, "/api/access", cookie),
        "bearer": get(tokened.port, "/api/access", {"Authorization": f"Bearer {TOKEN}"}),
        "open server": get(server.port, "/api/access"),
    }
    said = {k: json.loads(body) for k, (status, _, body) in access.items() if status == 200}
    assert said == {
        "none": {"authorized": False},
        "wrong": {"authorized": False},
        "cookie": {"authorized": True},
        "bearer": {"authorized": True},
        "open server": {"authorized": True},
    }
    assert "Set-Cookie" not in access["cookie"][1]  # JSON answers never set it


async def test_public_gallery_opens_the_drawings_but_not_the_health_details() -> None:
    """With --public-gallery the history routes answer without the token; /ws and /healthz's details still need it."""
    srv = InProcessServer("--public-gallery", env={"DOODLESTREAM_TOKEN": TOKEN})
    try:
        await store_one(srv, TOKEN)
        for path in HISTORY_ROUTES:
            assert get(srv.port, path)[0] == 200, path
        assert json.loads(get(srv.port, "/healthz")[2]) == {"status": "ok"}
        assert get(srv.port, "/ws")[0] == 401
    finally:
        assert srv.stop() == 0


async def test_without_a_token_everything_is_open(server: ServerProcess) -> None:
    """No token: the gallery, its API and /healthz's details answer anyone (the documented default)."""
    assert get(server.port, "/api/doodles")[0] == 200
    assert "pid" in json.loads(get(server.port, "/healthz")[2])


def test_the_gate_judges_each_kind_of_route() -> None:
    """TokenGate: public always; gallery with the token or --public-gallery; private only with the token."""
    gate = TokenGate("t0k")
    none, good = Headers(), Headers([("Authorization", "Bearer t0k")])
    assert gate.grant(none, {}) is Grant.NONE and gate.grant(good, {}) is Grant.HEADER
    assert gate.grant(none, {"token": ["t0k"]}) is Grant.QUERY
    assert gate.grant(none, {"token": ["t0k", "t0k"]}) is Grant.NONE
    assert [gate.allows(a, Grant.NONE) for a in Access] == [True, False, False]
    assert [TokenGate("t0k", public_gallery=True).allows(a, Grant.NONE) for a in Access] == [True, True, False]
    assert all(TokenGate(None).allows(a, Grant.NONE) for a in Access)
