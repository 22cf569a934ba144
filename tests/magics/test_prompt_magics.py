"""%%llm_prompt, %llm_playground and %llm_predict driven through a real InteractiveShell."""
from __future__ import annotations

import pandas as pd
import pytest
from tests.display_recorder import RecordingPublisher
from IPython.core.error import UsageError

from llm_magic.runtime.generation.result import GenerationResult, GenerationResults


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("prompt-llama"))


def config(model_dir, *, adapter=False, output="[{name: answer, type: text}]"):
    text = (
        f"model_type: llm\nbase_model: {model_dir}\n"
        "input_features: [{name: question, type: text}]\n"
        f"output_features: {output}\n"
        'prompt: {template: "Q: {question}\\nA:"}\n'
        "generation: {max_new_tokens: 6, do_sample: false}\n"
    )
    if adapter:
        text += "adapter: {type: lora, r: 4}\ntrainer: {type: finetune}\n"
    return text


@pytest.fixture
def tiny(ip, tiny_dir):
    ip.cell("llm_config", "", config(tiny_dir))
    return ip


@pytest.fixture
def notebook(ip, monkeypatch):
    """Pretend to be Jupyter and record what is displayed."""
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "notebook")
    recorder = StreamRecorder()
    monkeypatch.setattr(ip.shell, "display_pub", recorder)
    return recorder


class StreamRecorder(RecordingPublisher):
    """Records displays, except the progress lines of slow steps (the first answer loads the model)."""

    def __init__(self):
        super().__init__()
        self.progress = []

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        if "llm-magic-progress" in data.get("text/html", ""):
            self.progress.append(data)
            return
        super().publish(data, metadata, source, transient=transient, update=update, **kwargs)


@pytest.fixture
def generate_spy(tiny, session, monkeypatch):
    """Record the keyword arguments of every model.generate call."""
    model = session.load_model().model
    calls = []
    original = model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    return calls


# ------------------------------------------------------------------------------- streaming
def test_streams_into_one_display_updated_in_place(tiny, notebook, monkeypatch):
    from llm_magic.widgets.stream_output import StreamOutput

    monkeypatch.setattr(StreamOutput, "min_interval", 0.0)
    tiny.cell("llm_prompt", "--max_new_tokens 40 --min_new_tokens 40 --do_sample --seed 1 -o r",
              "the quick brown fox")
    result = tiny.user_ns["r"]
    assert isinstance(result, GenerationResult) and result.tokens == 40
    ids = {e["display_id"] for e in notebook.events}
    assert len(ids) == 1 and None not in ids, "one display, always the same id"
    updates = [e for e in notebook.events if e["update"]]
    assert not notebook.events[0]["update"] and len(updates) > 1
    assert result.text in updates[-1]["data"]["text/plain"]


def test_display_updates_are_throttled(tiny, notebook, monkeypatch):
    from llm_magic.widgets.stream_output import StreamOutput

    monkeypatch.setattr(StreamOutput, "min_interval", 3600.0)
    tiny.cell("llm_prompt", "--max_new_tokens 30 --min_new_tokens 30 --do_sample --seed 1", "hello")
    updates = [e for e in notebook.events if e["update"]]
    assert len(updates) == 1, "only the final update when the interval has not passed"


