"""The embedded tiny model ``llm-magic/tiny``, shipped inside the package.

``base_model: llm-magic/tiny`` needs no network: the model loader asks
:func:`embedded_model_path` for the folder and hands it to ``from_pretrained`` like any local
directory. The folder holds a small Llama-architecture causal LM (safetensors weights, a
byte-level BPE ``tokenizer.json``, a simple chat template) pretrained on procedurally generated
English by ``tools/embedded_model/``; see ``docs/embedded-model.md``.

Importing this module is cheap: it touches neither torch nor transformers.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["EMBEDDED_MODEL_ID", "embedded_model_path", "is_embedded_model"]

#: The ``base_model`` value that selects the embedded model.
EMBEDDED_MODEL_ID = "llm-magic/tiny"

_TINY_DIR = Path(__file__).resolve().parent / "tiny"


def embedded_model_path() -> Path:
    """Return the folder of the embedded model, loadable with ``from_pretrained(path)``.

    Raises ``FileNotFoundError`` naming the re-build command when the weights are missing
    (a source checkout where ``tools/embedded_model/`` has not been run and nothing was shipped).
    """
    if not (_TINY_DIR / "config.json").is_file():
        raise FileNotFoundError(
            f"The embedded model folder {_TINY_DIR} has no config.json. Re-create it with "
            "`python -m tools.embedded_model.build` from the repository root, or reinstall llm-magic."
        )
    return _TINY_DIR


def is_embedded_model(name: object) -> bool:
    """Whether a ``base_model`` value names the embedded model (exact string match)."""
    return name == EMBEDDED_MODEL_ID
