"""The prompt playground (``%llm_playground``, ``%%llm_prompt --ui``): sliders for the settings.

:class:`Playground` holds the ipywidgets: a Textarea, one full-width slider per common generation
knob (``max_new_tokens`` and ``top_k`` on a log scale: their useful values span two to three
orders of magnitude), an on/off toggle for ``do_sample``, Generate and Stop buttons, the answer
shown after its prompt, and "Copy as YAML" (:mod:`.clipboard`) that puts the chosen values on
the clipboard as a ``generation:`` block to paste into the config. It never generates by itself:
it calls the ``generate`` function it is given with the text, the slider values and a callback
for the growing text. Generate runs it on a worker thread, so the kernel stays free to receive
the Stop click; Done (:meth:`Playground.retire`) leaves the last state as static HTML.
:meth:`Playground.run` is the same work, synchronously (tests drive it without a
browser: set ``slider.value``, then ``button.click()`` and :meth:`Playground.wait`). In terminal
IPython it prints the current settings and how to pass them as flags instead.

In a notebook the playground is displayed with a static HTML fallback in the same output (the
prompt, the settings and the last answer), for nbconvert, GitHub and frontends without the
widget's model. It is refreshed after every answer and by Done, not on every slider move or
keystroke: a display update makes JupyterLab draw the live view again, which would take the
focus from the control in use. JupyterLab itself draws the widget view of a trusted notebook in
preference to any fallback, so a notebook saved while the playground is live shows "Error
displaying widget" there once the kernel is gone. Done avoids it, and so does shutting the kernel
down before saving: at shutdown every live playground replaces its output by the static HTML
(:meth:`Playground.orphan`); JupyterLab's widget-state setting draws the saved controls instead
(``docs/troubleshooting.md``).
"""
from __future__ import annotations

import html
import math
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as w
from IPython import get_ipython
import torch
import yaml

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.progress import listening
from llm_magic.widgets.clipboard import copy_button
from llm_magic.widgets.frontend import WidgetDisplay, is_notebook
from llm_magic.widgets.progress import text_line

if TYPE_CHECKING:  # pragma: no cover - types only
    from types import ModuleType

    import ipywidgets

    from llm_magic.runtime.generation.result import GenerationResult

__all__ = ["SLIDERS", "Playground"]

#: Slider knobs: name -> (kind, min, max, step, fallback value). ``log`` sliders are integers on
#: a base-2 scale (step in powers of two). Ranges cover the useful part of each setting's valid
#: range (the ``generation:`` schema); a config value outside widens the slider.
SLIDERS: dict[str, tuple[str, float, float, float, float]] = {
    "temperature": ("float", 0.0, 2.0, 0.05, 0.1),
    "top_p": ("float", 0.0, 1.0, 0.01, 1.0),
    "top_k": ("log", 1, 200, 0.01, 50),
    "max_new_tokens": ("log", 1, 1024, 0.01, 32),
    "repetition_penalty": ("float", 0.5, 2.0, 0.05, 1.0),
    "num_beams": ("int", 1, 8, 1, 1),
}

#: Width of every control's label, so the slider tracks start and end at the same place.
_LABEL_WIDTH = "11em"

GenerateFn = Callable[[str, dict[str, Any], Callable[[str], None]], "GenerationResult"]


def _slider(w: ModuleType, name: str, value: float) -> ipywidgets.FloatSlider | ipywidgets.IntSlider:
    kind, low, high, step, _ = SLIDERS[name]
    common = dict(description=name, continuous_update=False, layout=w.Layout(width="100%"),
                  style={"description_width": _LABEL_WIDTH})
    if kind == "log":
        return w.FloatLogSlider(value=value, base=2, min=math.log2(min(low, value)),
                                max=math.log2(max(high, value)), step=step, readout_format=".0f", **common)
    cls = w.FloatSlider if kind == "float" else w.IntSlider
    return cls(value=value, min=min(low, value), max=max(high, value), step=step, **common)


