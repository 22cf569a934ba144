"""The live loss chart: what the kernel sends the page during a real run, the static picture it
leaves, the Stop button and history requests from the page, and the terminal line."""
from __future__ import annotations

import io
import json
import threading

import pytest

from tests.display_recorder import RecordingPublisher

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny Llama with LoRA, its tokenizer and the say-the-word task."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_magic.runtime.training.data import training_data_from_pairs
    from tests.tiny_models import build_tiny_model

    path = build_tiny_model("llama", tmp_path_factory.mktemp("plot-llama"))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    tokenizer.pad_token = tokenizer.eos_token
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(path)),
                           LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    prompts, targets = [f"Say {w}:" for w in WORDS], [f" {w}" for w in WORDS]
    data = training_data_from_pairs(tokenizer, {"train": (prompts, targets),
                                                "validation": (prompts[:3], targets[:3])})
    return model, tokenizer, data


class Wire:
    """Every widget message the kernel sends, JSON-encoded as the kernel would put it on the wire."""

    def __init__(self):
        self.messages: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def custom(self, kind: str) -> list[dict]:
        """The custom messages (``widget.send``) of one kind, in order."""
        with self.lock:
            return [data["content"] for msg_type, data in self.messages
                    if msg_type == "comm_msg" and data.get("method") == "custom" and data["content"].get("k") == kind]

    def received(self) -> dict[str, list[list[float]]]:
        """What the page has after all ``points`` messages: every series, in order."""
        series: dict[str, list] = {}
        for message in self.custom("points"):
            for name, points in message["d"].items():
                series.setdefault(name, []).extend(points)
        return series


