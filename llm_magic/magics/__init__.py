"""The IPython magics: thin wrappers that parse flags, call the runtime and display results.

Each module here holds one ``@magics_class`` for one concern; :func:`register_magics` registers
them all. None of these modules imports torch or transformers at import time.
"""
from __future__ import annotations

import importlib

from llm_magic.widgets.progress import install

# (module, class) pairs; one Magics class per concern, in the jupysql style.
MAGIC_CLASSES: list[tuple[str, str]] = [
    # First: its settings (from ipython_config.py) reach the session before any other magic runs.
    ("llm_magic.magics.settings_magics", "LlmMagics"),
    ("llm_magic.magics.config_magics", "ConfigMagics"),
    ("llm_magic.magics.data_magics", "DataMagics"),
    ("llm_magic.magics.prompt_magics", "PromptMagics"),
    ("llm_magic.magics.persist_magics", "PersistMagics"),
    ("llm_magic.magics.model_magics", "ModelMagics"),
    ("llm_magic.magics.train_magics", "TrainMagics"),
    ("llm_magic.magics.scale_magics", "ScaleMagics"),
]


def register_magics(ipython) -> None:
    """Register every llm_magic magics class with ``ipython``."""
    for module_name, class_name in MAGIC_CLASSES:
        module = importlib.import_module(module_name)
        ipython.register_magics(getattr(module, class_name))

    install()  # slow steps (model load, tokenizing, evaluation) report into the cell's output
