"""server/image_header.py: PNG/JPEG sizes read from headers; decompression bombs refused before decoding."""

from __future__ import annotations

import inspect
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import BadImage, LimitExceeded
from server.image_header import picture_size
from server.render import render_image
from tests.conftest import ROOT


def png_bomb(side: int) -> bytes:
    """A valid 1-bit grey PNG of side x side pixels, all black (a few hundred KB for 32,768)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from([".png", ".jpg"]), st.sampled_from([1, 3, 4]))
def test_header_size_equals_the_decoded_size(w: int, h: int, ext: str, channels: int) -> None:
    """For PNGs and JPEGs that OpenCV writes, the header's size is the decoded picture's size."""
    if ext == ".jpg" and channels == 4:
        channels = 3
    img = np.full((h, w, channels) if channels > 1 else (h, w), 200, np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    fmt, width, height = picture_size(buf.tobytes())
    assert (fmt, width, height) == ("png" if ext == ".png" else "jpeg", w, h)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 400))
def test_any_bytes_give_a_size_or_bad_image(junk: bytes, cut: int) -> None:
    """Corrupt, truncated or foreign bytes raise BadImage, never another exception."""
    _ok, buf = cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))
    for data in (junk, b"\x89PNG\r\n\x1a\n" + junk, b"\xff\xd8" + junk, buf.tobytes()[:cut]):
        try:
            _, w, h = picture_size(data)
        except BadImage:
            continue
        assert w > 0 and h > 0


def test_other_formats_are_refused_by_name() -> None:
    """A BMP (which OpenCV would decode) is refused as neither PNG nor JPEG."""
    _ok, buf = cv2.imencode(".bmp", np.zeros((8, 8), np.uint8))
    with pytest.raises(BadImage, match="neither PNG nor JPEG"):
        render_image(buf.tobytes())


def test_a_32768_px_png_is_refused_from_its_header() -> None:
    """A 1-bit 32,768 x 32,768 PNG (a gigapixel in a few hundred KB) is refused as too many pixels."""
    bomb = png_bomb(32_768)
    assert len(bomb) < 1_000_000 and picture_size(bomb) == ("png", 32_768, 32_768)
    with pytest.raises(LimitExceeded) as err:
        render_image(bomb)
    assert err.value.code == "image_too_many_pixels"


def test_refusing_a_png_bomb_takes_little_memory() -> None:
    """Peak memory of a process refusing the 32,768 px bomb grows by less than 64 MB."""
    script = (
        "import resource, struct, sys, zlib\n"
        "from server.render import render_image\n" + inspect.getsource(png_bomb) + "bomb = png_bomb(32768)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    render_image(bomb)\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    name, grown_kib = out.stdout.split()
    assert name == "LimitExceeded" and int(grown_kib) < 64 * 1024
