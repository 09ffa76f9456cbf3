"""wsbench: a Jupyter workbench for learning and testing WebSockets with FastAPI.

Start a real uvicorn server (``bench = wsbench.Bench()``), define endpoints live
(``@bench.websocket("/echo")``), connect (``conn = bench.connect("/echo")``), talk, close with
codes, and read what both sides did (``print(conn.transcript)``). For exploratory testing:
``conn.transcript.save(path)`` / ``Transcript.load(path).replay(target)`` (a readable diff),
``transcript.to_pytest(path, app=...)``, :class:`FaultProxy` between a client and a server, the
``wsbench_client`` pytest fixture (:mod:`wsbench.pytest_plugin`) and ``wsbench serve``
(:mod:`wsbench.cli`). The tour: README.md and notebooks/00_start_here.ipynb.
"""

from typing import TYPE_CHECKING

# The names below are imported on first use (PEP 562), not with the package: the pytest
# plugin (wsbench.pytest_plugin) is loaded into every pytest run of an environment with wsbench,
# and importing fastapi, uvicorn and websockets there would cost every run ~0.3 s.
_HOMES = {
    ".client": ("Connection", "aconnect", "connect"),
    ".codes": ("CloseCode", "CodeInfo", "check_close", "describe", "lookup"),
    ".errors": (
        "BenchError",
        "ConnectError",
        "ConnectionClosed",
        "ConnectionRefused",
        "HandshakeRejected",
        "InvalidCloseCode",
        "InvalidJSON",
        "InvalidPath",
        "InvalidTranscript",
        "InvalidURL",
        "ReasonTooLong",
        "SubprotocolNotAccepted",
        "Timeout",
        "TLSFailure",
        "UnsendableText",
        "UpgradeError",
        "WrongMessageType",
        "WsbenchError",
    ),
    ".proxy": ("FaultProxy",),
    ".server": ("Bench", "server_log"),
    ".swarm": ("load",),
    ".transcript": ("Event", "Transcript"),
    ".upgrade": ("upgrade_check",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

if TYPE_CHECKING:  # what type checkers and IDEs see
    from .client import Connection, aconnect, connect
    from .codes import CloseCode, CodeInfo, check_close, describe, lookup
    from .errors import (
        BenchError,
        ConnectError,
        ConnectionClosed,
        ConnectionRefused,
        HandshakeRejected,
        InvalidCloseCode,
        InvalidJSON,
        InvalidPath,
        InvalidTranscript,
        InvalidURL,
        ReasonTooLong,
        SubprotocolNotAccepted,
        Timeout,
        TLSFailure,
        UnsendableText,
        UpgradeError,
        WrongMessageType,
        WsbenchError,
    )
    from .proxy import FaultProxy
    from .server import Bench, server_log
    from .swarm import load
    from .transcript import Event, Transcript
    from .upgrade import upgrade_check


def __getattr__(name: str) -> object:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'wsbench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
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

__version__ = "0.1.0"
