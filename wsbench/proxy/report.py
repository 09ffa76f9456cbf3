"""Who noticed what: for each disruption the proxy caused on each connection, what the client
and the server saw and how many seconds later (:meth:`~wsbench.FaultProxy.report`'s rows).

Reads a transcript only (no socket, no loop).
"""

from __future__ import annotations

from typing import Any

from ..codes import describe
from ..transcript import DISRUPTIONS, Event, Transcript, noticed

__all__ = ["noticed_as", "report_rows"]


def report_rows(transcript: Transcript) -> list[dict[str, Any]]:
    """One row per proxy disruption of each connection in *transcript*, connections numbered
    #1, #2 ... as in the text form; a side's notice and delay are None until it noticed."""
    by_conn: dict[int, list[Event]] = {}
    for event in transcript.events:
        by_conn.setdefault(event.conn, []).append(event)
    rows: list[dict[str, Any]] = []
    for number, events in enumerate(by_conn.values(), 1):
        rows_here: dict[int, dict[str, Any]] = {}
        for event in events:
            if event.side == "proxy" and event.kind in DISRUPTIONS:
                rows_here[id(event)] = {
                    "conn": number,
                    "fault": f"{event.kind}: {event.detail}",
                    "client": None,
                    "client_after": None,
                    "server": None,
                    "server_after": None,
                }
        for disruption, notice, seconds in noticed(events):
            row = rows_here[id(disruption)]
            row[notice.side] = noticed_as(notice)
            row[f"{notice.side}_after"] = seconds
        rows.extend(rows_here.values())
    return rows


def noticed_as(event: Event) -> str:
    """How a report row names the event by which a side noticed: a close with its code, a rejection, or the event."""
    if event.kind in ("closed", "websocket.disconnect"):
        return f"{event.kind} {describe(event.code, event.reason or '')}"
    if event.kind == "rejected":
        return f"rejected HTTP {event.code}"
    return f"{event.kind}: {event.detail}" if event.detail else event.kind
