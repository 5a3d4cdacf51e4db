"""server/protocol.py: decoding, validation and encoding of protocol v1."""

from __future__ import annotations

import base64
import json
import math
import unicodedata

import msgpack
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server import protocol, teach_protocol
from server.errors import ClientFault, ErrorCode, InvalidField, LimitExceeded, MalformedMessage, UnknownType
from server.history import messages as history_messages
from server.limits import Limits
from server.rooms import messages as room_messages

L = Limits()
#: Every message type the shipped features register beside the core's: the decoder's promise holds for all.
ALL_PARSERS = {**protocol.CORE_PARSERS, **history_messages.PARSERS, **teach_protocol.PARSERS, **room_messages.PARSERS}


def decode(frame: bytes | str) -> protocol.Message:
    """Decode with every shipped parser, as a server with every feature installed does."""
    return protocol.decode(frame, limits=L, parsers=ALL_PARSERS)


def pack(m: object) -> bytes:
    return msgpack.packb(m, use_bin_type=True)


def test_points_decode_to_equal_length_float_arrays() -> None:
    """points: x, y become float64 arrays, t int64, seq echoed."""
    m = protocol.decode(pack({"type": "points", "x": [1, 2.5], "y": [3, 4], "t": [0, 16], "seq": 9}), limits=L)
    assert isinstance(m, protocol.PointsMsg) and m.seq == 9
    assert m.x.dtype == np.float64 and m.x.tolist() == [1.0, 2.5] and m.y.tolist() == [3.0, 4.0]
    assert m.t is not None and m.t.dtype == np.int64 and m.t.tolist() == [0, 16]


def test_every_message_type_decodes_from_msgpack_and_json() -> None:
    """Each v1 client type decodes the same from msgpack and from JSON text."""
    msgs = [
        {"type": "hello", "live_ms": 250, "client": "web"},
        {"type": "points", "x": [1], "y": [2]},
        {"type": "stroke", "x": [1, 2], "y": [2, 3], "t": [0, 5]},
        {"type": "pen_up"},
        {"type": "undo"},
        {"type": "clear"},
    ]
    for m in msgs:
        a, b = protocol.decode(pack(m), limits=L), protocol.decode(json.dumps(m), limits=L)
        assert type(a) is type(b) and type(a).__name__.lower().startswith(m["type"].replace("_", ""))
    img = protocol.decode(pack({"type": "image", "png": b"\x89PNG"}), limits=L)
    img_json = protocol.decode(json.dumps({"type": "image", "png": base64.b64encode(b"\x89PNG").decode()}), limits=L)
    assert isinstance(img, protocol.ImageMsg) and isinstance(img_json, protocol.ImageMsg) and img.data == img_json.data


@pytest.mark.parametrize(
    ("frame", "exc"),
    [
        (b"", MalformedMessage),
        (b"\xc1", MalformedMessage),
        (pack([1, 2]), MalformedMessage),
        ("[1]", MalformedMessage),
        ("{", MalformedMessage),
        (pack({"type": None}), UnknownType),
        (pack({"type": "x" * 1000}), UnknownType),
        (pack({"type": "points", "x": [1], "y": [1, 2]}), InvalidField),
        (pack({"type": "points", "x": [1, "2"], "y": [1, 2]}), InvalidField),
        (pack({"type": "points", "x": [[1]], "y": [1]}), InvalidField),
        (pack({"type": "points", "x": [1e300], "y": [1]}), InvalidField),
        (pack({"type": "points", "x": [math.inf], "y": [1]}), InvalidField),
        (pack({"type": "points", "x": [1], "y": [1], "t": [2**50]}), InvalidField),
        (pack({"type": "points", "x": [0.0] * 5000, "y": [0.0] * 5000}), LimitExceeded),
        (pack({"type": "pen_up", "seq": True}), InvalidField),
        (pack({"type": "hello", "live_ms": "fast"}), InvalidField),
        (pack({"type": "image", "png": b"x" * (L.max_image_bytes + 1)}), LimitExceeded),
    ],
)
def test_bad_frames_raise_protocol_errors_with_codes(frame: bytes | str, exc: type[ClientFault]) -> None:
    """Each malformed or invalid frame raises its ClientFault subclass (with a code)."""
    with pytest.raises(exc) as info:
        protocol.decode(frame, limits=L)
    assert info.value.code and info.value.message


