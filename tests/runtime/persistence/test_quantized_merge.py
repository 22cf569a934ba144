"""Merging into a quantized base: the base is reloaded in full precision, never merged in 4-bit."""
from __future__ import annotations

import pytest
import torch

IDS = [[1, 40, 41, 42, 43]]


def _logits(model):
    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor(IDS)).logits


def test_merge_of_a_4bit_lora_reloads_the_base_in_full_precision(session, llama_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    session.set_config(
        f"model_type: llm\nbase_model: {llama_dir}\n"
        "input_features: [{name: instruction, type: text}]\n"
        "output_features: [{name: output, type: text}]\n"
        "adapter: {type: lora, r: 4, target_modules: [q_proj, v_proj]}\n"
        "quantization: {bits: 4, bnb_4bit_compute_dtype: float32}\n"
        "trainer: {type: finetune, epochs: 1}\n"
    )
    bundle = session.load_model()
    assert bundle.quantized
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in bundle.model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)

    report = session.merge()
    assert report.dequantized and "reloaded the base in full precision" in repr(report)
    assert report.estimated_bytes == report.parameters * 4
    merged = report.model
    assert not getattr(merged, "is_quantized", False)
    assert all(p.dtype == torch.float32 for p in merged.parameters())
    # The session still holds its quantized adapter model.
    assert session.load_model().model is bundle.model and bundle.quantized

    # Reference: the full-precision base with the same adapter weights, through PEFT alone.
    session.save(tmp_path / "run")
    base = AutoModelForCausalLM.from_pretrained(str(llama_dir))
    reference = PeftModel.from_pretrained(base, str(tmp_path / "run"))
    torch.testing.assert_close(_logits(merged), _logits(reference), rtol=1e-4, atol=1e-4)

    exported = session.export(tmp_path / "export")
    assert exported.merged
    reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export"))
    torch.testing.assert_close(_logits(reloaded), _logits(merged), rtol=0, atol=1e-6)
