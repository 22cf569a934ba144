"""Generation: streaming answers with per-call overrides, batched prediction, category labels.

- :mod:`.settings` — the config's ``generation`` block with per-call overrides, validated.
- :mod:`.streaming` — one answer, streamed from a worker thread, stoppable (``generate_one``).
- :mod:`.batch` — many prompts, left-padded batches (``generate_batch``).
- :mod:`.inputs` — prompt token ids, cut by the config's sequence limits as in training.
- :mod:`.labels` — category outputs: ``map_to_label`` (Ludwig's ``category_extractor`` decoder) and
  vocabulary constraints.
- :mod:`.runner` — the session-level API behind ``Session.generate`` / ``Session.predict``.
- :mod:`.result` — ``GenerationResult`` / ``GenerationResults``.

Importing this package imports neither torch nor transformers; the submodules do so lazily.
"""
from __future__ import annotations

from llm_magic.runtime.generation.labels import map_to_label
from llm_magic.runtime.generation.result import GenerationResult, GenerationResults

__all__ = ["GenerationResult", "GenerationResults", "map_to_label"]
