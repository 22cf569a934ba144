"""Experiment tracking: runs reported to TensorBoard, MLflow, W&B and Trackio, read back with each
tool's own reader from real local stores (no server, no network)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError

# Trackio reads its store location once, when first imported: point it at a scratch folder
# before anything imports it.
os.environ.setdefault("TRACKIO_DIR", tempfile.mkdtemp(prefix="llm_magic-trackio-"))

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model", "tiny", "runs",
         "fast", "test", "red", "blue", "green", "sun"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("tracking-llama"))


def config(model_dir, trainer="{type: finetune, learning_rate: 0.01, train_steps: 4, batch_size: 4, "
                              "steps_per_checkpoint: 2}", adapter="adapter: {type: lora, r: 8, dropout: 0.0}\n"):
    return (
        f"model_type: llm\nbase_model: {model_dir}\n"
        "input_features: [{name: word, type: text}]\n"
        "output_features: [{name: answer, type: text}]\n"
        'prompt: {template: "Say {word}:"}\n'
        f"{adapter}"
        f"trainer: {trainer}\n"
        "preprocessing: {split: {type: random, probabilities: [0.75, 0.125, 0.125]}}\n"
        "generation: {max_new_tokens: 4, do_sample: false}\n"
    )


@pytest.fixture
def shell(ip, tiny_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run folders (and the default tracker stores) go to ./llm_magic_runs
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    # Nothing phones home: W&B offline, no MLflow telemetry, the default (local) MLflow store.
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    for name in ("MLFLOW_TRACKING_URI", "WANDB_DIR", "TENSORBOARD_LOGGING_DIR", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    ip.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS]})
    ip.cell("llm_config", "", config(tiny_dir))
    return ip


def _tensorboard(folder: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    params = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
              for k, v in start.session_start_info.hparams.items()}
    return {"scalars": scalars, "params": params}


@pytest.mark.slow  # ~40 s on 2 shared cores: four trackers start (W&B's service, MLflow's schema)
def test_a_run_reported_to_all_four_trackers_reads_back_in_each(shell, tiny_dir):
    shell.line("llm_train", "--data df --report-to tensorboard,mlflow,wandb,trackio")
    from llm_magic.runtime.session import get_session

    record = get_session().runs.runs[-1]
    assert record.status == "finished" and set(record.tracking) == {"tensorboard", "mlflow", "wandb", "trackio"}
    steps = record.global_step
    assert steps == 4
    assert "test_loss" in record.metrics

    # TensorBoard: per-step loss and learning rate, validation and test metrics, the config as HParams.
    tb = _tensorboard(record.tracking["tensorboard"])
    assert [s for s, _ in tb["scalars"]["train/loss"]] == [1, 2, 3, 4]
    assert len(tb["scalars"]["train/learning_rate"]) == 4
    assert [s for s, _ in tb["scalars"]["eval/loss"]] == [2, 4]
    assert tb["scalars"]["test/loss"] == [(4, pytest.approx(record.metrics["test_loss"], rel=1e-5))]
    assert tb["params"]["config.trainer.learning_rate"] == pytest.approx(0.01)
    assert tb["params"]["config.adapter.type"] == "lora"
    assert tb["params"]["tag.quantization"] == "none"

    # MLflow: the local SQLite store under the runs folder, read with MlflowClient.
    from mlflow import MlflowClient

    uri = f"sqlite:///{Path('llm_magic_runs').resolve() / 'mlflow.db'}"
    assert uri in record.tracking["mlflow"]
    client = MlflowClient(uri)
    run_id = record.tracking["mlflow"].split()[1]
    run = client.get_run(run_id)
    assert run.info.run_name == record.run_id and run.info.status == "FINISHED"
    assert run.data.params["config.trainer.learning_rate"] == "0.01"
    assert run.data.params["config.base_model"] == str(tiny_dir)
    assert run.data.tags["adapter"] == "lora" and run.data.tags["base_model"] == str(tiny_dir)
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3, 4]
    assert len(client.get_metric_history(run_id, "learning_rate")) == 4
    assert [m.step for m in client.get_metric_history(run_id, "eval_loss")] == [2, 4]
    assert run.data.metrics["test_loss"] == pytest.approx(record.metrics["test_loss"], rel=1e-6)
    artifacts = {a.path for a in client.list_artifacts(run_id, "model")}
    assert {"model/config.yaml", "model/adapter_model.safetensors"} <= artifacts

    # W&B offline: the run folder under llm_magic_runs/wandb, read with wandb's own .wandb reader.
    wandb_dir = Path(record.tracking["wandb"])
    assert wandb_dir.is_relative_to(Path("llm_magic_runs/wandb").resolve()) and wandb_dir.name.startswith("offline-run-")
    history, config_items, artifact_names = _read_wandb(next(wandb_dir.glob("*.wandb")))
    losses = [(row["train/global_step"], row["train/loss"]) for row in history if "train/loss" in row]
    assert [s for s, _ in losses] == [1, 2, 3, 4]
    assert sum("train/learning_rate" in row for row in history) == 4
    assert [row["train/global_step"] for row in history if "eval/loss" in row] == [2, 4]
    assert [(row["train/global_step"], row["test/loss"]) for row in history if "test/loss" in row] == [
        (4, pytest.approx(record.metrics["test_loss"], rel=1e-6))]
    assert config_items["config.trainer.learning_rate"] == 0.01
    assert any(name.startswith(f"{record.run_id}-model") for name in artifact_names)

    # Trackio: its local SQLite store, read with Trackio's own storage reader.
    from trackio.sqlite_storage import SQLiteStorage

    logs = SQLiteStorage.get_logs("llm_magic", record.run_id)
    assert [row["train/global_step"] for row in logs if "train/loss" in row] == [1, 2, 3, 4]
    assert sum("train/learning_rate" in row for row in logs) == 4
    assert [row["train/global_step"] for row in logs if "eval/loss" in row] == [2, 4]
    assert [row["test/loss"] for row in logs if "test/loss" in row] == [pytest.approx(record.metrics["test_loss"], rel=1e-6)]
    trackio_config = SQLiteStorage.get_run_config("llm_magic", record.run_id)
    assert trackio_config["config.trainer.learning_rate"] == 0.01 and trackio_config["tag.adapter"] == "lora"

    # %llm_runs says where the run went.
    table = shell.line("llm_runs")
    assert table.frame.loc[record.run_id, "reported to"] == "tensorboard, mlflow, wandb, trackio"
    assert any(n.startswith("Reported to tensorboard:") for n in record.notes)


def _wandb_records(path: Path):
    """The records of a ``.wandb`` file, parsed with wandb's own protobuf ``Record``.

    wandb 0.31 has no Python reader any more (its Go core reads the file); the framing is
    LevelDB's log format after a 7-byte ``:W&B`` header: 32 KiB blocks of chunks, each
    ``crc32 (4) | length (2, little-endian) | type (1: full, 2: first, 3: middle, 4: last)``.
    """
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        payload, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending + payload)
            pending = b""
            yield record
        elif kind in (2, 3):
            pending += payload
        else:
            pos += left - 7 - length  # zero padding: skip to the next block


def _read_wandb(path: Path):
    """History rows, config and artifact names of an offline run."""
    history, config, artifacts = [], {}, []

    def key(item):
        return item.key or "/".join(item.nested_key)

    for record in _wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "config":
            config.update({key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "run":
            config.update({key(i): json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "artifact":
            artifacts.append(record.artifact.name)
    return history, config, artifacts


def test_trainer_none_evaluation_is_reported(shell, tiny_dir):
    shell.cell("llm_config", "", config(tiny_dir, trainer="{type: none}", adapter=""))
    shell.line("llm_train", "--data df --report-to tensorboard,mlflow")
    from llm_magic.runtime.session import get_session

    record = get_session().runs.runs[-1]
    assert record.kind == "evaluate" and set(record.tracking) == {"tensorboard", "mlflow"}
    tb = _tensorboard(record.tracking["tensorboard"])
    assert tb["scalars"]["test/loss"] == [(0, pytest.approx(record.metrics["test_loss"], rel=1e-5))]
    from mlflow import MlflowClient

    uri = record.tracking["mlflow"].split(" in ", 1)[1]
    run = MlflowClient(uri).get_run(record.tracking["mlflow"].split()[1])
    assert run.info.run_name == record.run_id
    assert run.data.metrics["test_loss"] == pytest.approx(record.metrics["test_loss"], rel=1e-6)
    assert run.data.params["config.trainer.type"] == "none"


def test_config_default_reports_and_flag_overrides_it(shell):
    shell.run_cell("%config TrainMagics.report_to = 'tensorboard'")
    shell.line("llm_train", "--data df")
    from llm_magic.runtime.session import get_session

    runs = get_session().runs.runs
    assert set(runs[-1].tracking) == {"tensorboard"}
    assert os.path.isdir(runs[-1].tracking["tensorboard"])
    shell.line("llm_train", "--data df --report-to none")
    assert get_session().runs.runs[-1].tracking == {}


def test_unknown_or_missing_tracker_is_one_line_and_changes_nothing(shell, monkeypatch):
    from llm_magic.runtime.session import get_session

    with pytest.raises(UsageError, match="unknown tracker 'tensorbord'.*tensorboard, mlflow, wandb, trackio"):
        shell.line("llm_train", "--data df --report-to tensorbord")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(UsageError, match=r"wandb is not installed.*pip install 'llm-magic\[wandb\]'"):
        shell.line("llm_train", "--data df --report-to tensorboard,wandb")
    assert len(get_session().runs) == 0
    assert not Path("llm_magic_runs").exists()


def test_only_rank_zero_reports(session, tmp_path, monkeypatch):
    from llm_magic.runtime.training.api import tracked
    from llm_magic.runtime.training.runs import RunRecord, TrainingState

    state = TrainingState()
    state.output_root = str(tmp_path)
    record = RunRecord(run_id="r", kind="finetune", config={"base_model": "x"})
    monkeypatch.setenv("RANK", "1")
    with tracked(("tensorboard",), record, state, None) as tracking:
        assert tracking is None
    monkeypatch.setenv("RANK", "0")
    with tracked(("tensorboard",), record, state, None) as tracking:
        assert tracking is not None and tracking.names == ("tensorboard",)
    assert set(record.tracking) == {"tensorboard"}


def test_flatten_config_uses_key_paths():
    from llm_magic.runtime.training.tracking import flatten_config

    flat = flatten_config({"trainer": {"learning_rate": 0.1}, "input_features": [{"name": "w"}],
                           "adapter": None, "targets": ["q", "v"]})
    assert flat == {"config.trainer.learning_rate": 0.1, "config.input_features.0.name": "w",
                    "config.adapter": "None", "config.targets": "['q', 'v']"}
