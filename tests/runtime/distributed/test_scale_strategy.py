"""backend.strategy -> plan -> accelerate / DeepSpeed config, and the refusals before any launch."""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.config import load_config
from llm_magic.runtime.distributed.strategy import (
    accelerate_config, check_runnable, deepspeed_config, resolve_plan,
)
from tests.runtime.distributed.conftest import scale_config


def plan_of(strategy, **trainer):
    cfg = scale_config("some/model", backend={"strategy": strategy})
    cfg["trainer"].update(trainer)
    return resolve_plan(load_config(cfg))


def test_no_strategy_is_ddp_on_gpus_and_gloo_cpu_processes():
    plan = resolve_plan(load_config(scale_config("some/model")))
    assert plan.strategy == "ddp" and plan.zero is None
    gpu = accelerate_config(plan, 4)
    assert gpu["distributed_type"] == "MULTI_GPU" and gpu["num_processes"] == 4 and gpu["use_cpu"] is False
    cpu = accelerate_config(plan, 2, cpu=True)
    assert cpu["distributed_type"] == "MULTI_CPU" and cpu["use_cpu"] is True
    assert deepspeed_config(plan) is None


@pytest.mark.parametrize("name", ["accelerate", "ddp", "local"])
def test_ludwig_names_for_data_parallel(name):
    assert plan_of(name).strategy == "ddp"


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_deepspeed_zero_stages_map_to_accelerate_and_a_deepspeed_json(stage):
    plan = plan_of({"type": "deepspeed", "mixed_precision": "bf16",
                    "zero_optimization": {"stage": stage, "offload_optimizer": {"device": "cpu"}}})
    assert plan.zero_stage == stage and plan.shards_parameters == (stage == 3)
    assert plan.describe() == f"DeepSpeed ZeRO-{stage} (optimizer offload: cpu)"
    accel = accelerate_config(plan, 8, machines=2, main_process_ip="10.0.0.1", deepspeed_file="ds.json")
    assert accel["distributed_type"] == "DEEPSPEED" and accel["mixed_precision"] == "bf16"
    assert accel["num_machines"] == 2 and accel["main_process_ip"] == "10.0.0.1"
    assert accel["deepspeed_config"] == {"deepspeed_config_file": "ds.json", "zero3_init_flag": stage == 3}
    ds = deepspeed_config(plan)
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["zero_optimization"]["offload_optimizer"] == {"device": "cpu"}
    # The Trainer fills these from trainer:, so DeepSpeed and llm_magic never disagree.
    assert ds["gradient_accumulation_steps"] == "auto" and ds["train_micro_batch_size_per_gpu"] == "auto"
    assert ("stage3_gather_16bit_weights_on_model_save" in ds["zero_optimization"]) == (stage == 3)


def test_deepspeed_config_dict_and_file(tmp_path):
    plan = plan_of({"type": "deepspeed", "deepspeed_config": {"zero_optimization": {"stage": 3},
                                                              "steps_per_print": 50}})
    assert plan.zero_stage == 3 and deepspeed_config(plan)["steps_per_print"] == 50
    path = tmp_path / "ds.json"
    path.write_text('{"zero_optimization": {"stage": 1}}')
    plan = plan_of({"type": "deepspeed", "deepspeed_config": str(path)})
    assert deepspeed_config(plan) is None  # the user's file is used as it is
    assert accelerate_config(plan, 2)["deepspeed_config"]["deepspeed_config_file"] == str(path)


