"""A connection's inbox: its state, how it closed, and the messages received but not yet
taken, under one lock that threads and coroutines on any loop can wait on.

The reader (websockets' thread, or a task on the connection's loop) puts; cells, threads
and coroutines take. Nothing put is ever dropped: a message stays queued until a
``receive_*`` call accepts it.

Flow control as websockets does it: past the high-water mark the inbox tells the reader
to pause (it stops reading the socket, and TCP slows the peer down); once takes bring it
down to the low-water mark, it resumes. While the caller waits for the end (``close()``,
``wait_closed()``) the reader runs on regardless, for at most a budget of bytes, so the
closing handshake can come through the messages still in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from .._gate import Gate
from ..errors import ConnectionClosed
from .messages import Message, wrong_type

__all__ = ["STATES", "Inbox"]

#: A connection's states, in the order it goes through them.
STATES = ("new", "connecting", "open", "closing", "closed")


class Inbox:
    """The state, the close and the queue of one connection (a reconnect starts a new
    connection on the same inbox: what was received before stays queued)."""

    def __init__(self, high: int | None = None, low: int | None = None) -> None:
        self.gate = Gate()
        self.state = "new"
        self.closed: ConnectionClosed | None = None  #: set once the connection is over
        self._messages: deque[Message] = deque()
        self.high, self.low = high, low  #: water marks, in messages (None: never pause)
        self.paused = False  #: the reader was told to stop reading the socket
        self._pause: Callable[[], Any] | None = None
        self._resume: Callable[[], Any] | None = None
        self._budget: int | None = None  #: bytes the reader may still take while draining

    def attach(self, pause: Callable[[], Any], resume: Callable[[], Any]) -> None:
        """A new reader: how to pause and resume it (called by the reader, before its first put)."""
        with self.gate.lock:
            self._pause, self._resume, self.paused, self._budget = pause, resume, False, None

    def drain(self, budget: int) -> None:
        """The caller wants the end: let the reader read on (for at most *budget* more bytes)."""
        with self.gate.lock:
            if self.high is not None and self._budget is None:
                self._budget = budget
                self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:  # with the lock held
        if paused == self.paused:
            return
        act = self._pause if paused else self._resume
        if act is not None:
            self.paused = paused
            act()

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Message, running: asyncio.AbstractEventLoop | None) -> None:
        """Queue one message that arrived, and wake the waiters; *running* is the loop running on
        the caller's thread (None: none, as in websockets' reader thread)."""
        with self.gate.lock:
            self._messages.append(message)
            self.gate.notify(running)  # returns at once when nobody waits
            if self._budget is not None:  # draining: pause only once the budget is spent
                self._budget -= len(message)
                if self._budget < 0:
                    self._set_paused(True)
            elif self.high is not None and len(self._messages) > self.high:
                self._set_paused(True)

    def move(self, before: str, after: str) -> bool:
        """Go from state *before* to *after*; False (and no change) if the state is another."""
        with self.gate.lock:
            if self.state != before:
                return False
            self.state = after
            return True

    def finish(self, closed: ConnectionClosed) -> None:
        """The connection is over: keep why, and wake every waiter."""
        with self.gate.lock:
            self.closed = closed
            self.state = "closed"
            self.gate.notify()
            self._set_paused(False)  # a paused reader must run to its end
            self._pause = self._resume = None

    def reopen(self) -> None:
        """A new connection on this inbox (auto_reconnect): connecting again, the queue kept."""
        with self.gate.lock:
            self.closed = None
            self.state = "connecting"

    def ready(self) -> bool:
        """A message is queued, or none will come."""
        return bool(self._messages) or self.closed is not None

    def is_closed(self) -> bool:
        """The connection is over (messages may still be queued)."""
        return self.closed is not None

    def wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``ready()`` (:meth:`ready`, :meth:`is_closed`); False at *timeout*."""
        return self.gate.wait(ready, timeout) is not None

    async def await_(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Coroutine form of :meth:`wait`, on any running loop."""
        return await self.gate.await_(ready, timeout) is not None

    def pop(
        self,
        kind: type | None,
        what: str,
        parse: Callable[[Message], Any] | None,
        closed_error: Callable[[str], ConnectionClosed],
    ) -> Any:
        """Take the next message if it is of *kind* (and *parse* accepts it), else it stays
        queued and the error says so; ``closed_error(what)`` when none is left to take."""
        with self.gate.lock:
            if not self._messages:
                raise closed_error(what)
            message = self._messages[0]
            if kind is not None and not isinstance(message, kind):
                raise wrong_type(what, message)
            value = message if parse is None else parse(message)
            self._messages.popleft()
            if self.paused and self._budget is None and len(self._messages) <= (self.low or 0):
                self._set_paused(False)
            return value
