"""The demo endpoints of the notebooks, in one FastAPI app, for ``wsbench serve``.

``demo_app()`` builds a fresh app each call (the chat rooms live in it). Each endpoint's
docstring is its one-line description, which ``wsbench serve`` and the ``GET /`` page
show. The page holds a tiny in-browser client, so a browser can talk to each endpoint.
"""

from __future__ import annotations

import asyncio
import html
from collections import defaultdict

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.routing import APIWebSocketRoute
from starlette.routing import WebSocketRoute

__all__ = ["demo_app", "websocket_routes"]


def demo_app() -> FastAPI:
    """A FastAPI app with the notebooks' demo endpoints and an HTML page at ``/`` listing them."""
    app = FastAPI(title="wsbench demo")
    rooms: dict[str, set[WebSocket]] = defaultdict(set)

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        """Answers each text message with "echo: <text>" and each binary one with the same bytes."""
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(f"echo: {message['text']}")
            else:
                await websocket.send_bytes(message["bytes"])

    @app.websocket("/json")
    async def json_echo(websocket: WebSocket) -> None:
        """Parses each message as JSON and answers {"type": <Python type>, "data": <the value>}."""
        await websocket.accept()
        try:
            while True:
                data = await websocket.receive_json()
                await websocket.send_json({"type": type(data).__name__, "data": data})
        except WebSocketDisconnect:
            pass
        except ValueError as exc:  # not JSON: say so, with a code a client can show
            await websocket.close(1007, f"not JSON: {exc}"[:123])

    @app.websocket("/chat")
    async def chat(websocket: WebSocket) -> None:
        """Accepts subprotocol "chat.v2" when offered; echoes; "bye" closes with 4001."""
        subprotocol = "chat.v2" if "chat.v2" in websocket.scope["subprotocols"] else None
        await websocket.accept(subprotocol=subprotocol, headers=[(b"x-server", b"wsbench")])
        try:
            while True:
                text = await websocket.receive_text()
                if text == "bye":
                    await websocket.close(4001, "you said bye")
                    return
                await websocket.send_text(f"echo: {text}")
        except WebSocketDisconnect:
            pass

    @app.websocket("/countdown")
    async def countdown(websocket: WebSocket, n: int = 3, interval: float = 0.0) -> None:
        """Sends n, n-1, ..., 1 (?n=3&interval=0), then closes with 4000 "liftoff"."""
        await websocket.accept()
        for i in range(n, 0, -1):
            await websocket.send_text(str(i))
            await asyncio.sleep(max(0.0, min(interval, 10.0)))
        await websocket.close(4000, "liftoff")

    @app.websocket("/close")
    async def close(websocket: WebSocket, code: int = 1000, reason: str = "") -> None:
        """Accepts, then closes at once with ?code=...&reason=... (an invalid code shows what uvicorn does)."""
        await websocket.accept()
        await websocket.close(code, reason)

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str, name: str = "anon") -> None:
        """A broadcast room: each text message goes to everyone in the room as "<name>: <text>"."""
        await websocket.accept()
        members = rooms[room]
        members.add(websocket)
        try:
            async for text in websocket.iter_text():
                for member in list(members):
                    try:
                        await member.send_text(f"{name}: {text}")
                    except (WebSocketDisconnect, RuntimeError):  # left meanwhile
                        members.discard(member)
        finally:
            members.discard(websocket)

    @app.websocket("/members")
    async def members_only(websocket: WebSocket, token: str = "") -> None:
        """Denies the handshake with HTTP 401 unless ?token=sesame; then greets each name sent."""
        if token != "sesame":
            await websocket.send_denial_response(
                PlainTextResponse("members only", status_code=401, headers={"WWW-Authenticate": "Bearer"})
            )
            return
        await websocket.accept()
        async for name in websocket.iter_text():
            await websocket.send_text(f"welcome, {name}")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return _page(app)

    return app


def websocket_routes(app: object) -> list[tuple[str, str]]:
    """(path, one-line description) of each WebSocket route of a Starlette/FastAPI *app*."""
    found = []
    for route in getattr(app, "routes", []):
        if isinstance(route, (APIWebSocketRoute, WebSocketRoute)):
            doc = (route.endpoint.__doc__ or "").strip().splitlines()
            found.append((route.path, doc[0] if doc else ""))
    return found


def _page(app: FastAPI) -> str:
    rows = "".join(
        f'<li><a href="#" data-path="{html.escape(path)}">{html.escape(path)}</a> {html.escape(doc)}</li>'
        for path, doc in websocket_routes(app)
    )
    return _PAGE.replace("{rows}", rows)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wsbench serve</title>
<style>body{font:14px sans-serif;margin:2em;max-width:60em}#log{white-space:pre-wrap;background:#f4f4f4;
padding:.5em;min-height:8em;font-family:monospace}input{width:24em}</style></head>
<body><h1>wsbench serve</h1>
<p>WebSocket endpoints (click one to fill in its URL; from a terminal: <code>wscat -c URL</code>):</p>
<ul>{rows}</ul>
<p><input id="url"> <button id="open">connect</button> <button id="close">close</button></p>
<p><input id="msg" placeholder="message"> <button id="send">send</button></p>
<div id="log"></div>
<script>
const $ = (id) => document.getElementById(id);
// This page is the app's "/": its own path is the app's root under any proxy prefix
// (/user/ann/proxy/8765/ on JupyterHub); ws: or wss: as the page came over http: or https:.
const root = location.pathname.replace(/\\/$/, "");
const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root;
let ws = null;
const log = (line) => { $("log").textContent += line + "\\n"; };
document.querySelectorAll("a[data-path]").forEach((a) => a.onclick = (e) => {
  e.preventDefault(); $("url").value = base + a.dataset.path; });
$("url").value = base + "/echo";
$("open").onclick = () => {
  ws = new WebSocket($("url").value);
  ws.onopen = () => log("open " + ws.url + (ws.protocol ? " subprotocol " + ws.protocol : ""));
  ws.onmessage = (e) => log("< " + e.data);
  ws.onclose = (e) => log("closed " + e.code + " " + e.reason);
};
$("send").onclick = () => { if (ws) { ws.send($("msg").value); log("> " + $("msg").value); } };
$("close").onclick = () => { if (ws) ws.close(1000, "bye"); };
</script></body></html>
"""