def test_frames_over_the_size_limit_are_refused_before_parsing() -> None:
    """A frame larger than max_frame_bytes is a limit error."""
    small = Limits(max_frame_bytes=100)
    with pytest.raises(LimitExceeded) as info:
        protocol.decode(pack({"type": "points", "x": [1.0] * 50, "y": [1.0] * 50}), limits=small)
    assert info.value.code == "frame_too_large"


def test_deeply_nested_frames_are_malformed_not_crashes() -> None:
    """Deep nesting in msgpack or JSON is refused as malformed."""
    deep_json = "[" * 100_000 + "]" * 100_000
    with pytest.raises(MalformedMessage):
        protocol.decode(deep_json, limits=L)
    deep_pack = b"\x91" * 100_000 + b"\xc0"
    with pytest.raises(MalformedMessage):
        protocol.decode(deep_pack, limits=L)


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_any_bytes_decode_or_raise_a_protocol_error(data: bytes) -> None:
    """Arbitrary bytes never raise anything but a ClientFault."""
    try:
        decode(data)
    except ClientFault:
        pass


#: A valid map of every shipped message type, every field it has set: what the fuzzing below spoils.
VALID: dict[str, dict[str, object]] = {
    "hello": {
        "type": "hello",
        "seq": 1,
        "live_ms": 100,
        "client": "web",
        "words": ["cat", "dog"],
        "top_k": 3,
        "target": "cat",
        "target_threshold": 0.5,
        "recognize": "top1",
        "resume": "k" * 22,
    },
    "points": {"type": "points", "seq": 1, "x": [1.0, 2.0], "y": [2.0, 3.0], "t": [0, 16]},
    "stroke": {"type": "stroke", "seq": 1, "x": [1.0, 2.0], "y": [2.0, 3.0], "t": [0, 16]},
    "pen_up": {"type": "pen_up", "seq": 1},
    "undo": {"type": "undo", "seq": 1},
    "clear": {"type": "clear", "seq": 1},
    "image": {"type": "image", "seq": 1, "png": b"\x89PNG"},
    "submit": {"type": "submit", "seq": 1, "word": "cat"},
    "sprite": {"type": "sprite", "seq": 1, "id": 7},
    "teach": {
        "type": "teach",
        "seq": 1,
        "word": "zorblat",
        "drawings": [[{"x": [0, 5], "y": [0, 5]}]],
        "scope": "server",
        "admin_token": "t",
    },
    "forget": {"type": "forget", "seq": 1, "word": "zorblat", "scope": "session", "admin_token": "t"},
    "delete": {"type": "delete", "seq": 1, "key": "k" * 22},
    "mine": {"type": "mine", "seq": 1, "keys": ["k" * 22]},
    "moderate": {"type": "moderate", "seq": 1, "id": 7, "action": "hide", "admin_token": "t"},
    "room_create": {"type": "room_create", "seq": 1, "name": "Ann", "rounds": 2, "seconds": 30, "words": ["cat"]},
    "room_join": {"type": "room_join", "seq": 1, "code": "ABCD-EFGH", "name": "Bob", "key": "k" * 22},
    "room_leave": {"type": "room_leave", "seq": 1},
    "room_start": {"type": "room_start", "seq": 1},
    "guess": {"type": "guess", "seq": 1, "text": "a cat"},
}


def test_every_shipped_type_has_a_valid_map_that_decodes() -> None:
    """The fuzzing's valid maps cover every shipped type (the core's and the features') and decode as given."""
    assert set(VALID) == set(ALL_PARSERS)
    for kind, m in VALID.items():
        msg = decode(pack(m))
        assert msg.seq == 1 and type(msg).__name__.lower().startswith(kind.replace("_", ""))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.data(), msgpack_values, st.booleans())
