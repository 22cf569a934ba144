"""The display of ``%%llm_config``: what the user wrote, then what llm_magic derived.

``ConfigView`` renders as an HTML table in Jupyter (``_repr_html_``) and as plain text in terminal
IPython (``__repr__``). It shows every key the user wrote, as written (even a value that equals
the default, such as ``quantization: {bits: 4}`` or ``epochs: 3``), then, under its own "Derived"
header, every value llm_magic filled in or rewrote (with the reason). Untouched defaults are not
listed.
"""
from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from llm_magic.runtime.config.schema.base import fields_set
from llm_magic.runtime.config.yaml_lines import parse_yaml
from llm_magic.runtime.secrets import redact

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.config import LLMConfig


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


#: Section headers, the same in text and HTML.
WRITTEN = "Written in this config"
DERIVED = "Derived by llm_magic (values it filled in or rewrote, with the reason)"


def _show(value: Any) -> str:
    # A token pasted into the config is shown as *** (runtime/secrets.py), never echoed.
    if isinstance(value, str):
        return redact(value if value and "\n" not in value else json.dumps(value))
    return redact(json.dumps(value, default=str))


def written(config: LLMConfig) -> dict[str, Any]:
    """The keys the user wrote, with the values as written (nested dict).

    Read from the config's source (the cell's YAML or the dict given to ``load_config``), so a value
    llm_magic rewrote later still shows as the user wrote it; the rewrite is listed as derived.
    A config built without the loader falls back to the fields pydantic saw set.
    """
    source = config.source
    if isinstance(source, str):
        data = parse_yaml(source)[0]
        if isinstance(data, dict):
            return data
    if isinstance(source, dict):
        return source
    return fields_set(config)  # set fields equal to their default kept: the user wrote them


class ConfigView:
    """Display object for one stored config."""

    def __init__(self, config: LLMConfig, name: str | None = None, *, current: bool = True) -> None:
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

    def written(self) -> list[tuple[str, Any]]:
        """``(path, value)`` for every key the user wrote, as written (defaults included)."""
        return flatten(written(self.config))

    def derived(self) -> list[tuple[str, Any, str]]:
        """``(path, value, reason)`` for every derived or rewritten value."""
        return self.config.derived

    def without_effect(self) -> list[tuple[str, Any, str]]:
        """``(path, value, reason)`` for every key set that llm_magic accepts but does not apply."""
        return self.config.without_effect()

    def __repr__(self) -> str:
        lines = [self.summary, f"{WRITTEN}:"]
        lines += [f"  {path}: {_show(value)}" for path, value in self.written()] or ["  (nothing)"]
        derived = self.derived()
        if derived:
            lines.append(f"{DERIVED}:")
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
        changed = [(f"<code>{esc(p)}</code>", f"<code>{esc(_show(v))}</code>") for p, v in self.written()]
        derived = [(f"<code>{esc(p)}</code>", f"<code>{esc(_show(v))}</code>", esc(r))
                   for p, v, r in self.derived()]
        parts = [f"<div class='llm-config'><b>{esc(self.summary)}</b>",
                 f"<details open><summary>{WRITTEN}</summary>",
                 f"<table>{rows(changed) or '<tr><td>(nothing)</td></tr>'}</table></details>"]
        if derived:
            parts += [f"<details open><summary>{esc(DERIVED)}</summary>",
                      "<table><tr><th>key</th><th>value</th><th>why</th></tr>", rows(derived), "</table></details>"]
        inert = [(f"<code>{esc(p)}</code>", f"<code>{esc(_show(v))}</code>", esc(r))
                 for p, v, r in self.without_effect()]
        if inert:
            parts += ["<details open><summary>Accepted without effect (Ludwig compatibility)</summary>",
                      "<table><tr><th>key</th><th>value</th><th>why</th></tr>", rows(inert), "</table></details>"]
        parts.append("</div>")
        return "".join(parts)
