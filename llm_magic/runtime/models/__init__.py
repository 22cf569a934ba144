"""Model runtime: load any Hugging Face causal LM, quantized and adapter-wrapped, and keep it in sync.

- :mod:`.source` resolves ``base_model`` (embedded model, local folder, preset, hub id) and turns
  hub/network failures into clear messages; :mod:`.device` picks device and dtype;
  :mod:`.quantization` builds the bitsandbytes config; :mod:`.parameters` applies
  ``model_parameters`` (RoPE scaling, NEFTune); :mod:`.targets` finds adapter target modules;
  :mod:`.adapters` wraps and unwraps PEFT adapters.
- :mod:`.loader` puts them together into a :class:`~.loader.LoadedModel`;
  :mod:`.manager`'s :class:`~.manager.ModelManager` keeps one per session and reloads only what a
  new config changes; :mod:`.info` summarises it (``%llm_info``).

Importing this package (or ``.manager``) does not import torch or transformers.
"""
from __future__ import annotations