@pytest.fixture
def wire(monkeypatch):
    import comm
    import ipywidgets.comm

    recorded = Wire()

    class RecordingComm(comm.base_comm.BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            with recorded.lock:
                recorded.messages.append((msg_type, json.loads(json.dumps(data, default=str))))

    monkeypatch.setattr(ipywidgets.comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    return recorded


@pytest.fixture
def notebook(ip, monkeypatch, wire):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "notebook")
    recorder = RecordingPublisher()
    monkeypatch.setattr(ip.shell, "display_pub", recorder)
    return recorder


def test_a_real_run_streams_its_points_once_and_leaves_a_static_picture(tiny, notebook, wire, tmp_path):
    from llm_magic.runtime.evaluation.evaluate import sample_generator
    from llm_magic.runtime.training.runner import run_job
    from llm_magic.runtime.training.settings import settings_from_config
    from llm_magic.widgets.loss_plot import LossPlot
    from tests.runtime.training.training_helpers import make_job, make_state

    model, tokenizer, data = tiny
    plot = LossPlot("run-1", outcome=lambda: "finished")
    assert plot.notebook
    plot.show()
    live = notebook.events[0]
    # The live display carries fallbacks for readers without widgets (nbconvert, GitHub).
    assert WIDGET_MIME in live["data"] and "text/plain" in live["data"] and "text/html" in live["data"]
    settings = settings_from_config({"type": "finetune", "learning_rate": 0.01, "epochs": 2, "batch_size": 4,
                                     "early_stop": -1})
    run_job(make_job(settings, data, output_dir=str(tmp_path), run_id="run-1", sample_every=2),
            model, tokenizer, make_state(), loggers=[plot], sample_generate=sample_generator(tokenizer, 3))
    plot.on_status("finished", 4)

    assert [s for s, _ in plot.points["loss"]] == [1, 2, 3, 4]
    assert [s for s, _ in plot.points["eval_loss"]] == [2, 4]
    assert plot.max_steps == 4 and plot.step == 4 and plot.status == "finished"
    evals = dict(plot.points["eval_loss"])
    assert plot.best_step == min(evals, key=evals.get)
    assert [step for step, _ in plot.samples] == [2, 4]
    plot.close()

    # The page received every point of the drawn series exactly once, nothing else.
    received = wire.received()
    assert set(received) == {"loss", "eval_loss", "learning_rate", "epoch"}
    for name, points in received.items():
        assert [(s, pytest.approx(v, rel=1e-5)) for s, v in points] == plot.points[name], name
    for message in wire.custom("points"):
        assert message["t"] > 1e12  # the kernel's wall clock in ms: the page measures its lag with it
    # The widget state the page draws around the chart.
    states = [data["state"] for msg_type, data in wire.messages if msg_type == "comm_msg" and data.get("method") == "update"]
    merged = {k: v for state in states for k, v in state.items()}
    assert merged["max_steps"] == 4 and merged["best_step"] == plot.best_step and merged["status"] == "finished"
    assert merged["samples"]["step"] == 4 and [r["prompt"] for r in merged["samples"]["rows"]] == \
        ["Say cat:", "Say dog:", "Say fox:"]
    assert merged["status_line"].startswith("finished: 4/4 steps in ")

    # The static picture replaces the widget in place, without the widget's mime type (a reopened
    # notebook has no widget state), and the summary is the text form.
    final = notebook.events[-1]
    assert final["update"] and final["display_id"] == live["display_id"]
    assert WIDGET_MIME not in final["data"]
    svg = final["data"]["image/svg+xml"]
    assert svg.startswith("<svg") and "Training loss" in svg and "run-1" not in svg
    assert f"best checkpoint (step {plot.best_step})" in svg
    summary = final["data"]["text/plain"]
    assert summary == plot.summary() and summary.startswith("finished: 4/4 steps in 0:")
    assert f"final loss {plot.points['loss'][-1][1]:.4f}" in summary
    assert f"best validation loss {evals[plot.best_step]:.4f} at step {plot.best_step}" in summary
    assert "tokens/s" in summary and summary in svg
    assert ("comm_close", {}) in [(t, d) for t, d in wire.messages if t == "comm_close"]


def test_points_logged_in_a_burst_go_in_few_messages_and_the_last_ones_follow_by_timer(wire):
    from llm_magic.widgets.loss_chart import PointSender

    arrived = threading.Event()
    batches = []

    def send(points, logged_at):
        batches.append(points)
        if any(s == 50 for s, _ in points.get("loss", [])):
            arrived.set()

    sender = PointSender(send, interval=0.2)
    for step in range(1, 51):
        sender.add(step, {"loss": 1.0 / step})
    # Nothing logs after step 50: the timer, not a next log, must deliver its point.
    assert arrived.wait(10), f"the last point never left the kernel: {batches}"
    assert len(batches) < 50 / 5, f"{len(batches)} messages for 50 points logged at once"
    assert [s for batch in batches for s, _ in batch["loss"]] == list(range(1, 51))
    sender.close()
    sender.add(51, {"loss": 0.1})
    assert all(s != 51 for batch in batches for s, _ in batch["loss"])


def test_stop_and_history_requests_from_the_page(notebook, wire):
    from llm_magic.widgets.loss_plot import LossPlot

    stops = []
    plot = LossPlot("r", on_stop=lambda: stops.append(True))
    plot.show()
    plot.on_max_steps(10, 0)
    plot.on_status("running", 0)
    plot.log_dict({"loss": 2.0, "learning_rate": 1e-3, "epoch": 0.1}, 1)
    plot.log_dict({"loss": 1.5, "learning_rate": 1e-3, "epoch": 0.2}, 2)
    # What the page sends: {"k": "history"} from a view opened mid-run, {"k": "stop"} from its button.
    plot.widget._handle_custom_msg({"k": "history"}, [])
    history = wire.custom("history")[-1]["d"]
    assert history["loss"] == [[1, 2.0], [2, 1.5]] and history["epoch"] == [[1, 0.1], [2, 0.2]]
    plot.widget._handle_custom_msg({"k": "stop"}, [])
    assert stops == [True]
    plot.on_status("stopped", 2)
    plot.widget._handle_custom_msg({"k": "stop"}, [])  # a late click on a stopped run does nothing
    assert stops == [True]


def test_a_run_that_fails_says_so_in_its_picture(notebook, wire):
    from llm_magic.widgets.loss_plot import LossPlot

    plot = LossPlot("r", outcome=lambda: "failed")
    plot.show()
    plot.on_status("running", 0)
    plot.log_dict({"loss": 2.0}, 1)
    plot.close()  # closed without a final status, as after an exception
    final = notebook.events[-1]["data"]
    assert final["text/plain"].startswith("failed: 1 steps in ") and "final loss 2.0000" in final["text/plain"]
    assert "failed: 1 steps" in final["image/svg+xml"]


def _screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: ``\\r`` returns to the line start and overwrites."""
    lines, current = [], []
    col = 0
    for ch in text:
        if ch == "\n":
            lines.append("".join(current))
            current, col = [], 0
        elif ch == "\r":
            col = 0
        else:
            if col < len(current):
                current[col] = ch
            else:
                current.append(ch)
            col += 1
    if current:
        lines.append("".join(current))
    return lines


def test_the_terminal_line_is_rewritten_cleanly_and_ends_once():
    from llm_magic.runtime.training.loggers import TextLogger

    stream = io.StringIO()
    text = TextLogger(stream=stream, min_interval=0.0)
    text.on_max_steps(12, 0)
    text.on_status("running", 0)
    for step in range(1, 13):
        # Long numbers first, short ones later: a shorter line must blank the rest of the longer.
        text.log_dict({"loss": 123.456789 / step ** 3, "tokens_per_second": 10_000_000 / step ** 4,
                       "learning_rate": 1e-3, "epoch": step / 6}, step)
        if step % 6 == 0:
            text.log_dict({"eval_loss": 0.7}, step)
    text.on_best_step(12, 12)
    text.log_dict({"test_loss": 0.5}, 12)
    text.on_status("finished", 12)
    text.close()
    text.close()
    screen = _screen(stream.getvalue())
    assert len(screen) == 1, screen  # one line, ended once
    line = screen[0].rstrip()
    assert line.startswith("step 12/12 | epoch 2.00 | loss 0.0714 | eval_loss 0.7000 | lr 1.00e-03 | tok/s 482")
    assert line.endswith("| best step 12 | finished in 0:00") and "ETA" not in line
    assert stream.getvalue().count("\n") == 1


def test_terminal_fallback_of_the_plot_prints_the_line(capsys):
    from llm_magic.widgets.loss_plot import LossPlot

    plot = LossPlot("r", notebook=False)
    plot.on_max_steps(4, 0)
    for step in range(1, 5):
        plot.log_dict({"loss": 2.0 / step, "learning_rate": 1e-3, "epoch": step / 4}, step)
    plot.log_dict({"eval_loss": 0.7}, 4)
    plot.close()
    screen = _screen(capsys.readouterr().out)
    assert len(screen) == 1 and screen[0].startswith("step 4/4") and "eval_loss 0.7000" in screen[0]
    assert screen[0].rstrip().endswith("ended in 0:00")
    assert plot.points["loss"][-1] == (4, 0.5) and plot.widget is None


def test_a_preference_run_streams_its_rewards_and_pictures_them(notebook, wire):
    from llm_magic.widgets.loss_plot import LossPlot

    plot = LossPlot("r")
    plot.show()
    plot.on_status("running", 0)
    for step in range(1, 5):
        plot.log_dict({"loss": 0.7 - 0.1 * step, "rewards/margins": 0.2 * step, "rewards/accuracies": 0.25 * step,
                       "rewards/chosen": 0.1 * step, "rewards/rejected": -0.1 * step}, step)
    plot.log_dict({"eval_loss": 0.4, "eval_rewards/margins": 0.7, "eval_rewards/accuracies": 1.0}, 4)
    plot.on_status("finished", 4)
    plot.close()
    received = wire.received()
    assert [v for _, v in received["rewards/margins"]] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert received["eval_rewards/accuracies"] == [[4, 1.0]]
    final = notebook.events[-1]["data"]
    assert "reward margin 0.800, accuracy 1.00" in final["text/plain"]
    assert "validation reward margin 0.700, accuracy 1.00" in final["text/plain"]
    svg = final["image/svg+xml"]
    assert "Preference" in svg and "margin (chosen - rejected)" in svg
