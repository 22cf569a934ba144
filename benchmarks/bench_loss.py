"""Peak memory and time of one training step's loss: label positions only against full logits.

One forward and backward of a LoRA'd 12M Llama (vocabulary 30,522, ``peers.SHAPES``) on a padded
batch of 8 rows of 24-208 tokens whose last 7 tokens are labelled (issue 16's task), once with
``training.loss.label_only_loss`` and once with the model's own loss over all logits. Each side
runs in a fresh process; memory is the resident peak above the start of the step.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Iterator

from benchmarks import peers, workloads
from benchmarks.common import Result


def child(size: str, fast: bool, repeats: int = 3) -> dict:
    """In a fresh process: peak MiB of the first step, median seconds of ``repeats`` steps."""
    import random
    import statistics
    import time

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from llm_magic.runtime.training.loss import label_only_loss

    workloads.quiet()
    model = AutoModelForCausalLM.from_pretrained(str(peers.model_dir(size)))
    model = get_peft_model(model, LoraConfig(r=8, target_modules=peers.TARGETS)).train()
    rng = random.Random(0)
    lengths = [rng.randint(24, 208) for _ in range(8)]
    width = max(lengths)
    ids = torch.randint(3, 1000, (8, width))
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        labels[row, length - 7 : length] = ids[row, length - 7 : length]
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def step() -> None:
        loss = label_only_loss(model, batch) if fast else model(**batch, use_cache=False).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    with peers.PeakMemory() as memory:
        step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return {"mib": memory.mib, "seconds": statistics.median(times)}


def _measure(size: str, fast: bool) -> dict:
    code = f"import json; from benchmarks.bench_loss import child; print('RESULT', json.dumps(child({size!r}, {fast})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.rsplit("RESULT", 1)[1])


def run(quick: bool = False) -> Iterator[Result]:
    """Label-only loss against the full logits: peak memory and step time."""
    size = "tiny" if quick else "12m"
    peers.model_dir(size)
    fast, full = _measure(size, True), _measure(size, False)
    yield Result(f"loss step peak memory, label positions only vs full logits ({size})", fast["mib"], full["mib"],
                 "MiB", "lower", fast["mib"] < full["mib"], f"saved {full['mib'] - fast['mib']:.0f} MiB")
    yield Result(f"loss step seconds, label positions only vs full logits ({size})", fast["seconds"],
                 full["seconds"], "s", "lower", fast["seconds"] < full["seconds"], "forward + backward")
