"""``backend``: where work runs. llm_magic runs locally; ``ray`` is typed for Ludwig compatibility."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from llm_magic.runtime.config.schema.base import F, ConfigModel, type_block


class StrategyConfig(ConfigModel):
    """Distributed strategy; all names map to one Hugging Face Accelerate strategy."""

    type: Literal["accelerate", "ddp", "fsdp", "deepspeed", "local"] = F("accelerate", "Strategy name.")
    mixed_precision: Literal["no", "fp16", "bf16", "fp8"] | None = F(None, "Accelerate mixed precision.")
    gradient_accumulation_steps: int | None = F(None, "Accelerate gradient accumulation.", gt=0)
    fsdp_config: dict[str, Any] | None = F(None, "FSDP plugin settings.")
    deepspeed_config: str | dict[str, Any] | None = F(None, "DeepSpeed config path or dict.")
    zero_optimization: dict[str, Any] | None = F(
        None, "DeepSpeed ZeRO settings as in a DeepSpeed config: stage (1-3), offload_optimizer / "
        "offload_param ({device: cpu | nvme}), ...; type deepspeed only.",
        diverges="Ludwig's old deepspeed backend read this key; its accelerate strategy drops it silently.")


class ProcessorConfig(ConfigModel):
    """Ray dataframe engine."""

    type: Literal["dask", "modin", "pandas"] = F("dask", "Dataframe engine.")
    parallelism: int | None = F(None, "Partitions.", gt=0)
    persist: bool = F(True, "Persist intermediate data.")


class RayTrainerConfig(ConfigModel):
    """Ray Train scaling."""

    num_workers: int | None = F(None, "Workers; null = #GPUs (or #nodes).", gt=0)
    use_gpu: bool | None = F(None, "Use GPUs; null = when the cluster has them.")
    resources_per_worker: dict[str, float] | None = F(None, "e.g. {CPU: 2, GPU: 1}.")
    strategy: Annotated[StrategyConfig, BeforeValidator(type_block)] | None = F(
        None, "Strategy; a bare string becomes {type: ...}.")


class BackendConfig(ConfigModel):
    """Execution backend (``local``: this kernel)."""

    type: Literal["local", "ray"] = F(
        "local", "Backend.",
        diverges="Ludwig switches to Ray when a cluster is reachable; we never switch implicitly.")
    cache_dir: str | None = F(None, "Preprocessed-data cache directory.")
    credentials: dict[str, Any] | None = F(None, "Storage credentials.")
    processor: ProcessorConfig | None = F(None, "Ray only: dataframe engine.")
    trainer: RayTrainerConfig | None = F(None, "Ray only: Train scaling.")
    loader: dict[str, Any] | None = F(None, "Ray only: data-loader kwargs.")
    preprocessor_kwargs: dict[str, Any] | None = F(None, "Ray only: preprocessing kwargs (num_cpu).")
    strategy: Annotated[StrategyConfig, BeforeValidator(type_block)] | None = F(
        None, "Local backend: how `%llm_train --processes N` and exported scripts split the work "
              "(ddp when unset); a bare string becomes {type: ...}.",
        diverges="Our extension: Ludwig has no multi-process strategy on the local backend.")


def _backend_before(value: Any) -> Any:
    if value is None or value == {}:
        return {"type": "local"}
    return type_block(value)


Backend = Annotated[BackendConfig, BeforeValidator(_backend_before)]
