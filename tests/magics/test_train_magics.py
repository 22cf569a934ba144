"""%llm_train, %llm_eval, %llm_status and %llm_runs driven through a real InteractiveShell."""
from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model", "tiny", "runs",
         "fast", "test", "red", "blue", "green", "sun"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("train-llama"))


def config(model_dir, trainer="{type: finetune, learning_rate: 0.01, epochs: 2, batch_size: 4}",
           output="[{name: answer, type: text}]"):
    return (
        f"model_type: llm\nbase_model: {model_dir}\n"
        "input_features: [{name: word, type: text}]\n"
        f"output_features: {output}\n"
        'prompt: {template: "Say {word}:"}\n'
        "adapter: {type: lora, r: 8, dropout: 0.0}\n"
        f"trainer: {trainer}\n"
        "preprocessing: {split: {type: random, probabilities: [0.75, 0.125, 0.125]}}\n"
        "generation: {max_new_tokens: 4, do_sample: false}\n"
    )


@pytest.fixture
def shell(ip, tiny_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run folders go to ./llm_magic_runs
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    ip.user_ns["df"] = pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS]})
    return ip


def test_llm_train_data_df_trains_evaluates_and_records(shell, tiny_dir, tmp_path, capsys):
    from llm_magic.runtime.session import get_session

    shell.cell("llm_config", "", config(tiny_dir))
    report = shell.line("llm_train", "--data df")
    session = get_session()
    history = session.history
    assert list(history.columns) == ["run_id", "step", "epoch", "loss", "eval_loss", "learning_rate",
                                     "tokens_per_second"]
    assert len(history) == 6 and history["step"].tolist() == list(range(1, 7))  # 12 rows / 4 x 2 epochs
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history["eval_loss"].notna().sum() == 2
    # The test split was evaluated at the end, with every text metric.
    for key in ("loss", "perplexity", "token_accuracy", "exact_match", "rouge1", "rougeL"):
        assert key in report
    assert "bleu" in report.hidden  # one-word answers: BLEU would read 0 whatever they are
    assert report.rows == 2 and "Evaluation on the test split" in repr(report)
    assert "<table>" in report._repr_html_()
    out = capsys.readouterr().out
    assert "step 6/6" in out  # the terminal progress line
    run = session.runs.runs[0]
    assert run.status == "finished" and run.global_step == 6
    assert (tmp_path / "llm_magic_runs" / run.run_id).is_dir()
    assert session.data is shell.user_ns["df"]  # bound for the next call

    with pytest.raises(UsageError, match="Nothing to resume: the last run .* finished"):
        shell.line("llm_train", "--resume")

    status = shell.line("llm_status")
    assert "status: finished" in repr(status) and "step: 6/6" in repr(status)

    # A second run with another learning rate: %llm_runs shows the difference side by side.
    shell.cell("llm_config", "", config(tiny_dir, trainer="{type: finetune, learning_rate: 0.001, "
                                                          "epochs: 1, batch_size: 4}"))
    shell.line("llm_train", "")
    table = shell.line("llm_runs")
    assert len(table) == 2
    frame = table.frame
    assert frame["trainer.learning_rate"].tolist() == [0.01, 0.001]
    assert frame["trainer.epochs"].tolist() == [2, 1]
    assert "test_exact_match" in frame.columns and "adapter.r" not in frame.columns
    assert "trainer.learning_rate" not in table._repr_html_()  # the compact default
    assert "trainer.learning_rate" in shell.line("llm_runs", "--all")._repr_html_()
    assert set(session.history["run_id"]) == set(frame.index)
    compact = repr(table).splitlines()
    assert compact[0].split() == ["status", "steps", "time", "best", "eval", "key", "metric",
                                  "adapter", "base", "model"]
    assert max(len(line) for line in compact) <= 110
    assert "6/6" in compact[2] and "exact_match" in compact[2] and "lora" in compact[2]


def test_trainer_none_evaluates_without_changing_weights(shell, tiny_dir):
    import torch

    from llm_magic.runtime.session import get_session

    shell.cell("llm_config", "", config(tiny_dir, trainer="{type: none}").replace(
        "adapter: {type: lora, r: 8, dropout: 0.0}\n", ""))
    model = get_session().load_model().model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    report = shell.line("llm_train", "--data df")
    assert report.split == "test" and "exact_match" in report and "loss" in report
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert get_session().runs.runs[-1].kind == "evaluate"
    again = shell.line("llm_eval", "--split validation")
    assert again.split == "validation" and again.rows == 2


def test_user_mistakes_are_usage_errors(shell, tiny_dir):
    with pytest.raises(UsageError, match="No config yet"):
        shell.line("llm_train", "--data df")
    shell.cell("llm_config", "", config(tiny_dir))
    with pytest.raises(UsageError, match="Nothing to resume"):
        shell.line("llm_train", "--resume --data df")
    with pytest.raises(UsageError, match="Nothing to resume"):  # not "No data": the resume is the point
        shell.line("llm_train", "--resume")
    with pytest.raises(UsageError, match="--data nope"):
        shell.line("llm_train", "--data nope")
    with pytest.raises(UsageError, match="sample-every"):
        shell.line("llm_train", "--data df --sample-every 0")
    assert "No training run" in repr(shell.line("llm_status"))
    assert len(shell.line("llm_runs")) == 0


def test_the_chart_of_a_foreground_run_offers_no_stop_button_and_a_background_one_does(
        shell, tiny_dir, monkeypatch):
    # The page hides its Stop button when the widget says `foreground` (the kernel, busy with the
    # cell, would read the click only after the run) and shows how to interrupt instead;
    # tests/widgets/test_loss_chart_browser.py checks that page side.
    import comm
    import ipywidgets.comm

    from llm_magic.runtime.session import get_session
    from llm_magic.runtime.training.api import training_state
    from tests.display_recorder import RecordingPublisher
    from tests.widgets.test_loss_plot import Wire

    wire = Wire()

    class RecordingComm(comm.base_comm.BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            wire.messages.append((msg_type, data or {}))

    monkeypatch.setattr(ipywidgets.comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "notebook")
    monkeypatch.setattr(shell.shell, "display_pub", RecordingPublisher())

    def chart_foreground() -> list[bool]:
        """The `foreground` value each chart widget had once its state was sent."""
        values = []
        for msg_type, data in wire.messages:
            state = data.get("state", {})
            if msg_type == "comm_open" and "max_steps" in state and "foreground" in state:
                values.append(state["foreground"])
            elif msg_type == "comm_msg" and data.get("method") == "update" and "foreground" in state and values:
                values[-1] = state["foreground"]
        return values

    shell.cell("llm_config", "", config(tiny_dir))
    shell.line("llm_train", "--data df")
    assert chart_foreground() == [True]
    wire.messages.clear()
    shell.line("llm_train", "--data df --background")
    training_state(get_session()).thread.join(120)
    assert chart_foreground() == [False]
