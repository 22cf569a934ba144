"""Training against the best peer (issue 16): plain HF, HF length-grouped, TRL packing / padding-free.

Every side fine-tunes a fresh copy of the same random-weight Llama (``peers.SHAPES``: 12M
parameters with a 30,522-word vocabulary, and ~100M with 32,000) with LoRA r=8 on q_proj/v_proj,
batch 8, lr 1e-3, constant schedule, one epoch, on issue 16's task: questions of 4-200 words
(mixed) or all 100 words (equal), answers of 6 words, loss on the answer. Tokens/s counts the
rows' real tokens; peak memory is the resident-memory peak above the start of the call (CUDA:
peak allocated). Every side trains on the same rows, so that peak memory (set by the longest
batch) and tokens/s compare like for like.
Each side runs in a fresh process (model loaded first, then one timed ``train`` call: building
the trainer and the loop, first-call costs included alike).
The ratio is ours against the fastest peer; the target is >= 1.3x (mixed) and >= 1.0x (equal),
with a peak memory no higher than that peer's.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Iterator

from benchmarks import peers, workloads
from benchmarks.common import Result

BATCH, LR = 8, 1e-3
# (size, case, rows): a handful of steps each, the machine is shared.
CASES = [("12m", "mixed", 128), ("12m", "equal", 64), ("100m", "mixed", 32), ("100m", "equal", 16)]
QUICK = [("tiny", "mixed", 32), ("tiny", "equal", 16)]
#: ``LLM_MAGIC_BENCH_CASES="100m:mixed,12m:equal"`` runs only those cases.
CASES_VARIABLE = "LLM_MAGIC_BENCH_CASES"


def _tokens(tokenizer: Any, frame: Any) -> int:
    from benchmarks.bench_finetune import plain_rows

    return sum(len(r["input_ids"]) for r in plain_rows(tokenizer, frame))


def _ours(model_path: str) -> Any:
    from llm_magic.runtime.session import reset_session

    session = reset_session()
    session.set_config(workloads.config(
        model_path, adapter={**workloads.LORA, "target_modules": peers.TARGETS},
        batch_size=BATCH, learning_rate=LR))
    return session


def _prepare(side: str, model_path: str) -> Any:
    """Load ``side``'s model; return its ``train(frame)``."""
    from llm_magic.runtime.training.loggers import RecordingLogger

    if side == "ours":
        session = _ours(model_path)
        session.load_model()
        return lambda frame: session.train(frame, loggers=[RecordingLogger()])
    model, tokenizer = peers.load_lora(model_path)

    def train(frame: Any) -> None:
        with tempfile.TemporaryDirectory() as out:
            if side.startswith("TRL"):
                peers.trl_trainer(model, tokenizer, frame, out, BATCH, LR, side.split()[-1])
            else:
                peers.hf_trainer(model, tokenizer, frame, out, BATCH, LR, group_by_length="group" in side)
    return train


SIDES = ["ours", "plain HF Trainer+PEFT", "HF group_by_length", "TRL SFTTrainer packing",
         "TRL SFTTrainer padding_free"]


def child(size: str, case: str, rows: int, side: str) -> dict:
    """In a fresh process: load ``side``'s model, then time and probe memory of one train call.

    A fresh process per side, so each side's peak memory is its own (in one process the
    allocator would hand later sides the memory earlier ones freed) and no side warms another.
    """
    from transformers import AutoTokenizer

    workloads.quiet()
    model_path = str(peers.model_dir(size))
    frame = peers.task_frame(rows, mixed=case == "mixed")
    train = _prepare(side, model_path)
    wall, cpu, mib = peers.timed(lambda: train(frame))
    tokens = _tokens(AutoTokenizer.from_pretrained(model_path), frame)
    return {"wall": wall, "cpu": cpu, "mib": mib, "tokens": tokens}


def _measure(size: str, case: str, rows: int, side: str) -> tuple[float, float, float, int]:
    import json
    import subprocess
    import sys

    code = (f"import json; from benchmarks.bench_peers import child; "
            f"print('RESULT', json.dumps(child({size!r}, {case!r}, {rows}, {side!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    data = json.loads(out.rsplit("RESULT", 1)[1])
    return data["tokens"] / data["wall"], data["tokens"] / data["cpu"], data["mib"], data["tokens"]


def _case(size: str, case: str, rows: int) -> list[Result]:
    peers.model_dir(size)  # built once, before the timed processes
    sides = [s for s in SIDES if not s.startswith("TRL") or peers.trl_available()]
    measured = {side: _measure(size, case, rows, side) for side in sides}
    ours = measured.pop("ours")
    best_name = max(measured, key=lambda n: measured[n][0])
    best = measured[best_name]
    target = 1.3 if case == "mixed" else 1.0
    peers_text = "; ".join(f"{n} {v[0]:.0f} tok/s, peak {v[2]:.0f} MiB" for n, v in measured.items())
    if not peers.trl_available():
        peers_text += "; TRL rows skipped: trl not installed"
    note = (f"{rows} rows ({case} lengths), {ours[3]} tokens; ours peak {ours[2]:.0f} MiB; "
            f"CPU-time ratio {ours[1] / best[1]:.2f}x; peers: {peers_text}")
    return [
        Result(f"training tok/s vs best peer ({best_name}), {size}, {case}", ours[0], best[0],
               "tok/s", f">= {target:.1f}x best peer", ours[0] >= target * best[0], note),
        Result(f"training peak memory vs {best_name}, {size}, {case}", ours[2], best[2], "MiB",
               "<= best peer's", ours[2] <= best[2]),
    ]


def run(quick: bool = False) -> Iterator[Result]:
    """Every (model, lengths) case of issue 16 against its peers (rows printed as each is done)."""
    workloads.quiet()
    wanted = {c.strip() for c in os.environ.get(CASES_VARIABLE, "").split(",") if c.strip()}
    for size, case, rows in (QUICK if quick else CASES):
        if not wanted or f"{size}:{case}" in wanted:
            yield from _case(size, case, rows)
