"""Helpers for the model runtime tests: config building, state snapshots, one training step."""
from __future__ import annotations

_FEATURES = {
    "input_features": [{"name": "instruction", "type": "text"}],
    "output_features": [{"name": "output", "type": "text"}],
}


def make_config(base_model, **sections):
    """A validated ``LLMConfig`` for ``base_model`` with the given top-level sections.

    Fine-tuning is the default trainer here because the config rules require it for adapters.
    """
    from llm_magic import load_config

    raw = {"base_model": str(base_model), **_FEATURES, "trainer": {"type": "finetune"}}
    raw.update(sections)
    return load_config(raw)


def snapshot(model) -> dict:
    """A detached copy of every tensor in ``model``'s state dict."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def train_one_step(loaded, text: str = "The quick brown fox jumps over the lazy dog.") -> float:
    """One plain-torch AdamW step on a next-token loss; returns the loss before the step."""
    import torch

    model = loaded.model
    model.train()
    batch = loaded.tokenizer([text], return_tensors="pt").to(loaded.device)
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, "nothing is trainable"
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    out = model(**batch, labels=batch["input_ids"])
    assert torch.isfinite(out.loss)
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    return float(out.loss.detach())


def changed_keys(before: dict, after: dict) -> set[str]:
    """Names of the state-dict entries whose values differ."""
    import torch

    return {
        name for name, tensor in before.items()
        if not torch.equal(tensor, after[name])
    }
