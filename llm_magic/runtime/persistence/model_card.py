"""The model card (``README.md``) written into run and export folders.

A short Hub-style card: YAML front matter the Hub understands (``base_model``, ``library_name``,
``tags``), then what was trained (base model, adapter, data size), the final metrics and how to
load the folder with and without llm_magic. Plain string building: the card is small and a
template engine would only add a dependency to audit.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

__all__ = ["render_model_card"]


def _format_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _adapter_line(adapter: Mapping[str, Any] | None) -> str:
    if not adapter:
        return "none (full fine-tune or base model)"
    details = [f"`{adapter.get('type')}`"]
    for key in ("r", "alpha", "dropout", "target_modules"):
        if adapter.get(key) is not None:
            details.append(f"{key}={adapter[key]}")
    return ", ".join(details)


def render_model_card(
    *,
    kind: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    data_rows: int | None = None,
    merged: bool = False,
    steps: int | None = None,
) -> str:
    """Render the card for a folder of ``kind`` (``adapter``, ``full``, ``config`` or ``export``).

    ``config`` is the effective config dict; ``metrics`` the final metrics (flat name -> value);
    ``data_rows`` the number of rows the model was trained on (None when unknown or untrained).
    """
    base = str(config.get("base_model"))
    adapter = config.get("adapter") if isinstance(config.get("adapter"), Mapping) else None
    is_adapter_folder = kind == "adapter"
    library = "peft" if is_adapter_folder else "transformers"
    tags = ["llm_magic", "text-generation"]
    if adapter:
        tags.append(str(adapter.get("type")))
    front = ["---", f"base_model: {json.dumps(base)}", f"library_name: {library}", "tags:"]
    front += [f"- {tag}" for tag in tags]
    front.append("---")

    what = {
        "adapter": "a PEFT adapter for",
        "full": "a full fine-tune of",
        "config": "a prompt/config for",
        "export": "a standalone model (adapter merged into the weights) built on",
    }.get(kind, "a model built on")
    lines = [
        *front,
        "",
        f"# {base} — fine-tuned with llm_magic",
        "",
        f"This folder holds {what} `{base}`, written by llm_magic.",
        "",
        f"- **Base model:** `{base}`",
        f"- **Adapter:** {_adapter_line(adapter)}",
        f"- **Merged into base weights:** {'yes' if merged or kind == 'export' else 'no'}",
        f"- **Training data:** {f'{data_rows:,} rows' if data_rows is not None else 'not recorded'}",
    ]
    if steps is not None:
        lines.append(f"- **Training steps:** {steps:,}")
    lines += ["", "## Metrics", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {name} | {_format_metric(value)} |" for name, value in metrics.items()]
    else:
        lines.append("No final metrics were recorded.")
    lines += ["", "## How to load", ""]
    if kind in ("adapter", "full", "config"):
        lines += [
            "With llm_magic (restores config, model, history and metrics):",
            "",
            "```python",
            "%load_ext llm_magic",
            "%llm_load path/to/this/folder",
            "```",
            "",
        ]
    if is_adapter_folder:
        lines += [
            "With PEFT only:",
            "",
            "```python",
            "from peft import AutoPeftModelForCausalLM",
            'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")',
            "```",
        ]
        if merged:
            lines += [
                "",
                "The adapter merged into the base weights is a standalone model in `merged/`:",
                "",
                "```python",
                "from transformers import AutoModelForCausalLM",
                'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder/merged")',
                "```",
            ]
    elif kind in ("full", "export"):
        lines += [
            "With transformers only:",
            "",
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
            "```",
        ]
    return "\n".join(lines) + "\n"
