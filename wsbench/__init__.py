"""wsbench: a Jupyter workbench for learning and testing WebSockets with FastAPI.

Start a real uvicorn server, define endpoints live, connect, talk, close with
codes, and read what both sides did::

    bench = wsbench.Bench()

    @bench.websocket("/echo")
    async def echo(websocket: WebSocket):
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(f"echo: {text}")

    conn = bench.connect("/echo")
    conn.send_text("hi")
    conn.receive_text()          # 'echo: hi'
    conn.close(4001, "bye")
    print(conn.transcript)       # both sides, deterministic

For exploratory testing: ``conn.transcript.save(path)`` / ``Transcript.load(path).replay(target)``
(a readable diff), ``transcript.to_pytest(path, app=...)``, :class:`FaultProxy` between a
client and a server, the ``wsbench_client`` pytest fixture (:mod:`wsbench.testing`) and
``wsbench serve`` (:mod:`wsbench.cli`).
"""

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
    InvalidTranscript,
    InvalidURL,
    ReasonTooLong,
    SubprotocolNotAccepted,
    Timeout,
    TLSFailure,
    UnsendableText,
    WrongMessageType,
    WsbenchError,
)
from .proxy import FaultProxy
from .server import Bench, server_log
from .transcript import Event, Transcript

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
    "InvalidTranscript",
    "InvalidURL",
    "ReasonTooLong",
    "SubprotocolNotAccepted",
    "TLSFailure",
    "Timeout",
    "Transcript",
    "UnsendableText",
    "WrongMessageType",
    "WsbenchError",
    "aconnect",
    "check_close",
    "connect",
    "describe",
    "lookup",
    "server_log",
]

__version__ = "0.1.0"
