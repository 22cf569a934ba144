"""Session.train end to end on the real config/model/data pipeline: QLoRA, background runs, LoRA+."""
from __future__ import annotations

import time

import pandas as pd
import pytest
import torch

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.training.loggers import RecordingLogger
from tests.runtime.training.training_helpers import WORDS, trainable_state


def config(model_dir, **extra):
    cfg = {
        "model_type": "llm", "base_model": str(model_dir),
        "input_features": [{"name": "word", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": "Say {word}:"},
        "adapter": {"type": "lora", "r": 8, "dropout": 0.0},
        "trainer": {"type": "finetune", "learning_rate": 0.01, "epochs": 2, "batch_size": 4},
        "preprocessing": {"split": {"type": "random", "probabilities": [0.75, 0.125, 0.125]}},
        "generation": {"max_new_tokens": 4, "do_sample": False},
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
def frame():
    return pd.DataFrame({"word": WORDS + ["red", "blue", "green", "sun"],
                         "answer": [f" {w}" for w in WORDS + ["red", "blue", "green", "sun"]]})


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_qlora_4bit_base_with_lora_trains_on_cpu(session, llama_dir, frame, workdir):
    session.set_config(config(llama_dir, quantization={"bits": 4, "bnb_4bit_compute_dtype": "float32"}))
    bundle = session.load_model()
    assert "4" in bundle.quantization
    before = trainable_state(bundle.model)
    log = RecordingLogger()
    record = session.train(frame, loggers=[log])
    losses = [v for _, v in log.series("loss")]
    assert record.status == "finished" and record.global_step == 6
    assert losses[-1] < losses[0]
    after = trainable_state(bundle.model)
    assert any(not torch.equal(after[n], before[n]) for n in before)
    assert all("lora" in n for n in after)  # only the adapter trained; the 4-bit base is frozen
    assert "test_exact_match" in record.metrics


def test_background_run_refuses_other_work_and_stops_on_request(session, llama_dir, frame, workdir):
    session.set_config(config(llama_dir, trainer={"type": "finetune", "learning_rate": 0.01,
                                                  "train_steps": 400, "batch_size": 2}))
    record = session.train(frame, background=True, loggers=[RecordingLogger()])
    try:
        assert record.status == "running" and session.busy_reason
        with pytest.raises(LlmMagicError, match="Cannot generate now: training run"):
            session.check_idle("generate")
        with pytest.raises(LlmMagicError, match="Cannot change the config now"):
            session.set_config(config(llama_dir))
        deadline = time.monotonic() + 60
        while record.global_step < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        from llm_magic.runtime.training.api import status

        snapshot = status(session)
        assert snapshot.status == "running" and snapshot.max_steps == 400 and snapshot.step >= 2
    finally:
        assert session.stop_training(wait=60)
    assert record.status == "stopped" and record.global_step < 400
    assert session.busy_reason is None
    assert record.checkpoint and (workdir / record.checkpoint).is_dir()
    assert session.stop_training() is False  # nothing running any more


def test_loraplus_gives_b_matrices_a_higher_learning_rate(lora_model):
    from llm_magic.runtime.training.optimizers import build_optimizer

    model = lora_model()
    optimizer = build_optimizer(model, {"type": "adamw", "weight_decay": 0.0}, 0.001, loraplus_lr_ratio=16)
    names = {id(p): n for n, p in model.named_parameters()}
    rates = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            rates[names[id(p)]] = group["lr"]
    assert {lr for n, lr in rates.items() if "lora_A" in n} == {0.001}
    assert {lr for n, lr in rates.items() if "lora_B" in n} == {0.016}


def test_background_run_trains_on_the_callers_thread_count(session, llama_dir, frame, workdir):
    """OpenMP's thread count is per thread: a limit set in the kernel's thread (threadpoolctl,
    as scikit-learn users do) must reach the training thread."""
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    if torch.get_num_threads() < 2:
        pytest.skip("needs a default of 2+ threads to tell a limit of 1 apart")

    class ThreadsSeen(RecordingLogger):
        def log_dict(self, payload, step):
            seen.add((threading.current_thread().name.startswith("llm_magic-train"), torch.get_num_threads()))

    seen: set = set()
    session.set_config(config(llama_dir))
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        record = session.train(frame, background=True, loggers=[ThreadsSeen()])
        record_thread = session.training.thread
        record_thread.join(120)
    assert record.status == "finished" and seen == {(True, 1)}


def test_a_stopped_run_keeps_the_weights_it_reached_not_the_best_checkpoint(session, llama_dir, workdir):
    """Validation gets worse as the run fits its training rows, so the best checkpoint is the first;
    stopping later must keep the later weights (the user asked to stop, not to roll back)."""
    words = WORDS + ["red", "blue", "green", "sun"]
    frame = pd.DataFrame({"word": words, "answer": [f" {w}" for w in WORDS] + [" zebra zebra"] * 4,
                          "split": [0] * len(WORDS) + [1] * 4})
    session.set_config(config(llama_dir, trainer={"type": "finetune", "learning_rate": 0.02, "train_steps": 12,
                                                  "batch_size": 2, "steps_per_checkpoint": 1, "early_stop": -1},
                              preprocessing={"split": {"type": "fixed", "column": "split"}}))

    class StopAtFive(RecordingLogger):
        def log_dict(self, payload, step):
            super().log_dict(payload, step)
            if step == 5 and "loss" in payload:
                session.stop_training()

    log = StopAtFive()
    record = session.train(frame, loggers=[log])
    assert record.status == "stopped" and record.global_step == 5
    assert record.best_step is not None and record.best_step < 5  # the best checkpoint is an earlier one
    from safetensors.torch import load_file

    saved = load_file(str(workdir / record.checkpoint / "adapter_model.safetensors"))
    weights = trainable_state(session.load_model().model)
    kept = {n.replace(".default", ""): w for n, w in weights.items()}
    assert all(torch.equal(kept[name], value) for name, value in saved.items())
