"""A real SIGINT (Ctrl-C) sent to a training process: it stops within a step, checkpoints, resumes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    import torch
    from llm_magic import get_session

    class Beacon:
        # Prints each step so the parent knows when to interrupt; slow enough to be caught mid-run.
        def log(self, name, data, step):
            if name == "loss":
                print(f"STEP {step}", flush=True)
                time.sleep(0.15)
        def log_dict(self, payload, step):
            for k, v in payload.items():
                self.log(k, v, step)
        def close(self):
            pass

    words = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model"]
    df = pd.DataFrame({"word": words, "answer": [" " + w for w in words]})
    session = get_session()
    session.set_config({
        "model_type": "llm", "base_model": sys.argv[1],
        "input_features": [{"name": "word", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": "Say {word}:"},
        "adapter": {"type": "lora", "r": 4, "dropout": 0.0},
        "trainer": {"type": "finetune", "learning_rate": 0.01, "train_steps": 20, "batch_size": 2},
        "preprocessing": {"split": {"type": "random", "probabilities": [1.0, 0.0, 0.0]}},
    })
    first = session.train(df, loggers=[Beacon()])
    model = session.load_model().model
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    from safetensors.torch import load_file
    saved = load_file(first.checkpoint + "/adapter_model.safetensors")
    kept = all(any(torch.equal(w, v) for w in weights.values()) for v in saved.values())
    print("FIRST " + json.dumps({"status": first.status, "step": first.global_step,
                                 "checkpoint": first.checkpoint, "kept": kept,
                                 "notes": first.notes}), flush=True)
    second = session.train(resume=True, loggers=[])
    history = session.history
    print("SECOND " + json.dumps({"status": second.status, "step": second.global_step,
                                  "same_run": second is first, "rows": len(history),
                                  "steps": history["step"].tolist(),
                                  "config_kept": session.config is not None}), flush=True)
    """
)


@pytest.mark.slow
def test_sigint_stops_checkpoints_and_resume_continues(tmp_path):
    from tests.tiny_models import build_tiny_model

    model_dir = build_tiny_model("llama", tmp_path / "llama")
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "LLM_MAGIC_FRONTEND": "terminal", "PYTHONPATH": str(Path.cwd()),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(model_dir)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 240
    interrupted_at = None
    try:
        for line in proc.stdout:
            lines.append(line.rstrip())
            if interrupted_at is None and line.startswith("STEP 3"):
                proc.send_signal(signal.SIGINT)
                interrupted_at = 3
            if time.monotonic() > deadline:
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "\n".join(lines)
    assert proc.returncode == 0, output[-3000:]
    first = json.loads(next(l for l in lines if l.startswith("FIRST "))[6:])
    second = json.loads(next(l for l in lines if l.startswith("SECOND "))[7:])
    # Stopped within one step of the interrupt, with a full checkpoint, weights kept in the session.
    assert first["status"] == "stopped" and 3 <= first["step"] <= 4, output[-3000:]
    checkpoint = tmp_path / first["checkpoint"]
    assert checkpoint.name == f"checkpoint-{first['step']}"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"):
        assert (checkpoint / name).is_file(), name
    assert first["kept"]
    assert any("--resume" in note for note in first["notes"])
    # Resume continued the same run from the checkpoint to the end; nothing else was lost.
    assert second["status"] == "finished" and second["step"] == 20 and second["same_run"]
    assert second["steps"] == list(range(1, 21))
    assert second["config_kept"]
