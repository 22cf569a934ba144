"""StopCallback in a multi-process run: every process stops on the agreed answer only."""
from __future__ import annotations

import threading

from transformers import TrainerControl, TrainerState, TrainingArguments

from llm_magic.runtime.training import callbacks


def _step_end(callback, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    state, control = TrainerState(), TrainerControl()
    state.global_step = 4
    callback.on_step_end(args, state, control)
    callback.on_log(args, state, control)
    return control


def test_a_request_that_arrives_after_the_all_reduce_waits_for_the_next_step(tmp_path, monkeypatch):
    """The stop-file watcher may set the event between the all-reduce and the decision; this
    process must then go on like the others (which saw no request), or it would stop alone and
    leave them waiting in the next gradient all-reduce."""
    event = threading.Event()

    def all_reduce_then_watcher_fires(flag, device):
        event.set()  # the watcher thread, just after the processes agreed
        return flag  # the agreed answer: nobody had asked yet

    monkeypatch.setattr(callbacks, "_world_size", lambda: 2)
    monkeypatch.setattr(callbacks, "_any_process", all_reduce_then_watcher_fires)
    stop = callbacks.StopCallback(event)
    control = _step_end(stop, tmp_path)
    assert not control.should_training_stop and not control.should_save and stop.stopped_at is None

    # At the next step end the request is agreed by all: stop and checkpoint together.
    monkeypatch.setattr(callbacks, "_any_process", lambda flag, device: flag)
    control = _step_end(stop, tmp_path)
    assert control.should_training_stop and control.should_save and stop.stopped_at == 4


def test_another_process_asking_stops_this_one(tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks, "_world_size", lambda: 2)
    monkeypatch.setattr(callbacks, "_any_process", lambda flag, device: True)  # rank 1 saw the file
    event = threading.Event()
    control = _step_end(callbacks.StopCallback(event), tmp_path)
    assert control.should_training_stop and control.should_save and event.is_set()
