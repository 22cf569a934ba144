"""--processes N with --report-to: only rank 0 reports, under the notebook's run id and runs folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.distributed.conftest import scale_config


@pytest.mark.slow
def test_only_rank_zero_reports_a_two_process_run(session, llama_dir, frame, workdir, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    session.set_config(scale_config(llama_dir, batch_size=2))
    record = session.train(frame, processes=2, loggers=[], report_to="tensorboard")

    assert record.status == "finished" and record.global_step == 3
    folder = Path(record.tracking["tensorboard"])
    # The notebook's run folder (not the job's checkpoints/train), and one writer: rank 0's.
    assert folder == (workdir / "llm_magic_runs" / record.run_id / "tensorboard").resolve()
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3]
    assert [e.step for e in events.Scalars("test/loss")] == [3]
    assert any(n.startswith("Reported to tensorboard:") for n in record.notes)
