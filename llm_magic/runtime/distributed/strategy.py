"""The config's ``backend.strategy`` resolved into a plan, checked, and written as accelerate's config.

Ludwig's strategy names (``accelerate``, ``ddp``, ``fsdp``, ``deepspeed``, under ``backend.trainer.strategy``) all
mean one Hugging Face Accelerate launch; we map them onto accelerate's own config file (the YAML
``accelerate config`` writes) so that the notebook launch and an exported cluster job read the
same file. Whether a strategy can run here (CUDA, the ``deepspeed`` package) is checked before
anything starts. Nothing here imports torch at import time.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_magic.errors import DeviceError, LlmMagicError

if TYPE_CHECKING:  # pragma: no cover - types only
    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.backend import StrategyConfig

__all__ = ["ScalePlan", "accelerate_config", "check_runnable", "deepspeed_config", "resolve_plan"]

# Ludwig's names -> the strategy we run. "accelerate" and "local" mean plain data parallelism.
_STRATEGIES = {"accelerate": "ddp", "ddp": "ddp", "local": "ddp", "fsdp": "fsdp", "deepspeed": "deepspeed"}
_OFFLOAD_DEVICES = ("none", "cpu", "nvme")


@dataclass
class ScalePlan:
    """How a multi-process run splits the work: strategy, ZeRO stage, precision, options.

    ``zero`` is the DeepSpeed ``zero_optimization`` block (stage included) or None;
    ``deepspeed_file`` a user DeepSpeed JSON to use as is; ``fsdp`` accelerate FSDP options.
    """

    strategy: str = "ddp"
    mixed_precision: str | None = None
    zero: dict[str, Any] | None = None
    deepspeed_file: str | None = None
    deepspeed_extra: dict[str, Any] = field(default_factory=dict)
    fsdp: dict[str, Any] = field(default_factory=dict)

    @property
    def zero_stage(self) -> int | None:
        """The ZeRO stage (1-3) for DeepSpeed, else None."""
        return int(self.zero.get("stage", 0)) if self.zero else None

    @property
    def shards_parameters(self) -> bool:
        """Whether each process holds only a shard of the weights (ZeRO-3, FSDP full shard)."""
        return self.zero_stage == 3 or self.strategy == "fsdp"

    def describe(self) -> str:
        """One line for the user: ``DeepSpeed ZeRO-2 (optimizer offload: cpu)``, ``DDP``, ..."""
        if self.strategy == "deepspeed":
            if self.deepspeed_file:
                return f"DeepSpeed (config file {self.deepspeed_file})"
            offload = [f"{k.split('_', 1)[1]} offload: {v['device']}" for k, v in sorted((self.zero or {}).items())
                       if k.startswith("offload_") and isinstance(v, dict) and v.get("device", "none") != "none"]
            return f"DeepSpeed ZeRO-{self.zero_stage}" + (f" ({', '.join(offload)})" if offload else "")
        return {"ddp": "DDP (data parallel, full copy per process)", "fsdp": "FSDP (fully sharded)"}[self.strategy]


def _strategy_block(config: LLMConfig) -> StrategyConfig | None:
    backend = config.backend
    if backend.strategy is not None:
        return backend.strategy
    trainer = backend.trainer  # Ludwig's place for it (Ray backend)
    return trainer.strategy if trainer is not None else None


def _dump(block: Any) -> dict[str, Any]:
    if block is None:
        return {}
    return block.model_dump() if hasattr(block, "model_dump") else dict(block)


def resolve_plan(config: LLMConfig) -> ScalePlan:
    """The :class:`ScalePlan` of ``config.backend.strategy`` (DDP when unset); raises on bad options."""
    raw = _dump(_strategy_block(config))
    name = _STRATEGIES[raw.get("type") or "accelerate"]
    key = "backend.strategy"
    plan = ScalePlan(strategy=name, mixed_precision=raw.get("mixed_precision"))
    trainer_accum = getattr(config.trainer, "gradient_accumulation_steps", None)  # trainer none has none
    accum = raw.get("gradient_accumulation_steps")
    if accum is not None and accum != trainer_accum:
        raise LlmMagicError(
            f"{key}.gradient_accumulation_steps: {accum} differs from trainer.gradient_accumulation_steps "
            f"({trainer_accum}). Set it once, in trainer.gradient_accumulation_steps."
        )
    if name != "deepspeed" and (raw.get("zero_optimization") or raw.get("deepspeed_config")):
        raise LlmMagicError(
            f"{key}: zero_optimization / deepspeed_config only apply to type: deepspeed (this strategy "
            f"is {raw.get('type')}). Set `type: deepspeed` or remove them."
        )
    if name != "fsdp" and raw.get("fsdp_config"):
        raise LlmMagicError(f"{key}.fsdp_config only applies to type: fsdp. Set `type: fsdp` or remove it.")
    if name == "fsdp":
        plan.fsdp = dict(raw.get("fsdp_config") or {})
    if name == "deepspeed":
        _resolve_deepspeed(plan, raw, key)
    return plan


def _resolve_deepspeed(plan: ScalePlan, raw: dict[str, Any], key: str) -> None:
    ds = raw.get("deepspeed_config")
    zero = raw.get("zero_optimization")
    if isinstance(ds, str):
        if zero:
            raise LlmMagicError(f"{key}: give zero_optimization inside {ds} or here, not both.")
        if not os.path.isfile(os.path.expanduser(ds)):
            raise LlmMagicError(f"{key}.deepspeed_config: no file {ds!r}. Give a DeepSpeed JSON path or a dict.")
        plan.deepspeed_file = os.path.abspath(os.path.expanduser(ds))
        plan.zero = {}
        return
    ds = dict(ds or {})
    if zero and ds.get("zero_optimization"):
        raise LlmMagicError(f"{key}: zero_optimization is given twice (also in deepspeed_config); keep one.")
    zero = dict(zero or ds.pop("zero_optimization", None) or {"stage": 2})
    stage = zero.setdefault("stage", 2)
    where = f"{key}.zero_optimization"
    if stage not in (1, 2, 3):
        raise LlmMagicError(f"{where}.stage: {stage!r}; use 1 (optimizer states sharded), 2 (+ gradients) or 3 (+ weights).")
    for part in ("offload_optimizer", "offload_param"):
        value = zero.get(part)
        if value is None:
            continue
        if not isinstance(value, dict) or value.get("device", "none") not in _OFFLOAD_DEVICES:
            raise LlmMagicError(f"{where}.{part}: expected {{device: cpu | nvme | none, ...}}, got {value!r}.")
    if zero.get("offload_param", {}).get("device", "none") != "none" and stage != 3:
        raise LlmMagicError(f"{where}.offload_param: parameter offload needs stage 3 (this is stage {stage}).")
    plan.zero, plan.deepspeed_extra = zero, ds


def check_runnable(plan: ScalePlan, processes: int, *, machines: int = 1, cuda_devices: int | None = None,
                   has_deepspeed: bool | None = None) -> None:
    """Refuse, before anything starts, a launch that cannot run on this machine.

    ``cuda_devices`` and ``has_deepspeed`` default to what this machine has (tests pass them).
    """
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise LlmMagicError(f"--processes {processes!r}: expected a positive number of processes.")
    if cuda_devices is None:
        # lazy: pulls torch; %load_ext stays light
        import torch

        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if has_deepspeed is None:
        has_deepspeed = importlib.util.find_spec("deepspeed") is not None
    if plan.strategy == "deepspeed":
        if not cuda_devices:
            raise DeviceError(
                f"backend.strategy: {plan.describe()} needs CUDA GPUs and this machine has none. Use "
                "type: ddp to train on CPU processes here, or export the job (%llm_export_script DIR) "
                "and launch it on a GPU machine."
            )
        if not has_deepspeed:
            raise DeviceError(
                "backend.strategy: type deepspeed needs the deepspeed package, which is not installed. "
                "Install it (pip install deepspeed) or use type: ddp or fsdp."
            )
    if plan.strategy == "fsdp" and not cuda_devices:
        # accelerate launch ignores FSDP on the CPU (it would start one plain process instead).
        raise DeviceError(
            "backend.strategy: type fsdp needs CUDA GPUs and this machine has none. Use type: ddp for "
            "CPU processes here, or export the job (%llm_export_script DIR) for a GPU machine."
        )
    if cuda_devices and machines == 1 and processes > cuda_devices:
        raise DeviceError(
            f"--processes {processes}: this machine has {cuda_devices} GPU(s); use at most one process "
            "per GPU, or export the job for several machines (%llm_export_script)."
        )


def accelerate_config(plan: ScalePlan, processes: int, *, machines: int = 1, cpu: bool = False,
                      main_process_ip: str | None = None, main_process_port: int = 29500,
                      deepspeed_file: str | None = None) -> dict[str, Any]:
    """accelerate's config (what ``accelerate config`` writes) for ``plan``.

    ``processes`` is the total over all ``machines``. ``deepspeed_file`` is where the DeepSpeed
    JSON of :func:`deepspeed_config` is written (relative to the config file, or absolute).
    """
    if plan.strategy == "ddp":
        distributed = ("MULTI_CPU" if cpu else "MULTI_GPU") if processes > 1 else "NO"
    else:
        distributed = {"fsdp": "FSDP", "deepspeed": "DEEPSPEED"}[plan.strategy]
    mixed = plan.mixed_precision or "no"
    if cpu and mixed in ("fp16", "fp8"):
        mixed = "no"  # no half-precision autocast for training on the CPU
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": distributed,
        "num_processes": processes,
        "num_machines": machines,
        "machine_rank": 0,
        "main_training_function": "main",
        "mixed_precision": mixed,
        "use_cpu": bool(cpu),
        "rdzv_backend": "static",
        "same_network": True,
        "main_process_port": main_process_port,
        "downcast_bf16": "no",
    }
    if machines > 1:
        config["main_process_ip"] = main_process_ip or "REPLACE-WITH-MACHINE-0-ADDRESS"
    if plan.strategy == "fsdp":
        config["fsdp_config"] = _fsdp_options(plan.fsdp)
    if plan.strategy == "deepspeed":
        config["deepspeed_config"] = {
            "deepspeed_config_file": plan.deepspeed_file or deepspeed_file or "ds_config.json",
            # ZeRO-3 builds the model already partitioned, so no process ever holds it whole.
            "zero3_init_flag": plan.zero_stage == 3,
        }
    return config


# accelerate's FSDP keys and our defaults: FSDP2, one shard per transformer block, full shard,
# state dicts gathered whole on save (so rank 0 can write a normal adapter/model folder).
_FSDP_DEFAULTS = {
    "fsdp_version": 2,
    "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
    "fsdp_reshard_after_forward": True,
    "fsdp_offload_params": False,
    "fsdp_state_dict_type": "FULL_STATE_DICT",
    "fsdp_cpu_ram_efficient_loading": True,
    "fsdp_activation_checkpointing": False,
}


def _fsdp_options(user: dict[str, Any]) -> dict[str, Any]:
    """accelerate FSDP options: ours, overridden by the user's (``fsdp_`` prefix optional)."""
    options = dict(_FSDP_DEFAULTS)
    for key, value in user.items():
        options[key if key.startswith("fsdp_") else f"fsdp_{key}"] = value
    return options


def deepspeed_config(plan: ScalePlan) -> dict[str, Any] | None:
    """The DeepSpeed JSON for ``plan`` (None unless a generated one is needed).

    Batch size, accumulation, clipping and precision are ``auto``: the HF Trainer fills them from
    ``TrainingArguments``, so they always agree with ``trainer:``.
    """
    if plan.strategy != "deepspeed" or plan.deepspeed_file:
        return None
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
    }
    config.update(plan.deepspeed_extra)
    config["zero_optimization"] = dict(plan.zero or {"stage": 2})
    if plan.zero_stage == 3:
        # Rank 0 writes whole 16-bit weights on save instead of per-rank shards.
        config["zero_optimization"].setdefault("stage3_gather_16bit_weights_on_model_save", True)
    return config
