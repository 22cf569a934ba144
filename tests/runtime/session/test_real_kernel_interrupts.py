"""Case 2 of the trust issue: Ctrl-C presses sent to a REAL kernel during %llm_train.

A kernel is started with jupyter_client (the current interpreter, this worktree on its path),
runs %llm_train on the embedded tiny model, and gets one, two or three SIGINTs
(``km.interrupt_kernel()``, what the notebook's Stop button does) at varied delays. Afterwards:
at most one line of message and no traceback, a run record that says "stopped" and points at a
checkpoint on disk, %llm_status that agrees, and %llm_train --resume that continues.
"""
from __future__ import annotations

import json
import os
import sys
import time

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

SETUP = """
%load_ext llm_magic
import pandas as pd
words = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]
df = pd.DataFrame({"word": words, "answer": [" " + w for w in words]})
"""

CONFIG = """%%llm_config
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: word, type: text}]
output_features: [{name: answer, type: text}]
prompt: {template: "Say {word}:"}
adapter: {type: lora, r: 4}
trainer: {type: finetune, train_steps: 100000, batch_size: 2, learning_rate: 0.01}
preprocessing: {split: {type: random, probabilities: [1.0, 0.0, 0.0]}}
"""

REPORT = """
import json, os
from llm_magic import get_session
_s = get_session()
_r = (_s.training if hasattr(_s, "training") else _s.state["training"]).last_run
print("REPORT " + json.dumps({"status": _r.status, "step": _r.global_step, "checkpoint": _r.checkpoint,
      "exists": bool(_r.checkpoint) and os.path.isfile(os.path.join(_r.checkpoint, "trainer_state.json")),
      "abs": bool(_r.checkpoint) and os.path.isabs(_r.checkpoint), "busy": _s.busy_reason}))
"""


@pytest.fixture
def kernel(tmp_path):
    from jupyter_client import KernelManager

    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH") or os.getcwd(), OMP_NUM_THREADS="1", LLM_MAGIC_FRONTEND="terminal",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    km = KernelManager()
    km.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    km.start_kernel(env=env, cwd=str(tmp_path))
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    try:
        yield km, client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def run(client, code, timeout=240, on_output=None):
    """Run ``code``; return (stream text, error names, error tracebacks)."""
    msg_id = client.execute(code)
    text, errors, tracebacks = [], [], []
    deadline = time.monotonic() + timeout
    while True:
        msg = client.get_iopub_msg(timeout=max(1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text.append(content["text"])
            if on_output:
                on_output("".join(text))
        elif kind in ("execute_result", "display_data"):
            text.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            errors.append(content["ename"])
            tracebacks.append("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(text), errors, tracebacks


@pytest.mark.slow
@pytest.mark.parametrize("presses, gap, delay", [(1, 0.0, 0.0), (2, 0.05, 0.0), (2, 0.5, 0.3), (3, 0.2, 0.6)],
                         ids=["one", "two-close", "two-apart", "three"])
def test_presses_during_training_leave_a_resumable_truthful_run(kernel, presses, gap, delay):
    km, client = kernel
    for code in (SETUP, CONFIG):
        out, errors, _ = run(client, code)
        assert not errors, out
    sent = []

    def press_when_training(text):
        # Presses begin once a few steps are logged, so they land mid-run (in a step, a log
        # line, or the checkpoint the first one asks for).
        if not sent and "step " in text:
            time.sleep(delay)
            for i in range(presses):
                km.interrupt_kernel()
                sent.append(time.monotonic())
                time.sleep(gap)

    out, errors, tracebacks = run(client, "%llm_train --data df", on_output=press_when_training)
    assert len(sent) == presses, out
    assert not errors, tracebacks
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert out.count("Already stopping") <= 1

    report_out, errors, _ = run(client, REPORT)
    assert not errors
    report = json.loads(report_out.split("REPORT ", 1)[1])
    assert report["status"] == "stopped" and report["exists"] and report["abs"], report
    assert report["busy"] is None
    status, errors, _ = run(client, "%llm_status")
    assert not errors and "stopped" in status.lower(), status

    # --resume continues the same run from its checkpoint; a short cap so it ends by itself.
    out, errors, tracebacks = run(client, CONFIG.replace("100000", str(report["step"] + 2)))
    assert not errors, tracebacks
    out, errors, tracebacks = run(client, "%llm_train --resume")
    assert not errors, (out, tracebacks)
    after = json.loads(run(client, REPORT)[0].split("REPORT ", 1)[1])
    assert after["status"] == "finished" and after["step"] == report["step"] + 2, (after, out)
