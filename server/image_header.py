"""Width and height of a PNG or JPEG picture, read from its header without decoding it.

Contract: :func:`picture_size` returns ``(format, width, height)`` for bytes that start
like a PNG (signature, then the ``IHDR`` chunk) or a JPEG (``FF D8``, then markers up to
the first start-of-frame), and raises :class:`server.errors.BadImage` for anything else:
another format, a truncated or inconsistent header, a zero side.  It reads at most the
header's bytes (a JPEG's markers before its frame header), never the pixels, so the
pixel limit can refuse a 32,768 x 32,768 picture before a byte of it is decoded.
"""

from __future__ import annotations

import struct

from server.errors import BadImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (SOF0..SOF15 without DHT C4, JPG C8 and DAC CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers that stand alone, without a length: TEM, RST0..7 (and SOI, EOI).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def picture_size(data: bytes) -> tuple[str, int, int]:
    """``("png" | "jpeg", width, height)`` from the header (see module docstring)."""
    if data.startswith(PNG_SIGNATURE):
        return ("png", *_png_size(data))
    if data.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_size(data))
    raise BadImage("image is neither PNG nor JPEG")


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise BadImage("PNG has no IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    if not width or not height or width > 2**31 - 1 or height > 2**31 - 1:
        raise BadImage(f"PNG header gives an impossible size {width} x {height}")
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    n = len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            raise BadImage("JPEG markers are corrupt")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker == 0xD9 or i + 4 > n:  # end of image, or a truncated segment length
            break
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            raise BadImage("JPEG segment length is corrupt")
        if marker in _SOF_MARKERS:
            if i + 9 > n:
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            if not width or not height:
                raise BadImage(f"JPEG header gives an impossible size {width} x {height}")
            return width, height
        i += 2 + length
    raise BadImage("JPEG has no frame header")
