"""The playground panel: sliders drive the next generation, YAML round-trips, text fallback."""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.generation.result import GenerationResult
from llm_magic.widgets.playground import SLIDERS, Playground


class Recorder:
    """A generate function that records what it was asked and streams a fixed answer."""

    def __init__(self):
        self.calls = []

    def __call__(self, text, settings, on_text):
        self.calls.append((text, dict(settings)))
        for end in (3, 6, 11):
            on_text("one two three"[:end])
        return GenerationResult(text="one two three", prompt=text, settings=dict(settings), tokens=3, seconds=0.1)


def test_has_every_control():
    pg = Playground(Recorder(), {"temperature": 0.3})
    assert set(pg.sliders) == {"temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty", "num_beams"}
    assert pg.sliders["temperature"].value == pytest.approx(0.3)
    assert pg.generate_button.description == "Generate"


def test_moving_sliders_changes_the_next_generation():
    gen = Recorder()
    pg = Playground(gen, {"temperature": 0.1, "max_new_tokens": 32, "do_sample": True}, text="Hello")
    pg.sliders["temperature"].value = 0.7
    pg.sliders["top_k"].value = 12
    pg.sliders["max_new_tokens"].value = 64
    pg.do_sample.value = False
    pg.generate_button.click()
    pg.wait(30)
    text, used = gen.calls[-1]
    assert text == "Hello"
    assert used["temperature"] == 0.7 and used["top_k"] == 12 and used["max_new_tokens"] == 64
    assert used["do_sample"] is False
    assert pg.last_result.settings["temperature"] == 0.7
    assert "one two three" in pg.output.value and "3 tokens" in pg.output.value
    # The prompt is shown with its answer, and the buttons are back to idle.
    assert pg.output.value.index("Hello") < pg.output.value.index("one two three")
    assert not pg.generate_button.disabled and pg.stop_button.disabled


def test_errors_show_in_the_output_area():
    def failing(text, settings, on_text):
        raise LlmMagicError("No config yet.")

    pg = Playground(failing, {})
    assert pg.run() is None
    assert "No config yet." in pg.output.value


def test_copy_as_yaml_loads_as_a_config_with_the_same_values():
    from llm_magic.runtime.config import load_config

    pg = Playground(Recorder(), {})
    pg.sliders["temperature"].value = 0.65
    pg.sliders["top_p"].value = 0.9
    pg.sliders["repetition_penalty"].value = 1.15
    pg.sliders["num_beams"].value = 3
    block = pg.show_yaml()
    assert pg.yaml_box.value == block and block.startswith("generation:")
    config = load_config(
        "model_type: llm\nbase_model: llm-magic/tiny\n"
        "input_features: [{name: q, type: text}]\noutput_features: [{name: a, type: text}]\n" + block
    )
    for name, value in pg.settings().items():
        assert getattr(config.generation, name) == value, name


def test_text_fallback_lists_settings_and_flags():
    pg = Playground(Recorder(), {"temperature": 0.2, "do_sample": False}, notebook=False)
    text = pg.render_text()
    assert "temperature: 0.2" in text and "--temperature 0.2" in text and "--greedy" in text


def test_out_of_range_config_value_widens_slider():
    pg = Playground(Recorder(), {"top_k": 500})
    slider = pg.sliders["top_k"]  # a log slider: its max is an exponent
    assert slider.value == 500 and slider.base ** slider.max >= 500
    assert SLIDERS["top_k"][2] == 200


def test_generate_is_disabled_while_running_and_stop_keeps_the_partial_answer():
    import threading

    release = threading.Event()
    seen = {}

    def slow(text, settings, on_text):
        on_text("Once")
        release.wait(10)
        try:
            on_text("Once upon")  # the playground raises KeyboardInterrupt here once Stop was clicked
        except KeyboardInterrupt:
            seen["stopped"] = True
            return GenerationResult(text="Once", prompt=text, tokens=1, seconds=0.1, interrupted=True)
        return GenerationResult(text="Once upon a time", prompt=text, tokens=4, seconds=0.1)

    pg = Playground(slow, {}, text="Tell me")
    pg.generate_button.click()
    deadline = __import__("time").monotonic() + 10
    while not pg.running and __import__("time").monotonic() < deadline:
        pass
    assert pg.generate_button.disabled and not pg.stop_button.disabled
    pg.generate_button.click()  # ignored while running: still one worker
    pg.stop_button.click()
    release.set()
    result = pg.wait(10)
    assert seen == {"stopped": True} and result.interrupted and result.text == "Once"
    assert "stopped early" in pg.output.value
    assert not pg.generate_button.disabled and pg.stop_button.disabled


