"""The effective-config display of ``%%llm_config``: what the user changed and what was derived.

``ConfigView`` renders as an HTML table in Jupyter (``_repr_html_``) and as plain text in terminal
IPython (``__repr__``). It shows only the interesting part of the config: keys whose values differ
from the defaults, and every value llm_magic filled in or rewrote (with the reason).
"""
from __future__ import annotations

import html
import json
from typing import Any

from llm_magic.runtime.secrets import redact


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts/lists as ``(dotted.path[0], leaf)`` pairs (lists of scalars stay whole)."""
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for key, sub in value.items():
            out += flatten(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = []
        for index, sub in enumerate(value):
            out += flatten(sub, f"{prefix}[{index}]")
        return out
    return [(prefix, value)]


def _show(value: Any) -> str:
    # A token pasted into the config is shown as *** (runtime/secrets.py), never echoed.
    if isinstance(value, str):
        return redact(value if value and "\n" not in value else json.dumps(value))
    return redact(json.dumps(value, default=str))


class ConfigView:
    """Display object for one stored config."""

    def __init__(self, config: Any, name: str | None = None, *, current: bool = True) -> None:
        self.config = config
        self.name = name
        self.current = current

    @property
    def summary(self) -> str:
        """One line: name, base model, trainer, adapter, quantisation."""
        c = self.config
        adapter = c.adapter.type if c.adapter is not None else (
            f"adapters {', '.join(c.adapters.adapters)}" if c.adapters is not None else "no adapter")
        quant = f", {c.quantization.bits}-bit" if c.quantization is not None and \
            c.quantization.backend == "bitsandbytes" else (
                f", torchao {c.quantization.mode}" if c.quantization is not None else "")
        label = f"llm config {self.name!r}" if self.name else "llm config"
        state = " (current)" if self.current else ""
        return f"{label}{state}: {redact(c.base_model)} | trainer {c.trainer.type} | {adapter}{quant}"

    def changed(self) -> list[tuple[str, Any]]:
        """``(path, value)`` for every key set to a non-default value."""
        return flatten(self.config.diff_from_defaults())

    def derived(self) -> list[tuple[str, Any, str]]:
        """``(path, value, reason)`` for every derived or rewritten value."""
        return self.config.derived

    def without_effect(self) -> list[tuple[str, Any, str]]:
        """``(path, value, reason)`` for every key set that llm_magic accepts but does not apply."""
        return self.config.without_effect()

    def __repr__(self) -> str:
        lines = [self.summary, "Set in this config (differs from the defaults):"]
        lines += [f"  {path}: {_show(value)}" for path, value in self.changed()] or ["  (nothing)"]
        derived = self.derived()
        if derived:
            lines.append("Derived or rewritten by llm_magic:")
            lines += [f"  {path} = {_show(value)}   ({reason})" for path, value, reason in derived]
        inert = self.without_effect()
        if inert:
            lines.append("Accepted without effect (Ludwig compatibility):")
            lines += [f"  {path}: {_show(value)}   ({reason})" for path, value, reason in inert]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def rows(items: list[tuple[str, ...]]) -> str:
            return "".join(
                "<tr>" + "".join(f"<td style='text-align:left'>{cell}</td>" for cell in item) + "</tr>"
                for item in items)

        esc = html.escape
        changed = [(f"<code>{esc(p)}</code>", f"<code>{esc(_show(v))}</code>") for p, v in self.changed()]
        derived = [(f"<code>{esc(p)}</code>", f"<code>{esc(_show(v))}</code>", esc(r))
                   for p, v, r in self.derived()]
        parts = [f"<div class='llm-config'><b>{esc(self.summary)}</b>",
                 "<details open><summary>Set in this config (differs from the defaults)</summary>",
                 f"<table>{rows(changed) or '<tr><td>(nothing)</td></tr>'}</table></details>"]
        if derived:
            parts += ["<details open><summary>Derived or rewritten by llm_magic</summary>",
                      "<table><tr><th>key</th><th>value</th><th>why</th></tr>", rows(derived), "</table></details>"]
        inert = [(f"<code>{esc(p)}</code>", f"<code>{esc(_show(v))}</code>", esc(r))
                 for p, v, r in self.without_effect()]
        if inert:
            parts += ["<details open><summary>Accepted without effect (Ludwig compatibility)</summary>",
                      "<table><tr><th>key</th><th>value</th><th>why</th></tr>", rows(inert), "</table></details>"]
        parts.append("</div>")
        return "".join(parts)
