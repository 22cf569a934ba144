"""Generation tokens/s: ``session.generate`` (streaming) against plain ``model.generate``.

Both generate exactly ``NEW_TOKENS`` tokens greedily (``min_new_tokens`` = ``max_new_tokens``, so
a random model's early EOS cannot shorten one side) from the same prompt, with the same
``model.generate`` keyword arguments, on the same loaded model, alternating calls. Ours adds the
prompt template, settings validation, the worker thread and the text streamer that the
``%%llm_prompt`` display reads; the target is that all of it costs under 5%.

Time to first token is reported for both: for plain ``generate`` when its streamer receives the
first new token id, for ours when ``on_text`` first sees text (the user-visible moment; the
text streamer holds back a token until a word is complete, so this is a token or two later).
"""
from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks import workloads
from benchmarks.common import Result

NEW_TOKENS = 128
QUESTION = " ".join(workloads.words()[:40])


class _FirstToken:
    """A ``generate`` streamer that notes when the first generated token arrives."""

    def __init__(self, started: float) -> None:
        self.started, self.first, self.calls = started, None, 0

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2 and self.first is None:  # the first put is the prompt
            self.first = time.perf_counter() - self.started

    def end(self) -> None:
        pass


def measure(label: str, base_model: str, repeats: int, new_tokens: int) -> list[Result]:
    """Ours and plain on one model: tokens/s (and the time to first token, reported)."""
    import torch

    from llm_magic.runtime.generation.runner import effective_settings
    from llm_magic.runtime.generation.settings import hf_kwargs
    from llm_magic.runtime.session import reset_session

    session = reset_session()
    session.set_config(workloads.config(base_model, generation={
        "max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False}))
    bundle = session.load_model()
    model, tokenizer = bundle.model, bundle.tokenizer
    kwargs = hf_kwargs(effective_settings(session.config), tokenizer)
    prompt = session.generate(QUESTION).prompt  # warm-up, and the rendered prompt plain gets
    inputs = tokenizer(prompt, return_tensors="pt").to(bundle.device)

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    cpu: dict[str, list[float]] = {"ours": [], "plain": []}
    ttft: dict[str, list[float]] = {"ours": [], "plain": []}
    counts = set()

    def ours() -> float:
        started = time.perf_counter()
        first: list[float] = []
        result = session.generate(QUESTION, seed=0,
                                  on_text=lambda _t: first or first.append(time.perf_counter() - started))
        counts.add(result.tokens)
        return first[0] if first else float("nan")

    def plain() -> float:
        streamer = _FirstToken(time.perf_counter())
        with torch.no_grad():
            out = model.generate(**inputs, **kwargs, streamer=streamer)
        counts.add(out.shape[1] - inputs["input_ids"].shape[1])
        return streamer.first

    for i in range(repeats):
        # Who goes first alternates too, so neither side always runs right after the other.
        for side in (("ours", "plain") if i % 2 == 0 else ("plain", "ours")):
            wall, process = time.perf_counter(), time.process_time()
            ttft[side].append((ours if side == "ours" else plain)())
            times[side].append(time.perf_counter() - wall)
            cpu[side].append(time.process_time() - process)
    ours_s, plain_s, ours_ttft, plain_ttft = times["ours"], times["plain"], ttft["ours"], ttft["plain"]
    if counts != {new_tokens}:
        raise RuntimeError(f"generated token counts differ from {new_tokens}: {sorted(counts)}")
    ours_tps = new_tokens / statistics.median(ours_s)
    plain_tps = new_tokens / statistics.median(plain_s)
    params = workloads.count_parameters(model) / 1e6
    note = (f"{new_tokens} new tokens after a {inputs['input_ids'].shape[1]}-token prompt, greedy; "
            f"{params:.1f}M params, {workloads.threads()} threads; median of {repeats} alternating calls; "
            f"CPU-time ratio {statistics.median(cpu['plain']) / statistics.median(cpu['ours']):.2f}x")
    return [
        Result(f"generation tokens/s, {label}", ours_tps, plain_tps, "tok/s",
               ">= 0.95x plain model.generate", ours_tps >= 0.95 * plain_tps, note),
        Result(f"time to first token, {label}", statistics.median(ours_ttft),
               statistics.median(plain_ttft), "s", "reported (ours: first text shown)", None),
    ]


def run(quick: bool = False) -> list[Result]:
    """Random 10M Llama (and the embedded model when its weights are present)."""
    workloads.quiet()
    if quick:
        return measure("random tiny Llama", str(workloads.model_dir("tiny")), 2, 32)
    results = measure("random 10M Llama", str(workloads.model_dir("10m")), 15, NEW_TOKENS)
    if workloads.embedded_model_available():
        results += measure("embedded llm-magic/tiny", "llm-magic/tiny", 15, NEW_TOKENS)
    return results
