"""The client side: a WebSocket connection to a Bench, a FaultProxy, or any ws:// / wss:// URL.

One job a module, arrows pointing down the list:

* :mod:`.connection`: :class:`Connection`, :func:`connect`, :func:`aconnect` (send,
  receive, iterate, ping, close; sync and async);
* :mod:`.recording`: websockets' connections, recording each message as it arrives;
* :mod:`.handshake`: options, URL / proxy / TLS checks, connect-error translation;
* :mod:`.reconnect`: the ``auto_reconnect`` policy;
* :mod:`.bounds`: the timeout check every wait uses, and ``max_queue``'s water marks;
* :mod:`.messages`: what may be sent, JSON, and the wrong-message errors.
"""

from .connection import Connection, aconnect, connect
from .reconnect import RECONNECT_CODES

__all__ = ["RECONNECT_CODES", "Connection", "aconnect", "connect"]
