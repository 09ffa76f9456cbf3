"""The panel's message box: a textarea that sends on Ctrl+Enter (Cmd+Enter on a Mac).

An ipywidgets ``Textarea`` has no keyboard way to send (Enter adds a newline), so the box is a
small anywidget: ``value``, ``placeholder`` and ``disabled`` sync both ways as the Textarea's
did, and Ctrl+Enter sends a ``{"type": "submit"}`` message carrying the box's text, which
:meth:`SendBox.on_submit` handlers receive on the kernel side; leaving the box (the mouse going
down on a send button) reports its text in a message too, since ipywidgets may hold a state update
back behind an earlier one while the kernel is busy, and the click would then find the old text;
and while the box has the focus, a value from the kernel does not replace the text in it (it may be
an older one coming back).
Like ipywidgets' own text boxes, the textarea keeps its key presses from JupyterLab, so typing
never runs notebook shortcuts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

__all__ = ["SendBox"]

#: The front-end: one <textarea> kept in step with ``value``, ``placeholder``, ``disabled``, ``rows``.
_ESM = """
function render({ model, el }) {
  const box = document.createElement("textarea");
  box.className = "wsb-sendbox";
  // While the learner is in the box, its text is theirs: a value from the kernel then may be an
  // older one coming back (ipywidgets' echo of an update it held back), and would replace what was
  // just typed, which leaving the box would then report, and a click send.
  let typing = false;
  const show = () => {
    if (!typing && box.value !== model.get("value")) box.value = model.get("value");
    box.placeholder = model.get("placeholder");
    box.disabled = model.get("disabled");
    box.rows = model.get("rows");
  };
  const save = () => {
    model.set("value", box.value);
    model.save_changes();
  };
  // ipywidgets holds a model's state update back while an earlier one awaits a busy kernel, but
  // sends a custom message at once: the text goes in one, so a click or a submit finds it set.
  const report = () => model.send({ type: "value", value: box.value });
  const onKey = (event) => {
    event.stopPropagation();  // as ipywidgets' text boxes do: no notebook shortcuts while typing
    if (event.type === "keydown" && (event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      save();
      model.send({ type: "submit", value: box.value });  // the text on screen is the text sent
    }
  };
  box.addEventListener("input", save);
  box.addEventListener("focus", () => { typing = true; });
  box.addEventListener("blur", () => {  // before the click of the button the mouse went down on
    typing = false;
    report();
  });
  box.addEventListener("keydown", onKey);
  box.addEventListener("keypress", onKey);
  model.on("change:value change:placeholder change:disabled change:rows", show);
  show();
  el.appendChild(box);
  return () => model.off("change:value change:placeholder change:disabled change:rows", show);
}
export default { render };
"""

#: The look of ipywidgets' Textarea in JupyterLab, over the panel's whole width.
_CSS = """
.wsb-sendbox {
  box-sizing: border-box; width: 100%; resize: vertical; padding: 4px 8px;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-widgets-font-size, 13px);
  color: var(--jp-widgets-input-color, #000); background: var(--jp-widgets-input-background-color, #fff);
  border: var(--jp-widgets-input-border-width, 1px) solid var(--jp-widgets-input-border-color, #9e9e9e);
}
.wsb-sendbox:focus { border-color: var(--jp-widgets-input-focus-border-color, #64b5f6); outline: none; }
.wsb-sendbox:disabled { opacity: var(--jp-widgets-disabled-opacity, 0.6); }
"""


class SendBox(anywidget.AnyWidget):
    """A multi-line text box whose Ctrl+Enter (Cmd+Enter) asks the kernel to send its text.

    ``value`` / ``placeholder`` / ``disabled`` / ``rows`` behave as on ``ipywidgets.Textarea``;
    :meth:`on_submit` registers what Ctrl+Enter does (the panel: the same as its send button).
    """

    _esm = _ESM
    _css = _CSS
    value = traitlets.Unicode("", help="the text in the box").tag(sync=True)
    placeholder = traitlets.Unicode("", help="the grey hint shown while the box is empty").tag(sync=True)
    disabled = traitlets.Bool(False, help="whether the box refuses typing").tag(sync=True)
    rows = traitlets.Int(2, help="the box's height in lines").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._submit_handlers: list[Callable[[], object]] = []
        self.on_msg(self._on_front_end_msg)

    def on_submit(self, handler: Callable[[], object]) -> None:
        """Call *handler* (no arguments) each time the user presses Ctrl+Enter (Cmd+Enter) in the box."""
        self._submit_handlers.append(handler)

    def submit(self) -> None:
        """Do what Ctrl+Enter does, from code: call every :meth:`on_submit` handler."""
        for handler in list(self._submit_handlers):
            handler()

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") not in ("submit", "value"):
            return
        if isinstance(content.get("value"), str):  # the text on screen, ahead of any held-back update
            self.value = content["value"]
        if content["type"] == "submit":
            self.submit()
