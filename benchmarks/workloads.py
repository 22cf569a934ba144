"""What the benchmarks run on: random-weight Llama models, a word tokenizer, task data, configs.

Nothing here is downloaded. The models are Llama configs of about 10M and 100M parameters with
random weights, written with ``save_pretrained`` (safetensors) to a cache folder, so every
benchmark process loads the very same files. Weights are random because speed and memory do not
depend on what a model knows.

The tokenizer is a byte-level BPE trained on a fixed list of words, with enough merges that every
word (with its leading space) is exactly one token: a row of ``n`` words is ``n`` tokens, which
is how the data generators control row lengths precisely.
"""
from __future__ import annotations

import math
import os
import random
import tempfile
from pathlib import Path
from typing import Any

# LLM_MAGIC_BENCH_THREADS=n pins the math libraries to n threads, through the environment (read
# when torch loads, before any benchmark imports it) so that it holds in every thread: OpenMP's
# thread count is per thread, and torch.set_num_threads() in the main thread does not reach the
# worker thread our streaming generation runs model.generate in.
if os.environ.get("LLM_MAGIC_BENCH_THREADS"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = os.environ["LLM_MAGIC_BENCH_THREADS"]

# Random-weight Llama shapes. The vocabulary is the word tokenizer's (1,183 tokens, padded to
# 1,216): a model vocabulary larger than the tokenizer's would generate ids that decode to
# nothing. Parameters (untied embeddings):
# "10m": 2*1216*256 + 8 layers * (4*256^2 + 3*256*1024) ~= 9.0M (+ norms);
# "100m": 2*1216*768 + 13 layers * (4*768^2 + 3*768*2048) ~= 94M.
MODEL_SHAPES: dict[str, dict[str, int]] = {
    # For --quick smoke runs only (~0.3M parameters).
    "tiny": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4),
    "10m": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=8,
                num_attention_heads=4, num_key_value_heads=4),
    "100m": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=13,
                 num_attention_heads=12, num_key_value_heads=12),
}
TOKENIZER_VOCAB = 4096  # the BPE trainer's ceiling; the word list needs fewer
CONTEXT = 1024

# Words of the synthetic language: consonant-vowel syllables, 400 distinct words.
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def words(count: int = 400, seed: int = 0) -> list[str]:
    """``count`` distinct made-up words (2-3 syllables), the same for a given seed."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        syllables = rng.choice((2, 3))
        found["".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))] = None
    return list(found)


def cache_dir() -> Path:
    """Where built models live between benchmark processes (``$LLM_MAGIC_BENCH_CACHE`` or /tmp)."""
    root = os.environ.get("LLM_MAGIC_BENCH_CACHE") or os.path.join(tempfile.gettempdir(), "llm_magic_bench")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_tokenizer(path: Path | None = None) -> Any:
    """The word tokenizer (``PreTrainedTokenizerFast``, ``<s>``/``</s>``/``<unk>``, no pad token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    vocab = words()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TOKENIZER_VOCAB, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = [" ".join(vocab[i:] + vocab[:i]) for i in range(0, len(vocab), 7)]
    corpus += ["Question: Answer: Text: Label:"] * 50
    tok.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>")
    if path is not None:
        tokenizer.save_pretrained(str(path))
    return tokenizer


def model_dir(size: str) -> Path:
    """The folder of the random-weight ``size`` model ("10m" or "100m"), built on first use."""
    path = cache_dir() / f"llama-{size}-v2"
    if (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file():
        return path
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=-(-len(tokenizer) // 64) * 64, max_position_embeddings=CONTEXT,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=False, **MODEL_SHAPES[size])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    model.save_pretrained(str(tmp))
    build_tokenizer(tmp)
    os.replace(tmp, path) if not path.exists() else None
    return path


def embedded_model_available() -> bool:
    """Whether the embedded ``llm-magic/tiny`` weights are in this checkout."""
    from llm_magic.runtime.embedded import embedded_model_path

    try:
        embedded_model_path()
    except FileNotFoundError:
        return False
    return True


# ----------------------------------------------------------------------------------- data
def _text(rng: random.Random, vocab: list[str], n_words: int) -> str:
    return " " + " ".join(rng.choice(vocab) for _ in range(n_words))


def task_frame(rows: int, lengths: list[int], seed: int = 0) -> Any:
    """A DataFrame of ``question``/``answer`` rows; row ``i`` is about ``lengths[i]`` tokens.

    Half the words go to the question, half to the answer (the loss is on the answer).
    """
    import pandas as pd

    rng = random.Random(seed)
    vocab = words()
    questions, answers = [], []
    for i in range(rows):
        total = max(4, lengths[i % len(lengths)] - 4)  # template, BOS and EOS take ~4 tokens
        questions.append(_text(rng, vocab, total // 2).strip())
        answers.append(_text(rng, vocab, total - total // 2))
    return pd.DataFrame({"question": questions, "answer": answers})


def equal_lengths(rows: int, length: int) -> list[int]:
    """Every row ``length`` tokens."""
    return [length] * rows


def mixed_lengths(rows: int, low: int = 16, high: int = 512, seed: int = 1) -> list[int]:
    """Row lengths log-uniform in [low, high]: many short rows, a long tail (like instruction data)."""
    rng = random.Random(seed)
    return [int(round(math.exp(rng.uniform(math.log(low), math.log(high))))) for _ in range(rows)]


# ---------------------------------------------------------------------------------- configs
TEMPLATE = "Question: {question} Answer:"
LORA = {"type": "lora", "r": 8, "alpha": 16, "dropout": 0.05}


def config(base_model: str, *, adapter: dict | None = None, quantization: dict | None = None,
           batch_size: int = 4, epochs: int = 1, learning_rate: float = 1e-4,
           train_steps: int | None = None, generation: dict | None = None) -> dict:
    """A fine-tuning config on ``base_model``: every row in the train split (no evaluation cost)."""
    trainer: dict[str, Any] = {"type": "finetune", "learning_rate": learning_rate, "epochs": epochs,
                               "batch_size": batch_size}
    if train_steps:
        trainer["train_steps"] = train_steps
    cfg: dict[str, Any] = {
        "model_type": "llm",
        "base_model": base_model,
        "input_features": [{"name": "question", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": TEMPLATE},
        "trainer": trainer,
        "preprocessing": {"split": {"type": "random", "probabilities": [1.0, 0.0, 0.0]}},
        "generation": generation or {"max_new_tokens": 32, "do_sample": False},
    }
    if adapter is not None:
        cfg["adapter"] = adapter
    if quantization is not None:
        cfg["quantization"] = quantization
    return cfg


def count_parameters(model: Any) -> int:
    """All parameters of ``model`` (4-bit weights counted as their unpacked element count)."""
    total = 0
    for module in model.modules():
        for param in module.parameters(recurse=False):
            shape = getattr(param, "quant_state", None)
            total += int(shape.shape.numel()) if shape is not None and hasattr(shape, "shape") else param.numel()
    return total


def quiet() -> None:
    """Silence the libraries' progress bars and advisory warnings; apply the thread setting.

    ``LLM_MAGIC_BENCH_THREADS=n`` pins torch to ``n`` threads (default: torch's choice, one per
    core; see the top of this module). On a machine shared with other busy processes, 1 thread
    avoids OpenMP threads waiting on each other at every barrier, which makes the figures far
    less noisy.
    """
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    for name in ("transformers", "peft", "accelerate", "bitsandbytes"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    threads = os.environ.get("LLM_MAGIC_BENCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def threads() -> int:
    """torch's intra-op thread count (reported with each benchmark)."""
    import torch

    return torch.get_num_threads()
