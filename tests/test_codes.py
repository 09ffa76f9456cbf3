"""Tests for wsbench.codes: the sending rules, the labels, and the cross-checks with
fastapi.status and websockets.frames."""

from __future__ import annotations

import pytest
import websockets.exceptions
import websockets.frames
from fastapi import status as fastapi_status  # fastapi has no status module: it re-exports starlette's

from wsbench.codes import REGISTERED, CloseCode, check_close, describe, lookup
from wsbench.errors import InvalidCloseCode, ReasonTooLong, WsbenchError

SENDABLE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]


# -- codes that may never be sent -------------------------------------------


@pytest.mark.parametrize("code", [1005, 1006, 1015])
def test_internal_codes_are_refused_naming_the_rule(code):
    """1005, 1006 and 1015 are refused with the RFC rule and the sendable ranges in the message."""
    with pytest.raises(InvalidCloseCode) as info:
        check_close(code)
    message = str(info.value)
    assert "RFC 6455 §7.4.1" in message
    assert "must never send" in message
    assert "1000-1003, 1007-1014, 3000-4999" in message
    assert str(code) in message
    assert info.value.code == code


@pytest.mark.parametrize("code", [1004, 1016, 1999, 2000, 2999])
def test_reserved_codes_are_refused(code):
    """1004 and 1016-2999 are reserved and refused, naming the rule and the sendable ranges."""
    with pytest.raises(InvalidCloseCode) as info:
        check_close(code)
    assert "RFC 6455" in str(info.value)
    assert "1000-1003, 1007-1014, 3000-4999" in str(info.value)


@pytest.mark.parametrize("code", [0, 999, -1, 5000, 65535])
def test_codes_outside_1000_4999_are_refused(code):
    """Codes below 1000 or above 4999 are refused."""
    with pytest.raises(InvalidCloseCode) as info:
        check_close(code)
    assert "outside 1000-4999" in str(info.value)
    assert info.value.code == code


@pytest.mark.parametrize("code", [True, False, 1000.0, "1000", None, b"\x03\xe8"])
def test_non_int_codes_are_refused(code):
    """A bool, float, str, None or bytes is not a close code, even when it equals one."""
    with pytest.raises(InvalidCloseCode):
        check_close(code)


@pytest.mark.parametrize("code", [True, 1000.0, "1000"])
def test_lookup_refuses_non_int(code):
    """lookup() raises InvalidCloseCode for anything but an int, naming the type."""
    with pytest.raises(InvalidCloseCode) as info:
        lookup(code)
    assert type(code).__name__ in str(info.value)


def test_close_code_exceptions_are_value_errors():
    """InvalidCloseCode and ReasonTooLong are both ValueError and WsbenchError."""
    for cls in (InvalidCloseCode, ReasonTooLong):
        assert issubclass(cls, ValueError)
        assert issubclass(cls, WsbenchError)


# -- codes that may be sent -------------------------------------------------


@pytest.mark.parametrize("code", SENDABLE)
def test_sendable_codes_are_accepted(code):
    """1000-1003, 1007-1014 and 3000-4999 (edges included) may be sent."""
    assert check_close(code, "reason") is None
    assert lookup(code).may_send


def test_close_code_enum_members_are_accepted_like_ints():
    """A CloseCode member is checked like the int it stands for."""
    assert check_close(CloseCode.NORMAL_CLOSURE) is None
    with pytest.raises(InvalidCloseCode):
        check_close(CloseCode.ABNORMAL_CLOSURE)


def test_sending_rules_agree_with_websockets():
    """For every code from -1 to 5001, check_close accepts exactly what websockets' Close.check accepts."""
    for code in [*range(-1, 5002), 65535]:
        try:
            websockets.frames.Close(code, "").check()
            websockets_ok = True
        except websockets.exceptions.ProtocolError:
            websockets_ok = False
        try:
            check_close(code)
            ours_ok = True
        except InvalidCloseCode:
            ours_ok = False
        assert ours_ok == websockets_ok, code


# -- reasons ----------------------------------------------------------------


def test_reason_of_123_bytes_is_accepted():
    """A reason of exactly 123 UTF-8 bytes fits in a close frame."""
    assert check_close(1000, "x" * 123) is None