def test_sliders_are_full_width_aligned_and_log_scaled_where_values_span_decades():
    import ipywidgets as w

    pg = Playground(Recorder(), {"max_new_tokens": 48, "top_k": 40})
    for name, slider in pg.sliders.items():
        assert slider.layout.width == "100%", name
        assert slider.style.description_width == pg.sliders["temperature"].style.description_width
    for name in ("max_new_tokens", "top_k"):
        assert isinstance(pg.sliders[name], w.FloatLogSlider), name
    assert pg.settings()["max_new_tokens"] == 48 and pg.settings()["top_k"] == 40
    pg.sliders["max_new_tokens"].value = 2 ** 9.3  # a drag lands between integers
    assert pg.settings()["max_new_tokens"] == 630
    # do_sample is an explicit on/off choice.
    assert [value for _, value in pg.do_sample.options] == [True, False]


def test_copy_button_holds_the_current_yaml_and_shows_it_when_the_browser_refuses():
    pg = Playground(Recorder(), {})
    pg.sliders["temperature"].value = 0.4
    assert "temperature: 0.4" in pg.copy_button.text and pg.copy_button.text == pg.to_yaml()
    assert pg.yaml_box.layout.display == "none"
    pg.copy_button.failed += 1  # what the page reports when navigator.clipboard is refused
    assert pg.yaml_box.layout.display is None and pg.yaml_box.value == pg.to_yaml()


def test_notebook_display_carries_a_static_copy_updated_after_each_answer(monkeypatch):
    """Two outputs: the live view, then its static copy (which a saved notebook shows once the
    view is gone); each answer refreshes the copy."""
    from IPython.core.interactiveshell import InteractiveShell

    from llm_magic.widgets.frontend import LIVE_CLASS, STATIC_CLASS, WIDGET_VIEW_MIME
    from tests.display_recorder import RecordingPublisher

    monkeypatch.delenv("VSCODE_PID", raising=False)
    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    pg = Playground(Recorder(), {}, text="Hello", notebook=True)
    from IPython.display import display

    display(pg)
    view, copy = (e["data"] for e in recorder.events[-2:])
    assert view[WIDGET_VIEW_MIME]["model_id"] == pg.widget.model_id and LIVE_CLASS in pg.widget._dom_classes
    assert "VBox(" not in view["text/plain"] and "Prompt playground" not in view["text/html"]
    assert WIDGET_VIEW_MIME not in copy and "VBox(" not in copy["text/plain"]
    assert f"class='{STATIC_CLASS}'" in copy["text/html"] and "Prompt playground" in copy["text/html"]
    assert "<style>" in copy["text/html"] and "<script" not in copy["text/html"]
    pg.run()
    update = recorder.events[-1]
    assert update["update"] and update["display_id"] == recorder.events[1]["display_id"]
    assert "one two three" in update["data"]["text/html"] and "Hello" in update["data"]["text/html"]
    assert WIDGET_VIEW_MIME not in update["data"]


