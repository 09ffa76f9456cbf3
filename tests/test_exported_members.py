"""The public names, pinned (as httpx's tests/test_exported_members.py does): adding or removing one
is a decision this file records, not a side effect of an import."""

from __future__ import annotations

import wsbench
import wsbench.asserts

PUBLIC = [
    "Bench",
    "BenchError",
    "CloseCode",
    "CodeInfo",
    "ConnectError",
    "Connection",
    "ConnectionClosed",
    "ConnectionRefused",
    "Event",
    "FaultProxy",
    "HandshakeRejected",
    "InvalidCloseCode",
    "InvalidJSON",
    "InvalidPath",
    "InvalidTranscript",
    "InvalidURL",
    "ReasonTooLong",
    "SubprotocolNotAccepted",
    "TLSFailure",
    "Timeout",
    "Transcript",
    "UnsendableText",
    "UpgradeError",
    "WrongMessageType",
    "WsbenchError",
    "aconnect",
    "check_close",
    "connect",
    "describe",
    "load",
    "lookup",
    "server_log",
    "upgrade_check",
]

#: What generated test files call: users' repositories depend on these staying put.
GENERATED_TESTS_CALL = ["Receiving", "assert_json_matches", "expect_close"]


def test_the_package_exports_exactly_the_public_names():
    assert sorted(wsbench.__all__) == PUBLIC


def test_every_public_name_resolves_to_an_object_of_that_name():
    for name in PUBLIC:
        value = getattr(wsbench, name)
        assert getattr(value, "__name__", name) == name, name


def test_what_generated_tests_call_stays_in_wsbench_asserts():
    assert set(GENERATED_TESTS_CALL) <= set(wsbench.asserts.__all__)
    for name in GENERATED_TESTS_CALL:
        assert callable(getattr(wsbench.asserts, name))
