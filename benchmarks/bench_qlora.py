"""QLoRA training step time on the CPU: 4-bit base + LoRA against the same step with an fp32 base.

Both are ``session.train`` runs of a few optimizer steps (batch 4, rows of 128 tokens) on
the ~10M random Llama with the same LoRA adapter, alternating. The 4-bit runs use bitsandbytes'
CPU kernels, once with the config's default compute dtype (float16, as in Ludwig; so slow on
the CPU that it gets 2 steps and one repeat) and once with float32 (6 steps, median of 3). Reported, not judged: QLoRA exists to fit a model in memory, and on the CPU it pays
for that in dequantization at every matmul.
"""
from __future__ import annotations

from benchmarks import workloads
from benchmarks.bench_finetune import EQUAL_LENGTH, alternate, in_temp_dir, our_finetune
from benchmarks.common import Result

STEPS = 6


def _session(model_path: str, quantization: dict | None, steps: int):
    from llm_magic.runtime.session import Session

    session = Session()
    session.set_config(workloads.config(model_path, adapter=workloads.LORA, quantization=quantization,
                                        train_steps=steps))
    session.load_model()
    return session


def run(quick: bool = False) -> list[Result]:
    """Seconds per step: fp32 LoRA vs 4-bit (float16 and float32 compute) + LoRA."""
    workloads.quiet()
    model_path = str(workloads.model_dir("tiny" if quick else "10m"))
    # float16 compute is an order of magnitude slower on the CPU: fewer steps, one repeat.
    plans = {"float16": (2, 1), "float32": (2, 1)} if quick else {"float16": (2, 1), "float32": (STEPS, 3)}
    results = []
    with in_temp_dir():
        for dtype, (steps, repeats) in plans.items():
            frame = workloads.task_frame(4 * steps, workloads.equal_lengths(4 * steps, EQUAL_LENGTH))
            fp32 = _session(model_path, None, steps)
            qlora = _session(model_path, {"bits": 4, "bnb_4bit_compute_dtype": dtype}, steps)
            our_finetune(fp32, frame)  # warm-up
            our_finetune(qlora, frame)
            base, quant = alternate(lambda: our_finetune(fp32, frame), lambda: our_finetune(qlora, frame),
                                    repeats)
            fp32.unload_model()
            qlora.unload_model()
            results.append(Result(
                f"QLoRA step time on the CPU (4-bit nf4, {dtype} compute)", quant.wall / steps,
                base.wall / steps, "s/step", "reported (baseline: fp32 base + LoRA)", None,
                f"CPU-time ratio {quant.cpu / base.cpu:.2f}x; {steps} steps of 4 rows x {EQUAL_LENGTH} "
                f"tokens, median of {repeats}; {workloads.threads()} threads"))
    return results