class Playground:
    """A prompt box with generation sliders; ``generate(text, settings, on_text)`` does the work.

    ``settings`` gives the starting values (the config's ``generation`` block as a dict); the
    playground's :meth:`settings` are what the next generation uses. ``last_result`` holds the
    last answer.
    """

    #: Minimum seconds between two updates of the output while streaming.
    min_interval: float = 0.1

    def __init__(self, generate: GenerateFn, settings: dict[str, Any] | None = None,
                 text: str = "", notebook: bool | None = None) -> None:
        self._generate = generate
        self.notebook = is_notebook() if notebook is None else notebook
        start = dict(settings or {})
        self.last_result: GenerationResult | None = None
        self.last_prompt = ""
        #: Where it is shown in a notebook (the live view and its static copy); None until then.
        self.handle: WidgetDisplay | None = None
        #: True once Done replaced the controls by static HTML.
        self.retired = False
        #: True once the kernel shut down (or restarted) with the playground live; see :meth:`orphan`.
        self.orphaned = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.prompt = w.Textarea(value=text, placeholder="Type a prompt…", layout=w.Layout(width="100%", height="6em"))
        self.sliders: dict[str, Any] = {}
        for name, (_, _, _, _, fallback) in SLIDERS.items():
            value = start.get(name)
            self.sliders[name] = _slider(w, name, fallback if value is None else value)
        self.do_sample = w.ToggleButtons(
            options=[("on", True), ("off", False)],
            value=bool(start.get("do_sample", True)), style={"button_width": "5em"},
            tooltips=["Sample with temperature, top_k and top_p", "Decode greedily (or with num_beams beams)"])
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True,
                                    tooltip="Stop the answer after the current token")
        self.done_button = w.Button(description="Done", icon="check",
                                    tooltip="Keep the settings and the last answer as static HTML and close "
                                            "the controls (a saved notebook then shows no dead widget)")
        self.copy_button = copy_button(self.to_yaml())
        self.output = w.HTML(layout=w.Layout(width="100%"))
        self.yaml_box = w.Textarea(layout=w.Layout(width="100%", height="10em", display="none"))
        self.generate_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.done_button.on_click(lambda _: self.retire())
        for control in [*self.sliders.values(), self.do_sample]:
            control.observe(self._settings_changed, names="value")
        self.copy_button.observe(lambda _: self.show_yaml(), names="failed")
        self.widget = w.VBox([
            self.prompt,
            *self.sliders.values(),
            # A label as wide as the sliders' keeps the toggle in their column (a ToggleButtons'
            # own description wraps above its buttons).
            w.HBox([w.Label("do_sample", layout=w.Layout(width=_LABEL_WIDTH, display="flex",
                                                          justify_content="flex-end", padding="0 8px 0 0")),
                    self.do_sample]),
            w.HBox([self.generate_button, self.stop_button, self.copy_button, self.done_button]),
            self.output,
            self.yaml_box,
        # Each child is 100% wide plus ipywidgets' 2px margin on both sides, so without this
        # padding they overflow the output by 4px and the prompt box loses its right border
        # (JupyterLab 4.6 and Notebook 7 alike; the box is border-box, so it stays 100% wide).
        ], layout=w.Layout(width="100%", padding="0 4px 0 0"))

    # ------------------------------------------------------------------------ state
    def settings(self) -> dict[str, Any]:
        """The generation settings the controls show now (what the next Generate uses)."""
        values: dict[str, Any] = {}
        for name, slider in self.sliders.items():
            kind, _, _, step, _ = SLIDERS[name]
            if kind == "float":  # sliders report float noise (0.7000000000000001): round to the step
                values[name] = round(float(slider.value), _decimals(step))
            else:
                values[name] = int(round(slider.value))
        values["do_sample"] = bool(self.do_sample.value)
        return values

    def to_yaml(self) -> str:
        """The current settings as a ``generation:`` block to paste into a ``%%llm_config`` cell."""
        return yaml.safe_dump({"generation": self.settings()}, sort_keys=False)

    def show_yaml(self) -> str:
        """Show the YAML block under the controls (to copy by hand); return it."""
        text = self.to_yaml()
        self.yaml_box.value = text
        self.yaml_box.layout.display = None
        return text

    def _settings_changed(self, _change: Any = None) -> None:
        # The copy button copies in the page, without asking the kernel: keep its text current.
        self.copy_button.text = self.to_yaml()
        if self.yaml_box.layout.display != "none":
            self.yaml_box.value = self.copy_button.text

    # ------------------------------------------------------------------------ generation
    @property
    def running(self) -> bool:
        """Whether an answer is being generated (on the worker thread)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """What Generate does: :meth:`run` on a worker thread, so Stop can be clicked meanwhile."""
        if self.running:
            return
        self._busy(True)
        threads = _torch_threads()

        def work() -> None:
            try:
                if threads:
                    torch.set_num_threads(threads)  # a new thread starts with torch's default
                self.run()
            finally:
                self._busy(False)

        self._thread = threading.Thread(target=work, name="llm-magic-playground", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> GenerationResult | None:
        """Wait for the answer Generate started; return :attr:`last_result`."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.last_result

    def stop(self) -> None:
        """What Stop does: end the answer after the current token (the text so far is kept)."""
        self._stop.set()

    def _busy(self, busy: bool) -> None:
        self.generate_button.disabled = busy
        self.stop_button.disabled = not busy

    def run(self) -> GenerationResult | None:
        """Generate for the prompt box's text with the current settings, streaming the answer."""
        self._stop.clear()
        prompt = self.prompt.value
        self.last_prompt = prompt
        last = [0.0]

        def on_text(text: str) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt  # the generation loop's clean stop (partial text kept)
            now = time.monotonic()
            if now - last[0] >= self.min_interval:
                last[0] = now
                self.output.value = _transcript(prompt, text)

        self.output.value = _transcript(prompt, "", "Generating…")
        try:
            # The first answer loads the model: its progress shows here, not in a cell output.
            with listening(_OutputProgress(self, prompt)):
                result = self._generate(prompt, self.settings(), on_text)
        except LlmMagicError as exc:  # a user mistake: show it where the answer would be
            self.output.value = f"<pre style='color:#b00;white-space:pre-wrap'>{html.escape(str(exc))}</pre>"
            return None
        self.last_result = result
        footer = result.summary() if hasattr(result, "summary") else ""
        self.output.value = _transcript(prompt, result.text, footer)
        self._refresh_fallback()
        return result

    # ------------------------------------------------------------------------ display
    def render_text(self) -> str:
        """The terminal fallback: the current settings and how to use them as flags."""
        flags = " ".join(f"--{k} {v}" for k, v in self.settings().items() if k != "do_sample")
        mode = "--do_sample" if self.settings()["do_sample"] else "--greedy"
        lines = [
            "Prompt playground (sliders need Jupyter). Current generation settings:",
            *(f"  {k}: {v}" for k, v in self.settings().items()),
            "Use them per call as flags:",
            f"  %%llm_prompt {flags} {mode}",
            "or paste this into your %%llm_config cell:",
            *("  " + line for line in self.to_yaml().splitlines()),
        ]
        if self.prompt.value and (self.last_result is None or self.prompt.value != self.last_prompt):
            lines += ["Prompt:", *("  " + line for line in self.prompt.value.splitlines())]
        if self.last_result is not None:
            lines += ["Last answer:", f"  {self.last_prompt}{self.last_result.text}"]
        return "\n".join(lines)

    def render_html(self) -> str:
        """The static fallback: the prompt, the settings as YAML, and the last prompt with its answer.

        It is what nbconvert, GitHub and a frontend without the widget's model show, so it names
        everything needed to redo the answer without the kernel that made it.
        """
        if self.retired:
            state = "closed with Done"
        elif self.orphaned:
            state = "its kernel shut down; rerun the cell to use it"
        else:
            state = "interactive while its kernel runs; rerun the cell to use it"
        parts = ["<div class='llm-magic-playground'><b>Prompt playground</b> "
                 f"<span style='color:#888'>({html.escape(state)})</span>"]
        if self.last_result is None or self.prompt.value != self.last_prompt:
            # The prompt box, unless the last answer below already shows it.
            prompt = self.prompt.value
            shown = html.escape(prompt) if prompt else "<i style='color:#888'>(empty)</i>"
            parts.append("<div style='margin-top:4px'>Prompt</div><pre class='llm-magic-prompt' "
                         "style='white-space:pre-wrap;overflow-wrap:break-word;margin:0;border:1px solid #ddd;"
                         f"padding:4px'>{shown}</pre>")
        parts.append("<div style='margin-top:4px'>Generation settings</div>"
                     "<pre class='llm-magic-settings' style='margin:0'>" + html.escape(self.to_yaml()) + "</pre>")
        if self.last_result is not None:
            footer = self.last_result.summary() if hasattr(self.last_result, "summary") else ""
            parts.append("<div style='margin-top:4px'>Last answer</div>")
            parts.append(_transcript(self.last_prompt, self.last_result.text, footer))
        parts.append("</div>")
        return "".join(parts)

    def _refresh_fallback(self) -> None:
        if self.handle is None:
            return
        if self.retired or self.orphaned:
            # An answer that ends after Done or the kernel's shutdown must not bring the
            # (closed, or soon dead) widget view back into the output: static HTML only.
            self.handle.freeze(self.render_html(), self.render_text())
            return
        self.handle.refresh(self.render_html(), self.render_text())

    def retire(self) -> None:
        """What Done does: replace the controls by the static copy and close the widgets.

        A notebook saved while the playground is live shows its static copy once reopened
        anyway (:class:`~llm_magic.widgets.frontend.WidgetDisplay`); after Done its outputs hold
        no widget view at all, in any frontend.
        """
        self.stop()
        self.wait(30)
        self.retired = True
        if self.handle is not None:
            self.handle.freeze(self.render_html(), self.render_text())
        _close_tree(self.widget)

    def orphan(self) -> None:
        """What a kernel shutdown or restart does to a live playground: its output becomes static HTML.

        The widget models die with the kernel. Where the static copy is its own output (JupyterLab,
        Notebook 7) the page shows it as soon as the view is gone anyway; where it is the view's
        fallback (VS Code, Colab) replacing the output while the kernel still can (the shutdown
        request arrives before the kernel exits) is what keeps the last state on the page and in
        the notebook saved after. Both ways the saved outputs then hold no widget view.
        JupyterLab 4.6 does not apply this update on a *restart* (it has let go of the old
        kernel's displays by then); after a shutdown it does. The widgets are left open: the
        kernel's exit ends them.
        """
        if self.retired or self.orphaned or self.handle is None:
            return
        self.orphaned = True
        self.stop()
        self.handle.freeze(self.render_html(), self.render_text())

    def _ipython_display_(self) -> None:
        if self.notebook:
            self.handle = WidgetDisplay(self.widget, self.render_html(), self.render_text())
            _orphan_at_shutdown(self)
        else:
            print(self.render_text())

    def __repr__(self) -> str:
        return self.render_text()


