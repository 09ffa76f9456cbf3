"""The close-code table widget."""

from __future__ import annotations

from wsbench.codes import REGISTERED
from wsbench.widgets import CloseCodeTable


def test_close_code_table_lists_every_code():
    """The table has a row per registered code with may-be-sent, the rule and the fastapi.status name."""
    table = CloseCodeTable()
    assert [row["code"] for row in table.rows] == [info.code for info in REGISTERED]
    assert table.value.count("<tr>") == len(REGISTERED) + 1
    assert "WS_1008_POLICY_VIOLATION" in table.value
    assert 'RFC 6455 §7.4.1: reserved for "abnormal closure"' in table.value
    assert repr(table) == f"<CloseCodeTable: {len(REGISTERED)} codes>"
