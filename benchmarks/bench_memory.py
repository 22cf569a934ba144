"""4-bit weight memory: the ~100M-parameter Llama loaded in 4-bit against the same model in fp32.

Each variant loads through ``session.load_model()`` in a fresh process, so the measurements do
not pollute each other. Reported per variant:

- process memory (RSS, psutil) after the load, with every weight read once (the fp32 weights
  are memory-mapped from the safetensors file and count only once read; a forward pass would
  add its own transient buffers), net of the process before it — a process that
  has already loaded and dropped a tiny model the same way, so every import and one-off
  allocation is paid and the difference is what the model itself costs. Target: 4-bit <= 0.35x
  fp32. The totals and the peak RSS during the load are in the notes. (The loader copies the
  weights bitsandbytes leaves unquantized out of the memory-mapped safetensors file on the CPU:
  while they were views into it, a 4-bit load measured 1.2-1.4x fp32 here);
- bytes per parameter of the quantized linear layers, summed from their storage (packed 4-bit
  weights, block scales and the nested scales of double quantization) — target <= 0.56.

On a CUDA machine the same command reports ``torch.cuda.memory_allocated`` after each load.
"""
from __future__ import annotations

import json
import subprocess
import sys

from benchmarks import workloads
from benchmarks.common import Result

# Runs in a fresh interpreter: load one variant, print one JSON line of measurements.
_PROBE = r'''
import gc, json, sys
import psutil, torch
from benchmarks import workloads
workloads.quiet()
from llm_magic.runtime.session import reset_session

variant, base_model, warm_model = sys.argv[1], sys.argv[2], sys.argv[3]
quantization = {"bits": 4} if variant.startswith("4bit") else None


def load(path):
    session = reset_session()
    config = workloads.config(path, quantization=quantization)
    config["trainer"] = {"type": "none"}  # load for inference: a quantized model trains only with LoRA
    session.set_config(config)
    model = session.load_model().model
    with torch.no_grad():  # read every weight once: memory-mapped weights count once read
        for tensor in list(model.parameters()) + list(model.buffers()):
            tensor.sum()
    return model


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


# A throwaway load of the tiny model first: every import and one-off allocation of this loading
# path happens there, so the difference below is what the model itself costs.
load(warm_model)
reset_session()
process = psutil.Process()
gc.collect()
before, before_anon = process.memory_info().rss, status("RssAnon")
model = load(base_model)
gc.collect()
after, after_anon = process.memory_info().rss, status("RssAnon")
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the parent's peak.
peak = status("VmHWM")

quantized_bytes = quantized_params = 0
for module in model.modules():
    weight = getattr(module, "weight", None)
    state = getattr(weight, "quant_state", None)
    if state is None:
        continue
    tensors = [weight.data, state.absmax]
    if getattr(state, "nested", False):
        tensors += [state.state2.absmax, state.state2.code]
    quantized_bytes += sum(t.numel() * t.element_size() for t in tensors)
    quantized_params += int(state.shape.numel())
print(json.dumps({
    "before": before, "after": after, "peak": peak, "anon": after_anon - before_anon,
    "params": workloads.count_parameters(model),
    "quantized_bytes": quantized_bytes, "quantized_params": quantized_params,
    "gpu": torch.cuda.memory_allocated() if torch.cuda.is_available() else None,
}))
'''


def probe(variant: str, base_model: str, warm_model: str) -> dict:
    """Load ``variant`` ("fp32" or "4bit") of ``base_model`` in a fresh process; its measurements.

    ``warm_model`` is loaded (and dropped) first in the same way, to warm the process up.
    """
    out = subprocess.run([sys.executable, "-c", _PROBE, variant, base_model, warm_model],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the {variant} load failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def run(quick: bool = False) -> list[Result]:
    """fp32 and 4-bit loads of the 100M model (the tiny one with ``quick``), one process each."""
    workloads.quiet()
    size = "tiny" if quick else "100m"
    base_model = str(workloads.model_dir(size))
    warm = str(workloads.model_dir("tiny"))
    fp32, nf4 = probe("fp32", base_model, warm), probe("4bit", base_model, warm)
    net32, net4 = fp32["after"] - fp32["before"], nf4["after"] - nf4["before"]
    per_param = nf4["quantized_bytes"] / max(1, nf4["quantized_params"])
    gpu = (f"; GPU memory allocated: fp32 {_mib(fp32['gpu'])}, 4-bit {_mib(nf4['gpu'])}"
           if fp32["gpu"] is not None else "")
    return [
        Result(f"4-bit quantized linear weights ({size} Llama)", per_param, 4.0, "B/param",
               "<= 0.56 bytes/param", per_param <= 0.56,
               f"{nf4['quantized_params'] / 1e6:.1f}M params in 4-bit layers, "
               f"{_mib(nf4['quantized_bytes'])}; baseline: fp32's 4 bytes/param"),
        Result(f"process memory after a 4-bit load ({size} Llama)", net4 / 2**20, net32 / 2**20, "MiB",
               "<= 0.35x fp32 (net of the process before loading)", net4 <= 0.35 * net32,
               f"{fp32['params'] / 1e6:.1f}M params; of which anonymous (not file-mapped) 4-bit "
               f"{_mib(nf4['anon'])}, fp32 {_mib(fp32['anon'])}; RSS total 4-bit {_mib(nf4['after'])} "
               f"vs fp32 {_mib(fp32['after'])}; peak during load 4-bit {_mib(nf4['peak'])}, fp32 "
               f"{_mib(fp32['peak'])}{gpu}"),
    ]
