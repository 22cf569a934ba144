"""A DPO run against TRL's own ``DPOTrainer`` script (issue 19): speed and peak memory.

Both sides train LoRA r=8 on q_proj/v_proj of the same random-weight Llama (``peers.SHAPES``
"12m": 30,522-word vocabulary), batch 8, lr 1e-3, constant schedule, 3 epochs (llm_magic's default),
beta 0.1, on
preference rows built from issue 16's task: a question of 4-200 words (mixed) or 100 (equal), a
chosen answer of 6 words and a rejected one of 6 other words. TRL's side is the script an expert
writes: ``DPOConfig`` with the same batch, rate and schedule, bf16 and activation checkpointing
off (as ours on the CPU; TRL's defaults turn both on), the PEFT model passed in, no ``ref_model``
(so the base with the adapter off is the reference on both sides: one copy of the model), and
TRL's default ``precompute_ref_log_probs=False``: it scores the reference at every step, where
llm_magic, on a run over the data more than once, scores it once before training.
Each side runs in a fresh process, model loaded first, then one timed ``train`` call. The ratio
is rows/s, ours against TRL's; the target is >= 1.0x, with a peak memory no higher than TRL's.
"""
from __future__ import annotations

import tempfile
from typing import Any, Iterator

from benchmarks import peers, workloads
from benchmarks.common import Result

BATCH, LR, BETA, EPOCHS = 8, 1e-3, 0.1, 3
CASES = [("12m", "mixed", 32), ("12m", "equal", 16)]
QUICK = [("tiny", "mixed", 16)]


def preference_frame(rows: int, mixed: bool) -> Any:
    """Issue 16's questions with its answer as the chosen one and six other words as the rejected."""
    import random

    frame = peers.task_frame(rows, mixed)
    rng = random.Random(1)
    vocab = workloads.words()
    frame["rejected"] = [" " + " ".join(rng.choice(vocab) for _ in range(6)) for _ in range(rows)]
    return frame


def _ours(model_path: str) -> Any:
    from llm_magic.runtime.session import reset_session
    from llm_magic.runtime.training.loggers import RecordingLogger

    session = reset_session()
    config = workloads.config(model_path, adapter={**workloads.LORA, "target_modules": peers.TARGETS},
                              batch_size=BATCH, learning_rate=LR)
    config["trainer"].update(type="dpo", dpo_beta=BETA, epochs=EPOCHS)
    session.set_config(config)
    session.load_model()
    import datasets, trl  # noqa: E401,F401  (imported before the timing, as the TRL script's are)

    return lambda frame: session.train(frame, loggers=[RecordingLogger()])


def _trl(model_path: str) -> Any:
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = peers.load_lora(model_path)

    def train(frame: Any) -> None:
        prompts = [workloads.TEMPLATE.format(question=q) for q in frame["question"]]
        dataset = Dataset.from_dict({"prompt": prompts, "chosen": list(frame["answer"]),
                                     "rejected": list(frame["rejected"])})
        with tempfile.TemporaryDirectory() as out:
            args = DPOConfig(**{**peers._args(out, BATCH, LR), "num_train_epochs": EPOCHS}, beta=BETA,
                             max_length=None, gradient_checkpointing=False)
            trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
            trainer.remove_callback(PrinterCallback)
            trainer.train()
    return train


def child(size: str, case: str, rows: int, side: str) -> dict:
    """In a fresh process: load ``side``'s model, then time and probe memory of one train call."""
    workloads.quiet()
    model_path = str(peers.model_dir(size))
    frame = preference_frame(rows, mixed=case == "mixed")
    train = _ours(model_path) if side == "ours" else _trl(model_path)
    wall, cpu, mib = peers.timed(lambda: train(frame))
    return {"wall": wall, "cpu": cpu, "mib": mib}


def _measure(size: str, case: str, rows: int, side: str) -> dict:
    import json
    import subprocess
    import sys

    code = (f"import json; from benchmarks.bench_preference import child; "
            f"print('RESULT', json.dumps(child({size!r}, {case!r}, {rows}, {side!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.rsplit("RESULT", 1)[1])


def run(quick: bool = False) -> Iterator[Result]:
    """Each case, ours against TRL's script (skipped without TRL)."""
    workloads.quiet()
    if not peers.trl_available():
        yield Result("DPO vs TRL DPOTrainer", 0.0, None, "rows/s", ">= 1.0x TRL", None,
                     "skipped: trl not installed (pip install 'llm-magic[preference]')")
        return
    for size, case, rows in (QUICK if quick else CASES):
        peers.model_dir(size)  # built once, before the timed processes
        ours, trl = (_measure(size, case, rows, side) for side in ("ours", "trl"))
        note = (f"{rows} rows ({case} lengths); ours {ours['wall']:.1f} s, peak {ours['mib']:.0f} MiB; TRL "
                f"{trl['wall']:.1f} s, peak {trl['mib']:.0f} MiB; CPU-time ratio {trl['cpu'] / ours['cpu']:.2f}x")
        yield Result(f"DPO rows/s vs TRL DPOTrainer, {size}, {case}", rows / ours["wall"], rows / trl["wall"],
                     "rows/s", ">= 1.0x TRL", ours["wall"] <= trl["wall"], note)
        yield Result(f"DPO peak memory vs TRL DPOTrainer, {size}, {case}", ours["mib"], trl["mib"], "MiB",
                     "<= TRL's (one model copy)", ours["mib"] <= trl["mib"])
