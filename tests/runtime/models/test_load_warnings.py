"""Loading a model prints no library noise into the notebook: no deprecations, no bitsandbytes log."""
from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from llm_magic.runtime.models.loader import free_model, load_model
from tests.runtime.models.model_helpers import make_config


def _checkpointing_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "is_gradient_checkpointing" in str(w.message)]


def test_lora_on_the_embedded_model_loads_without_the_checkpointing_deprecation(tmp_path):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = load_model(make_config("llm-magic/tiny", adapter={"type": "lora", "r": 4}))
    try:
        assert loaded.adapter_type == "lora"
        assert _checkpointing_warnings(record) == []
        loaded.model.save_pretrained(tmp_path / "adapter")
    finally:
        free_model(loaded)
    # The other way PEFT wraps a model: pretrained adapter weights, loaded for inference.
    config = make_config("llm-magic/tiny", trainer={"type": "none"},
                         adapter={"type": "lora", "pretrained_adapter_weights": str(tmp_path / "adapter")})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = load_model(config)
    try:
        assert loaded.adapter_type == "lora"
        assert _checkpointing_warnings(record) == []
    finally:
        free_model(loaded)


# A fresh process: bitsandbytes logs its CPU-kernel line once, when it is first imported.
_FOUR_BIT_LOAD = """
import sys
from llm_magic.runtime.session import reset_session
from llm_magic.runtime.library_logs import absorbed
session = reset_session()
session.set_config('''model_type: llm
base_model: {base}
input_features: [{{name: instruction, type: text}}]
output_features: [{{name: output, type: text}}]
adapter: {{type: lora, r: 4, target_modules: [q_proj, v_proj]}}
quantization: {{bits: 4}}
trainer: {{type: finetune, epochs: 1}}
''')
loaded = session.load_model()
import bitsandbytes.functional as F
print("QUANTIZATION", loaded.quantization)
print("AVX512BF16", bool(F.has_avx512bf16()))
print("ABSORBED", len(absorbed()))
"""


def test_a_4bit_load_prints_no_bitsandbytes_cpu_kernel_line(tiny_dirs):
    pytest.importorskip("bitsandbytes")
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _FOUR_BIT_LOAD.format(base=tiny_dirs["llama"])],
                          capture_output=True, text=True, env=env, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "QUANTIZATION 4-bit nf4" in done.stdout
    output = done.stdout + done.stderr
    assert "gemm_4bit_forward" not in output and "kernels-community" not in output, output[-3000:]
    # Where bitsandbytes emits the line (a CPU with AVX512-BF16, no `kernels` package), it was
    # taken out by our filter, not merely never logged.
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    if lines["AVX512BF16"] == "True" and importlib.util.find_spec("kernels") is None:
        assert lines["ABSORBED"] == "1"


def test_the_bitsandbytes_cpu_kernel_record_reaches_no_handler(caplog):
    from llm_magic.runtime.library_logs import absorbed

    # What bitsandbytes.backends.cpu.ops does on import; with no handler on it, the last-resort
    # handler would print it to stderr (red in a notebook). caplog's handler sits on the root.
    caplog.set_level(logging.WARNING)
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning(
        "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you "
        "already `pip install kernels` and the kernels >= 0.11.1", "No module named 'kernels'")
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning("another bitsandbytes warning")
    shown = [record.getMessage() for record in caplog.records]
    assert not any("gemm_4bit_forward" in m for m in shown), shown
    assert "another bitsandbytes warning" in shown  # only the known line is taken, not the logger
    assert any("No module named 'kernels'" in m for m in absorbed())
