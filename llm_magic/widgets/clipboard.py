"""A "Copy" button that writes a text to the browser's clipboard.

ipywidgets alone cannot run JavaScript, and the Clipboard API (``navigator.clipboard.writeText``)
must be called in the page, inside the click's user gesture: a kernel-side click handler that
answers later is no longer a gesture. So the button is a small anywidget (a prebuilt ES module
on the standard widget protocol: no JupyterLab extension to build, and it renders in JupyterLab,
Notebook 7, VS Code and Colab). An HTML button with inline JS in an output would only run in a
trusted notebook and could not tell the kernel whether the copy worked.

The kernel keeps :attr:`CopyButton.text` current; the page reports each attempt back in
:attr:`CopyButton.copied` (how many copies succeeded) and :attr:`CopyButton.status` (the line
shown beside the button).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    import anywidget

__all__ = ["CopyButton", "copy_button"]

_ESM = r"""
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button llm-magic-copy";
  button.textContent = model.get("label");
  button.title = "Copy to the clipboard";
  const note = document.createElement("span");
  note.className = "llm-magic-copy-status";
  note.style.marginLeft = "0.6em";
  note.style.color = "#555";
  const show = () => { note.textContent = model.get("status"); };
  button.addEventListener("click", async () => {
    const text = model.get("text");
    try {
      await navigator.clipboard.writeText(text);
      model.set("copied", model.get("copied") + 1);
      model.set("status", `Copied ${text.split("\n").filter(Boolean).length} lines of YAML to the clipboard.`);
    } catch (err) {
      model.set("status", `The browser refused the clipboard (${err && err.name || err}); the YAML is shown below to copy by hand.`);
      model.set("failed", model.get("failed") + 1);
    }
    model.save_changes();
  });
  model.on("change:status", show);
  model.on("change:label", () => { button.textContent = model.get("label"); });
  show();
  el.appendChild(button);
  el.appendChild(note);
}
export default { render };
"""

_CLASS: type[anywidget.AnyWidget] | None = None


def _button_class() -> type[anywidget.AnyWidget]:
    """The anywidget class, built on first use (anywidget is imported only by the playground)."""
    global _CLASS
    if _CLASS is None:
        # lazy: anywidget costs 0.1-0.4 s; paid by the first notebook playground only
        import anywidget
        import traitlets

        class CopyButton(anywidget.AnyWidget):
            """A button copying :attr:`text` to the clipboard in the page; see the module docstring."""

            _esm = _ESM
            text = traitlets.Unicode("").tag(sync=True)
            label = traitlets.Unicode("Copy as YAML").tag(sync=True)
            status = traitlets.Unicode("").tag(sync=True)
            copied = traitlets.Int(0).tag(sync=True)
            failed = traitlets.Int(0).tag(sync=True)

        _CLASS = CopyButton
    return _CLASS


def copy_button(text: str = "", label: str = "Copy as YAML") -> anywidget.AnyWidget:
    """A new :class:`CopyButton` holding ``text``."""
    return _button_class()(text=text, label=label)


def __getattr__(name: str) -> type[anywidget.AnyWidget]:
    if name == "CopyButton":
        return _button_class()
    raise AttributeError(name)
