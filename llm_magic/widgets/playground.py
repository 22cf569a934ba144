"""The prompt playground (``%llm_playground``, ``%%llm_prompt --ui``): sliders for the settings.

:class:`Playground` holds the ipywidgets (a Textarea, one slider per common generation knob, a
``do_sample`` toggle, a Generate button, a streaming output area, and "Copy as YAML" showing the
chosen values as a ``generation:`` block that pastes into the config). It never generates by
itself: it calls the ``generate`` function it is given with the text, the slider values and a
callback for the growing text, so tests drive it without a browser (set ``slider.value``, then
``button.click()``). In terminal IPython it prints the current settings and how to pass them as
flags instead.
"""
from __future__ import annotations

import html
import time
from typing import Any, Callable

from llm_magic.errors import LlmMagicError
from llm_magic.widgets.frontend import is_notebook

__all__ = ["SLIDERS", "Playground"]

#: Slider knobs: name -> (kind, min, max, step, fallback value). Ranges cover the useful part of
#: each setting's valid range (spec section 8); a config value outside widens the slider.
SLIDERS: dict[str, tuple[str, float, float, float, float]] = {
    "temperature": ("float", 0.0, 2.0, 0.05, 0.1),
    "top_p": ("float", 0.0, 1.0, 0.01, 1.0),
    "top_k": ("int", 1, 200, 1, 50),
    "max_new_tokens": ("int", 1, 1024, 1, 32),
    "repetition_penalty": ("float", 0.5, 2.0, 0.05, 1.0),
    "num_beams": ("int", 1, 8, 1, 1),
}

GenerateFn = Callable[[str, dict[str, Any], Callable[[str], None]], Any]


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
        import ipywidgets as w

        self._generate = generate
        self.notebook = is_notebook() if notebook is None else notebook
        start = dict(settings or {})
        self.last_result: Any = None
        self.prompt = w.Textarea(value=text, placeholder="Type a prompt…", layout=w.Layout(width="100%", height="6em"))
        self.sliders: dict[str, Any] = {}
        for name, (kind, low, high, step, fallback) in SLIDERS.items():
            value = start.get(name)
            value = fallback if value is None else value
            cls = w.FloatSlider if kind == "float" else w.IntSlider
            self.sliders[name] = cls(
                value=value, min=min(low, value), max=max(high, value), step=step, description=name,
                style={"description_width": "initial"}, continuous_update=False,
            )
        self.do_sample = w.ToggleButton(value=bool(start.get("do_sample", True)), description="do_sample",
                                        tooltip="Sample (on) or decode greedily / with beams (off)")
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.yaml_button = w.Button(description="Copy as YAML", icon="copy")
        self.output = w.HTML()
        self.yaml_box = w.Textarea(layout=w.Layout(width="100%", height="10em", display="none"))
        self.generate_button.on_click(lambda _: self.run())
        self.yaml_button.on_click(lambda _: self.show_yaml())
        self.widget = w.VBox([
            self.prompt,
            w.HBox([w.VBox(list(self.sliders.values())[:3]), w.VBox(list(self.sliders.values())[3:])]),
            w.HBox([self.do_sample, self.generate_button, self.yaml_button]),
            self.output,
            self.yaml_box,
        ])

    # ------------------------------------------------------------------------ state
    def settings(self) -> dict[str, Any]:
        """The generation settings the controls show now (what the next Generate uses)."""
        values: dict[str, Any] = {}
        for name, slider in self.sliders.items():
            kind, _, _, step, _ = SLIDERS[name]
            # Sliders report float noise (0.7000000000000001); round to the slider's step.
            values[name] = int(slider.value) if kind == "int" else round(float(slider.value), _decimals(step))
        values["do_sample"] = bool(self.do_sample.value)
        return values

    def to_yaml(self) -> str:
        """The current settings as a ``generation:`` block to paste into a ``%%llm_config`` cell."""
        import yaml

        return yaml.safe_dump({"generation": self.settings()}, sort_keys=False)

    def show_yaml(self) -> str:
        """Show the YAML block under the controls (select it and copy); return it."""
        text = self.to_yaml()
        self.yaml_box.value = text
        self.yaml_box.layout.display = None
        return text

    # ------------------------------------------------------------------------ generation
    def run(self) -> Any:
        """Generate for the prompt box's text with the current settings, streaming the answer."""
        last = [0.0]

        def on_text(text: str) -> None:
            now = time.monotonic()
            if now - last[0] >= self.min_interval:
                last[0] = now
                self.output.value = _pre(text)

        self.output.value = "<i>Generating…</i>"
        try:
            result = self._generate(self.prompt.value, self.settings(), on_text)
        except LlmMagicError as exc:  # a user mistake: show it where the answer would be
            self.output.value = f"<pre style='color:#b00'>{html.escape(str(exc))}</pre>"
            return None
        self.last_result = result
        footer = result.summary() if hasattr(result, "summary") else ""
        self.output.value = _pre(result.text) + f"<div style='color:#888;font-size:smaller'>{html.escape(footer)}</div>"
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
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.notebook:
            display(self.widget)
        else:
            print(self.render_text())

    def __repr__(self) -> str:
        return self.render_text()


def _pre(text: str) -> str:
    return f"<pre style='white-space:pre-wrap;margin:0'>{html.escape(text)}</pre>"


def _decimals(step: float) -> int:
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0