def test_in_vs_code_the_copy_stays_the_fallback_of_the_view(monkeypatch):
    """Where the page's classes are not JupyterLab's, one output holds the view and the copy."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    from llm_magic.widgets.frontend import LIVE_CLASS, WIDGET_VIEW_MIME
    from tests.display_recorder import RecordingPublisher

    monkeypatch.setenv("VSCODE_PID", "123")
    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    pg = Playground(Recorder(), {}, text="Hello", notebook=True)
    display(pg)
    assert len(recorder.events) == 1 and LIVE_CLASS not in pg.widget._dom_classes
    shown = recorder.events[0]["data"]
    assert shown[WIDGET_VIEW_MIME]["model_id"] == pg.widget.model_id and "Prompt playground" in shown["text/html"]
    pg.run()
    assert recorder.events[-1]["display_id"] == recorder.events[0]["display_id"]
    assert WIDGET_VIEW_MIME in recorder.events[-1]["data"] and "one two three" in recorder.events[-1]["data"]["text/html"]
    pg.retire()
    assert WIDGET_VIEW_MIME not in recorder.events[-1]["data"] and "closed with Done" in recorder.events[-1]["data"]["text/html"]


def test_done_leaves_static_html_and_closes_the_widgets(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    from llm_magic.widgets.frontend import WIDGET_VIEW_MIME
    from tests.display_recorder import RecordingPublisher

    monkeypatch.delenv("VSCODE_PID", raising=False)
    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    pg = Playground(Recorder(), {}, text="Hello", notebook=True)
    display(pg)
    pg.run()
    pg.done_button.click()
    view, copy = recorder.events[-2:]
    assert view["update"] and view["display_id"] == recorder.events[0]["display_id"]
    assert WIDGET_VIEW_MIME not in view["data"] and not view["data"]["text/plain"]  # no view left to miss
    assert copy["update"] and copy["display_id"] == recorder.events[1]["display_id"]
    assert WIDGET_VIEW_MIME not in copy["data"] and "one two three" in copy["data"]["text/html"]
    assert "closed with Done" in copy["data"]["text/html"]
    assert pg.widget.comm is None and pg.generate_button.comm is None  # closed: no model left to miss


def test_the_fallback_recorded_through_a_shell_shows_the_prompt_and_the_settings(monkeypatch):
    import html

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    from tests.display_recorder import RecordingPublisher

    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    story = "Once upon a time, <a dog> & a cat"
    pg = Playground(Recorder(), {"temperature": 0.3, "max_new_tokens": 48, "do_sample": False},
                    text=story, notebook=True)
    display(pg)
    shown = recorder.events[-1]["data"]
    # Before any Generate: the prompt box (escaped) and every setting the sliders hold.
    assert html.escape(story) in shown["text/html"]
    for name, value in pg.settings().items():
        assert f"{name}: {str(value).lower() if isinstance(value, bool) else value}" in shown["text/html"], name
    assert story in shown["text/plain"] and "temperature: 0.3" in shown["text/plain"]
    # After moving a slider and generating: the settings of that answer, and the answer.
    pg.sliders["temperature"].value = 0.75
    pg.generate_button.click()
    pg.wait(30)
    updated = recorder.events[-1]["data"]["text/html"]
    assert "temperature: 0.75" in updated and "temperature: 0.3" not in updated
    assert "one two three" in updated and html.escape(story) in updated
    assert updated.count(html.escape(story)) == 1  # shown once, with its answer


def test_a_kernel_shutdown_replaces_a_live_playground_by_its_static_html(monkeypatch):
    """ipykernel's shutdown request sets the shell's ``exit_now``: the live output becomes HTML."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    from llm_magic.widgets.frontend import WIDGET_VIEW_MIME
    from tests.display_recorder import RecordingPublisher

    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    live = Playground(Recorder(), {}, text="Hello", notebook=True)
    display(live)
    live.run()
    done = Playground(Recorder(), {}, text="Bye", notebook=True)
    display(done)
    done.retire()
    before = len(recorder.events)
    try:
        shell.exit_now = True
    finally:
        shell.exit_now = False
    # (Playgrounds of earlier tests, still referenced, are updated too: only these two are checked.)
    updates = [e for e in recorder.events[before:] if e["display_id"] in live.handle.display_ids]
    assert not [e for e in recorder.events[before:] if e["display_id"] in done.handle.display_ids]
    assert len(updates) == 2 and all(e["update"] and WIDGET_VIEW_MIME not in e["data"] for e in updates)
    copy = updates[-1]["data"]["text/html"]
    assert "its kernel shut down" in copy and "one two three" in copy
    assert live.orphaned and not done.orphaned
    after = len(recorder.events)
    shell.exit_now = True  # a second shutdown signal: nothing left to replace
    shell.exit_now = False
    assert len(recorder.events) == after


def test_an_answer_ending_after_the_shutdown_leaves_the_output_static(monkeypatch):
    """Stop ends the answer after the current token: its last update must not bring the view back."""
    import threading

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    from llm_magic.widgets.frontend import WIDGET_VIEW_MIME
    from tests.display_recorder import RecordingPublisher

    shell = InteractiveShell.instance()
    recorder = RecordingPublisher()
    monkeypatch.setattr(shell, "display_pub", recorder)
    started, release = threading.Event(), threading.Event()

    def slow(text, settings, on_text):
        started.set()
        release.wait(30)
        return GenerationResult(text=" late", prompt=text, settings=dict(settings), tokens=1, seconds=0.1)

    pg = Playground(slow, {}, text="Hello", notebook=True)
    display(pg)
    pg.generate_button.click()
    assert started.wait(30)
    pg.orphan()
    release.set()
    pg.wait(30)
    last = [e for e in recorder.events if e.get("display_id") in pg.handle.display_ids][-1]
    assert WIDGET_VIEW_MIME not in last["data"] and " late" in last["data"]["text/html"]