def test_fuzz_one_spoiled_field_decodes_or_is_refused_naming_it(
    kind: str, data: st.DataObject, value: object, drop: bool
) -> None:
    """A valid map of each type with one field replaced by any value (or dropped) decodes to the same type, or is
    refused with a ClientFault that names that field (or a limit's code): no value reaches an unnamed catch-all."""
    m = dict(VALID[kind])
    field = data.draw(st.sampled_from(sorted(set(m) - {"type"})))
    if drop:
        del m[field]
    else:
        m[field] = value
    try:
        frame = pack(m)
    except OverflowError:  # an integer msgpack cannot carry: no client can send it
        assume(False)
    try:
        msg = decode(frame)
    except LimitExceeded as e:
        assert e.code and e.message
        return
    except ClientFault as e:
        assert f"'{field}'" in e.message, (field, e.message)
        return
    assert type(msg) is type(decode(pack(VALID[kind])))
    if isinstance(msg, protocol.PointsMsg | protocol.StrokeMsg):
        assert len(msg.x) == len(msg.y) and np.isfinite(msg.x).all() and np.isfinite(msg.y).all()
        assert msg.t is None or len(msg.t) == len(msg.x)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "x",
                "y",
                "t",
                "seq",
                "png",
                "live_ms",
                "client",
                "zzz",
                "word",
                "id",
                "size",
                "key",
                "keys",
                "action",
                "admin_token",
                "scope",
                "drawings",
                "name",
                "code",
                "text",
                "rounds",
                "seconds",
                "words",
            ]
        ),
        msgpack_values,
        max_size=6,
    ),
    st.sampled_from([*sorted(ALL_PARSERS), "nope"]),
    st.booleans(),
)
def test_fuzz_any_map_decodes_or_raises_a_protocol_error(m: dict, kind: str, as_text: bool) -> None:
    """Any map of any values, as msgpack or JSON, decodes validly or raises a ClientFault."""
    m.setdefault("type", kind)
    try:
        frame: bytes | str = json.dumps(m, default=lambda b: base64.b64encode(b).decode()) if as_text else pack(m)
    except (ValueError, OverflowError):
        return
    try:
        decode(frame)
    except ClientFault:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), max_size=50).flatmap(
        lambda xs: st.tuples(st.just(xs), st.lists(st.floats(-1e6, 1e6), min_size=len(xs), max_size=len(xs)))
    ),
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
)
def test_points_round_trip_exactly(xy: tuple[list[float], list[float]], seq: int | None) -> None:
    """Finite coordinates and any 64-bit seq survive msgpack and JSON unchanged."""
    xs, ys = xy
    m: dict = {"type": "points", "x": xs, "y": ys}
    if seq is not None:
        m["seq"] = seq
    for frame in (pack(m), json.dumps(m)):
        d = protocol.decode(frame, limits=L)
        assert isinstance(d, protocol.PointsMsg) and d.x.tolist() == xs and d.y.tolist() == ys and d.seq == seq


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.floats(0, 1)), max_size=5), st.floats(0, 1e4), st.booleans())
def test_encode_guesses_round_trips(top: list[tuple[str, float]], ms: float, text: bool) -> None:
    """guesses messages encode to msgpack or JSON and decode back to the same content."""
    msg = protocol.with_seq(protocol.guesses(strokes=3, top=top, ms=ms), 12)
    frame = protocol.encode(msg, text=text)
    back = json.loads(frame) if text else msgpack.unpackb(frame, raw=False)
    assert back["type"] == "guesses" and back["seq"] == 12 and back["strokes"] == 3
    assert [g["word"] for g in back["guesses"]] == [w for w, _ in top]


def test_bytes_are_base64_in_json_replies() -> None:
    """A reply with bytes (a sprite) carries base64 in JSON and bin in msgpack."""
    msg = {"type": "sprite", "png": b"\x89PNG\x00"}
    assert json.loads(protocol.encode(msg, text=True))["png"] == base64.b64encode(b"\x89PNG\x00").decode()
    assert msgpack.unpackb(protocol.encode(msg, text=False))["png"] == b"\x89PNG\x00"


valid_msgs = st.one_of(
    st.builds(
        lambda kind, xs, seq: {"type": kind, "x": xs, "y": xs[::-1], **({"seq": seq} if seq is not None else {})},
        st.sampled_from(["points", "stroke"]),
        st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30),
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    ),
    st.builds(lambda kind: {"type": kind}, st.sampled_from(["pen_up", "undo", "clear"])),
    st.builds(lambda ms: {"type": "hello", "live_ms": ms}, st.integers(50, 5000)),
)


