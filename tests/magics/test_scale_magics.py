"""%llm_export_script and %llm_train --processes driven through a real InteractiveShell."""
from __future__ import annotations

import json
import py_compile

import pandas as pd
import pytest
import yaml
from IPython.core.error import UsageError

from tests.runtime.distributed.conftest import WORDS, scale_config


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("scale-llama"))


@pytest.fixture
def shell(ip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS],
                                     "split": [0] * 12 + [2] * 4})
    return ip


def test_export_script_writes_a_runnable_job(shell, session, tiny_dir, tmp_path):
    session.set_config(scale_config(tiny_dir))
    session.load_model()
    report = shell.run_cell("%llm_export_script job --data df --processes 4 --machines 2")
    job = tmp_path / "job"
    assert report.path == job
    for name in ("train.py", "config.yaml", "accelerate_config.yaml", "data.parquet", "start_weights.safetensors"):
        assert (job / name).is_file(), name
    py_compile.compile(str(job / "train.py"), doraise=True)
    # The effective config round-trips: the cluster trains exactly the notebook's config.
    from llm_magic.runtime.config import load_config

    assert load_config((job / "config.yaml").read_text()).to_dict() == session.config.to_dict()
    accel = yaml.safe_load((job / "accelerate_config.yaml").read_text())
    assert accel["distributed_type"] == "MULTI_GPU" and accel["num_processes"] == 4 and accel["num_machines"] == 2
    assert len(pd.read_parquet(job / "data.parquet")) == len(WORDS)
    text = repr(report)
    assert "accelerate launch --config_file accelerate_config.yaml --num_processes 4 --num_machines 2" in text
    assert "main_process_ip" in text and f"%llm_load {job / 'run'}" in text


def test_exported_job_loads_the_config_as_written(shell, session, tiny_dir, tmp_path):
    """Unset keys stay unset in the job (the CPU's 4-bit compute dtype is resolved where it
    trains), and a base_model folder relative to the notebook still resolves from the job."""
    import runpy
    import shutil

    from llm_magic.runtime.config import load_config

    shutil.copytree(tiny_dir, tmp_path / "my-model")
    text = ("model_type: llm\n"
            "base_model: my-model\n"
            "input_features: [{name: word, type: text}]\n"
            "output_features: [{name: answer, type: text}]\n"
            "quantization: {bits: 4}\n"
            "adapter: {type: lora}\n"
            "trainer: {type: finetune, epochs: 1}\n")
    session.set_config(text)
    shell.run_cell("%llm_export_script job --data df --fresh")
    job = tmp_path / "job"
    effective = yaml.safe_load((job / "config.yaml").read_text())
    assert effective["base_model"] == str(tmp_path / "my-model")
    assert effective["quantization"]["bnb_4bit_compute_dtype"] == "float16"  # the Ludwig default, filled in
    written = load_config((job / "config.user.yaml").read_text())
    assert written.base_model == str(tmp_path / "my-model")
    assert "bnb_4bit_compute_dtype" not in written.quantization.model_fields_set
    assert written.to_dict() == load_config(effective).to_dict()
    # train.py reads the config as written by default.
    assert runpy.run_path(str(job / "train.py"), run_name="job")["DEFAULT_CONFIG"] == job / "config.user.yaml"

    # Nothing to fix: the text is kept as written, comments included.
    session.set_config(text.replace("base_model: my-model", f"base_model: {tmp_path / 'my-model'}  # local"))
    shell.run_cell("%llm_export_script job2 --data df --fresh")
    assert (tmp_path / "job2" / "config.user.yaml").read_text() == session.config.source


def test_export_deepspeed_job_on_a_cpu_machine(shell, session, tiny_dir, tmp_path):
    # Exporting is fine without GPUs: the job runs elsewhere. --fresh ships no start weights.
    session.set_config(scale_config(tiny_dir, backend={"strategy": {
        "type": "deepspeed", "zero_optimization": {"stage": 3, "offload_param": {"device": "cpu"}}}}))
    report = shell.run_cell("%llm_export_script ds-job --fresh")
    job = tmp_path / "ds-job"
    assert "ZeRO-3" in report.strategy and not (job / "start_weights.safetensors").exists()
    assert not (job / "data.parquet").exists() and "pass --data" in repr(report)
    ds = json.loads((job / "ds_config.json").read_text())
    assert ds["zero_optimization"]["offload_param"] == {"device": "cpu"}
    accel = yaml.safe_load((job / "accelerate_config.yaml").read_text())
    assert accel["distributed_type"] == "DEEPSPEED" and accel["deepspeed_config"]["zero3_init_flag"] is True


def test_deepspeed_training_refused_here_before_anything_starts(shell, session, tiny_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal is for CPU-only machines")
    session.set_config(scale_config(tiny_dir, backend={"strategy": {"type": "deepspeed"}}))
    with pytest.raises(UsageError, match="DeepSpeed ZeRO-2 needs CUDA GPUs"):
        shell.run_cell("%llm_train --data df --processes 2")
    assert len(session.runs) == 0 and session.data is None and not (tmp_path / "llm_magic_runs").exists()
    assert session.models.loaded is None  # refused before even loading the model


@pytest.mark.parametrize("line, message", [
    ("%llm_export_script", "needs a folder"),
    ("%llm_export_script job --processes 0", "--processes 0"),
    ("%llm_export_script job --processes 1 --machines 2", "at least one process per machine"),
    ("%llm_train --data df --processes 0", "positive number of processes"),
    ("%llm_train --data df --processes 2 --resume", "Nothing to resume"),
])
def test_bad_flags_are_usage_errors(shell, session, tiny_dir, line, message):
    session.set_config(scale_config(tiny_dir))
    with pytest.raises(UsageError, match=message):
        shell.run_cell(line)
