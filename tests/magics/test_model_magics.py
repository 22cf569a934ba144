"""``%llm_info`` through a real InteractiveShell: loads the model and summarises it."""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from tests.tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return build_tiny_model("gpt2", tmp_path_factory.mktemp("info-gpt2"))


def _config_cell(base: str, extra: str = "") -> str:
    return (
        f"base_model: {base}\n"
        "input_features: [{name: instruction, type: text}]\n"
        "output_features: [{name: output, type: text}]\n"
        "trainer: {type: finetune}\n" + extra
    )


def test_llm_info_loads_and_summarises_the_model(ip, gpt2_dir):
    ip.cell("llm_config", "", _config_cell(str(gpt2_dir), "adapter: {type: lora, r: 4}\n"))
    info = ip.line("llm_info")

    assert info.model_id == str(gpt2_dir)
    assert 0 < info.trainable_parameters < info.parameters
    assert 0 < info.trainable_percent < 100
    assert info.adapter_type == "lora" and info.target_modules == ("c_attn", "c_fc", "c_proj")
    assert info.quantization == "none"
    assert info.bytes_per_parameter == pytest.approx(4.0, rel=0.05)  # float32 on the CPU
    assert info.memory_bytes > 0 and info.context_length == 256

    text = repr(info)
    for label in ("parameters", "trainable", "dtype", "device", "quantization", "bytes/parameter", "memory"):
        assert label in text
    html = info._repr_html_()
    assert html.startswith("<table") and "trainable" in html and "%" in html


def test_llm_info_shows_quantization_savings(ip, gpt2_dir):
    ip.cell("llm_config", "", _config_cell(str(gpt2_dir)))
    plain = ip.line("llm_info")
    ip.cell(
        "llm_config", "",
        _config_cell(str(gpt2_dir), "adapter: {type: lora}\nquantization: {bits: 4}\n"),
    )
    quantized = ip.line("llm_info")
    assert quantized.quantization.startswith("4-bit nf4")
    assert quantized.memory_bytes < plain.memory_bytes
    assert quantized.bytes_per_parameter < plain.bytes_per_parameter
    # 4-bit weights are counted unpacked: the parameter count stays that of the model (+ LoRA).
    assert quantized.parameters > plain.parameters


def test_llm_info_unload_frees_the_model(ip, gpt2_dir, session):
    ip.cell("llm_config", "", _config_cell(str(gpt2_dir)))
    ip.line("llm_info")
    assert session.models.loaded is not None
    ip.line("llm_info", "--unload")
    assert session.models.loaded is None


def test_llm_info_without_config_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="llm_config"):
        ip.line("llm_info")


def test_llm_info_reports_load_problems_as_usage_errors(ip, tmp_path):
    (tmp_path / "empty").mkdir()
    ip.cell("llm_config", "", _config_cell(str(tmp_path / "empty")))
    with pytest.raises(UsageError, match="config.json"):
        ip.line("llm_info")
