"""The browser as a WebSocket client, driven from a cell: :class:`BrowserClient`.

Made by :meth:`wsbench.Bench.browser_connect`: its JavaScript opens a real ``WebSocket`` in the
learner's page and reports on a control socket what it does and sees, recorded on side "browser".
Where no page shows it, waits raise :class:`~wsbench.Timeout` saying so. Specification (URLs,
pairing, one socket per page): ``docs/modules/wsbench.widgets.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..codes import describe
from ..errors import ConnectError, InvalidCloseCode, ReasonTooLong, WsbenchError
from ..secrets import mask_subprotocol
from ..transcript import Event, Transcript

if TYPE_CHECKING:
    from ..browser_link import BrowserLink

__all__ = ["BINARY_TYPES", "VIA", "BrowserClient"]

#: A subprotocol as the WebSocket API takes it: an HTTP token (RFC 9110), else SyntaxError.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: The page WebSocket's ``binaryType`` values: what a binary message arrives as.
BINARY_TYPES = ("arraybuffer", "blob")
#: How the page reaches the bench: "auto" (the proxy behind a base URL or off loopback), "proxy", "direct".
VIA = ("auto", "proxy", "direct")

_ESM = r"""
const PREFIX = "/.wsbench/browser/";
const PAIR = "wsbench_pair_token";  // the query parameter of the pairing secret (wsbench.browser_link.PAIR_PARAM)
const LIMIT = 3 * 1024 * 1024;  // data the page reports per message (the bench takes 4 MiB of JSON)
const LAST = 8;                 // events the widget's UI lists
const links = (globalThis.__wsbenchBrowserLinks ||= new Map());

function baseUrl() {
  try {
    const el = document.getElementById("jupyter-config-data");
    const base = el ? JSON.parse(el.textContent).baseUrl : "/";
    return base ? (base.endsWith("/") ? base : base + "/") : "/";
  } catch (e) {
    return "/";
  }
}

