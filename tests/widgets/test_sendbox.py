"""The panel's message box (SendBox): its synced values, and Ctrl+Enter as the front-end reports it.

The front-end is JavaScript; here its messages are fed in exactly as ipywidgets delivers them
from a browser (``Widget._handle_msg``), and what goes back is read off the widget's comm. The
browser test presses Ctrl+Enter for real."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_run import CHROMIUM, FLAGS

from wsbench.widgets._sendbox import SendBox


def from_front_end(widget: SendBox, data: dict[str, Any]) -> None:
    """Deliver *data* to *widget* the way a comm message from the browser arrives."""
    widget._handle_msg({"content": {"data": data}, "buffers": []})


def test_typing_in_the_browser_sets_value():
    """An 'update' from the front-end (the textarea's input event) sets ``value`` in the kernel."""
    box = SendBox()
    from_front_end(box, {"method": "update", "state": {"value": "typed"}, "buffer_paths": []})
    assert box.value == "typed"
    box.close()


def test_value_placeholder_disabled_go_to_the_front_end():
    """Setting value, placeholder and disabled in Python sends each to the front-end."""
    box = SendBox(placeholder="a text message")
    sent: list[Any] = []
    original = box.comm.send

    def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        sent.append(data)
        original(data=data, metadata=metadata, buffers=buffers)

    box.comm.send = send
    box.value, box.placeholder, box.disabled = "x", "JSON", True
    states = [d["state"] for d in sent if d.get("method") == "update"]
    assert {"value": "x"} in states and {"placeholder": "JSON"} in states and {"disabled": True} in states
    box.close()


def test_ctrl_enter_calls_the_submit_handlers():
    """The front-end's {"type": "submit"} message (Ctrl+Enter) calls every on_submit handler once."""
    box = SendBox()
    calls: list[str] = []
    box.on_submit(lambda: calls.append("first"))
    box.on_submit(lambda: calls.append("second"))
    from_front_end(box, {"method": "custom", "content": {"type": "submit"}})
    assert calls == ["first", "second"]
    box.close()


def test_other_custom_messages_are_ignored():
    """A custom message that is not a submit calls no handler."""
    box = SendBox()
    calls: list[int] = []
    box.on_submit(lambda: calls.append(1))
    from_front_end(box, {"method": "custom", "content": {"type": "something else"}})
    from_front_end(box, {"method": "custom", "content": "submit"})
    assert calls == []
    box.close()


def test_front_end_handles_ctrl_and_cmd_enter():
    """The ESM sends on Ctrl+Enter or Cmd+Enter with the text on screen, reports the text when the box
    loses focus, and keeps keys from JupyterLab."""
    esm = SendBox._esm
    assert '(event.ctrlKey || event.metaKey) && event.key === "Enter"' in esm
    assert 'model.send({ type: "submit", value: box.value })' in esm
    assert 'model.send({ type: "value", value: box.value })' in esm and "report();" in esm
    assert "preventDefault()" in esm and "stopPropagation()" in esm


def test_a_submit_carries_the_text_on_screen():
    """Ctrl+Enter sends the text with the submit: ipywidgets holds back a model's state update while
    an earlier one awaits the busy kernel, so the update could arrive after the submit, and the
    handlers would send the text from before (seen in the browser test after a reconnect)."""
    box = SendBox(value="typed before")
    seen: list[str] = []
    box.on_submit(lambda: seen.append(box.value))
    from_front_end(box, {"method": "custom", "content": {"type": "submit", "value": "again"}})
    assert seen == ["again"] and box.value == "again"
    box.close()


def test_leaving_the_box_sends_its_text_ahead_of_a_click():
    """The box's blur (the mouse going down on the send button) reports the text in a message of its
    own, which ipywidgets does not hold back: the button's click, sent after it, finds it set."""
    box = SendBox(value="typed before")
    from_front_end(box, {"method": "custom", "content": {"type": "value", "value": "again"}})
    assert box.value == "again"
    from_front_end(box, {"method": "custom", "content": {"type": "value", "value": 3}})  # not a text: ignored
    assert box.value == "again"
    box.close()


#: The ESM's render() on a page of its own, with a stand-in for the model: get/set (which fires its
#: change events at once, as ipywidgets' Backbone models do), save_changes, send (kept in
#: ``window.sent``), on/off; ``window.kernel(key, value)`` is a change from the kernel.
_MOUNT = """async (esm) => {
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const module = await import(url);
  const state = { value: "typed before", placeholder: "", disabled: false, rows: 2 };
  const listeners = {};
  const fire = (key) => (listeners["change:" + key] || []).forEach((f) => f());
  window.sent = [];
  const model = {
    get: (key) => state[key],
    set: (key, value) => { state[key] = value; fire(key); },
    save_changes: () => {},
    send: (message) => window.sent.push(message),
    on: (names, f) => names.split(" ").forEach((name) => (listeners[name] ||= []).push(f)),
    off: () => {},
  };
  window.kernel = (key, value) => { state[key] = value; fire(key); };
  module.default.render({ model, el: document.getElementById("box") });
}"""


def test_text_being_typed_is_not_replaced_by_an_older_value_from_the_kernel():
    """In real Chromium: the learner types "again" and, before leaving the box, an older value comes
    back from the kernel (ipywidgets' echo of an update it had held back): the box keeps what was
    typed, and leaving it reports "again", so the send button's click sends it. (The browser test
    once sent the text from before a reconnect this way.) Once the box is left, a value from the
    kernel shows as before."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=60_000)
        try:
            page = browser.new_context(offline=True).new_page()
            page.set_content('<div id="box"></div><button id="elsewhere">send</button>')
            page.evaluate(_MOUNT, SendBox._esm)
            assert page.input_value("textarea") == "typed before"
            page.fill("textarea", "again")
            page.evaluate("window.kernel('value', 'typed before')")  # the older value, late
            assert page.input_value("textarea") == "again"
            page.click("#elsewhere")  # the mouse goes down on the send button: the box is left
            assert page.evaluate("window.sent") == [{"type": "value", "value": "again"}]
            page.evaluate("window.kernel('value', 'set by code')")
            assert page.input_value("textarea") == "set by code"
        finally:
            browser.close()
