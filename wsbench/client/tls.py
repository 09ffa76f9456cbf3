"""TLS for the sync client whose reader and writer threads never meet inside OpenSSL.

websockets' sync connection reads a TLS socket in its reader thread while the user's thread writes
on it. OpenSSL does not allow that on one connection, and Python's blocking TLS socket waits for
data inside OpenSSL's read: TLS 1.3's session tickets, which arrive right after the handshake and
carry no data, left the reader there. Closing the socket does not wake a thread in that read (a
timed-out open waited for it until the server hung up), and the user's write at the same time lost
the request now and then (about 1 handshake in 200 under four busy clients; before websockets 17.3
also the server's close frame, 1006).

:class:`TLSSocket` runs TLS in memory (``ssl.MemoryBIO``, as asyncio does) under a lock: the reader
waits for data on the plain socket, holding nothing, and OpenSSL only ever works on bytes that are
there. :class:`ClientTLS` is the ``ssl=`` websockets' sync ``connect()`` is given: its
``wrap_socket`` makes one.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

__all__ = ["ClientTLS", "TLSSocket"]

_READ_SIZE = 2**16  # bytes taken from the socket at a time, as websockets' reader asks


class TLSSocket:
    """A client TLS connection over *sock*, with the socket methods websockets' sync connection uses."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._sock = sock
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._lock = threading.Lock()  # the TLS object and its two buffers
        self._write_lock = threading.Lock()  # records go on the wire in the order they were made
        self._ended = False  # the peer closed the TLS stream or the socket: reads give b""
        self._handshake()

    def _handshake(self) -> None:
        """The TLS handshake, bounded by the socket's timeout (websockets sets the open deadline)."""
        while True:
            with self._lock:
                try:
                    self._tls.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    done = False
                except ssl.SSLError:  # an untrusted certificate, say: its alert goes out first
                    self._flush_quietly()
                    raise
            self._flush()
            if done:
                return
            self._take_from_socket()

    def recv(self, size: int) -> bytes:
        """Application data: what is decrypted already, else wait for the socket (holding nothing)
        and decrypt; b"" once the peer closed. Returns all the data the bytes read so far hold, even
        past *size*: the caller waits on the socket before its next read, and would not see data
        that waits decrypted here."""
        while True:
            data = self._decrypted(size)
            if data is not None:
                return data
            self._take_from_socket()

    def _decrypted(self, size: int) -> bytes | None:
        """All the data the received bytes hold, b"" at the end, None when more bytes are needed."""
        pieces: list[bytes] = []
        with self._lock:
            while not self._ended:
                try:
                    piece = self._tls.read(size)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or a ragged end: the end
                    self._ended = True
                    break
                if not piece:
                    self._ended = True
                    break
                pieces.append(piece)
            replies = self._outgoing.pending  # TLS may answer what it read (a key update)
        if replies:
            self._flush()
        if not pieces:
            return b"" if self._ended else None
        if self._ended:  # the data came with the end (close_notify): make the socket say so too, or
            try:  # the caller would wait on it for an end already read (an asyncio server waits for ours)
                self._sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        return b"".join(pieces)

    def _take_from_socket(self) -> None:
        """Wait for bytes on the socket, outside the lock, and hand them to TLS (an empty read: the end)."""
        data = self._sock.recv(_READ_SIZE)
        with self._lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def sendall(self, data: Any) -> None:
        """Encrypt *data* and write it whole (the socket's own timeout bounds the write)."""
        with self._write_lock:
            with self._lock:
                view = memoryview(data).cast("B")
                sent = 0
                while sent < len(view):
                    sent += self._tls.write(view[sent:])
                records = self._outgoing.read()
            self._sock.sendall(records)

    def _flush(self) -> None:
        """Write what TLS made on its own (handshake, replies) in order with the writer's records."""
        with self._write_lock:
            with self._lock:
                records = self._outgoing.read()
            if records:
                self._sock.sendall(records)

    def _flush_quietly(self) -> None:
        """Write what TLS made, if the socket takes it: an alert on the way out (with the lock held)."""
        records = self._outgoing.read()
        try:
            self._sock.sendall(records)
        except OSError:
            pass

    def close(self) -> None:
        """Close the socket, first shutting it down: that wakes a reader waiting in ``recv``, which
        closing alone does not."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __getattr__(self, name: str) -> Any:  # fileno, settimeout, setsockopt, shutdown ...: the socket's
        return getattr(self._sock, name)


class ClientTLS:
    """An ``ssl.SSLContext`` for websockets' sync ``connect()``: its ``wrap_socket`` returns a
    :class:`TLSSocket`; everything else (``wrap_bio`` for TLS through an HTTPS proxy) is the context's."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    def wrap_socket(self, sock: socket.socket, server_hostname: str | None = None, **_: Any) -> TLSSocket:
        return TLSSocket(sock, self.context, server_hostname)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.context, name)
