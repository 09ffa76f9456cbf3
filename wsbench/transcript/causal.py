"""Causal order: one connection's events in an order that respects cause and effect.

Each side keeps its own order, a message is shown sent before it is received, and where
two events are independent a fixed rule decides, so the same conversation always prints
alike (:meth:`wsbench.Transcript.text`). Also :func:`noticed`: which side noticed a proxy's
fault, and how soon. Both re-exported from :mod:`wsbench.transcript`. Pure logic.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..kinds import CAUSES, DISRUPTIONS, HEALS, NOTICES, READER_KINDS, SETTINGS

if TYPE_CHECKING:
    from . import Event

__all__ = ["causal_order", "conversation_order", "noticed", "paired"]

# A client's events come from two places: the calls a cell makes (connect, send, close ...)
# and the reader that takes what arrives (READER_KINDS: receive, closed). The server's events
# of one connection come from its endpoint. A proxy between them (side "proxy") is a fourth
# chain. A browser page's WebSocket (side "browser") is a chain of its own, in place of the
# client's two: the page reports what its one thread did and saw, in that order (numbered, so
# the bench records it so). Each keeps its own order; what causes what is wsbench.kinds.CAUSES.
_CHAINS = ("server", "browser", "reader", "caller", "proxy")  # when several could come next, the first wins
# A proxy's SETTINGS (set or lift a fault, or the faults in force before it forwards a
# connection's first byte) take their place among the caller's events by recording order,
# which the caller's own thread (or the proxy's forwarding) fixes.


def _chain_of(side: str, kind: str) -> str:
    if side != "client":
        return side
    return "reader" if kind in READER_KINDS else "caller"


def _chain(event: Event) -> str:
    return _chain_of(event.side, event.kind)


# (cause kind, chain, side) -> (effect kind, chain, side): the k-th cause precedes the k-th effect.
_CAUSES = tuple(
    ((cause, _chain_of(cause_side, cause), cause_side), (effect, _chain_of(effect_side, effect), effect_side))
    for (cause_side, cause), (effect_side, effect) in CAUSES
)


def paired(causes: list[Event], effects: list[Event], shift: int) -> zip[tuple[Event, Event]]:
    """The k-th cause with the k-th effect, where the causes and effects before these lists
    (in a window of a longer conversation) numbered *shift* more causes than effects."""
    return zip(causes, effects[shift:], strict=False) if shift >= 0 else zip(causes[-shift:], effects, strict=False)


def causal_order(events: list[Event], before: Mapping[tuple[str, str], int] | None = None) -> list[Event]:
    """One connection's events in a deterministic order that respects cause and effect.

    Without the server's side (a connection to a URL), the client's recorded order is kept:
    it is what the client saw, and nothing else can tell which answer followed which send.

    *events* may be a window of a longer conversation (the last events of a connection):
    *before* then counts, by (side, kind), that connection's events before the window, so the
    k-th send is still matched with the k-th receive.
    """
    chains, needs = _connection(events, before)
    if not chains["server"]:
        return sorted(events, key=lambda event: event.seq)
    return _walk([chains[name] for name in _CHAINS], needs, len(events))


def conversation_order(events: list[Event]) -> list[Event]:
    """The events of several connections as one conversation, in a deterministic order that
    respects cause and effect across connections (:meth:`wsbench.Transcript.text`).

    Each connection's own rules hold (:func:`causal_order`), and three orders join them: the
    server's events of every connection in the order its one loop recorded them (a handler
    that sends on bob's socket after ann's message did so in that order); the client actions
    (connect, send, close ...) of every connection in the order the caller made them (program
    order: ann's send before bob's connect if the cell did so); and each connection's receives
    in its reader's order. Where several events could come next, the server's come first, then
    the receives (connection by connection, in order of appearance), then the next action, so
    the same conversation prints alike on every machine.
    """
    groups: dict[int, list[Event]] = {}
    for event in events:
        groups.setdefault(event.conn, []).append(event)
    if len(groups) <= 1:
        return causal_order(events)
    needs: dict[int, list[int]] = {}
    server: list[Event] = []
    caller: list[Event] = []
    readers: list[list[Event]] = []
    others: list[list[Event]] = []
    for group in groups.values():
        chains, own = _connection(group)
        for effect, causes in own.items():
            needs.setdefault(effect, []).extend(causes)
        if not chains["server"]:  # a connection to a URL: its recorded order is all there is
            ordered = sorted(group, key=lambda event: event.seq)
            for earlier, later in itertools.pairwise(ordered):
                needs.setdefault(id(later), []).append(id(earlier))
        server += chains["server"]
        caller += chains["caller"]
        readers += [chains["browser"], chains["reader"]]
        others.append(chains["proxy"])
    server.sort(key=lambda event: event.seq)
    caller.sort(key=lambda event: event.seq)
    return _walk([server, *readers, caller, *others], needs, len(events))


def _connection(
    events: list[Event], before: Mapping[tuple[str, str], int] | None = None
) -> tuple[dict[str, list[Event]], dict[int, list[int]]]:
    """One connection's chains (by name, each in recorded order) and what each event needs
    first (ids of its causes, by the id of the event)."""
    chains: dict[str, list[Event]] = {name: [] for name in _CHAINS}
    for event in events:
        chains[_chain(event)].append(event)
    needs: dict[int, list[int]] = {}
    if not chains["server"]:
        return chains, needs
    for (cause_kind, cause_chain, cause_side), (effect_kind, effect_chain, effect_side) in _CAUSES:
        causes = [e for e in chains[cause_chain] if e.kind == cause_kind]
        effects = [e for e in chains[effect_chain] if e.kind == effect_kind]
        shift = 0
        if effect_kind in ("closed", "receive") and cause_kind in ("open", "close"):
            causes = causes[:1] * len(effects)  # one open / close precedes every such effect
        elif before:
            shift = before.get((cause_side, cause_kind), 0) - before.get((effect_side, effect_kind), 0)
        for cause, effect in paired(causes, effects, shift):
            needs.setdefault(id(effect), []).append(id(cause))
    connects = [e for e in (*chains["caller"], *chains["browser"]) if e.kind == "connect"]
    if connects and chains["server"]:  # nothing happens on the server before the client connects
        needs.setdefault(id(chains["server"][0]), []).append(id(connects[0]))
    if chains["proxy"]:
        _proxy_needs(chains, needs, connects[0] if connects else None)
    return chains, needs


def _walk(chains: list[list[Event]], needs: dict[int, list[int]], total: int) -> list[Event]:
    """Take the head of the first chain (lowest index) whose causes are all taken, until all
    *total* events are: a heap of the chains whose head is ready, so each step costs log(chains)."""
    unmet: dict[int, int] = {}  # id(event) -> how many of its causes are not taken yet
    waiting: dict[int, list[int]] = {}  # id(cause) -> ids of the events that need it
    for effect, causes in needs.items():
        distinct = set(causes)
        unmet[effect] = len(distinct)
        for cause in distinct:
            waiting.setdefault(cause, []).append(effect)
    chain_of = {id(event): n for n, chain in enumerate(chains) for event in chain}
    position = [0] * len(chains)
    ready: list[int] = []  # a heap of the chains whose head has all its causes taken

    def offer(n: int) -> None:  # chain n's head may have become ready
        chain = chains[n]
        if position[n] < len(chain) and not unmet.get(id(chain[position[n]])) and n not in queued:
            queued.add(n)
            heapq.heappush(ready, n)

    queued: set[int] = set()
    for n in range(len(chains)):
        offer(n)
    ordered: list[Event] = []
    while len(ordered) < total:
        if ready:
            n = heapq.heappop(ready)
            queued.discard(n)
        else:
            n = _stuck(chains, position)  # causes that contradict each other: never for real data
        event = chains[n][position[n]]
        position[n] += 1
        ordered.append(event)
        for effect in waiting.get(id(event), ()):
            unmet[effect] -= 1
            if not unmet[effect]:
                offer(chain_of[effect])
        offer(n)
    return ordered


def _stuck(chains: list[list[Event]], position: list[int]) -> int:
    """No head is ready (causes that contradict each other): the chain whose head was recorded first."""
    heads = [(chain[position[n]].seq, n) for n, chain in enumerate(chains) if position[n] < len(chain)]
    return min(heads)[1]


def _proxy_needs(chains: dict[str, list[Event]], needs: dict[int, list[int]], connect: Event | None) -> None:
    """Where a proxy's events go: after the client's connect (the proxy learns of a connection
    from its request); those recorded before the server's first event, before it (the proxy
    records them before forwarding a byte); settings among the caller's events by recording
    order. Everything else of the proxy's comes as late as its causes allow (last chain)."""
    proxy = chains["proxy"]
    if connect is not None:
        needs.setdefault(id(proxy[0]), []).append(id(connect))
    if chains["server"]:
        first = chains["server"][0]
        before = [e for e in proxy if e.seq < first.seq]
        if before:
            needs.setdefault(id(first), []).append(id(before[-1]))
    settings = [e for e in proxy if e.kind in SETTINGS]
    caller = chains["caller"]
    for setting in settings:
        earlier = [e for e in caller if e.seq < setting.seq]
        if earlier:
            needs.setdefault(id(setting), []).append(id(earlier[-1]))
    for event in caller:
        earlier = [s for s in settings if s.seq < event.seq]
        if earlier:
            needs.setdefault(id(event), []).append(id(earlier[-1]))


# -- a proxy's faults and who noticed them --------------------------------------------
# DISRUPTIONS and NOTICES are declared in wsbench.kinds and re-exported here.


def noticed(events: list[Event]) -> list[tuple[Event, Event, float]]:
    """(disruption, notice, seconds) for one connection's *events*: for each side, the first
    event by which it noticed (:data:`NOTICES`) after each proxy disruption
    (:data:`DISRUPTIONS`), and the seconds between the two as recorded. A "heal" or
    "clear" ends a disruption; notices with none before them are left out.

    Times are wall-clock and differ on every run: they belong in records and pictures,
    never in the text form.
    """
    found: list[tuple[Event, Event, float]] = []
    current: Event | None = None
    sides: set[str] = set()
    for event in sorted(events, key=lambda e: e.seq):
        if event.side == "proxy":
            if event.kind in DISRUPTIONS:
                current, sides = event, set()
            elif event.kind in HEALS:
                current = None
        elif current is not None and (event.side, event.kind) in NOTICES and event.side not in sides:
            sides.add(event.side)
            found.append((current, event, event.time - current.time))
    return found
