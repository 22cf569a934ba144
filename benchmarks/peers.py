"""The peers of issue 16's training rows, and the models and peak-memory probe they share.

Peers: a plain HF ``Trainer`` + PEFT script (padded to the longest row of each batch), the same
with HF's length-grouped sampler (what an expert sets), and TRL's ``SFTTrainer`` with BFD packing
and with ``padding_free``. TRL is only used when it is installed (``pip install trl==1.16.0``);
it is not a dependency of llm_magic or of its tests.

Models: random-weight Llamas with real vocabulary sizes, since the LM head over the vocabulary
is much of a small model's cost: "12m" (hidden 256, 4 layers, vocabulary 30,522, tied
embeddings, ~12M parameters) and "100m" (hidden 768, 10 layers, vocabulary 32,000, ~100M). The
word tokenizer of ``workloads`` uses only the first ~1,200 ids; training does not mind.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks import workloads

SHAPES = {
    "12m": dict(vocab_size=30522, hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True),
    "100m": dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=10,
                 num_attention_heads=12, num_key_value_heads=12, tie_word_embeddings=False),
    "tiny": dict(vocab_size=30522, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True),
}
TARGETS = ["q_proj", "v_proj"]


def model_dir(size: str) -> Path:
    """The folder of the random-weight ``size`` model (see the module docstring), built once."""
    path = workloads.cache_dir() / f"llama-{size}-vocab"
    if (path / "model.safetensors").is_file():
        return path
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = workloads.build_tokenizer()
    config = LlamaConfig(max_position_embeddings=workloads.CONTEXT, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, **SHAPES[size])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    model.save_pretrained(str(tmp))
    workloads.build_tokenizer(tmp)
    os.replace(tmp, path) if not path.exists() else None
    return path


def question_lengths(rows: int, mixed: bool, seed: int = 3) -> list[int]:
    """Words per question: 4-200 (uniform) when ``mixed``, else all 100."""
    import random

    rng = random.Random(seed)
    return [rng.randint(4, 200) if mixed else 100 for _ in range(rows)]


def task_frame(rows: int, mixed: bool, answer_words: int = 6) -> Any:
    """Issue 16's task: questions of 4-200 words (or 100), answers of ``answer_words`` words."""
    import random

    import pandas as pd

    rng = random.Random(0)
    vocab = workloads.words()
    questions = [" ".join(rng.choice(vocab) for _ in range(n)) for n in question_lengths(rows, mixed)]
    answers = [" " + " ".join(rng.choice(vocab) for _ in range(answer_words)) for _ in range(rows)]
    return pd.DataFrame({"question": questions, "answer": answers})


class PeakMemory:
    """Peak resident memory above the starting point while the block runs (sampled every 5 ms).

    On CUDA it is the peak of ``torch.cuda.max_memory_allocated`` instead.
    """

    def __init__(self) -> None:
        self.peak = 0

    def __enter__(self) -> "PeakMemory":
        import psutil
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            return self
        self.process = psutil.Process()
        self.start = self.process.memory_info().rss
        self.top = self.start
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.top = max(self.top, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            import torch

            self.peak = torch.cuda.max_memory_allocated() - self.start
            return
        self.running = False
        self.thread.join()
        self.peak = self.top - self.start

    @property
    def mib(self) -> float:
        """The peak in MiB."""
        return self.peak / 2**20


def load_lora(model_path: str) -> tuple[Any, Any]:
    """A peer's model: fp32 (bf16 on CUDA) ``from_pretrained`` + LoRA r=8 on q/v."""
    from benchmarks.bench_finetune import load_plain_lora

    return load_plain_lora(model_path, TARGETS)


def _args(output_dir: str, batch_size: int, lr: float, **extra: Any) -> dict:
    import torch

    return dict(output_dir=output_dir, per_device_train_batch_size=batch_size, learning_rate=lr,
                num_train_epochs=1, lr_scheduler_type="constant", weight_decay=0.0, save_strategy="no",
                report_to="none", disable_tqdm=True, logging_steps=10, use_cpu=not torch.cuda.is_available(),
                seed=42, bf16=torch.cuda.is_available(), log_level="error", **extra)


def hf_trainer(model: Any, tokenizer: Any, frame: Any, output_dir: str, batch_size: int, lr: float,
               group_by_length: bool = False) -> None:
    """The plain script (optionally with HF's length-grouped sampler)."""
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

    from benchmarks.bench_finetune import plain_rows

    extra = {"train_sampling_strategy": "group_by_length"} if group_by_length else {}
    args = TrainingArguments(**_args(output_dir, batch_size, lr, remove_unused_columns=False, **extra))
    trainer = Trainer(model=model, args=args, train_dataset=plain_rows(tokenizer, frame),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest",
                                                           label_pad_token_id=-100, return_tensors="pt"))
    trainer.remove_callback(PrinterCallback)
    trainer.train()


def trl_available() -> bool:
    """Whether TRL is installed (the benchmark environment only)."""
    try:
        import trl  # noqa: F401
    except ImportError:
        return False
    return True


def trl_trainer(model: Any, tokenizer: Any, frame: Any, output_dir: str, batch_size: int, lr: float,
                mode: str) -> None:
    """TRL's ``SFTTrainer`` on prompt/completion rows, ``mode`` "packing" (BFD) or "padding_free"."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    prompts = [workloads.TEMPLATE.format(question=q) for q in frame["question"]]
    dataset = Dataset.from_dict({"prompt": prompts, "completion": list(frame["answer"])})
    # padding_free without packing refuses a max_length (it would not be enforced): rows fit anyway.
    config = SFTConfig(**_args(output_dir, batch_size, lr),
                       max_length=workloads.CONTEXT if mode == "packing" else None,
                       packing=mode == "packing", padding_free=mode == "padding_free",
                       completion_only_loss=True, dataset_num_proc=None)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    trainer.train()


def timed(func: Callable[[], Any]) -> tuple[float, float, float]:
    """(wall seconds, process CPU seconds, peak MiB) of one call."""
    with PeakMemory() as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, memory.mib
