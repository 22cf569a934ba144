"""Helpers for persistence tests: LoRA models with trained-looking weights, config dicts."""
from __future__ import annotations

LORA_TARGETS = ["q_proj", "v_proj"]


def make_lora(base_dir, r: int = 4, seed: int = 0):
    """A PEFT LoRA model on ``base_dir`` with non-zero B weights (as after training) + tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=LORA_TARGETS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero; training would move it
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    peft_model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    tokenizer.pad_token = tokenizer.eos_token
    return peft_model, tokenizer


def lora_config_dict(base_dir, r: int = 4) -> dict:
    """An effective-config-like dict for a LoRA fine-tune of ``base_dir``."""
    return {
        "model_type": "llm",
        "base_model": str(base_dir),
        "input_features": [{"name": "instruction", "type": "text"}],
        "output_features": [{"name": "output", "type": "text"}],
        "adapter": {"type": "lora", "r": r, "alpha": 2 * r, "target_modules": LORA_TARGETS},
        "trainer": {"type": "finetune", "epochs": 1},
    }
