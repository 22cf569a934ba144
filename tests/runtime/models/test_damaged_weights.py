"""Issue 14: a base folder whose safetensors file is damaged gives one message naming the file."""
from __future__ import annotations

import shutil

import pytest
from IPython.core.error import UsageError

from llm_magic.errors import LlmMagicError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_model

    return build_tiny_model("llama", tmp_path_factory.mktemp("damaged_llama"))


def _damaged(model_dir, tmp_path, how):
    folder = tmp_path / how
    shutil.copytree(model_dir, folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    if how == "truncated":  # a copy that did not finish
        weights.write_bytes(bytes(data[: len(data) // 2]))
    else:  # a header overwritten with garbage
        data[:8] = b"\xff" * 8
        weights.write_bytes(bytes(data))
    return folder


def _config(folder):
    return (f"base_model: {folder}\ninput_features: [{{name: q, type: text}}]\n"
            "output_features: [{name: a, type: text}]\n")


@pytest.mark.parametrize("how", ["truncated", "garbled"])
def test_damaged_weights_name_the_file_and_the_fix(session, model_dir, tmp_path, how):
    folder = _damaged(model_dir, tmp_path, how)
    session.set_config(_config(folder))
    with pytest.raises(LlmMagicError) as info:
        session.load_model()
    message = str(info.value)
    assert f"the weights file model.safetensors in {str(folder)!r} is damaged or incomplete" in message
    assert "Copy it again" in message and "SafetensorError" not in message
    assert session.models.loaded is None


def test_through_the_shell_it_is_one_usage_error(ip, model_dir, tmp_path):
    ip.cell("llm_config", "", _config(_damaged(model_dir, tmp_path, "truncated")))
    with pytest.raises(UsageError, match="model.safetensors .* is damaged or incomplete"):
        ip.run_cell("%llm_info")
