"""Why each prediction exercise comes out as it does: what a check says after a wrong prediction.

A prediction exercise ("what will the client see?") is checked against what the live bench shows,
never against a value written in the notebook; and the explanation is kept here, not in the check
cell, so that reading the check cell does not give the answer away (the student copies of
:mod:`wsbench.student` hold the check cells as they are). Keyed by the name the learner's answer
is given in the notebook; ``{name}`` fields are filled with what the check saw live.
A tuple explains a list answer item by item (one entry per item).

Standard library only: text, used by :meth:`wsbench.exercises.Check.predicted`.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["WHY"]

_WHY: dict[str, str | tuple[str, ...]] = {
    # 01_scope
    "predicted_query_string": "the scope keeps the query string as **bytes**, percent-encoded as sent (UTF-8 é is "
    "%C3%A9) and without the '?' (see 'What the scope holds').",
    # 05_headers
    "predicted_protocol_header": "the offered subprotocols travel in ONE request header, comma-separated, in the "
    "order offered (see 'The handshake headers'; 01_scope shows the raw bytes).",
    # 06_query_params
    "predicted_query_dict": "dict() keeps the LAST value of a repeated key, values are always str, and a key "
    "without a value is kept with '' (see 'Last value, all values, decoded strings').",
    # 07_path_params
    "predicted_path_params": "the dict holds the text from the URL as it was (a str, leading zeros kept); only the "
    "typed argument `item_id` is converted (to 42) (see 'An endpoint with an `int` annotation').",
    # 09_client
    "predicted_forwarded_host": "uvicorn reads X-Forwarded-For from the right (the hop nearest to it) and stops at "
    "the first address it does not trust; 10.0.0.1 is not in forwarded_allow_ips, so whatever stands left of it "
    "could be forged (see 'A surprise: X-Forwarded-For from localhost is trusted').",
    # 10_state
    "predicted_third_visits": "each connection's state is a shallow COPY of what the lifespan yielded, so `+=` "
    "rebinds the int in that copy only and every connection counts from the lifespan's 0 "
    "(see 'The typical mistake').",
    # 12_url_for
    "predicted_typo_close_code": "NoMatchFound escaped the endpoint after accept(), and uvicorn dropped the "
    "connection without a close frame; {seen} is the code a client reports when no close frame arrived "
    "(08_cookies shows the same with a KeyError).",
    # 13_client_state: one reason per moment
    "predicted_13_states": (
        "before accept() the endpoint has not received websocket.connect yet",
        "accept() receives websocket.connect before it sends websocket.accept",
        "the client's close waits as an unread ASGI message: client_state moves when the endpoint *reads*, not "
        "when the client leaves (section 'It changes when the endpoint reads')",
        "receive() returned the websocket.disconnect message",
    ),
    # 14_application_state
    "ex14_closed_first": "the client's last line reads `closed: {detail}`: it *received* first, then answered; and "
    "the server lane has `→ websocket.close {server_code}`, with application_state=DISCONNECTED in its brackets.",
    "ex14_close_code": "the server lane reads `server → websocket.close {server_code}`; the client's answering close "
    "frame echoes the same code.",
    "ex14_goodbye_arrived": "there is no `client ← text 'goodbye'` line and no `server → websocket.send` either: "
    "after close() application_state is DISCONNECTED, so send_text raises WebSocketDisconnected before anything "
    "reaches uvicorn (section 'The typical mistake: sending after close()').",
    # 21_iter_text
    "predicted_21_code": "the client closed first: uvicorn answered its close frame at once, echoing its code, "
    "before the loop had even ended. The endpoint's close({late_code}) came later (its brackets read "
    "client_state={client_state}) and went nowhere.",
    "predicted_21_raises": "iter_text() swallowed the WebSocketDisconnect, and the close() after the loop was "
    "quietly dropped by uvicorn, the connection being closed already (print(kicked.transcript) to see both sides).",
    # 27_close
    "ex27_2_predicted_code": "the endpoint sent {closes} close messages. When an endpoint returns without close(), "
    "uvicorn's default implementation just closes TCP, with no close frame, so the client can only report "
    "{seen}. Close explicitly (websocket.close(1000)) to send a code.",
    # 34_testclient_vs_uvicorn
    "ex34_1_predicted_status": "the exception stays on the server, and uvicorn, which has not accepted the "
    "handshake yet, answers {seen} (compare section 1: a close() before accept gives 403). The TestClient "
    "{in_process} in the test instead.",
}

#: The explanation of each prediction, by the name of the learner's answer.
WHY = MappingProxyType(_WHY)
