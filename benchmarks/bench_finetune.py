"""LoRA fine-tuning tokens/s: ``session.train`` against a plain HF ``Trainer`` + PEFT script.

Both sides fine-tune the same model (the ~10M-parameter random Llama of ``workloads``) on the same
rows with the same hyper-parameters (LoRA r=8 on the same target modules, batch 4, one epoch,
lr 1e-4, constant schedule, global-norm clipping 0.5), in the same process, alternating runs so
that the noise of a shared machine hits both alike. Timed: the train call with the model already
loaded (tokenizing, building the Trainer, the loop). Tokens/s counts real (non-padding) tokens,
so padding that a side computes on costs it time but earns it nothing.

Two data sets: 32 rows of 128 tokens (target >= 1.0x: we add no overhead), and 128 rows of
16-512 tokens, log-uniform (target >= 1.5x: the plain script pads each batch to its longest row;
our trainer batches rows of similar length, with HF's length-grouped sampler). The note gives
the tokens each side computes on with padding; the grouping gain grows with the data set (HF
sorts within random groups of up to 50 batches): 1.44x fewer tokens at 48 rows, 1.72x at 128,
1.95x at 400.

On a CUDA machine the rows also report peak GPU memory and MFU (model FLOPs utilisation, 6N
FLOPs per token against the GPU's dense bf16 peak).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from benchmarks import workloads
from benchmarks.common import Result

BATCH_SIZE = 4
LEARNING_RATE = 1e-4
EQUAL_LENGTH = 128

# Dense bf16 peak FLOP/s by GPU name fragment (vendor data sheets, without sparsity).
PEAK_FLOPS = {"H200": 989e12, "H100 SXM": 989e12, "H100 PCIe": 756e12, "H100": 989e12,
              "A100": 312e12, "L40S": 362e12, "A10G": 70e12, "L4": 121e12, "4090": 165e12,
              "T4": 65e12, "V100": 125e12}


# ------------------------------------------------------------------------------ the baseline
def plain_rows(tokenizer: Any, frame: Any) -> list[dict]:
    """The plain script's tokenization: BOS + prompt + answer + EOS, loss on the answer only."""
    rows = []
    for question, answer in zip(frame["question"], frame["answer"]):
        prompt = tokenizer(workloads.TEMPLATE.format(question=question))["input_ids"]
        target = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append({"input_ids": prompt + target, "attention_mask": [1] * (len(prompt) + len(target)),
                     "labels": [-100] * len(prompt) + target})
    return rows


def load_plain_lora(model_path: str, target_modules: list[str]) -> tuple[Any, Any]:
    """The baseline's model: ``from_pretrained`` in float32 wrapped by ``peft.get_peft_model``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    model.config.pad_token_id = tokenizer.pad_token_id
    if torch.cuda.is_available():
        model = model.cuda()
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=target_modules,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tokenizer


def plain_finetune(model: Any, tokenizer: Any, frame: Any, output_dir: str) -> None:
    """What a user writes by hand: tokenize, ``DataCollatorForSeq2Seq``, ``Trainer.train()``."""
    import torch
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
        num_train_epochs=1, lr_scheduler_type="constant", optim="adamw_torch", weight_decay=0.0,
        max_grad_norm=0.5, save_strategy="no", report_to="none", disable_tqdm=True, logging_steps=10,
        remove_unused_columns=False, use_cpu=not torch.cuda.is_available(), seed=42,
        bf16=torch.cuda.is_available(), log_level="error",
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100,
                                      return_tensors="pt")
    trainer = Trainer(model=model, args=args, train_dataset=plain_rows(tokenizer, frame),
                      data_collator=collator)
    trainer.remove_callback(PrinterCallback)  # keep the benchmark table readable
    trainer.train()


# ------------------------------------------------------------------------------------ ours
def our_session(model_path: str, **config: Any) -> Any:
    """A fresh kernel session with ``workloads.config(model_path, **config)`` and its model loaded."""
    from llm_magic.runtime.session import reset_session

    session = reset_session()
    session.set_config(workloads.config(model_path, **config))
    session.load_model()
    return session


def our_finetune(session: Any, frame: Any, loggers: list | None = None) -> Any:
    """``session.train`` with a recording logger (no display) unless ``loggers`` are given."""
    from llm_magic.runtime.training.loggers import RecordingLogger

    return session.train(frame, loggers=loggers if loggers is not None else [RecordingLogger()])


# ------------------------------------------------------------------------------ measuring
def padded_tokens(lengths: list[int], batch_size: int) -> int:
    """Tokens computed on when batches of consecutive rows pad to their longest row."""
    return sum(max(lengths[i:i + batch_size]) * len(lengths[i:i + batch_size])
               for i in range(0, len(lengths), batch_size))


def grouped_padded_tokens(lengths: list[int], batch_size: int, epochs: int = 20) -> int:
    """Tokens computed on per epoch with HF's length-grouped order (our trainer's), mean of ``epochs``."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    generator = torch.Generator().manual_seed(0)
    totals = [padded_tokens([lengths[i] for i in get_length_grouped_indices(lengths, batch_size, generator=generator)],
                            batch_size) for _ in range(epochs)]
    return round(statistics.mean(totals))


