"""The model card (``README.md``) written into run and export folders.

Built with ``huggingface_hub.ModelCard`` / ``ModelCardData``: the YAML header carries the Hub
metadata that renders on a model page (``base_model``, ``library_name``, ``pipeline_tag``,
``tags``, and ``metrics``, ``datasets``, ``license`` where known), and ``ModelCard`` checks that the
header parses. The body says what was trained (base model, adapter, data size), the final
metrics and how to load the folder with and without llm_magic; it is plain Markdown built here,
so no template engine runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    from huggingface_hub import ModelCardData

__all__ = ["card_data", "render_model_card"]

# Our metric names (after the split prefix) -> metric ids the Hub knows (hf.co/metrics).
_HUB_METRICS = {
    "accuracy": "accuracy", "token_accuracy": "accuracy", "exact_match": "exact_match",
    "bleu": "bleu", "rouge1": "rouge", "rouge2": "rouge", "rougeL": "rouge", "rougeLsum": "rouge",
    "perplexity": "perplexity", "f1": "f1", "precision": "precision", "recall": "recall",
}


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


def _hub_metrics(metrics: Mapping[str, Any] | None) -> list[str] | None:
    """The Hub metric ids among ``metrics`` (``test_rougeL`` / ``test.rougeL`` -> ``rouge``), in order."""
    found: list[str] = []
    for name in metrics or {}:
        hub = _HUB_METRICS.get(str(name).replace(".", "_").split("_", 1)[-1]) or _HUB_METRICS.get(str(name))
        if hub and hub not in found:
            found.append(hub)
    return found or None


def card_data(*, kind: str, config: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
              datasets: Sequence[str] | None = None, license: str | None = None) -> ModelCardData:
    """The card's Hub metadata (a ``huggingface_hub.ModelCardData``) for a folder of ``kind``."""
    # lazy: pulls huggingface_hub; %load_ext stays light
    from huggingface_hub import ModelCardData

    adapter = config.get("adapter") if isinstance(config.get("adapter"), Mapping) else None
    tags = ["llm_magic", "text-generation"]
    if adapter:
        tags.append(str(adapter.get("type")))
    trainer = config.get("trainer") if isinstance(config.get("trainer"), Mapping) else {}
    if trainer.get("type") not in (None, "finetune", "none"):
        tags.append(str(trainer["type"]))  # dpo, kto, orpo: how the weights were tuned
    return ModelCardData(
        base_model=str(config.get("base_model")),
        library_name="peft" if kind == "adapter" else "transformers",
        pipeline_tag="text-generation",
        tags=tags,
        metrics=_hub_metrics(metrics),
        datasets=list(datasets) if datasets else None,
        license=license,
    )


def render_model_card(
    *,
    kind: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    data_rows: int | None = None,
    merged: bool = False,
    steps: int | None = None,
    datasets: Sequence[str] | None = None,
    license: str | None = None,
) -> str:
    """Render the card for a folder of ``kind`` (``adapter``, ``full``, ``config`` or ``export``).

    ``config`` is the effective config dict; ``metrics`` the final metrics (flat name -> value);
    ``data_rows`` the number of rows the model was trained on (None when unknown or untrained);
    ``datasets`` (Hub dataset ids) and ``license`` go into the metadata when known. The text
    parses back with ``huggingface_hub.ModelCard.load``.
    """
    # lazy: pulls huggingface_hub; %load_ext stays light
    from huggingface_hub import ModelCard

    base = str(config.get("base_model"))
    adapter = config.get("adapter") if isinstance(config.get("adapter"), Mapping) else None
    is_adapter_folder = kind == "adapter"
    data = card_data(kind=kind, config=config, metrics=metrics, datasets=datasets, license=license)

    what = {
        "adapter": "a PEFT adapter for",
        "full": "a full fine-tune of",
        "config": "a prompt/config for",
        "export": "a standalone model (adapter merged into the weights) built on",
    }.get(kind, "a model built on")
    lines = [
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
    body = "\n".join(lines) + "\n"
    # ModelCard parses the header it is given: a value the Hub could not read fails here, not there.
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))