def test_terminal_prints_the_answer(tiny, capsys, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    tiny.cell("llm_prompt", "-o r --max_new_tokens 12 --min_new_tokens 12", "hello")
    out = capsys.readouterr().out
    assert tiny.user_ns["r"].text in out and "12 tokens" in out


def test_output_variable_holds_the_result(tiny, capsys):
    tiny.cell("llm_prompt", "-o answer", "what is two plus two?")
    r = tiny.user_ns["answer"]
    assert r.prompt == "Q: what is two plus two?\nA:"
    assert r.settings["max_new_tokens"] == 6 and r.seconds > 0 and r.tokens_per_second > 0
    assert r.text in repr(r) and "tokens" in r._repr_html_()


def test_raw_skips_the_template(tiny, capsys):
    tiny.cell("llm_prompt", "--raw -o r", "no template here")
    assert tiny.user_ns["r"].prompt == "no template here"


def test_greedy_same_text_every_time(tiny, capsys):
    tiny.cell("llm_prompt", "--greedy -o a --seed 1 --max_new_tokens 10", "the lazy dog")
    tiny.cell("llm_prompt", "--greedy -o b --seed 2 --max_new_tokens 10", "the lazy dog")
    assert tiny.user_ns["a"].text == tiny.user_ns["b"].text


def test_interrupt_keeps_partial_text_and_session_stays_usable(tiny, capsys, monkeypatch):
    from llm_magic.widgets.stream_output import StreamOutput

    original = StreamOutput.text
    seen = []

    def stop_button(self, index, text):
        seen.append(text)
        original(self, index, text)
        if len(seen) == 2:
            raise KeyboardInterrupt  # what the kernel's stop button does in the main thread

    monkeypatch.setattr(StreamOutput, "text", stop_button)
    tiny.cell("llm_prompt", "-o r --max_new_tokens 200 --min_new_tokens 200", "hello")
    r = tiny.user_ns["r"]
    assert r.interrupted and 0 < r.tokens < 200 and r.text
    monkeypatch.setattr(StreamOutput, "text", original)
    tiny.cell("llm_prompt", "-o again --max_new_tokens 3 --min_new_tokens 3", "hello")
    assert tiny.user_ns["again"].tokens == 3


# ---------------------------------------------------------------------------------- flags
@pytest.mark.parametrize(
    ("flags", "key", "expected"),
    [
        ("--temperature 0.7 --do_sample", "temperature", 0.7),
        ("--top_p 0.9 --do_sample", "top_p", 0.9),
        ("--top-k 5 --do_sample", "top_k", 5),
        ("--max_new_tokens 3", "max_new_tokens", 3),
        ("--num_beams 2", "num_beams", 2),
        ("--repetition_penalty 1.3", "repetition_penalty", 1.3),
        ("--no_repeat_ngram_size 2", "no_repeat_ngram_size", 2),
        ("--length_penalty 0.5 --num_beams 2", "length_penalty", 0.5),
        ("--min_new_tokens 4", "min_new_tokens", 4),
        ("--bad_words_ids '[[5], [6, 7]]'", "bad_words_ids", [[5], [6, 7]]),
        ("--do_sample", "do_sample", True),
        ("--do_sample=false", "do_sample", False),
        ("--greedy", "do_sample", False),
    ],
)
def test_flag_reaches_generate(tiny, generate_spy, capsys, flags, key, expected):
    tiny.cell("llm_prompt", flags, "hello")
    assert generate_spy[-1][key] == expected


def test_every_generation_key_is_a_flag():
    from llm_magic.magics.prompt_magics import split_generation_flags
    from llm_magic.runtime.config.schema.generation import GenerationConfig

    fields = GenerationConfig.model_fields
    for name in fields:
        rest, overrides = split_generation_flags([f"--{name}", "1"], fields, {"-o"})
        assert name in overrides and rest == [], name


def test_unknown_flag_is_named_with_a_suggestion(tiny):
    with pytest.raises(UsageError) as err:
        tiny.cell("llm_prompt", "--temprature 0.5", "hello")
    assert "--temprature" in str(err.value) and "--temperature" in str(err.value)


def test_out_of_range_flag_is_named(tiny):
    with pytest.raises(UsageError) as err:
        tiny.cell("llm_prompt", "--top_p 1.5", "hello")
    assert "--top_p" in str(err.value)
    with pytest.raises(UsageError, match="--max_new_tokens"):
        tiny.cell("llm_prompt", "--max_new_tokens 0", "hello")


def test_greedy_and_do_sample_conflict(tiny):
    with pytest.raises(UsageError, match="--greedy"):
        tiny.cell("llm_prompt", "--greedy --do_sample", "hello")


def test_refused_during_training(tiny, session):
    session.busy_reason = "a background training run is in progress"
    with pytest.raises(UsageError, match="Cannot generate now"):
        tiny.cell("llm_prompt", "", "hello")


# ------------------------------------------------------------------------- compare and --n
def test_n_samples(tiny, capsys):
    tiny.cell("llm_prompt", "--n 2 --do_sample --temperature 1.5 --seed 3 --min_new_tokens 6 -o rs", "hello")
    rs = tiny.user_ns["rs"]
    assert isinstance(rs, GenerationResults) and len(rs) == 2
    assert [r.seed for r in rs] == [3, 4]


def test_compare_shows_base_and_finetuned(ip, tiny_dir, session, notebook):
    import torch

    ip.cell("llm_config", "", config(tiny_dir, adapter=True))
    model = session.load_model().model
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)
    ip.cell("llm_prompt", "--compare --n 2 --min_new_tokens 6 --seed 0 -o cmp", "the quick brown fox")
    cmp = ip.user_ns["cmp"]
    assert [r.label for r in cmp] == ["base #1", "fine-tuned #1", "base #2", "fine-tuned #2"]
    assert cmp.base[0].text != cmp.tuned[0].text
    html = notebook.events[-1]["data"]["text/html"]
    assert "base #1" in html and "fine-tuned #1" in html and "repeat(2" in html