@settings(max_examples=400, deadline=None)
@given(valid_msgs, st.data())
def test_fuzz_every_truncation_of_a_valid_frame_is_malformed(m: dict, data: st.DataObject) -> None:
    """Any strict prefix of a valid msgpack (binary) or JSON (text) frame is refused as malformed; so are
    trailing bytes after a complete msgpack map."""
    for frame in (pack(m), json.dumps(m)):
        assert type(protocol.decode(frame, limits=L)).__name__.lower().startswith(m["type"].replace("_", ""))
        cut = data.draw(st.integers(0, len(frame) - 1))
        with pytest.raises(MalformedMessage):
            protocol.decode(frame[:cut], limits=L)
    with pytest.raises(MalformedMessage):
        protocol.decode(pack(m) + data.draw(st.binary(min_size=1, max_size=8)), limits=L)


@settings(max_examples=300, deadline=None)
@given(valid_msgs)
def test_fuzz_text_and_binary_frames_are_not_interchangeable(m: dict) -> None:
    """A text frame is JSON and a binary frame msgpack: the same map decodes identically from each, JSON in a
    binary frame and msgpack in a text frame are malformed (never another message)."""
    a, b = protocol.decode(pack(m), limits=L), protocol.decode(json.dumps(m), limits=L)
    assert type(a) is type(b) and a.seq == b.seq
    if isinstance(a, protocol.PointsMsg | protocol.StrokeMsg):
        assert isinstance(b, protocol.PointsMsg | protocol.StrokeMsg) and a.x.tolist() == b.x.tolist()
    with pytest.raises(MalformedMessage):
        protocol.decode(json.dumps(m).encode(), limits=L)
    with pytest.raises(MalformedMessage):
        protocol.decode(pack(m).decode("latin-1"), limits=L)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_any_text_frame_decodes_or_raises_a_protocol_error(text: str) -> None:
    """Arbitrary text frames never raise anything but a ClientFault."""
    try:
        decode(text)
    except ClientFault:
        pass


@pytest.mark.parametrize("n", [1, protocol.SMALL_LIST, protocol.SMALL_LIST + 1, 200])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2e9, -(10**12)])
def test_short_and_long_point_lists_are_validated_alike(n: int, bad: float) -> None:
    """The plain-Python path for short lists and the numpy path for long ones reject the same values."""
    xs: list[float] = [float(i) for i in range(n)]
    ok = protocol.decode(pack({"type": "points", "x": xs, "y": xs}), limits=L)
    assert isinstance(ok, protocol.PointsMsg) and ok.x.dtype == np.float64 and ok.x.tolist() == xs
    xs[-1] = bad
    with pytest.raises(InvalidField):
        protocol.decode(pack({"type": "points", "x": xs, "y": [0.0] * n}), limits=L)


surrogate = st.integers(0xD800, 0xDFFF).map(chr)
valid_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Cf"), blacklist_characters=protocol.BIDI_CONTROLS),
    min_size=1,
    max_size=20,
).filter(str.strip)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


@settings(max_examples=200, deadline=None)
@given(valid_text, surrogate, st.integers(0, 20), st.sampled_from(["word", "client"]))
def test_lone_surrogates_in_kept_strings_are_invalid_field(text: str, bad: str, at: int, field: str) -> None:
    """A lone UTF-16 surrogate anywhere in a JSON word or client is invalid_field; without it, it decodes."""
    kind = "submit" if field == "word" else "hello"
    spoiled = text[:at] + bad + text[at:]
    with pytest.raises(InvalidField) as e:
        decode(json.dumps({"type": kind, field: spoiled}))
    assert e.value.code == "invalid_field" and "surrogate" in e.value.message
    ok = decode(json.dumps({"type": kind, field: text}))
    assert getattr(ok, field) == nfc(text)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=2.0**40), st.integers(1, 40))
def test_times_up_to_max_time_ms_are_accepted_beyond_it_refused_as_times(t: float, n: int) -> None:
    """t in 0..2^40 ms decodes (short and long lists alike); beyond it the error speaks of ms, not coordinates."""
    xs = [0.0] * n
    ok = protocol.decode(pack({"type": "points", "x": xs, "y": xs, "t": [t] * n}), limits=L)
    assert isinstance(ok, protocol.PointsMsg) and ok.t is not None and int(ok.t[0]) == round(t)
    for bad in (2.0**40 + 1, 1e15, -1.0):
        with pytest.raises(InvalidField) as e:
            protocol.decode(pack({"type": "points", "x": xs, "y": xs, "t": [bad] * n}), limits=L)
        assert "milliseconds" in e.value.message and "coordinate" not in e.value.message


