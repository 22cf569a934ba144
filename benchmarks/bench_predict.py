"""Prediction rows/s: ``session.predict`` with its defaults against an expert's batched ``generate``.

Issue 16's workload: 256 rows with questions of 4-200 words, 16 new tokens, greedy, on the 12M
random Llama with a 30,522-word vocabulary (``peers.SHAPES``). The expert renders the same
prompts, sorts them by length, left-pads and calls ``model.generate`` 32 prompts at a time, on
the same loaded model. Ours is ``session.predict(frame)`` with no batch size (automatic). The
two alternate; the medians are compared. A second row runs both with a CPU-bound process
beside them (a busy-loop subprocess, the same load for both sides), and two more compare, there,
the thread count ``fit_threads_to_load`` picks from the machine's load, and a count fixed at the
usable cores, with a single thread.
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from typing import Any

from benchmarks import peers, workloads
from benchmarks.common import Result

NEW_TOKENS, ROWS, EXPERT_BATCH = 16, 256, 32


def _session(model_path: str) -> Any:
    from llm_magic.runtime.session import reset_session

    session = reset_session()
    session.set_config(workloads.config(model_path, generation={"max_new_tokens": NEW_TOKENS, "do_sample": False}))
    session.load_model()
    return session


def _predict(session: Any, frame: Any, overrides: dict[str, Any] | None = None) -> Any:
    """What ``%llm_predict --data frame`` runs, without the progress bar."""
    from llm_magic.runtime.generation.runner import predict

    return predict(session, frame, progress=False, overrides=overrides)


def expert(model: Any, tokenizer: Any, prompts: list[str], **extra: Any) -> list[str]:
    """Sorted by length, left-padded, ``EXPERT_BATCH`` per call, answers put back in order."""
    import torch

    tokenizer.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: -len(tokenizer(prompts[i])["input_ids"]))
    out: dict[int, str] = {}
    with torch.inference_mode():
        for start in range(0, len(order), EXPERT_BATCH):
            chunk = order[start : start + EXPERT_BATCH]
            inputs = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True)
            ids = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, **extra)
            out.update(zip(chunk, tokenizer.batch_decode(ids[:, inputs["input_ids"].shape[1]:],
                                                         skip_special_tokens=True)))
    tokenizer.padding_side = "right"
    return [out[i] for i in range(len(prompts))]


def _burn(stop: Any) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10000))


def _pair(session: Any, frame: Any, repeats: int, eos_bias: float | None = None) -> tuple[float, float, str]:
    """(our rows/s, the expert's rows/s, a note); ``eos_bias`` adds that logit to EOS on both sides."""
    bundle = session.load_model()
    _predict(session, frame.head(4))  # warm-up
    from llm_magic.runtime.data.prompts import PromptRenderer

    renderer = PromptRenderer(session.config, tokenizer=bundle.tokenizer)
    prompts = [renderer.render(row) for _, row in frame.iterrows()]
    times: dict[str, list[float]] = {"ours": [], "expert": []}
    cpu: dict[str, list[float]] = {"ours": [], "expert": []}
    same = []
    overrides, extra = None, {}
    if eos_bias is not None:
        eos = bundle.tokenizer.eos_token_id
        overrides = {"sequence_bias": {bundle.tokenizer.convert_ids_to_tokens(eos): eos_bias}}
        extra = {"sequence_bias": [[[eos], eos_bias]]}
    for i in range(repeats):
        for side in (("ours", "expert") if i % 2 == 0 else ("expert", "ours")):
            started, cpu_started = time.perf_counter(), time.process_time()
            if side == "ours":
                texts = list(_predict(session, frame, overrides)["answer_response"])
            else:
                reference = expert(bundle.model, bundle.tokenizer, prompts, **extra)
            times[side].append(time.perf_counter() - started)
            cpu[side].append(time.process_time() - cpu_started)
        same.append(sum(a == b for a, b in zip(texts, reference)))
    note = (f"same answer as the expert on {min(same)}/{len(frame)} rows; CPU-time ratio "
            f"{statistics.median(cpu['expert']) / statistics.median(cpu['ours']):.2f}x")
    return len(frame) / statistics.median(times["ours"]), len(frame) / statistics.median(times["expert"]), note


def _thread_rows(session: Any, frame: Any, rows: int) -> list[Result]:
    """Beside the busy process: the load-aware count against 1 thread, and the usable cores
    (what a fixed count picks) against 1 thread. Alternating; medians of two, the fixed count once."""
    import torch

    from llm_magic.runtime import threads

    default = threads.usable_cores()
    if default < 2:
        return []
    pinned = torch.get_num_threads()
    # LLM_MAGIC_BENCH_THREADS pins the other rows through OMP_NUM_THREADS, which the load-aware
    # count respects as the user's choice; lift it here (torch has read it already).
    saved = {name: os.environ.pop(name) for name in threads.USER_THREAD_VARIABLES if name in os.environ}
    took: dict[str, list[float]] = {"auto": [], "fixed": [], "one": []}
    chosen = []
    try:
        # The fixed count runs once: beside a busy process it is several times slower.
        for side in ("auto", "one", "fixed", "one", "auto"):
            torch.set_num_threads(1 if side == "one" else default)
            if side == "auto":
                threads._tracker = threads._LoadTracker()  # as in a fresh kernel
            else:
                os.environ["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # a user's fixed count
            started = time.perf_counter()
            _predict(session, frame)
            took[side].append(time.perf_counter() - started)
            if side == "auto":
                chosen.append(torch.get_num_threads())
            os.environ.pop("OMP_NUM_THREADS", None)
    finally:
        os.environ.update(saved)
        torch.set_num_threads(pinned)
    auto, fixed, one = (rows / statistics.median(took[k]) for k in ("auto", "fixed", "one"))
    return [
        Result("predict beside a CPU-bound process: load-aware threads vs 1", auto, one, "rows/s",
               ">= 0.9x one thread", auto >= 0.9 * one,
               f"picked {chosen} threads of {default} usable (runtime/threads.py fit_threads_to_load)"),
        Result(f"predict beside a CPU-bound process: fixed {default} threads vs 1", fixed, one, "rows/s",
               "reported", None, "what a count fixed at the usable cores costs"),
    ]


def run(quick: bool = False) -> list[Result]:
    """Ours against the expert, alone and beside a CPU-bound process; threads beside it."""
    workloads.quiet()
    rows, repeats = (32, 1) if quick else (ROWS, 2)
    session = _session(str(peers.model_dir("tiny" if quick else "12m")))
    frame = peers.task_frame(rows, mixed=True)
    results = []
    ours, base, note = _pair(session, frame, repeats)
    results.append(Result(f"%llm_predict rows/s, {rows} mixed rows, {NEW_TOKENS} new tokens", ours, base,
                          "rows/s", ">= 1.0x expert (sorted, left-padded, 32/call)", ours >= base,
                          f"{note}; {workloads.threads()} threads"))
    # Random weights almost never emit EOS, so the rows above never finish early. With a logit
    # bias towards EOS (both sides), a share of rows ends at once: what dropping finished rows saves.
    ours, base, note = _pair(session, frame, repeats, eos_bias=1.0)
    results.append(Result("the same, EOS logit +1.0 (some rows end early)", ours, base, "rows/s",
                          ">= 1.0x expert", ours >= base, f"{note}; {workloads.threads()} threads"))
    stop = multiprocessing.Event()
    burner = multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
    burner.start()
    try:
        ours, base, note = _pair(session, frame, repeats)
        results.append(Result("the same, a CPU-bound process beside it", ours, base, "rows/s",
                              ">= 1.0x expert", ours >= base, f"{note}; {workloads.threads()} threads"))
        results.extend(_thread_rows(session, frame, rows))
    finally:
        stop.set()
        burner.join()
    return results