def test_reason_of_124_bytes_is_refused():
    """A reason of 124 bytes is refused with ReasonTooLong carrying the size."""
    with pytest.raises(ReasonTooLong) as info:
        check_close(1000, "x" * 124)
    assert info.value.size == 124
    assert "124 bytes" in str(info.value)
    assert "123" in str(info.value)


def test_multibyte_reason_is_measured_in_bytes():
    """62 "é" are only 62 characters but 124 bytes of UTF-8, so they are refused."""
    reason = "é" * 62
    assert len(reason) == 62
    with pytest.raises(ReasonTooLong) as info:
        check_close(4000, reason)
    assert info.value.size == 124


def test_multibyte_reason_of_123_bytes_is_accepted():
    """41 three-byte characters make exactly 123 bytes and are accepted."""
    reason = "€" * 41
    assert len(reason.encode("utf-8")) == 123
    assert check_close(4000, reason) is None


def test_reason_limit_agrees_with_websockets_frame_check():
    """123 bytes pass and 124 fail both check_close and websockets' control-frame check."""
    for size, fits in ((123, True), (124, False)):
        payload = websockets.frames.Close(1000, "x" * size).serialize()
        frame = websockets.frames.Frame(websockets.frames.Opcode.CLOSE, payload)
        try:
            frame.check()
            websockets_ok = True
        except websockets.exceptions.ProtocolError:
            websockets_ok = False
        try:
            check_close(1000, "x" * size)
            ours_ok = True
        except ReasonTooLong:
            ours_ok = False
        assert ours_ok == websockets_ok == fits


@pytest.mark.parametrize("reason", [None, b"bye", 42])
def test_non_str_reason_is_a_type_error(reason):
    """A reason that is not a str raises TypeError."""
    with pytest.raises(TypeError):
        check_close(1000, reason)


# -- describe and lookup ----------------------------------------------------


def test_describe_private_code_with_reason():
    """describe(4001, "bye") reads "4001 (private use) bye"."""
    assert describe(4001, "bye") == "4001 (private use) bye"


def test_describe_ok_without_reason():
    """describe(1000) reads "1000 (OK)" with no trailing space."""
    assert describe(1000) == "1000 (OK)"


def test_describe_none():
    """describe(None) says there was no close code."""
    assert describe(None) == "no close code"


def test_describe_registered_range():
    """An unnamed code in 3000-3999 is labelled "registered"."""
    assert describe(3500) == "3500 (registered)"


def test_describe_enum_member_shows_the_number():
    """A CloseCode member renders as its number, not its enum name."""
    assert describe(CloseCode.GOING_AWAY, "bye") == "1001 (going away) bye"


def test_every_close_code_member_has_its_own_entry():
    """Each CloseCode member is registered with a label of its own, not a range label."""
    registered = {info.code for info in REGISTERED}
    for member in CloseCode:
        assert int(member) in registered
        assert lookup(member).label not in ("registered", "private use", "reserved", "invalid")


def test_unsendable_registered_codes_name_a_rule():
    """A registered code that may not be sent says why; one that may has an empty rule."""
    for info in REGISTERED:
        assert info.may_send == (info.rule == "")


# -- cross-checks with the real libraries -----------------------------------


def test_fastapi_names_exist_in_fastapi_status():
    """Every fastapi_name is a constant of fastapi.status with the same value."""
    named = [info for info in REGISTERED if info.fastapi_name is not None]
    assert named
    for info in named:
        assert getattr(fastapi_status, info.fastapi_name) == info.code


def test_fastapi_ws_constants_map_back():
    """Every WS_* constant of fastapi.status whose code is registered maps back to its name."""
    registered = {info.code: info for info in REGISTERED}
    constants = {name: value for name, value in vars(fastapi_status).items() if name.startswith("WS_")}
    assert constants
    for name, value in constants.items():
        if value in registered:
            assert registered[value].fastapi_name == name


def test_labels_match_websockets():
    """Labels agree with websockets.frames.CLOSE_CODE_EXPLANATIONS for every code both know."""
    explanations = websockets.frames.CLOSE_CODE_EXPLANATIONS
    common = [info for info in REGISTERED if info.code in explanations]
    assert len(common) >= 14
    for info in common:
        assert info.label == explanations[info.code]
        assert str(info) == str(websockets.frames.Close(info.code, ""))
