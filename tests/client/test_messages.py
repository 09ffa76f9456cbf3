"""wsbench.client.messages: what may be sent, how JSON is written and read, and the errors for a
message that is not what the caller asked for. First the rules alone (no socket), then the same
rules seen through a Connection to a real Bench."""

from __future__ import annotations

import pytest

import wsbench
from wsbench.client.messages import check_encodable, encode_json, json_kind, parse_json, require, wrong_type

# -- the rules alone --------------------------------------------------------------


def test_encode_json_is_compact_keeps_non_ascii_and_follows_the_mode():
    """encode_json writes Starlette's compact JSON with non-ASCII kept: str for "text", UTF-8 bytes for "binary"."""
    assert encode_json({"a": [1, 2], "name": "Zoë"}, "text") == '{"a":[1,2],"name":"Zoë"}'
    assert encode_json({"name": "Zoë"}, "binary") == '{"name":"Zoë"}'.encode()


def test_json_kind_refuses_an_unknown_mode():
    """A mode other than "text" or "binary" is a ValueError naming both."""
    assert json_kind("text") is str
    assert json_kind("binary") is bytes
    with pytest.raises(ValueError, match='mode must be "text" or "binary"'):
        json_kind("utf-8")


def test_parse_json_failure_shows_the_start_and_the_receive_that_takes_it():
    """Text or bytes that are not JSON raise InvalidJSON (a ValueError) showing the start and the receive_*() to use."""
    assert parse_json(b'{"x": 1}') == {"x": 1}
    with pytest.raises(wsbench.InvalidJSON) as info:
        parse_json("not json {at all}")
    assert isinstance(info.value, ValueError)
    assert "'not json {at all}'" in str(info.value) and "receive_text()" in str(info.value)
    with pytest.raises(wsbench.InvalidJSON, match=r"receive_bytes\(\)"):
        parse_json(b"\xff\xfe")


def test_check_encodable_refuses_a_lone_surrogate():
    """Text with a lone surrogate raises UnsendableText naming its position; other text passes."""
    check_encodable("Zoë ✓", "send_text")
    check_encodable(b"\xff", "send_bytes")
    with pytest.raises(wsbench.UnsendableText, match=r"send_text: .*lone surrogate '\\ud800' at position 2"):
        check_encodable("ab\ud800", "send_text")


def test_require_names_the_method_that_takes_the_value():
    """require() returns a value of the right type; otherwise a TypeError names the method that takes it."""
    assert require("x", str, "send_text", "send_bytes") == "x"
    with pytest.raises(TypeError, match=r"send_text\(\) takes str, not bytes; use send_bytes\(\)"):
        require(b"x", str, "send_text", "send_bytes")
    with pytest.raises(TypeError, match="not int; convert it first"):
        require(1, (bytes, bytearray, memoryview), "send_bytes", "send_text")


def test_wrong_type_describes_the_message_found():
    """wrong_type() says what was found (kind and size), that it stays queued, and which receive takes it."""
    error = wrong_type("receive_text", b"abc")
    assert isinstance(error, wsbench.WrongMessageType) and isinstance(error, TypeError)
    assert str(error) == (
        "receive_text: received a binary message (3 bytes); it stays queued: take it with receive_bytes() or receive()"
    )
    assert "a text message (2 characters)" in str(wrong_type("receive_bytes", "hi"))


# -- receiving the wrong kind -------------------------------------------------------


def test_wrong_message_type_keeps_the_message_queued(bench):
    """Bytes from the server: receive_text raises WrongMessageType, receive_bytes then returns them."""
    conn = bench.connect("/send?n=1&kind=bytes")
    with pytest.raises(wsbench.WrongMessageType) as info:
        conn.receive_text(timeout=2)
    assert isinstance(info.value, TypeError)
    assert "receive_bytes()" in str(info.value)
    assert conn.transcript.filter(kind="receive")[0].data == b"msg 0"
    assert conn.receive_bytes(timeout=2) == b"msg 0"


def test_wrong_message_type_the_other_way(bench):
    """Text from the server: receive_bytes raises WrongMessageType, receive_text then returns it."""
    conn = bench.connect("/echo")
    conn.send_text("words")
    with pytest.raises(wsbench.WrongMessageType, match="receive_text"):
        conn.receive_bytes(timeout=2)
    assert conn.receive_text(timeout=2) == "words"


def test_invalid_json_keeps_the_text_queued(bench):
    """receive_json on text that is not JSON raises InvalidJSON showing its start; the text stays queued."""
    conn = bench.connect("/echo")
    conn.send_text("not json {at all}")
    with pytest.raises(wsbench.InvalidJSON) as info:
        conn.receive_json(timeout=2)
    assert isinstance(info.value, ValueError)
    assert "'not json {at all}'" in str(info.value)
    assert conn.receive_text(timeout=2) == "not json {at all}"


def test_receive_json_binary_mode(bench):
    """receive_json(mode="binary") parses a binary message; send_json(mode="binary") sends one."""
    conn = bench.connect("/echo")
    conn.send_json({"x": 1}, mode="binary")
    assert conn.receive_json(mode="binary", timeout=2) == {"x": 1}


# -- sending ------------------------------------------------------------------------


def test_send_json_is_compact(bench):
    """send_json writes compact JSON, as Starlette's send_json does."""
    conn = bench.connect("/echo")
    conn.send_json({"a": [1, 2]})
    assert conn.receive_text(timeout=2) == '{"a":[1,2]}'


def test_send_json_keeps_non_ascii(bench):
    """send_json does not escape non-ASCII (ensure_ascii=False, like Starlette)."""
    conn = bench.connect("/echo")
    conn.send_json({"name": "Zoë"})
    assert conn.receive_text(timeout=2) == '{"name":"Zoë"}'


def test_json_round_trip_through_starlette(bench):
    """send_json / receive_json round-trip through Starlette's receive_json / send_json."""
    conn = bench.connect("/json")
    conn.send_json({"a": [1, 2], "b": None})
    assert conn.receive_json(timeout=2) == {"a": [1, 2], "b": None}


def test_send_json_unserialisable_raises_before_sending(bench):
    """send_json of a value JSON cannot encode raises TypeError and sends nothing."""
    conn = bench.connect("/echo")
    with pytest.raises(TypeError):
        conn.send_json({"when": object()})
    assert len(conn.transcript.filter(kind="send")) == 0
    conn.send_text("fine")
    assert conn.receive_text(timeout=2) == "fine"
    assert [e.data for e in conn.transcript.filter(kind="send")] == ["fine"]


def test_send_text_with_bytes_names_send_bytes(bench):
    """send_text(b"...") raises TypeError pointing at send_bytes."""
    conn = bench.connect("/echo")
    with pytest.raises(TypeError, match=r"send_bytes\(\)"):
        conn.send_text(b"raw")
    with pytest.raises(TypeError, match=r"send_text\(\)"):
        conn.send_bytes("text")
    assert len(conn.transcript.filter(kind="send")) == 0


def test_send_bytes_echo(bench):
    """send_bytes accepts bytes, bytearray and memoryview and the echo returns bytes."""
    conn = bench.connect("/echo")
    for data in (b"\x00\x01", bytearray(b"ab"), memoryview(b"cd")):
        conn.send_bytes(data)
    assert [conn.receive_bytes(timeout=2) for _ in range(3)] == [b"\x00\x01", b"ab", b"cd"]
