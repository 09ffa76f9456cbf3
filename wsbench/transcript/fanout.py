"""Fan-out: for each message a client sent, who received what the server sent because of it, and when.

The server records who made each send (:data:`wsbench.kinds.CAUSED`): the ``cause`` of a
``websocket.send`` is the seq of the last ``websocket.receive`` of the task that sent it, so the
sends a handler made while handling ann's "hi" (to ann, bob and cat) are exactly those whose
cause is that receive: nothing is guessed from timing. Each such send on a connection is matched
with that connection's client receive (the k-th send with the k-th receive, as the text form
matches them); a send with no receive to match was never received (the client had gone, or the
send failed). Delays are wall-clock seconds from the client's send to each receive (from the
endpoint's receive for a browser page, which reports its send after the fact): data for pictures
and summaries, never for the text form. Pure logic.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Event

__all__ = ["Delivery", "Fanout", "fanout", "summary"]

_RECEIVES = {("client", "receive"), ("browser", "message")}
_SENDS = {("client", "send"), ("browser", "send")}


@dataclass(frozen=True)
class Delivery:
    """One recipient of a fan-out: who, and how long after the client's send it received the
    message (None: it never did; *why* then says what the server saw, "" if nothing)."""

    to: str  #: the recipient connection's label (its name, or #n)
    data: str | bytes | None  #: what the handler sent it
    #: seconds from the client's send to this receive (a browser page's send: from the endpoint's
    #: receive of it, since the page reports its send after the fact); None: never received
    delay: float | None
    why: str = ""  #: for a message never received: the server's "send failed" detail, if any


@dataclass(frozen=True)
class Fanout:
    """What one client message caused: the handler's sends, one :class:`Delivery` each."""

    sender: str  #: the label of the connection that sent the message
    data: str | bytes | None  #: the message it sent
    handler: str  #: who made the sends (the handler that received it, by its connection's name)
    deliveries: tuple[Delivery, ...]  #: in the order the handler sent them

    @property
    def missed(self) -> tuple[str, ...]:
        """The recipients that never got what the handler sent them."""
        return tuple(d.to for d in self.deliveries if d.delay is None)

    @property
    def delays(self) -> list[float]:
        """The delays of the deliveries that arrived, in seconds."""
        return [d.delay for d in self.deliveries if d.delay is not None]

    def summary(self, *, times: bool = True) -> str:
        """One line: who sent what, to how many, min/median/max delay (unless not *times*:
        they change from run to run), and who never got it."""
        line = f"{self.sender} sent {_short(self.data)}: {len(self.deliveries)} sent by {self.handler}'s handler"
        got = [d.to for d in self.deliveries if d.delay is not None]
        line += f", received by {', '.join(got) if got else 'nobody'}"
        delays = self.delays
        if times and delays:
            line += f" (delay min {_ms(min(delays))}, median {_ms(statistics.median(delays))}, max {_ms(max(delays))})"
        if self.missed:
            line += f"; never got it: {', '.join(self.missed)}"
        return line


def fanout(events: Iterable[Event], labels: dict[int, str] | None = None) -> list[Fanout]:
    """For each client message a handler answered with sends (on any connection), who received
    them and when: one :class:`Fanout` each, in the order the server received the messages.

    *labels* names connections by key (:func:`wsbench.transcript.labels`); by default each
    event's name, else ``#n`` by order of appearance.
    """
    events = sorted(events, key=lambda e: e.seq)
    if labels is None:
        from . import labels as make_labels

        labels = make_labels(events)
    labels = {conn: label.strip() for conn, label in labels.items()}
    sent: dict[int, list[Event]] = {}  # conn -> the client's sends, in order
    received: dict[int, list[Event]] = {}  # conn -> the server's receives of messages, in order
    server_sends: dict[int, list[Event]] = {}  # conn -> the server's websocket.send events, in order
    client_receives: dict[int, list[Event]] = {}  # conn -> the client's receives, in order
    failed: dict[tuple[int, int | None], str] = {}  # (conn, cause) -> why a send failed
    for event in events:
        key = (event.side, event.kind)
        if key in _SENDS:
            sent.setdefault(event.conn, []).append(event)
        elif key in _RECEIVES:
            client_receives.setdefault(event.conn, []).append(event)
        elif key == ("server", "websocket.receive"):
            received.setdefault(event.conn, []).append(event)
        elif key == ("server", "websocket.send"):
            server_sends.setdefault(event.conn, []).append(event)
        elif key == ("server", "send failed") and event.cause is not None:
            failed[(event.conn, event.cause)] = event.detail or "send failed"
    # what each server send became on the client: the k-th send with the k-th receive
    arrival: dict[int, Event | None] = {}
    for conn, sends in server_sends.items():
        receives = client_receives.get(conn, [])
        for k, send in enumerate(sends):
            arrival[id(send)] = receives[k] if k < len(receives) else None
    caused: dict[int, list[Event]] = {}  # the seq of a receive -> the sends it caused, in order
    for sends in server_sends.values():
        for send in sends:
            if send.cause is not None:
                caused.setdefault(send.cause, []).append(send)
    found: list[tuple[int, Fanout]] = []
    for conn, receives in received.items():
        origins = sent.get(conn, [])
        for k, receive in enumerate(receives):
            sends = sorted(caused.get(receive.seq, ()), key=lambda e: e.seq)
            if not sends:
                continue
            # from the client's send; a page's send is reported once done (its message may have
            # been broadcast by then), so from the endpoint's receive for a browser, as for no send
            start = origins[k].time if k < len(origins) and origins[k].side == "client" else receive.time
            deliveries = []
            for send in sends:
                got = arrival[id(send)]
                deliveries.append(
                    Delivery(
                        to=labels.get(send.conn, "?"),
                        data=send.data,
                        delay=None if got is None else max(got.time - start, 0.0),
                        why="" if got is not None else failed.get((send.conn, receive.seq), ""),
                    )
                )
            handler = sends[0].handler or labels.get(conn, "?")
            found.append((receive.seq, Fanout(labels.get(conn, "?"), receive.data, handler, tuple(deliveries))))
    return [item for _, item in sorted(found, key=lambda pair: pair[0])]


def summary(fanouts: list[Fanout], *, times: bool = True) -> str:
    """One line for them all: how many messages fanned out to how many deliveries, the
    min/median/max delay (unless not *times*), and what was never received, by whom."""
    deliveries = [d for f in fanouts for d in f.deliveries]
    line = f"{len(fanouts)} message{'s' if len(fanouts) != 1 else ''} fanned out, {len(deliveries)} sends"
    delays = [d.delay for d in deliveries if d.delay is not None]
    if times and delays:
        line += f"; delay min {_ms(min(delays))}, median {_ms(statistics.median(delays))}, max {_ms(max(delays))}"
    missed = [f"{d.to} ({_short(d.data)})" for d in deliveries if d.delay is None]
    line += f"; never received: {', '.join(missed)}" if missed else "; every one received"
    return line


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _short(data: str | bytes | None, limit: int = 24) -> str:
    if data is None:
        return "nothing"
    shown = repr(data[:limit])
    return shown + ("…" if len(data) > limit else "")