def test_compare_without_adapter_is_a_clear_error(tiny):
    with pytest.raises(UsageError, match="no adapter"):
        tiny.cell("llm_prompt", "--compare", "hello")


# ------------------------------------------------------------------------------ playground
def test_playground_sliders_drive_generation(tiny):
    from llm_magic.widgets.playground import Playground

    pg = tiny.line("llm_playground")
    assert isinstance(pg, Playground)
    pg.prompt.value = "hello"
    pg.sliders["max_new_tokens"].value = 3
    pg.sliders["temperature"].value = 0.9
    pg.do_sample.value = True
    pg.generate_button.click()  # generates on a worker thread (so Stop can be clicked)
    pg.wait(120)
    assert pg.last_result.settings["max_new_tokens"] == 3
    assert pg.last_result.settings["temperature"] == 0.9
    assert pg.last_result.tokens <= 3


def test_prompt_ui_prefills_text_and_flags(tiny):
    pg = tiny.cell("llm_prompt", "--ui --temperature 0.4", "the cell text")
    assert pg.prompt.value == "the cell text"
    assert pg.sliders["temperature"].value == pytest.approx(0.4)


def test_playground_text_fallback(tiny, capsys, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    tiny.run_cell("%llm_playground")
    out = capsys.readouterr().out
    assert "max_new_tokens: 6" in out and "%%llm_prompt" in out


# ------------------------------------------------------------------------------ prediction
def test_predict_text(tiny, capsys):
    tiny.user_ns["df"] = pd.DataFrame({"question": ["a b", "the quick brown fox", "c"]})
    tiny.line("llm_predict", "--data df -o preds --batch-size 2 --max_new_tokens 4")
    preds = tiny.user_ns["preds"]
    assert list(preds.columns) == ["question", "prompt", "answer_response"]
    assert preds["prompt"][0] == "Q: a b\nA:" and len(preds) == 3
    assert "Stored 3 predictions in preds" in capsys.readouterr().out


def test_predict_returns_frame_without_output_name(tiny):
    tiny.user_ns["df"] = pd.DataFrame({"question": ["a"]})
    frame = tiny.line("llm_predict", "--data df")
    assert frame["answer_response"].shape == (1,)


def test_predict_category(ip, tiny_dir):
    output = ("[{name: label, type: category, preprocessing: {vocab: [positive, negative], "
              "fallback_label: neutral}}]")
    ip.cell("llm_config", "", config(tiny_dir, output=output))
    ip.user_ns["reviews"] = pd.DataFrame({"question": ["loved it", "hated it"]})
    frame = ip.line("llm_predict", "--data reviews --max_new_tokens 3")
    assert set(frame["label_predictions"]) <= {"positive", "negative", "neutral"}
    assert "label_response" in frame.columns


def test_predict_bad_flag_and_missing_data(tiny):
    tiny.user_ns["df"] = pd.DataFrame({"question": ["a"]})
    with pytest.raises(UsageError, match="--batch-size"):
        tiny.line("llm_predict", "--data df --batch-size 0")
    with pytest.raises(UsageError, match="nope"):
        tiny.line("llm_predict", "--data nope")
    with pytest.raises(UsageError, match="question"):
        tiny.user_ns["other"] = pd.DataFrame({"text": ["a"]})
        tiny.line("llm_predict", "--data other")


def _stop_on_second_generate(model, monkeypatch):
    """Make ``model.generate`` raise KeyboardInterrupt (the stop button) on its 2nd call only."""
    original = model.generate
    calls = []

    def generate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    return calls


def test_interrupted_predict_keeps_finished_rows_and_session_stays_usable(tiny, session, capsys, monkeypatch):
    tiny.user_ns["df"] = pd.DataFrame({"question": ["a b", "c", "the quick brown fox", "d", "e"]})
    full = tiny.line("llm_predict", "--data df --batch-size 2 --max_new_tokens 4")
    bundle = session.load_model()
    calls = _stop_on_second_generate(bundle.model, monkeypatch)
    try:
        tiny.line("llm_predict", "--data df -o preds --batch-size 2 --max_new_tokens 4")
    except KeyboardInterrupt:  # escaping would abort the whole pytest run
        pytest.fail("%llm_predict let the KeyboardInterrupt escape and dropped the finished rows")
    preds = tiny.user_ns["preds"]
    assert len(calls) == 2 and len(preds) == 2
    # Longest prompts run first: the finished rows are the two longest, kept in row order.
    assert list(preds["question"]) == ["a b", "the quick brown fox"]
    assert list(preds["answer_response"]) == list(full.loc[preds.index, "answer_response"])
    out = capsys.readouterr().out
    assert "2 of 5 rows" in out and "Stored 2 predictions in preds" in out
    # Usable afterwards: the tokenizer pads on its own side again and a full run works.
    assert bundle.tokenizer.padding_side == "right"
    frame = tiny.line("llm_predict", "--data df --batch-size 2 --max_new_tokens 4")
    assert list(frame["answer_response"]) == list(full["answer_response"])


def test_cell_magic_help_shows_the_cell_magic_usage(ip):
    doc = ip.shell.find_cell_magic("llm_prompt").__doc__
    assert "%%llm_prompt [--raw]" in doc


def test_a_playground_answer_holds_the_session_busy(tiny, session):
    """Another command run while the playground generates is refused clearly, then works again."""
    import threading

    pg = tiny.line("llm_playground")
    pg.prompt.value = "hello"
    pg.sliders["max_new_tokens"].value = 64
    started, release = threading.Event(), threading.Event()
    seen = {}
    original = pg._generate

    def on_hold(text, settings, on_text):
        def held(partial):
            if not started.is_set():
                seen["busy"] = session.busy_reason
                started.set()
                release.wait(60)  # the answer is under way: a cell runs now
            on_text(partial)
        return original(text, settings, held)

    pg._generate = on_hold
    pg.generate_button.click()
    assert started.wait(120)
    try:
        assert seen["busy"] == "the playground is generating an answer"
        with pytest.raises(UsageError, match="Cannot generate now: the playground is generating an answer"):
            tiny.cell("llm_prompt", "", "hello")
        with pytest.raises(UsageError, match="Cannot unload the model now"):
            tiny.line("llm_info", "--unload")
    finally:
        release.set()
    pg.wait(120)
    assert pg.last_result is not None and session.busy_reason is None
    tiny.cell("llm_prompt", "--max_new_tokens 2", "hello")  # free again


def test_the_playground_says_so_when_the_session_is_busy(tiny, session):
    pg = tiny.line("llm_playground")
    pg.prompt.value = "hello"
    session.busy_reason = "a background training run is in progress"
    try:
        assert pg.run() is None
    finally:
        session.busy_reason = None
    assert "Cannot generate now: a background training run is in progress" in pg.output.value
    assert not pg.running and not pg.generate_button.disabled
