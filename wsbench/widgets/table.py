"""The close-code table: every registered code, whether it may be sent, its fastapi.status name."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..codes import REGISTERED
from ._render import code_table_html, code_table_rows

__all__ = ["CloseCodeTable"]


class CloseCodeTable(widgets.HTML):
    """A table of :data:`wsbench.codes.REGISTERED`: code, label, may be sent (with the rule
    when not), ``fastapi.status`` name and meaning. :attr:`rows` gives the same as data."""

    def __init__(self) -> None:
        super().__init__(code_table_html())
        self.add_class("wsbench-close-code-table")

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per code: code, label, may_send, rule, fastapi_name, meaning."""
        return code_table_rows()

    def __repr__(self) -> str:
        return f"<CloseCodeTable: {len(REGISTERED)} codes>"
