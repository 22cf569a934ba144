"""Check the ``ds_config.json`` we write for every ZeRO stage against DeepSpeed's own parser.

Not part of ``make test``: DeepSpeed is not a dependency (it only matters on a GPU cluster) and
its PyPI release is a source package. To run the check on a CPU machine, install it beside the
venv without building its CUDA ops, then run this script:

    pip install --no-deps --no-build-isolation --target /tmp/ds deepspeed hjson ninja py-cpuinfo msgpack einops
    PYTHONPATH=/tmp/ds DS_ACCELERATOR=cpu .venv/bin/python scripts/check_deepspeed_config.py

For each case it writes the config as ``%llm_export_script`` does, lets transformers fill the
``auto`` values from the ``trainer:`` settings (what the HF Trainer does at start-up), and builds
``deepspeed.runtime.config.DeepSpeedConfig`` from the result, which validates every key. It
prints one line per case and exits 1 on the first config DeepSpeed rejects.
"""
from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = {
    "ZeRO-1": {"zero_optimization": {"stage": 1}},
    "ZeRO-2, optimizer offload": {"zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}}},
    "ZeRO-3, bf16, optimizer and parameter offload": {
        "mixed_precision": "bf16",
        "zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu"}, "offload_param": {"device": "cpu"}},
    },
}
TRAINER = {"type": "finetune", "batch_size": 4, "gradient_accumulation_steps": 2, "learning_rate": 1e-4}


def check(name: str, strategy: dict) -> str:
    """Validate one case; return its summary line (raises what DeepSpeed raises)."""
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    from llm_magic.runtime.config import load_config
    from llm_magic.runtime.distributed.strategy import deepspeed_config, resolve_plan

    config = load_config({
        "model_type": "llm", "base_model": "some/model",
        "input_features": [{"name": "q", "type": "text"}], "output_features": [{"name": "a", "type": "text"}],
        "adapter": {"type": "lora"}, "trainer": TRAINER, "backend": {"strategy": {"type": "deepspeed", **strategy}},
    })
    plan = resolve_plan(config)
    filled = HfTrainerDeepSpeedConfig(deepspeed_config(plan))
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=TRAINER["batch_size"],
                                 gradient_accumulation_steps=TRAINER["gradient_accumulation_steps"],
                                 learning_rate=TRAINER["learning_rate"], bf16=plan.mixed_precision == "bf16",
                                 use_cpu=True, report_to="none")
        filled.trainer_config_process(args)
        filled.trainer_config_finalize(args, None, 100)
    left = [key for key, value in _walk(filled.config) if value == "auto"]
    if left:
        raise ValueError(f"{name}: values left 'auto' after the Trainer filled them: {left}")
    parsed = DeepSpeedConfig(filled.config)
    zero = parsed.zero_config
    return (f"{name}: accepted (stage {int(zero.stage)}, optimizer offload "
            f"{getattr(zero.offload_optimizer, 'device', None)}, parameter offload "
            f"{getattr(zero.offload_param, 'device', None)}, micro-batch {parsed.train_micro_batch_size_per_gpu}, "
            f"accumulation {parsed.gradient_accumulation_steps})")


def _walk(value, prefix=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value


def main() -> int:
    """Check every case; 0 when DeepSpeed accepts them all."""
    warnings.filterwarnings("ignore")
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        print(__doc__)
        return 2
    for name, strategy in CASES.items():
        try:
            print(check(name, strategy))
        except Exception as exc:  # noqa: BLE001 - report which case DeepSpeed rejected, and why
            print(f"{name}: REJECTED: {type(exc).__name__}: {exc}")
            return 1
    print(json.dumps({"deepspeed": __import__("deepspeed").__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
