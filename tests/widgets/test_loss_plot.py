"""The live loss plot: recorded state after a real run, throttling, final PNG, Stop button, text mode."""
from __future__ import annotations

import pytest
from tests.display_recorder import RecordingPublisher

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]


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


@pytest.fixture
def notebook(ip, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "notebook")
    recorder = RecordingPublisher()
    monkeypatch.setattr(ip.shell, "display_pub", recorder)
    return recorder


def test_recorded_state_after_a_run_and_the_final_png(tiny, notebook, tmp_path, monkeypatch):
    from llm_magic.runtime.evaluation.evaluate import sample_generator
    from llm_magic.runtime.training.runner import run_finetune
    from llm_magic.runtime.training.settings import settings_from_config
    from llm_magic.widgets.loss_plot import LossPlot

    model, tokenizer, data = tiny
    monkeypatch.setattr(LossPlot, "min_interval", 60.0)  # no redraw during the run: throttled
    stops = []
    plot = LossPlot("run-1", on_stop=lambda: stops.append(True))
    assert plot.notebook
    plot.show()
    settings = settings_from_config({"type": "finetune", "learning_rate": 0.01, "epochs": 2, "batch_size": 4,
                                     "early_stop": -1})
    run_finetune(model, tokenizer, settings, data, output_dir=str(tmp_path), run_id="run-1", loggers=[plot],
                 sample_every=2, sample_generate=sample_generator(tokenizer, 3))
    plot.log("status", "finished", 4)

    assert [s for s, _ in plot.points["loss"]] == [1, 2, 3, 4]
    assert [s for s, _ in plot.points["eval_loss"]] == [2, 4]
    assert len(plot.points["learning_rate"]) == 4 and plot.points["tokens_per_second"]
    assert plot.max_steps == 4 and plot.step == 4 and plot.status == "finished"
    evals = dict(plot.points["eval_loss"])
    assert plot.best_step == min(evals, key=evals.get)
    assert [step for step, _ in plot.samples] == [2, 4]
    for _, rows in plot.samples:
        assert [r["prompt"] for r in rows] == ["Say cat:", "Say dog:", "Say fox:"]
        assert all(isinstance(r["output"], str) for r in rows)
    assert plot.redraws == 1  # the first draw at show(); everything else was throttled away

    plot.close()
    assert plot.redraws == 2  # close draws the final state once more
    widgets = plot._widgets
    assert widgets["progress"].value == 4 and widgets["progress"].max == 4
    assert widgets["chart"].value[:4] == b"\x89PNG"
    assert "Say cat:" in widgets["samples"].value and "best step" in widgets["info"].value
    assert widgets["stop"].disabled  # the run is over
    final = [e for e in notebook.events if e["update"]]
    assert final and final[-1]["data"]["image/png"][:4] == b"\x89PNG"  # a static picture replaces the widget
    assert final[-1]["display_id"] == notebook.events[0]["display_id"]
    assert f"best checkpoint at step {plot.best_step}" in final[-1]["data"]["text/plain"]


def test_stop_button_calls_back_once(notebook):
    from llm_magic.widgets.loss_plot import LossPlot

    stops = []
    plot = LossPlot("r", on_stop=lambda: stops.append(True))
    plot.show()
    plot.log("max_steps", 10, 0)
    plot.log("status", "running", 0)
    plot._widgets["stop"].click()
    assert stops == [True] and plot._widgets["stop"].disabled


def test_terminal_fallback_prints_a_progress_line(capsys):
    from llm_magic.widgets.loss_plot import LossPlot

    plot = LossPlot("r", notebook=False)
    plot.log("max_steps", 4, 0)
    for step in range(1, 5):
        plot.log_dict({"loss": 2.0 / step, "learning_rate": 1e-3, "epoch": step / 4}, step)
    plot.log_dict({"eval_loss": 0.7}, 4)
    plot.close()
    out = capsys.readouterr().out
    assert "step 1/4" in out and "loss 2.0000" in out and "eval_loss 0.7000" in out
    assert plot.points["loss"][-1] == (4, 0.5) and plot._widgets == {}


def test_chart_renders_stay_within_the_overhead_budget(monkeypatch):
    """A slow chart render is repeated only when it costs at most chart_budget of the time since."""
    import time

    from llm_magic.widgets.loss_plot import LossPlot

    renders = []

    def slow_png(self):
        renders.append(time.monotonic())
        time.sleep(0.03)  # a 30 ms render: at a 1.5% budget the next may come 2 s later
        return b"png"

    monkeypatch.setattr(LossPlot, "figure_png", slow_png)
    monkeypatch.setattr(LossPlot, "min_interval", 0.0)
    plot = LossPlot("run-budget", notebook=True)
    plot._build()
    for step in range(1, 41):
        plot.log("loss", 1.0 / step, step)
        time.sleep(0.005)
    during_run = len(renders)
    assert plot.redraws >= 40, "cheap parts (progress, numbers) still update at every log"
    assert during_run <= 2, f"{during_run} chart renders in ~0.5 s; the budget allows one at most"
    plot.close()
    assert len(renders) == during_run + 1, "the final state is always drawn"