#: The playgrounds shown in this kernel (weakly: one that is gone needs nothing at shutdown).
_SHOWN: "weakref.WeakSet[Playground]" = weakref.WeakSet()
_watched: set[int] = set()


def _orphan_at_shutdown(playground: Playground) -> None:
    """Have :meth:`Playground.orphan` run on every shown playground when the kernel shuts down.

    A Jupyter kernel's shutdown request (JupyterLab's "Shut Down Kernel" and "Restart Kernel",
    or the server stopping) sets the shell's ``exit_now`` trait before the kernel replies and
    exits, while its output channel still reaches the page: the traitlets observer is the
    public hook that runs then (IPython has no shutdown event). ``exit`` in a cell sets it too.
    """
    _SHOWN.add(playground)
    shell = get_ipython()
    if shell is None or id(shell) in _watched or not shell.has_trait("exit_now"):
        return
    _watched.add(id(shell))
    shell.observe(_on_exit_now, names="exit_now")


def _on_exit_now(change: Any) -> None:
    if not change.get("new"):
        return
    for playground in list(_SHOWN):
        try:
            playground.orphan()
        except Exception:  # noqa: BLE001 - the kernel is exiting: never let one output keep it from it
            pass


class _OutputProgress:
    """Runtime progress (the model loading on the first Generate) drawn in the answer area."""

    def __init__(self, playground: Playground, prompt: str) -> None:
        self.playground = playground
        self.prompt = prompt

    def begin(self, task: Any) -> None:
        self.update(task)

    def update(self, task: Any) -> None:
        self.playground.output.value = _transcript(self.prompt, "", text_line(task))

    def end(self, task: Any) -> None:
        self.playground.output.value = _transcript(self.prompt, "", "Generating…")


def _transcript(prompt: str, answer: str, footer: str = "") -> str:
    """The prompt (grey) followed by the answer, wrapped at spaces (a long word breaks only if it must)."""
    style = "white-space:pre-wrap;overflow-wrap:break-word;word-break:normal;margin:0"
    foot = f"<div style='color:#888;font-size:smaller'>{html.escape(footer)}</div>" if footer else ""
    return (f"<pre class='llm-magic-transcript' style='{style}'><span style='color:#888'>{html.escape(prompt)}"
            f"</span><span class='llm-magic-answer' style='color:inherit;font-weight:600'>{html.escape(answer)}</span></pre>{foot}")


def _close_tree(widget: Any) -> None:
    """Close ``widget`` and every widget inside it (``Widget.close`` leaves the children open)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _torch_threads() -> int | None:
    """The caller's torch thread count, when torch is loaded (a worker thread must set it again)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _decimals(step: float) -> int:
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0
