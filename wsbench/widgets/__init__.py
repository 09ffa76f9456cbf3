"""Widgets for notebooks: a connection panel, a two-sided timeline, the close-code table, and a
browser page's own WebSocket driven from a cell (:class:`BrowserClient`).

The UI layer, the only wsbench package that imports ipywidgets; no protocol logic. Views refresh
on one timer thread, never once per message; every control can be driven from code; every
widget's ``text/plain`` repr is deterministic. Design: ``docs/modules/wsbench.widgets.md``.
"""

from .browser import BrowserClient
from .panel import CUSTOM, Panel
from .table import CloseCodeTable
from .timeline import Timeline

__all__ = ["CUSTOM", "BrowserClient", "CloseCodeTable", "Panel", "Timeline"]