@dataclass
class Timing:
    """Median wall and process-CPU seconds of one side of an alternating comparison."""

    wall: float
    cpu: float


def alternate(first: Any, second: Any, repeats: int) -> tuple[Timing, Timing]:
    """Medians of ``first()`` and ``second()``, run alternately ``repeats`` times each.

    Process CPU time is kept next to wall time: on a machine shared with other busy processes
    it is far less noisy (it does not count the time other processes hold the cores), so it
    cross-checks a wall-time ratio.
    """
    runs: list[list[tuple[float, float]]] = [[], []]
    for _ in range(repeats):
        for func, times in zip((first, second), runs):
            wall, cpu = time.perf_counter(), time.process_time()
            func()
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return tuple(Timing(statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
                 for t in runs)


def gpu_extras(tokens_per_second: float, parameters: int) -> str:
    """Peak GPU memory and MFU on CUDA (empty on the CPU)."""
    import torch

    if not torch.cuda.is_available():
        return ""
    name = torch.cuda.get_device_name()
    peak = torch.cuda.max_memory_allocated() / 2**30
    flops = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
    mfu = f", MFU {6 * parameters * tokens_per_second / flops:.1%} (6N, bf16 peak)" if flops else ""
    return f"; {name}: peak GPU memory (either side) {peak:.2f} GiB{mfu}"


@contextmanager
def in_temp_dir() -> Iterator[str]:
    """Work in a temporary folder (our run folders and the plain script's output go there)."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as out:
        os.chdir(out)
        try:
            yield out
        finally:
            os.chdir(previous)


def compare(name: str, frame: Any, session: Any, plain: tuple[Any, Any], repeats: int,
            target: float) -> Result:
    """One row: our tokens/s against the plain script's on ``frame`` (both already warm)."""
    import torch

    plain_model, tokenizer = plain
    lengths = [len(r["input_ids"]) for r in plain_rows(tokenizer, frame)]
    tokens = sum(lengths)
    with in_temp_dir() as out:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        plain_t, ours_t = alternate(lambda: plain_finetune(plain_model, tokenizer, frame, out),
                                    lambda: our_finetune(session, frame), repeats)
    ours_tps, plain_tps = tokens / ours_t.wall, tokens / plain_t.wall
    params = workloads.count_parameters(session.load_model().model)
    note = (f"{len(lengths)} rows, {tokens} tokens (lengths {min(lengths)}-{max(lengths)}, median "
            f"{int(statistics.median(lengths))}); computed on with padding: plain "
            f"{padded_tokens(lengths, BATCH_SIZE)}, ours ~{grouped_padded_tokens(lengths, BATCH_SIZE)}; CPU-time ratio "
            f"{plain_t.cpu / ours_t.cpu:.2f}x; {params / 1e6:.1f}M params, {workloads.threads()} threads")
    note += gpu_extras(ours_tps, params)
    return Result(name, ours_tps, plain_tps, "tok/s", f">= {target:.2f}x plain Trainer+PEFT",
                  ours_tps >= target * plain_tps, note)


def setup(model_path: str, warm_frame: Any) -> tuple[Any, tuple[Any, Any]]:
    """Our session and the plain script's model on ``model_path``, each warmed up by one run."""
    session = our_session(model_path, adapter=workloads.LORA)
    plain = load_plain_lora(model_path, list(session.load_model().target_modules))
    with in_temp_dir() as out:  # first-call imports and allocations happen here
        our_finetune(session, warm_frame)
        plain_finetune(*plain, warm_frame, out)
    return session, plain


def run(quick: bool = False) -> list[Result]:
    """Equal-length and mixed-length LoRA fine-tuning throughput against the plain script."""
    workloads.quiet()
    model_path = str(workloads.model_dir("tiny" if quick else "10m"))
    (equal_rows, mixed_rows), repeats = ((16, 16), 1) if quick else ((32, 128), 3)
    equal = workloads.task_frame(equal_rows, workloads.equal_lengths(equal_rows, EQUAL_LENGTH))
    mixed = workloads.task_frame(mixed_rows, workloads.mixed_lengths(mixed_rows))
    session, plain = setup(model_path, equal.head(8))
    return [
        compare(f"LoRA fine-tune tokens/s, rows of {EQUAL_LENGTH} tokens", equal, session, plain, repeats, 1.0),
        compare("LoRA fine-tune tokens/s, rows of 16-512 tokens", mixed, session, plain, repeats, 1.5),
    ]
