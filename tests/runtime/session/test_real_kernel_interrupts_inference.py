"""Case 2 of the trust issue beyond training: Ctrl-C presses in a REAL kernel during
%llm_predict and %llm_eval (what the notebook's Stop button sends).

One kernel per command; the same command is interrupted with one, two and three presses in turn.
After each: no traceback, at most one line about the interruption, adapter weights byte for byte
as before, no busy session, and the same command runs to the end afterwards.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.runtime.session.test_real_kernel_interrupts import SETUP, kernel, run  # noqa: F401 (fixture)

CONFIG = """%%llm_config --load
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: word, type: text}]
output_features: [{name: answer, type: text}]
prompt: {template: "Say {word}:"}
adapter: {type: lora, r: 4}
generation: {max_new_tokens: 48}
trainer: {type: finetune, batch_size: 2}
preprocessing: {split: {type: random, probabilities: [0.0, 0.0, 1.0]}}
"""

DATA = """
big = pd.DataFrame({"word": [" ".join(words[(i + j) % 8] for j in range(1 + i % 40)) for i in range(600)],
                    "answer": [" " + words[i % 8] for i in range(600)]})
small = big.head(3)
"""

STATE = """
import hashlib, json
from llm_magic import get_session
_s = get_session()
_h = hashlib.sha256()
for _n, _p in sorted(_s.load_model().model.named_parameters()):
    if "lora_" in _n:
        _h.update(_p.detach().cpu().numpy().tobytes())
print("STATE " + json.dumps({"lora": _h.hexdigest(), "busy": _s.busy_reason, "config": _s.config_name}))
"""

COMMANDS = {
    "predict": ("%llm_predict --data big -o out", "%llm_predict --data small -o out\nprint('ROWS', len(out))"),
    "eval": ("%llm_eval --data big", "%llm_eval --data small"),
}


def _state(client):
    out, errors, _ = run(client, STATE)
    assert not errors, out
    return json.loads(out.split("STATE ", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_presses_during_inference_change_nothing_and_leave_no_traceback(kernel, command):
    km, client = kernel
    for code in (SETUP, DATA, CONFIG):
        out, errors, _ = run(client, code)
        assert not errors, out
    before = _state(client)
    long_cell, short_cell = COMMANDS[command]
    for presses in (1, 2, 3):
        started = time.monotonic()
        sent = []

        def press(_text):
            # Once the command has been working a moment (its progress line is out).
            if not sent and time.monotonic() - started > 1.5:
                for _ in range(presses):
                    km.interrupt_kernel()
                    sent.append(time.monotonic())
                    time.sleep(0.15)

        out, errors, tracebacks = run(client, long_cell, on_output=press)
        if not sent:  # the command printed nothing after 1.5 s: press into its silence
            pytest.fail(f"{command} ended before a press could land: {out!r}")
        assert not errors, tracebacks
        assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
        assert sum("interrupt" in line.lower() or "stopped" in line.lower() for line in out.splitlines()) <= 1, out
        # The press landed mid-command: it stopped, and said so once.
        assert ("Prediction stopped" if command == "predict" else "interrupted") in out, out
        assert _state(client) == before, presses  # adapter bytes, no busy job, same config
    out, errors, tracebacks = run(client, short_cell)
    assert not errors and "Traceback" not in out, (out, tracebacks)
    if command == "predict":
        assert "ROWS 3" in out, out