@settings(max_examples=200, deadline=None)
@given(
    words=st.none() | st.lists(st.text(min_size=1, max_size=70), min_size=0, max_size=400),
    k=st.none() | st.integers(-5, 30) | st.booleans() | st.floats(allow_nan=True),
    threshold=st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-2, 3),
    resume=st.none() | st.text(max_size=80) | st.integers(-(2**63), 2**63 - 1),
)
def test_hello_v11_fields_decode_or_fail_with_a_code(
    words: object, k: object, threshold: object, resume: object
) -> None:
    """hello v1.1 fields: valid values decode exactly (words trimmed, deduplicated); anything else: a ClientFault."""
    m = {"type": "hello", "words": words, "top_k": k, "target_threshold": threshold, "resume": resume}
    try:
        h = protocol.decode(pack(m), limits=L)
    except ClientFault as e:
        assert e.code
        return
    assert isinstance(h, protocol.HelloMsg)
    assert h.given == {"words", "top_k", "target_threshold", "resume"}
    if words is not None:
        assert isinstance(words, list) and 1 <= len(words) <= 345 and h.words is not None
        assert list(h.words) == list(dict.fromkeys(nfc(w) for w in words))
    assert k is None or (h.top_k == k and 1 <= int(k) <= 20)
    assert threshold is None or (h.target_threshold == threshold and 0 < float(threshold) <= 1)  # type: ignore[arg-type]
    assert h.resume == resume


@pytest.mark.parametrize("rule", [*protocol.RECOGNIZE_RULES, None])
def test_hello_recognize_decodes_each_rule_or_null(rule: str | None) -> None:
    """hello.recognize: each rule (and null, the default) decodes, from msgpack and JSON, and is named in `given`."""
    for frame in (pack({"type": "hello", "recognize": rule}), json.dumps({"type": "hello", "recognize": rule})):
        h = protocol.decode(frame, limits=L)
        assert isinstance(h, protocol.HelloMsg) and h.recognize == rule and h.given == {"recognize"}
    assert protocol.decode(pack({"type": "hello"}), limits=L).given == frozenset()  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["TOP1", "top2", "", " score", 1, True, 0.5, ["top1"], {"rule": "top1"}])
def test_hello_recognize_refuses_anything_else_as_invalid_field(bad: object) -> None:
    """hello.recognize that is not one of the rules is invalid_field naming the field and the rules."""
    with pytest.raises(InvalidField) as e:
        protocol.decode(pack({"type": "hello", "target": "cat", "recognize": bad}), limits=L)
    assert "'recognize'" in e.value.message and "'top1'" in e.value.message and "'score'" in e.value.message


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(0, 22),
    points=st.integers(0, 5),
    scope=st.sampled_from(["session", "server", "world", None]),
)
def test_teach_decodes_drawings_within_limits(n: int, points: int, scope: str | None) -> None:
    """teach: 1..20 drawings of strokes with points and a known scope decode to point arrays; else a ClientFault."""
    stroke = {"x": list(range(points)), "y": list(range(points))}
    m: dict[str, object] = {"type": "teach", "word": " zorblat ", "drawings": [[stroke, stroke]] * n}
    if scope is not None:
        m["scope"] = scope
    ok = 1 <= n <= 20 and points >= 1 and scope in ("session", "server", None)
    try:
        t = decode(json.dumps(m))
    except ClientFault as e:
        assert not ok and e.code
        return
    assert ok and isinstance(t, teach_protocol.TeachMsg)
    assert t.word == "zorblat" and t.scope == (scope or "session") and len(t.drawings) == n
    assert all(s.shape == (points, 2) for d in t.drawings for s in d)


