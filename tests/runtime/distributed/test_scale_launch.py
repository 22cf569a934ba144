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
    session.set_config(scale_config(llama_dir, batch_size=2))
    model = session.load_model().model
    start = _trainable(model)
    log = RecordingLogger()

    record = session.train(frame, processes=2, loggers=[log])

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


def test_stop_ends_a_background_launch(session, llama_dir, frame, workdir, monkeypatch):
    import time

    from llm_magic.runtime.training.runs import training_state

    # A "worker" that logs one step as rank 0 would, then hangs until it is ended.
    _fake_launch(monkeypatch, "import json, time\n"
                              "with open('metrics.jsonl', 'a') as f:\n"
                              "    f.write(json.dumps({'log_dict': {'loss': 2.5}, 'step': 1}) + '\\n')\n"
                              "    f.write('{\"log\": \"max_st')\n"  # a line still being written
                              "time.sleep(120)\n")
    session.set_config(scale_config(llama_dir))
    log = RecordingLogger()
    record = session.train(frame, processes=2, background=True, loggers=[log])
    deadline = time.monotonic() + 30
    while not log.series("loss") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.series("loss") == [(1, 2.5)] and record.global_step == 1  # the half line was not read
    assert session.busy_reason and session.stop_training(wait=30)
    assert record.status == "stopped" and "keeps no checkpoint" in record.notes[-1]
    assert session.busy_reason is None and log.closed and training_state(session).thread is not None
