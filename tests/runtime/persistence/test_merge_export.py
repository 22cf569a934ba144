"""Merging a LoRA into its base, and an export that loads with transformers alone."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.persistence.export import write_hf_folder
from llm_magic.runtime.persistence.merge import merged_copy
from tests.runtime.persistence.lora_helpers import make_lora

IDS = [[1, 40, 41, 42, 43, 44, 45, 46]]


def _logits(model):
    with torch.no_grad():
        return model(input_ids=torch.tensor(IDS)).logits


@pytest.fixture(scope="module")
def lora(llama_dir):
    return make_lora(llama_dir)


@pytest.fixture(scope="module")
def merged(lora):
    model, _ = lora
    before = _logits(model)
    merged_model, dequantized = merged_copy(model, None)
    return merged_model, dequantized, before


def test_merge_matches_the_adapter_model_and_leaves_it_alone(merged, lora):
    model, _ = lora
    merged_model, dequantized, before = merged
    assert not dequantized
    assert not hasattr(merged_model, "peft_config")
    assert not any("lora_" in name for name, _ in merged_model.named_parameters())
    torch.testing.assert_close(_logits(merged_model), before, rtol=1e-5, atol=1e-5)
    # The session's adapter model is untouched: still a LoRA, same outputs.
    assert any("lora_B" in name for name, _ in model.named_parameters())
    assert _logits(model).equal(before)


@pytest.mark.slow
def test_export_loads_without_llm_magic(merged, lora, tmp_path):
    merged_model, _, _ = merged
    _, tokenizer = lora
    out = tmp_path / "export"
    files = write_hf_folder(
        out, model=merged_model, tokenizer=tokenizer,
        generation={"max_new_tokens": 7, "do_sample": False, "temperature": 0.3}, card="# card\n",
    )
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "README.md"):
        assert name in files, name
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["max_new_tokens"] == 7 and gen.get("pad_token_id") == tokenizer.pad_token_id

    # A fresh interpreter in isolated mode, in which importing llm_magic is impossible.
    script = textwrap.dedent(f"""
        import sys, json
        sys.modules["llm_magic"] = None
        try:
            import llm_magic
        except ImportError:
            pass
        else:
            raise SystemExit("llm_magic must not be importable here")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        model = AutoModelForCausalLM.from_pretrained({str(out)!r})
        tokenizer = AutoTokenizer.from_pretrained({str(out)!r})
        with torch.no_grad():
            logits = model(input_ids=torch.tensor({IDS!r})).logits
        torch.save(logits, {str(tmp_path / "logits.pt")!r})
        generated = model.generate(input_ids=torch.tensor({IDS!r}))
        print(json.dumps({{"new_tokens": generated.shape[1] - {len(IDS[0])},
                          "loaded": [m for m in ("llm_magic", "peft") if sys.modules.get(m)]}}))
    """)
    result = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [] and report["new_tokens"] == 7
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), _logits(merged_model), rtol=0, atol=1e-6)


def test_export_refuses_a_quantized_model(lora, tmp_path):
    _, tokenizer = lora

    class Quantized(torch.nn.Module):
        is_quantized = True

    with pytest.raises(LlmMagicError, match="Cannot export a quantized model"):
        write_hf_folder(tmp_path / "q", model=Quantized(), tokenizer=tokenizer)
    assert not (tmp_path / "q").exists()


def test_exported_generation_settings_hold_sequence_bias_as_token_ids(session, llama_dir, tmp_path):
    """generation.sequence_bias is text in the config; the exported generation_config.json must
    hold what transformers reads (token-id lists), so plain ``generate`` applies it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from tests.runtime.persistence.lora_helpers import lora_config_dict

    config = lora_config_dict(llama_dir)
    config["generation"] = {"max_new_tokens": 3, "do_sample": False, "sequence_bias": {" cat": -50.0}}
    session.set_config(config)
    tokenizer = session.load_model().tokenizer
    session.export(tmp_path / "export")
    saved = json.loads((tmp_path / "export" / "generation_config.json").read_text())
    cat = tokenizer(" cat", add_special_tokens=False)["input_ids"]
    assert saved["sequence_bias"] == [[cat, -50.0]]
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export"))
    plain = AutoTokenizer.from_pretrained(str(tmp_path / "export"))
    generated = model.generate(**plain("the quick brown", return_tensors="pt"),
                               generation_config=GenerationConfig.from_pretrained(str(tmp_path / "export")))
    assert generated.shape[1] > 0
