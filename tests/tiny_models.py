"""Tiny random-weight causal LMs for tests, one builder per architecture family.

Each builder writes a loadable model folder (``config.json``, ``model.safetensors``, a byte-level
BPE tokenizer) so tests can pass the folder as ``base_model`` with no network. Models are tiny
(hidden 32-64, 2 layers) so that loading, a forward pass and a training step take milliseconds.

Use it from a module-scoped fixture, building each model once::

    from tests.tiny_models import build_tiny_model

    @pytest.fixture(scope="module")
    def llama_dir(tmp_path_factory):
        return build_tiny_model("llama", tmp_path_factory.mktemp("llama"))

The tokenizer has ``<s>``/``</s>``/``<unk>`` but deliberately no pad token: the model loader
must set one (pad := eos), as it does for most real base models.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

__all__ = ["ARCHITECTURES", "build_tiny_model", "build_tiny_tokenizer", "tiny_config"]

# Sentences to train the byte-level BPE on: enough merges that common words are one token.
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A tiny model for tests: it knows nothing, but it runs fast.",
    "Translate English to French: the cat sat on the mat.",
    "Classify the sentiment of this review: I loved it, great movie!",
    "Question: what is two plus two? Answer: four.",
    "instruction input output response label text positive negative neutral",
]
_SPECIAL = ["<unk>", "<s>", "</s>"]

# Shared shape of every tiny model: small enough for milliseconds, big enough for 4 heads.
_HIDDEN = 64
_INTERMEDIATE = 128
_LAYERS = 2
_HEADS = 4
_POSITIONS = 256


@functools.lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    """Train the byte-level BPE once per process and return it serialised."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return tok.to_str()


def build_tiny_tokenizer(path: str | Path | None = None):
    """A ``PreTrainedTokenizerFast`` (byte-level BPE, no pad token); saved to ``path`` if given."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    if path is not None:
        tokenizer.save_pretrained(str(path))
    return tokenizer


def _llama(vocab: int, **ids):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab, hidden_size=_HIDDEN, intermediate_size=_INTERMEDIATE,
        num_hidden_layers=_LAYERS, num_attention_heads=_HEADS, num_key_value_heads=2,
        max_position_embeddings=_POSITIONS, **ids,
    )


def _mistral(vocab: int, **ids):
    from transformers import MistralConfig

    return MistralConfig(
        vocab_size=vocab, hidden_size=_HIDDEN, intermediate_size=_INTERMEDIATE,
        num_hidden_layers=_LAYERS, num_attention_heads=_HEADS, num_key_value_heads=2,
        max_position_embeddings=_POSITIONS, sliding_window=None, **ids,
    )


def _qwen2(vocab: int, **ids):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab, hidden_size=_HIDDEN, intermediate_size=_INTERMEDIATE,
        num_hidden_layers=_LAYERS, num_attention_heads=_HEADS, num_key_value_heads=2,
        max_position_embeddings=_POSITIONS, tie_word_embeddings=True, **ids,
    )


def _gpt2(vocab: int, **ids):
    from transformers import GPT2Config

    # GPT-2 uses Conv1D layers (c_attn, c_proj, c_fc): the case target-module discovery must handle.
    return GPT2Config(
        vocab_size=vocab, n_embd=_HIDDEN, n_layer=_LAYERS, n_head=_HEADS, n_positions=_POSITIONS,
        n_inner=_INTERMEDIATE, **ids,
    )


def _gpt_neox(vocab: int, **ids):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=vocab, hidden_size=_HIDDEN, intermediate_size=_INTERMEDIATE,
        num_hidden_layers=_LAYERS, num_attention_heads=_HEADS, max_position_embeddings=_POSITIONS,
        **ids,
    )


def _phi(vocab: int, **ids):
    from transformers import PhiConfig

    return PhiConfig(
        vocab_size=vocab, hidden_size=_HIDDEN, intermediate_size=_INTERMEDIATE,
        num_hidden_layers=_LAYERS, num_attention_heads=_HEADS, max_position_embeddings=_POSITIONS,
        **ids,
    )


def _gemma(vocab: int, **ids):
    from transformers import GemmaConfig

    return GemmaConfig(
        vocab_size=vocab, hidden_size=_HIDDEN, intermediate_size=_INTERMEDIATE,
        num_hidden_layers=_LAYERS, num_attention_heads=_HEADS, num_key_value_heads=1,
        head_dim=_HIDDEN // _HEADS, max_position_embeddings=_POSITIONS, **ids,
    )


#: Architecture name -> builder of its tiny HF config (vocabulary size, special token ids).
ARCHITECTURES: dict[str, Callable] = {
    "llama": _llama,
    "mistral": _mistral,
    "qwen2": _qwen2,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "phi": _phi,
    "gemma": _gemma,
}


def tiny_config(arch: str, vocab_size: int | None = None, **overrides):
    """The tiny HF config of ``arch`` (one of :data:`ARCHITECTURES`) with special token ids set.

    ``overrides`` replace config fields (e.g. ``hidden_size=256`` for a bigger model).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown tiny architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    tokenizer = build_tiny_tokenizer()
    # Round the vocabulary up to a multiple of 64 with room to spare, as real models do: some
    # architectures' tokenizer classes add their own special tokens (Qwen2 adds <|endoftext|>).
    vocab = vocab_size or (len(tokenizer) // 64 + 2) * 64
    config = ARCHITECTURES[arch](
        vocab, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def build_tiny_model(
    arch: str, path: str | Path, seed: int = 0, *, safetensors: bool = True, **overrides
) -> Path:
    """Write a tiny random-weight ``arch`` causal LM and its tokenizer to ``path``; return the path.

    ``safetensors=False`` writes only ``pytorch_model.bin`` (to test that such folders are refused).
    ``overrides`` replace config fields (see :func:`tiny_config`).
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, **overrides))
    if safetensors:
        model.save_pretrained(str(path))
    else:
        model.config.save_pretrained(str(path))
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    build_tiny_tokenizer(path)
    return path