def test_fsdp_options_are_accelerates_with_our_defaults():
    plan = plan_of({"type": "fsdp", "fsdp_config": {"offload_params": True, "fsdp_version": 1}})
    accel = accelerate_config(plan, 4)
    assert accel["distributed_type"] == "FSDP"
    assert accel["fsdp_config"]["fsdp_offload_params"] is True and accel["fsdp_config"]["fsdp_version"] == 1
    assert accel["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plan_of("fsdp").shards_parameters


@pytest.mark.parametrize("strategy, key, hint", [
    ({"type": "deepspeed", "zero_optimization": {"stage": 4}}, "zero_optimization.stage", "1 (optimizer"),
    ({"type": "deepspeed", "zero_optimization": {"stage": 2, "offload_param": {"device": "cpu"}}},
     "offload_param", "stage 3"),
    ({"type": "deepspeed", "zero_optimization": {"offload_optimizer": {"device": "gpu"}}},
     "offload_optimizer", "cpu | nvme"),
    ({"type": "ddp", "zero_optimization": {"stage": 2}}, "backend.strategy", "type: deepspeed"),
    ({"type": "ddp", "fsdp_config": {"offload_params": True}}, "fsdp_config", "type: fsdp"),
    ({"type": "deepspeed", "deepspeed_config": "/no/such/ds.json"}, "deepspeed_config", "no file"),
    ({"type": "ddp", "gradient_accumulation_steps": 4}, "gradient_accumulation_steps", "trainer.gradient"),
])
def test_bad_strategy_options_name_the_key(strategy, key, hint):
    with pytest.raises(LlmMagicError) as err:
        plan_of(strategy)
    assert key in str(err.value) and hint in str(err.value)


def test_matching_gradient_accumulation_is_accepted():
    assert plan_of({"type": "ddp", "gradient_accumulation_steps": 2}, gradient_accumulation_steps=2)


def test_deepspeed_refused_without_cuda_or_package():
    plan = plan_of({"type": "deepspeed", "zero_optimization": {"stage": 3}})
    with pytest.raises(LlmMagicError, match="ZeRO-3 needs CUDA GPUs and this machine has none"):
        check_runnable(plan, 2, cuda_devices=0, has_deepspeed=True)
    with pytest.raises(LlmMagicError, match="needs the deepspeed package"):
        check_runnable(plan, 2, cuda_devices=2, has_deepspeed=False)
    check_runnable(plan, 2, cuda_devices=2, has_deepspeed=True)


def test_fsdp_on_cpu_and_too_many_processes_refused():
    with pytest.raises(LlmMagicError, match="fsdp needs CUDA GPUs"):
        check_runnable(plan_of("fsdp"), 2, cuda_devices=0)
    with pytest.raises(LlmMagicError, match="this machine has 2 GPU"):
        check_runnable(plan_of("ddp"), 4, cuda_devices=2)
    with pytest.raises(LlmMagicError, match="positive number"):
        check_runnable(plan_of("ddp"), 0, cuda_devices=0)
    check_runnable(plan_of("ddp"), 2, cuda_devices=0)  # CPU processes are fine


def test_ludwig_strategy_keys_are_typed_in_the_config():
    config = load_config(scale_config("some/model", backend={"strategy": "deepspeed"}))
    assert config.backend.type == "local" and config.backend.strategy.type == "deepspeed"
    assert resolve_plan(config).zero_stage == 2  # DeepSpeed without a stage: ZeRO-2


@pytest.mark.parametrize("strategy, distributed, env", [
    ({"type": "ddp"}, "MULTI_GPU", {}),
    ({"type": "fsdp", "fsdp_config": {"offload_params": True}}, "FSDP",
     {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_OFFLOAD_PARAMS": "true",
      "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP", "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT"}),
    ({"type": "deepspeed", "zero_optimization": {"stage": 3}}, "DEEPSPEED", {}),
])
def test_accelerate_reads_the_written_config_as_meant(tmp_path, monkeypatch, strategy, distributed, env):
    """accelerate's own loader and launch-side validation accept the files we write (unknown or
    mistyped keys fail there), and turn them into the launcher environment we mean."""
    import json

    import yaml
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    from llm_magic.runtime.distributed.script import write_job

    monkeypatch.chdir(tmp_path)
    config = load_config(scale_config("some/model", backend={"strategy": strategy}))
    write_job(config, tmp_path, processes=4, machines=2)
    parsed = load_config_from_file(str(tmp_path / "accelerate_config.yaml"))
    assert parsed.distributed_type.value == distributed and parsed.num_processes == 4 and parsed.num_machines == 2
    if distributed == "DEEPSPEED":
        ds_file = parsed.deepspeed_config["deepspeed_config_file"]
        ds = json.loads((tmp_path / ds_file).read_text())
        assert ds["zero_optimization"]["stage"] == 3 and ds["train_micro_batch_size_per_gpu"] == "auto"
        return  # accelerate's DeepSpeed launch path needs the deepspeed package
    args = launch_command_parser().parse_args(
        ["--config_file", str(tmp_path / "accelerate_config.yaml"), "--machine_rank", "0", "train.py"])
    args, _, _ = _validate_launch_command(args)
    assert args.num_processes == 4 and args.num_machines == 2 and args.multi_gpu != args.use_fsdp
    launch_env = prepare_multi_gpu_env(args)
    assert {k: launch_env.get(k) for k in env} == env
    assert yaml.safe_load((tmp_path / "accelerate_config.yaml").read_text())["use_cpu"] is False
