"""One progress system: runtime tasks drawn as plain HTML in a notebook and one clean line in a terminal."""
from __future__ import annotations

import io

import pytest
from IPython.core.interactiveshell import InteractiveShell

from llm_magic.runtime import progress
from llm_magic.widgets.progress import ProgressDisplay, html_line, text_line
from tests.display_recorder import RecordingPublisher


class Recorder:
    """A listener that keeps what it was told."""

    def __init__(self):
        self.events = []

    def begin(self, task):
        self.events.append(("begin", task.description, task.done))

    def update(self, task):
        self.events.append(("update", task.description, task.done))

    def end(self, task):
        self.events.append(("end", task.description, task.done, task.failed))


def test_listener_sees_begin_counts_and_end_even_on_failure():
    seen = Recorder()
    with progress.listening(seen):
        with progress.task("Tokenizing", total=3) as step:
            step.advance(2)
        with pytest.raises(ValueError), progress.task("Loading"):
            raise ValueError("boom")
    assert seen.events == [("begin", "Tokenizing", 0), ("update", "Tokenizing", 2),
                           ("end", "Tokenizing", 2, False), ("begin", "Loading", 0),
                           ("end", "Loading", 0, True)]


def test_terminal_gets_one_line_that_ends_once_with_no_leftovers():
    out = io.StringIO()
    display = ProgressDisplay(notebook=False, stream=out, min_interval=0)
    with progress.listening(display):
        with progress.task("Generating answers", total=40) as step:
            for _ in range(4):
                step.advance(10)
            step.describe("Gen")  # a shorter line must not leave the longer one's tail behind
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    final = text.split("\r")[-1]
    assert final.startswith("Gen: done 40/40 in ") and "[" not in final
    # Each redraw pads over the previous one.
    draws = text.rstrip("\n").split("\r")[1:]
    assert all(len(b) >= len(a.rstrip()) for a, b in zip(draws, draws[1:]))


def test_nested_task_ends_the_outer_line_first():
    out = io.StringIO()
    display = ProgressDisplay(notebook=False, stream=out, min_interval=0)
    with progress.listening(display):
        with progress.task("Training"):
            with progress.task("Loading llm-magic/tiny"):
                pass
    lines = out.getvalue().split("\n")
    assert lines[0].startswith("\rTraining …")
    assert lines[1].split("\r")[-1].startswith("Loading llm-magic/tiny: done")
    assert out.getvalue().endswith("\n")


def test_notebook_draws_plain_html_not_a_widget(monkeypatch):
    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    display = ProgressDisplay(notebook=True, min_interval=0)
    with progress.listening(display):
        with progress.task("Predicting", total=4) as step:
            step.advance(4)
    bundles = [event["data"] for event in recorder.events]
    assert len({event["display_id"] for event in recorder.events}) == 1, "one output, updated in place"
    assert bundles, "nothing was displayed"
    for bundle in bundles:
        assert set(bundle) == {"text/plain", "text/html"}, "a widget model would be lost in a saved notebook"
    assert "Predicting: done 4/4" in bundles[-1]["text/plain"]
    assert "width:100.0%" in bundles[-1]["text/html"]


def test_lines_without_a_total_have_no_bar():
    task = progress.Task("Loading llm-magic/tiny")
    assert "[" not in text_line(task) and "width:" not in html_line(task)


def test_load_ext_installs_the_display_and_model_loading_reports(tmp_path, capsys, monkeypatch):
    from llm_magic.runtime.config import load_config
    from llm_magic.runtime.models.loader import load_model

    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "llm_magic")
    config = load_config("model_type: llm\nbase_model: llm-magic/tiny\n"
                         "input_features: [{name: q, type: text}]\noutput_features: [{name: a, type: text}]\n")
    load_model(config)
    err_out = capsys.readouterr()
    assert "Loading llm-magic/tiny: done in" in err_out.out
    # transformers' own tqdm bar ("Loading weights: 100%|...") is silenced.
    assert "Loading weights" not in err_out.err + err_out.out
