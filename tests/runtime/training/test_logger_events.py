"""Typed logger events: numbers through log/log_dict, events through on_*; old-protocol loggers still work."""
from __future__ import annotations

from llm_magic.runtime.distributed.launch import _Tail
from llm_magic.runtime.distributed.worker import JsonlLogger
from llm_magic.runtime.training.loggers import BaseLogger, MetricLogger, RecordingLogger, metric_loggers


class OldStyle:
    """A logger of the earlier protocol: events came through ``log`` by name."""

    def __init__(self):
        self.seen = []

    def log(self, name, data, step):
        self.seen.append((name, data, step))

    def log_dict(self, payload, step):
        for key, value in payload.items():
            self.log(key, value, step)

    def close(self):
        self.seen.append(("closed", None, None))


def test_an_old_style_logger_gets_events_by_name():
    old = OldStyle()
    (wrapped,) = metric_loggers([old])
    assert isinstance(wrapped, MetricLogger)
    wrapped.on_max_steps(4, 0)
    wrapped.on_status("running", 0)
    wrapped.log_dict({"loss": 1.5}, 1)
    wrapped.on_best_step(1, 1)
    wrapped.close()
    assert old.seen == [("max_steps", 4, 0), ("status", "running", 0), ("loss", 1.5, 1), ("best_step", 1, 1),
                        ("closed", None, None)]


def test_a_typed_logger_is_used_as_it_is():
    typed = RecordingLogger()
    assert metric_loggers([typed]) == [typed] and isinstance(BaseLogger(), MetricLogger)


def test_jsonl_lines_replay_numbers_and_events_into_the_typed_methods(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = JsonlLogger(path)
    writer.on_max_steps(2, 0)
    writer.on_status("running", 0)
    writer.log_dict({"loss": 2.0}, 1)
    writer.on_samples([{"prompt": "a", "target": "b", "output": "c"}], 1)
    writer.on_best_step(1, 2)
    writer.on_status("finished", 2)
    writer.close()
    log = RecordingLogger()
    _Tail(path, [log]).pump()
    assert log.records == [("max_steps", 2, 0), ("status", "running", 0), ("loss", 2.0, 1),
                           ("samples", [{"prompt": "a", "target": "b", "output": "c"}], 1),
                           ("best_step", 1, 2), ("status", "finished", 2)]