function resolve(model, path) {
  const via = model.get("_via");
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
  const base = baseUrl();
  if (via === "proxy" || (via === "auto" && (base !== "/" || !local))) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${base}proxy/127.0.0.1:${model.get("_port")}${path}`;
  }
  return `ws://127.0.0.1:${model.get("_port")}${path}`;
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(out);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function failure(e) {
  return `${e && e.name ? e.name : "Error"}: ${e && e.message ? e.message : e}`;
}

// One link per widget model in this page: the learner's WebSocket and the control socket.
function ensure(model) {
  const token = model.get("_token");
  if (links.has(token)) return links.get(token);
  const link = { ws: null, ctl: null, n: 0, chain: Promise.resolve(), last: [], views: new Set(),
                 state: "attaching", url: "", note: "" };
  links.set(token, link);
  const redraw = () => link.views.forEach((draw) => draw());
  const report = (kind, fields) => {
    const message = JSON.stringify({ n: link.n++, kind, ...fields });
    if (link.ctl && link.ctl.readyState === WebSocket.OPEN) link.ctl.send(message);
    if (kind !== "hello") {
      const shown = fields.text !== undefined ? JSON.stringify(fields.text).slice(0, 60)
        : fields.bytes !== undefined ? `${fields.bytes.length * 3 / 4 - (fields.bytes.match(/=*$/)[0].length)} bytes`
        : fields.code !== undefined ? `${fields.code} ${fields.reason || ""}` : (fields.detail || fields.data || "");
      link.last.push(`${kind} ${shown}`.trim());
      if (link.last.length > LAST) link.last.shift();
    }
    redraw();
  };
  // Reports keep the order things happened in, also when a Blob takes time to read.
  const later = (make) => {
    link.chain = link.chain.then(make).then((r) => r && report(r[0], r[1])).catch((e) => console.error(e));
  };
  const buffered = () => (link.ws ? link.ws.bufferedAmount : 0);
  const payload = (data, detail) => {
    if (typeof data === "string") {
      return data.length > LIMIT ? { detail: `text of ${data.length} characters, too long to report` } : { text: data };
    }
    if (data.byteLength > LIMIT) return { detail: `${detail}, ${data.byteLength} bytes, too long to report` };
    return detail ? { bytes: toBase64(data), detail } : { bytes: toBase64(data) };
  };
  // The bench knows this page's WebSocket by the one-time secret the "open" command carries, last in
  // its query (and takes it out before the app sees it); the page reports its URL without it.
  const open = (pair) => {
    const url = resolve(model, model.get("_path"));
    const paired = `${url}${url.includes("?") ? "&" : "?"}${PAIR}=${encodeURIComponent(pair || "")}`;
    const protocols = model.get("_subprotocols");
    link.url = url;
    later(() => ["connect", { data: url, protocols }]);
    try {
      link.ws = protocols.length ? new WebSocket(paired, protocols) : new WebSocket(paired);
    } catch (e) {
      link.state = "refused";
      later(() => ["refused", { detail: failure(e) }]);
      return;
    }
    const ws = link.ws;
    link.state = "connecting";
    ws.binaryType = model.get("_binary_type");
    ws.onopen = () => {
      link.state = "open";
      later(() => ["open", { detail: ws.protocol, extensions: ws.extensions }]);
    };
    ws.onmessage = (event) => later(async () => {
      if (typeof event.data === "string") return ["message", payload(event.data)];
      if (event.data instanceof Blob) return ["message", payload(await event.data.arrayBuffer(), "Blob")];
      return ["message", payload(event.data, "ArrayBuffer")];
    });
    ws.onerror = () => later(() => ["error", {}]);
    ws.onclose = (event) => {
      link.state = "closed";
      later(() => ["closed", { code: event.code, reason: event.reason, clean: event.wasClean, buffered: buffered() }]);
    };
  };
  link.send = (data, re) => {
    try {
      if (!link.ws) throw new DOMException("this page has no WebSocket yet", "InvalidStateError");
      link.ws.send(data);
      const fields = { ...payload(typeof data === "string" ? data : data.buffer), buffered: buffered() };
      later(() => ["send", re === undefined ? fields : { ...fields, re }]);
    } catch (e) {
      later(() => ["refused", re === undefined ? { detail: failure(e) } : { detail: failure(e), re }]);
    }
  };
  link.close = (code, reason, re) => {
    try {
      if (!link.ws) throw new DOMException("this page has no WebSocket yet", "InvalidStateError");
      link.ws.close(code, reason);
      if (link.state !== "closed") link.state = "closing";
      const fields = { code, reason, buffered: buffered() };
      later(() => ["close", re === undefined ? fields : { ...fields, re }]);
    } catch (e) {
      later(() => ["refused", re === undefined ? { detail: failure(e) } : { detail: failure(e), re }]);
    }
  };
  const ctl = new WebSocket(resolve(model, PREFIX + token));
  link.ctl = ctl;
  ctl.onopen = () => report("hello", { ua: navigator.userAgent, origin: location.origin });
  ctl.onmessage = (event) => {
    let command;
    try { command = JSON.parse(event.data); } catch (e) { return; }
    if (command.op === "open" && !link.ws) open(command.pair);
    else if (command.op === "send") {
      link.send(command.bytes !== undefined ? fromBase64(command.bytes) : command.text, command.id);
    }
    else if (command.op === "close") link.close(command.code, command.reason, command.id);
  };
  ctl.onclose = (event) => {
    const normal = event.code === 1000 || event.code === 1001;
    link.note = normal ? "" : `the bench closed the report line: ${event.code} ${event.reason}`;
    if (link.state === "attaching") link.state = "no bench";
    redraw();
  };
  return link;
}

function initialize({ model }) {
  ensure(model);
  return () => {
    const link = links.get(model.get("_token"));
    if (!link) return;
    links.delete(model.get("_token"));
    if (link.ws) link.ws.close(1000, "widget closed");
    if (link.ctl) link.ctl.close(1000);
  };
}

function render({ model, el }) {
  const link = ensure(model);
  const make = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const root = make("div", "wsbench-browser");
  const status = make("div", "wsb-br-status");
  const url = make("div", "wsb-br-url");
  const box = make("textarea", "wsb-br-message");
  box.rows = 2;
  box.placeholder = "a text message";
  const sendButton = make("button", "wsb-br-send", "Send");
  const code = make("input", "wsb-br-code");
  code.type = "number";
  code.value = "1000";
  const reason = make("input", "wsb-br-reason");
  reason.placeholder = "reason";
  const closeButton = make("button", "wsb-br-close", "Close");
  const buffered = make("div", "wsb-br-buffered");
  const last = make("ol", "wsb-br-events");
  for (const node of [box, code, reason]) {
    node.addEventListener("keydown", (e) => e.stopPropagation());  // no notebook shortcuts while typing
  }
  sendButton.onclick = () => link.send(box.value);
  closeButton.onclick = () => link.close(Number(code.value), reason.value);
  const row = (...nodes) => { const r = make("div", "wsb-br-row"); nodes.forEach((n) => r.appendChild(n)); return r; };
  const closeRow = row(make("span", "", "code"), code, reason, closeButton);
  root.append(status, url, row(box, sendButton), closeRow, buffered, last);
  const draw = () => {
    status.textContent = `browser WebSocket: ${link.state}${link.note ? " (" + link.note + ")" : ""}`;
    status.dataset.state = link.state;
    url.textContent = link.url;
    buffered.textContent = `bufferedAmount ${link.ws ? link.ws.bufferedAmount : 0}`;
    last.replaceChildren(...link.last.map((line) => make("li", "wsb-br-event", line)));
  };
  link.views.add(draw);
  draw();
  el.appendChild(root);
  return () => link.views.delete(draw);
}

export default { initialize, render };
"""

_CSS = """
.wsbench-browser { font-family: var(--jp-code-font-family, monospace); font-size: 13px; padding: 4px 0; }
.wsbench-browser .wsb-br-status { font-weight: 600; }
.wsbench-browser .wsb-br-status[data-state="open"] { color: #1a7f37; }
.wsbench-browser .wsb-br-status[data-state="closed"] { color: #cf222e; }
.wsbench-browser .wsb-br-url { color: var(--jp-content-font-color1, #424a53); overflow-wrap: anywhere; }
.wsbench-browser .wsb-br-row { display: flex; gap: 6px; align-items: center; margin: 4px 0; flex-wrap: wrap; }
.wsbench-browser .wsb-br-message { flex: 1; min-width: 16em; font-family: inherit; }
.wsbench-browser .wsb-br-code { width: 6em; }
.wsbench-browser .wsb-br-events { margin: 4px 0; padding-left: 2em; color: var(--jp-content-font-color1, #424a53); }
"""


class BrowserClient(anywidget.AnyWidget):
    """A real browser ``WebSocket`` to a bench endpoint, opened by the page that shows this widget.

    Made by :meth:`wsbench.Bench.browser_connect`. What the page's WebSocket does and sees is in
    :attr:`transcript` (and the bench's) on side "browser", next to the endpoint's side; the page's
    own rules apply, so :meth:`close` with 1001 or :meth:`send` before "open" are refused by the
    browser, and raise here with its words. Every wait is bounded by *timeout* (the bench's by
    default); where no page shows the widget (nbval, a plain kernel) they raise
    :class:`~wsbench.Timeout` saying so.
    """

    _esm = _ESM
    _css = _CSS
    _token = traitlets.Unicode("", help="the page's key to its control socket on the bench").tag(sync=True)
    _port = traitlets.Int(0, help="the bench's port on the kernel's loopback").tag(sync=True)
    _path = traitlets.Unicode("/", help="the endpoint path (and query) the page connects to").tag(sync=True)
    _subprotocols = traitlets.List(traitlets.Unicode(), help="the protocols argument of new WebSocket()").tag(sync=True)
    _binary_type = traitlets.Unicode("arraybuffer", help="the WebSocket's binaryType").tag(sync=True)
    _via = traitlets.Unicode("auto", help="auto, proxy (jupyter-server-proxy) or direct").tag(sync=True)

    def __init__(
        self,
        link: BrowserLink,
        port: int,
        *,
        subprotocols: Sequence[str] = (),
        binary_type: str = "arraybuffer",
        via: str = "auto",
    ) -> None:
        if isinstance(subprotocols, str) or not all(isinstance(p, str) for p in subprotocols):
            raise TypeError(f"subprotocols must be a list of strings, not {subprotocols!r}")
        for n, protocol in enumerate(subprotocols):  # what new WebSocket(url, protocols) throws SyntaxError on
            if not _TOKEN.fullmatch(protocol):
                raise ValueError(
                    f"subprotocol {mask_subprotocol(protocol)!r} is not a token (letters, digits and "
                    "!#$%&'*+-.^_`|~ only, no spaces): a browser's new WebSocket() would throw SyntaxError"
                )
            if protocol in subprotocols[:n]:
                raise ValueError(
                    f"subprotocols name {mask_subprotocol(protocol)!r} twice: a browser's new WebSocket() "
                    "would throw SyntaxError"
                )
        if binary_type not in BINARY_TYPES:
            raise ValueError(f"binary_type must be one of {', '.join(BINARY_TYPES)}, not {binary_type!r}")
        if via not in VIA:
            raise ValueError(f"via must be one of {', '.join(VIA)}, not {via!r}")
        self._link = link
        self._taken = 0  # messages receive() has returned
        super().__init__(
            _token=link.token,
            _port=port,
            _path=link.path,
            _subprotocols=list(subprotocols),
            _binary_type=binary_type,
            _via=via,
        )
        self.add_class("wsbench-browser-client")

    # -- what the page reported ------------------------------------------------------

    @property
    def transcript(self) -> Transcript:
        """This page's conversation: the browser's side and the endpoint's, as one connection."""
        return self._link.transcript

    @property
    def path(self) -> str:
        """The endpoint path (and query) the page connects to."""
        return self._link.path

    @property
    def attached(self) -> bool:
        """Whether a browser page runs this widget's WebSocket now."""
        return self._link.attached

    @property
    def state(self) -> str:
        """The page WebSocket's state: "waiting for a page", connecting, open, closing, closed."""
        return self._link.state

    @property
    def url(self) -> str | None:
        """The URL the page opened (through the proxy or direct), once it has; None before."""
        return self._link.url

    @property
    def protocol(self) -> str:
        """``ws.protocol``: the subprotocol the browser was given ("" for none)."""
        return self._link.protocol

    @property
    def extensions(self) -> str:
        """``ws.extensions``: the extensions the browser agreed (e.g. permessage-deflate)."""
        return self._link.extensions

    @property
    def buffered_amount(self) -> int:
        """``ws.bufferedAmount`` as the page last reported it (after a send or close)."""
        return self._link.buffered_amount

    @property
    def close_code(self) -> int | None:
        """The close event's code, once closed (1006 when no close frame came)."""
        return self._link.close_code

    @property
    def close_reason(self) -> str:
        """The close event's reason, once closed."""
        return self._link.close_reason

    # -- commands and waits -------------------------------------------------------------

    def wait_attached(self, timeout: float | None = None) -> bool:
        """Wait up to *timeout* seconds for a browser page to run this widget; whether one has.

        True once a page has shown it (even if it has gone since: then commands say so); False when
        none came in time (nbval, nbconvert, a plain kernel). Lets a cell take the no-page path
        without catching the :class:`~wsbench.Timeout` of a wait or command.
        """
        link = self._link
        timeout = link.timeout if timeout is None else timeout
        return link.gate.wait(lambda: link.ever_attached, timeout) is not None

    def send(self, data: str | bytes, *, timeout: float | None = None) -> None:
        """Have the page call ``ws.send(data)`` (bytes go as binary) and wait for its report.

        Raises what the browser threw (``send()`` while CONNECTING: InvalidStateError) as a
        :class:`~wsbench.WsbenchError`, and a :class:`~wsbench.Timeout` where no page shows the widget.
        """
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, (str, bytes)):
            raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")
        fields: dict[str, Any] = {"bytes": data} if isinstance(data, bytes) else {"text": data}
        event = self._link.command("send", timeout, **fields)
        if event.kind == "refused":
            raise WsbenchError(f"the browser refused send(): {event.detail}")

    def close(self, code: int = 1000, reason: str = "", *, timeout: float | None = None) -> None:
        """Have the page call ``ws.close(code, reason)`` and wait for its report (not for the close
        to complete: :meth:`wait_closed`). The browser allows only 1000 and 3000-4999 and a reason of
        at most 123 bytes: what it refuses raises InvalidCloseCode / ReasonTooLong with its words.
        (``close_widget()`` closes the widget itself.)"""
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"close code must be an int, not {code!r}")
        event = self._link.command("close", timeout, code=code, reason=reason)
        if event.kind != "refused":
            return
        detail = event.detail or ""
        if detail.startswith("SyntaxError"):
            raise ReasonTooLong(f"the browser refused close(): {detail}", size=len(reason.encode("utf-8")))
        if detail.startswith("InvalidAccessError"):
            raise InvalidCloseCode(f"the browser refused close({code}): {detail}", code=code)
        raise WsbenchError(f"the browser refused close(): {detail}")

    def wait_open(self, timeout: float | None = None) -> None:
        """Wait until the page's WebSocket is open. ConnectError if it closed first (the browser
        says no more than a close code: 1006 for a refused handshake); Timeout otherwise."""
        link = self._link
        state = link.wait(
            lambda: link.state if link.state in ("open", "closing", "closed") else None, "wait_open", timeout
        )
        if state == "closed" and not any(e.side == "browser" and e.kind == "open" for e in link.transcript):
            closed = describe(link.close_code, link.close_reason)
            raise ConnectError(f"the browser's WebSocket to {link.path} did not open: closed {closed}")

    def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the page's WebSocket is closed (its close event)."""
        link = self._link
        link.wait(lambda: link.state == "closed", "wait_closed", timeout)

    def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message the page's WebSocket received that this call has not returned yet
        (text as str, binary as bytes). Nothing is taken from the page: it got them all already."""
        link = self._link

        def next_message() -> Event | None:
            messages = [e for e in link.transcript.since(0) if e.side == "browser" and e.kind == "message"]
            return messages[self._taken] if len(messages) > self._taken else None

        event: Event = link.wait(next_message, "receive", timeout)
        self._taken += 1
        if event.data is None:
            raise WsbenchError(f"the page received a message it could not report: {event.detail}")
        return event.data

    def close_widget(self) -> None:
        """Close the widget: the page closes its WebSocket and control socket."""
        super().close()

    def __del__(self) -> None:  # ipywidgets' __del__ calls close(), which here is the page's WebSocket's
        self.close_widget()

    def __repr__(self) -> str:
        state = self.state
        if state == "closed":
            state = f"closed {describe(self.close_code, self.close_reason)}"
        return f"<BrowserClient {self.path} {state}>"
