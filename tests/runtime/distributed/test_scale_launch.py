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
