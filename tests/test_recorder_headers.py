"""The bench's recorder never raises in place of the server: an app's mistake in an accept's headers
(str instead of bytes) reaches uvicorn, which decides (15_accept shows what each implementation does)."""

from __future__ import annotations

from fastapi import WebSocket

import wsbench


async def str_headers(websocket: WebSocket) -> None:
    await websocket.accept(headers=[("x-server", "wsbench")])  # type: ignore[list-item]  # the mistake shown
    await websocket.close()


def test_str_headers_reach_the_server_and_the_transcript_shows_them():
    """wsproto takes str headers: the handshake succeeds, and the accept's headers are recorded as given
    (the recorder used to raise TypeError on them, so the bench answered HTTP 500 where uvicorn would not)."""
    with wsbench.Bench(ws="wsproto", name="wsproto") as bench:
        bench.websocket("/str-headers")(str_headers)
        conn = bench.connect("/str-headers")
        assert conn.wait_closed() == 1000
        accept = conn.transcript.filter(side="server", kind="websocket.accept").events[0]
        assert accept.headers == (("x-server", "wsbench"),)
        assert conn.response_headers.get("x-server") == "wsbench"


def test_on_the_default_implementation_the_error_is_uvicorns():
    """websockets-sansio refuses them: the exception recorded is raised inside uvicorn, not by the recorder."""
    with wsbench.Bench(name="sansio") as bench:
        bench.websocket("/str-headers")(str_headers)
        try:
            bench.connect("/str-headers")
        except wsbench.HandshakeRejected as exc:
            assert exc.status == 500
        bench.wait_idle(timeout=5)
        raised = [e.detail for e in bench.transcript.filter(side="server", kind="exception")]
        assert raised and "decoding str is not supported" not in raised[0], raised
