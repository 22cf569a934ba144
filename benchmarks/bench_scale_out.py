"""Data-parallel scale-out on this machine: ``%llm_train --processes 2`` against one process.

The same LoRA job (the ~10M random Llama, rows of 128 tokens, 4 rows per process per step) runs
in the kernel (one process, torch's threads over all cores) and as two CPU processes (torchrun,
gloo, one thread each), alternately. Two figures per side:

- steady-state training throughput: the median ``tokens_per_second`` of the logged steps after
  the first (rank 0 logs tokens summed over all processes), which is what more processes buy;
- end-to-end wall time of ``session.train``, which for the processes includes their start-up
  (a fresh Python with torch and the model per process) and the job folder.

Reported, not judged: two processes on two shared cores say little about several GPUs, but the
ratio shows where start-up stops mattering (docs/scale-out.md has the GPU arithmetic).
"""
from __future__ import annotations

import statistics
import time

from benchmarks import workloads
from benchmarks.bench_finetune import EQUAL_LENGTH, in_temp_dir
from benchmarks.common import Result

PROCESSES = 2
BATCH = 4


def _train(session, frame, processes: int | None) -> tuple[float, float]:
    """(wall seconds of session.train, median tokens/s of the logged steps after the first)."""
    from llm_magic.runtime.training.loggers import RecordingLogger

    log = RecordingLogger()
    start = time.perf_counter()
    session.train(frame, processes=processes, loggers=[log])
    wall = time.perf_counter() - start
    rates = [v for step, v in log.series("tokens_per_second") if step > 1]
    return wall, statistics.median(rates) if rates else float("nan")


def run(quick: bool = False) -> list[Result]:
    """Tokens/s and wall time of two CPU processes against one."""
    from llm_magic.runtime.session import reset_session

    workloads.quiet()
    model_path = str(workloads.model_dir("tiny" if quick else "10m"))
    rows, repeats = (32, 1) if quick else (192, 2)
    frame = workloads.task_frame(rows, workloads.equal_lengths(rows, EQUAL_LENGTH))
    session = reset_session()
    session.set_config(workloads.config(model_path, adapter=workloads.LORA, batch_size=BATCH))
    session.load_model()
    one: list[tuple[float, float]] = []
    many: list[tuple[float, float]] = []
    with in_temp_dir():
        _train(session, frame.head(8), None)  # warm-up: first-call imports and allocations
        for _ in range(repeats):
            one.append(_train(session, frame, None))
            many.append(_train(session, frame, PROCESSES))
    wall_one, tps_one = (statistics.median(x) for x in zip(*one))
    wall_many, tps_many = (statistics.median(x) for x in zip(*many))
    steps_one, steps_many = rows // BATCH, rows // (BATCH * PROCESSES)
    setting = (f"{rows} rows x {EQUAL_LENGTH} tokens, {BATCH} rows per process per step ({steps_one} vs "
               f"{steps_many} steps), median of {repeats}; in-kernel {workloads.threads()} threads, "
               f"processes 1 thread each")
    return [
        Result(f"scale-out training tokens/s, {PROCESSES} CPU processes (steady state)", tps_many, tps_one,
               "tok/s", "reported (baseline: one process)", None, setting),
        Result(f"scale-out wall time of session.train, {PROCESSES} CPU processes (with start-up)", wall_many,
               wall_one, "s", "reported (baseline: one process)", None,
               f"start-up and job folder included; {setting}"),
    ]