@pytest.mark.parametrize(
    ("kind", "field"),
    [("submit", "word"), ("hello", "client"), ("hello", "target"), ("teach", "word"), ("forget", "word")],
)
def test_text_players_name_is_nfc_and_refuses_control_and_bidi_characters(kind: str, field: str) -> None:
    """Words and hello.client come back NFC-normalised (a decomposed e-acute equals the composed one); an RTL
    override, a bidi isolate, a zero-width mark, a bell or a line separator anywhere is bad_text naming it."""
    stroke = {"x": [1, 2], "y": [1, 2]}
    extra: dict[str, object] = {"drawings": [[stroke]]} if kind == "teach" else {}
    ok = decode(pack({"type": kind, field: " cafe\u0301 ", **extra}))
    assert getattr(ok, field) == "caf\u00e9"
    for bad in ("\u202e", "\u2066", "\u200f", "\x07", "\u2028", "\x85"):
        with pytest.raises(ClientFault) as e:
            decode(pack({"type": kind, field: f"gpj{bad}exe", **extra}))
        assert e.value.code == "bad_text" and f"U+{ord(bad):04X}" in e.value.message
    with pytest.raises(ClientFault) as e:
        protocol.decode(pack({"type": "hello", "words": ["cat", "d\u202eog"]}), limits=L)
    assert e.value.code == "bad_text"


def test_v11_replies_encode_their_fields() -> None:
    """guesses with a drawing key and target, recognized, cleared, taught, forgotten and welcome's features."""
    g = protocol.guesses(strokes=2, top=[("cat", 0.5)], ms=1.0, drawing="k", target=("dog", 0.123456, 2, True))
    assert g["drawing"] == "k" and g["target"] == {"word": "dog", "score": 0.12346, "rank": 2, "almost": True}
    assert protocol.guesses(strokes=1, top=[], ms=1.0).keys() == {"type", "strokes", "guesses", "ms"}
    r = protocol.recognized(word="cat", score_=0.95, strokes=3, ms=1200, rule="top1")
    assert r["ms"] == 1200 and r["rule"] == "top1"
    assert protocol.cleared(drawing="k") == {"type": "cleared", "drawing": "k"}
    assert teach_protocol.taught(word="w", examples=3, scope="session")["examples"] == 3
    w = protocol.welcome(session="s", model="m", classes=3, limits={}, features=["words", "resume"])
    assert w["protocol_minor"] == protocol.PROTOCOL_MINOR and w["features"] == ["resume", "words"]


_NUMBER = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1.5, -0.0, 2.5, 86_400_000, 86_400_001, -1, True, None, "1"]),
)


@settings(max_examples=400, deadline=None)
@given(
    x=st.lists(_NUMBER, max_size=20),
    y=st.lists(_NUMBER, max_size=20),
    t=st.one_of(st.none(), st.lists(_NUMBER, max_size=20)),
)
def test_the_small_points_fast_path_decodes_exactly_as_the_general_one(
    x: list[object], y: list[object], t: list[object] | None
) -> None:
    """points with up to 20 values of any kind: the one-pass fast path for short lists gives the same arrays
    (dtype included) or the same error (class and message) as the checks it skips."""
    msg: dict[str, object] = {"type": "points", "x": x, "y": y}
    if t is not None:
        msg["t"] = t
    frame = msgpack.packb(msg)
    limits = Limits()

    def outcome() -> object:
        try:
            m = protocol.decode(frame, limits=limits)
        except ClientFault as e:
            return (type(e), e.message)
        assert isinstance(m, protocol.PointsMsg)
        return [(a.dtype.str, a.tolist()) for a in (m.x, m.y, m.t) if a is not None] + [m.t is None]

    fast = outcome()
    fits = protocol._fits
    protocol._fits = lambda v, bound: False  # no list takes the fast path
    try:
        general = outcome()
    finally:
        protocol._fits = fits
    assert fast == general


@pytest.mark.parametrize("kind", sorted(set(ALL_PARSERS) - set(protocol.CORE_PARSERS)))
def test_a_feature_type_is_unknown_to_a_decoder_without_its_feature(kind: str) -> None:
    """A feature's message type decodes only when its parser is given: the core alone answers unknown_type."""
    with pytest.raises(UnknownType) as e:
        protocol.decode(pack({"type": kind}), limits=L)
    assert e.value.code == ErrorCode.UNKNOWN_TYPE and kind in e.value.message


def test_feature_types_are_not_the_cores_nor_each_others() -> None:
    """The shipped features' message types are disjoint from the core's and from each other's."""
    tables = [protocol.CORE_PARSERS, history_messages.PARSERS, teach_protocol.PARSERS, room_messages.PARSERS]
    assert sum(len(t) for t in tables) == len(ALL_PARSERS)
