"""Multi-process training from the session: two CPU processes (gloo) through the exported train.py."""
from __future__ import annotations

import pytest
import torch

from llm_magic.runtime.distributed.worker import START_WEIGHTS_NAME, load_trainable_weights
from llm_magic.runtime.training.loggers import RecordingLogger
from tests.runtime.distributed.conftest import scale_config


def _trainable(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.slow
def test_two_processes_match_one_process_with_double_batch(session, llama_dir, frame, workdir):
    config = scale_config(llama_dir, batch_size=2, ludwig_version="0.10.0")
    # The same learning rate on both sides (Ludwig's default, linear, would double it on 2 processes).
    config["trainer"]["learning_rate_scaling"] = "constant"
    session.set_config(config)
    model = session.load_model().model
    start = _trainable(model)
    log = RecordingLogger()

    record = session.train(frame, processes=2, loggers=[log])
    # The workers' run notes come back: here, the key accepted without effect.
    assert any(n.startswith("Accepted without effect") and "ludwig_version" in n for n in record.notes)

    # 12 train rows, 2 rows per process per step, 2 processes: 3 optimizer steps.
    assert record.status == "finished" and record.global_step == 3 and record.max_steps == 3
    losses = [v for _, v in log.series("loss")]
    assert len(losses) == 3 and log.closed  # the live plot was fed from rank 0, step by step
    assert session.history["run_id"].eq(record.run_id).sum() == 3
    assert "test_loss" in record.metrics and record.report is not None
    two_procs = _trainable(model)
    assert any(not torch.equal(two_procs[n], start[n]) for n in start)  # weights came back

    # The same steps in one process with twice the batch, from the same start weights.
    job = workdir / record.output_dir / "job"
    load_trainable_weights(model, job / START_WEIGHTS_NAME)
    assert all(torch.equal(p, start[n]) for n, p in _trainable(model).items())
    session.set_config(scale_config(llama_dir, batch_size=4))
    one = RecordingLogger()
    single = session.train(frame, loggers=[one])
    assert single.global_step == 3
    assert [v for _, v in one.series("loss")] == pytest.approx(losses, rel=1e-4)
    one_proc = _trainable(model)
    for name in start:
        torch.testing.assert_close(two_procs[name], one_proc[name], rtol=1e-4, atol=1e-5)

    # Rank 0's run folder is an ordinary saved run: a fresh session loads the two-process weights.
    from llm_magic.runtime.session import Session

    fresh = Session()
    fresh.load(job / "run")
    loaded = _trainable(fresh.load_model().model)
    for name in start:
        torch.testing.assert_close(loaded[name], two_procs[name])


class _StopAt:
    """A logger that stops the run once it has seen the loss of step ``step``: with a real
    SIGINT to this process (what Ctrl-C and the kernel's stop button send), or through the API."""

    def __init__(self, session, step, sigint=False):
        self.session, self.step, self.sigint, self.sent = session, step, sigint, False

    def log(self, name, data, step):
        pass

    def log_dict(self, payload, step):
        if "loss" in payload and step >= self.step and not self.sent:
            self.sent = True
            if self.sigint:
                import os
                import signal

                os.kill(os.getpid(), signal.SIGINT)
            else:
                self.session.stop_training()

    def close(self):
        pass


@pytest.mark.slow
def test_stop_checkpoints_every_process_and_resume_matches_an_uninterrupted_run(session, llama_dir, workdir,
                                                                               monkeypatch):
    import pandas as pd

    from tests.runtime.distributed.conftest import WORDS

    # 12 train rows, 2 validation rows (for the samples; evaluation is off so nothing else differs).
    frame = pd.DataFrame({"word": WORDS[:14], "answer": [f" {w}" for w in WORDS[:14]],
                          "split": [0] * 12 + [1] * 2})
    # learning_rate_scaling is left at Ludwig's default, linear: 2 processes train at 0.02.
    trainer = {"type": "finetune", "learning_rate": 0.01, "epochs": 8, "batch_size": 2,
               "should_shuffle": False, "skip_all_evaluation": True}
    session.set_config(scale_config(llama_dir, trainer=trainer))
    model = session.load_model().model
    start = _trainable(model)
    log = RecordingLogger()

    # The kernel's stop button: a SIGINT while the notebook waits for the processes.
    stopped = session.train(frame, processes=2, sample_every=2, loggers=[log, _StopAt(session, 3, sigint=True)])

    # Both processes stopped after the same step and wrote one checkpoint (each its RNG state).
    assert stopped.status == "stopped" and 3 <= stopped.global_step < stopped.max_steps == 24
    checkpoint = workdir / stopped.checkpoint
    assert checkpoint.name == f"checkpoint-{stopped.global_step}"
    assert (checkpoint / "rng_state_0.pth").exists() and (checkpoint / "rng_state_1.pth").exists()
    assert "--resume --processes 2" in stopped.notes[-1]
    assert any("learning rate is 0.01 x 2 = 0.02" in n for n in stopped.notes)
    assert [v for _, v in log.series("learning_rate")] == pytest.approx([0.02] * len(log.series("learning_rate")))
    assert log.series("learning_rate")
    at_stop = _trainable(model)
    assert any(not torch.equal(at_stop[n], start[n]) for n in start)  # the weights reached came back
    samples = log.series("samples")
    assert samples and samples[0][0] == 2 and {"prompt", "target", "output"} <= set(samples[0][1][0])

    resumed = session.train(processes=2, resume=True, loggers=[log])
    assert resumed is stopped and resumed.status == "finished" and resumed.global_step == 24
    steps = [s for s, _ in log.series("loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 24  # the plot continued where it stopped
    final = _trainable(model)

    # One process with the doubled batch, never stopped, from the same start weights (the job's
    # start_weights file now holds the weights at the stop: the resumed launch rewrote it).
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in start:
                param.copy_(start[name])
    session.set_config(scale_config(llama_dir, trainer=dict(trainer, batch_size=4, learning_rate=0.02)))
    # Several processes compute the loss through the model's own forward (DDP must see it), so
    # the reference does too: the label-only loss is equal in exact arithmetic, not bit for bit.
    from llm_magic.runtime.training.trainer import LlmTrainer

    monkeypatch.setattr(LlmTrainer, "label_only_loss", False)
    single = session.train(frame)
    assert single.global_step == 24
    uninterrupted = _trainable(model)
    # 24 Adam steps at 0.02 in float32: the all-reduce sums in another order than one batch of 4,
    # which drifts the weights by up to ~3e-4; the run itself moves them by more than 0.05, so the
    # tolerance still tells a faithful resume from one that changed the trajectory.
    assert max((final[n] - start[n]).abs().max().item() for n in start) > 0.05
    for name in start:
        torch.testing.assert_close(final[name], uninterrupted[name], rtol=1e-2, atol=2e-3)


def test_one_process_resumes_from_a_checkpoint_path(session, llama_dir, frame, workdir):
    from llm_magic.errors import LlmMagicError

    trainer = {"type": "finetune", "learning_rate": 0.02, "epochs": 2, "batch_size": 2, "should_shuffle": False}
    session.set_config(scale_config(llama_dir, trainer=trainer))
    stopped = session.train(frame, loggers=[_StopAt(session, 2)])
    assert stopped.status == "stopped" and stopped.checkpoint
    with pytest.raises(LlmMagicError, match="not a trainer checkpoint"):
        session.train(frame, resume=str(workdir))
    resumed = session.train(frame, resume=stopped.checkpoint, loggers=[])
    assert resumed is not stopped and resumed.status == "finished" and resumed.global_step == 12


def test_sample_every_is_refused_where_rank_0_holds_a_shard(session, llama_dir, frame, workdir):
    from llm_magic.errors import LlmMagicError

    session.set_config(scale_config(llama_dir, backend={"strategy": {"type": "fsdp"}}))
    with pytest.raises(LlmMagicError, match=r"--sample-every with FSDP.*rank 0 cannot generate alone"):
        session.train(frame, processes=2, sample_every=5)


def _fake_launch(monkeypatch, code):
    """Replace the torchrun command by a short Python program (a crash, a hang) to test the kernel side."""
    import sys

    from llm_magic.runtime.distributed import launch

    monkeypatch.setattr(launch, "launch_command", lambda *a, **k: [sys.executable, "-c", code])


def test_failed_launch_reports_its_output_and_leaves_the_session(session, llama_dir, frame, workdir, monkeypatch):
    from llm_magic.errors import LlmMagicError

    _fake_launch(monkeypatch, "import sys; print('worker exploded: CUDA error 42'); sys.exit(3)")
    session.set_config(scale_config(llama_dir))
    model = session.load_model().model
    start = _trainable(model)
    with pytest.raises(LlmMagicError, match=r"(?s)exit code 3.*weights are unchanged.*worker exploded"):
        session.train(frame, processes=2)
    from llm_magic.runtime.training.runs import training_state

    assert training_state(session).runs[-1].status == "failed"
    assert all(torch.equal(p, start[n]) for n, p in _trainable(model).items())
    assert session.data is None and session.busy_reason is None


def test_stop_ends_a_background_launch_that_ignores_the_stop_file(session, llama_dir, frame, workdir, monkeypatch):
    import time

    from llm_magic.runtime.distributed import launch
    from llm_magic.runtime.training.runs import training_state

    # A "worker" that logs one step as rank 0 would, notes the stop file, then hangs until ended.
    _fake_launch(monkeypatch, "import json, os, time\n"
                              "with open('metrics.jsonl', 'a') as f:\n"
                              "    f.write(json.dumps({'log_dict': {'loss': 2.5}, 'step': 1}) + '\\n')\n"
                              "    f.write('{\"log\": \"max_st')\n"  # a line still being written
                              "while not os.path.exists('STOP'):\n"
                              "    time.sleep(0.05)\n"
                              "open('saw-stop', 'w').close()\n"
                              "time.sleep(120)\n")
    monkeypatch.setattr(launch, "STOP_GRACE_SECONDS", 1)
    session.set_config(scale_config(llama_dir))
    log = RecordingLogger()
    record = session.train(frame, processes=2, background=True, loggers=[log])
    deadline = time.monotonic() + 30
    while not log.series("loss") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.series("loss") == [(1, 2.5)] and record.global_step == 1  # the half line was not read
    assert session.busy_reason and session.stop_training(wait=30)
    job = workdir / record.output_dir / "job"
    assert (job / "saw-stop").exists()  # the stop was asked through the file first
    assert record.status == "stopped" and "were ended" in record.notes[-1]
    assert session.busy_reason is None and log.closed and training_state(session).thread is not None


def test_settings_give_the_stop_grace_and_the_processes_cache(session, llama_dir, frame, workdir, monkeypatch,
                                                              tmp_path):
    from llm_magic.runtime.settings import Settings

    # A "worker" that writes down its cache variable, then ignores the stop file until it is ended.
    _fake_launch(monkeypatch, "import os, time\n"
                              "open('cache-seen', 'w').write(os.environ.get('LLM_MAGIC_CACHE', ''))\n"
                              "time.sleep(120)\n")
    monkeypatch.setenv("LLM_MAGIC_CACHE", str(tmp_path / "from-env"))
    session.configure(Settings(stop_grace=1, cache_dir=str(tmp_path / "chosen")))
    session.set_config(scale_config(llama_dir))
    record = session.train(frame, processes=2, background=True, loggers=[RecordingLogger()])
    job = workdir / record.output_dir / "job"
    import time

    deadline = time.monotonic() + 30
    while not (job / "cache-seen").exists() and time.monotonic() < deadline:  # the worker has started
        time.sleep(0.05)
    assert session.stop_training(wait=30)
    assert record.status == "stopped" and "within 1 s and were ended" in record.notes[-1]
    assert (job / "cache-seen").read_text() == str(tmp_path / "chosen")


@pytest.mark.slow
def test_a_failed_resume_leaves_the_checkpoint_resumable(session, llama_dir, frame, workdir, monkeypatch):
    from llm_magic.errors import LlmMagicError

    trainer = {"type": "finetune", "learning_rate": 0.02, "epochs": 2, "batch_size": 2, "should_shuffle": False}
    session.set_config(scale_config(llama_dir, trainer=trainer))
    stopped = session.train(frame, loggers=[_StopAt(session, 2)])
    checkpoint, stopped_step = stopped.checkpoint, stopped.global_step
    assert checkpoint.startswith("/")  # run records hold absolute paths (trust issue, case 7)
    from llm_magic.runtime.distributed import launch

    real_launch = launch.launch_command
    _fake_launch(monkeypatch, "import sys; print('no GPU after all'); sys.exit(3)")
    with pytest.raises(LlmMagicError, match="exit code 3"):
        session.train(resume=True, processes=2)
    assert stopped.status == "failed" and stopped.checkpoint == checkpoint
    # The one-process checkpoint continues on two processes.
    monkeypatch.setattr(launch, "launch_command", real_launch)
    resumed = session.train(resume=True, processes=2, loggers=[])
    assert resumed is stopped and resumed.status == "finished"
    assert resumed.global_step > stopped_step and resumed.checkpoint != checkpoint


def test_a_dpo_run_trains_on_two_processes(session, llama_dir, frame, workdir):
    pytest.importorskip("trl")
    prefs = frame.assign(rejected=" no idea")
    config = scale_config(llama_dir, batch_size=2)
    config["trainer"] = {**config["trainer"], "type": "dpo", "learning_rate": 0.01, "epochs": 2}
    session.set_config(config)
    start = _trainable(session.load_model().model)
    log = RecordingLogger()
    record = session.train(prefs, processes=2, loggers=[log])
    # 12 train rows, 2 per process per step, 2 processes, 2 epochs: 6 optimizer steps.
    assert record.status == "finished" and record.global_step == 6
    margins = [v for _, v in log.series("rewards/margins")]
    assert len(margins) == 6 and margins[-1] > margins[0]  # TRL's metrics came back from rank 0
    after = _trainable(session.load_model().model)
    assert any(not torch.equal(after[n], start[n]) for n in start)
    assert record.metrics["test_reward_margin"] > 0
