"""Widgets for notebooks: a connection panel, a two-sided timeline, the close-code table, and a
browser page's own WebSocket driven from a cell (:class:`BrowserClient`).

* The UI layer: the only wsbench package that imports ipywidgets. It holds no protocol
  logic; it drives a :class:`~wsbench.Connection` through its public methods and reads
  :class:`~wsbench.Transcript` and :mod:`wsbench.codes`.
* Views never update once per message: one daemon thread (``_ticker``) looks at every live
  view 20 times a second, and each view sends its changed values at most once per its
  interval (0.1 s), reading only new events (``Transcript.since``). The panel's log keeps a
  bounded ring of lines; the full record stays in the transcript.
* A view whose refresh raises says so in its own area and keeps the exception as
  ``view.tick_error``; the other views go on refreshing (``_ticker``).
* A panel follows one conversation across reconnects (``panel.conn`` is the live connection,
  ``panel.connections`` all of them), and ``panel.timeline()`` draws all of them.
* Every control can be driven from code (``button.click()``, ``widget.value = ...``), so a
  notebook or a test exercises the same path as a click in the browser.
* Every widget has a deterministic ``text/plain`` repr (``<Panel /echo open>``), which is
  what nbval compares: no ports, ids or times.
* The HTML is built by pure functions in ``_render`` (no ipywidgets), shared by the live
  widgets and the standalone export of :meth:`Timeline.save`.
"""

from .browser import BrowserClient
from .panel import CUSTOM, Panel
from .table import CloseCodeTable
from .timeline import Timeline

__all__ = ["CUSTOM", "BrowserClient", "CloseCodeTable", "Panel", "Timeline"]
