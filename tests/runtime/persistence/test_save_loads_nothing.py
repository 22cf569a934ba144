"""Saving never loads a model: save, merge and export write the model the session holds."""
from __future__ import annotations

import hashlib
import json
import textwrap

import pytest

from llm_magic.runtime.persistence.layout import MANIFEST_NAME


def merge_on_save_yaml(base_dir) -> str:
    return textwrap.dedent(f"""
        model_type: llm
        base_model: {base_dir}
        input_features: [{{name: instruction, type: text}}]
        output_features: [{{name: output, type: text}}]
        adapter:
          type: lora
          r: 4
          target_modules: [q_proj, v_proj]
          postprocessor: {{merge_adapter_into_base_model: true}}
        trainer: {{type: finetune, epochs: 1}}
    """)


def _digests(folder) -> dict[str, str]:
    """sha256 of every file under ``folder``; the manifest without its creation time."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == MANIFEST_NAME:
            manifest = json.loads(data)
            manifest.pop("created")
            data = json.dumps(manifest, sort_keys=True).encode()
        out[path.relative_to(folder).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture
def counted(session, llama_dir, monkeypatch):
    """A session holding a LoRA model with moved weights; every model load and ``ensure`` is counted."""
    import torch

    from llm_magic.runtime.models import loader
    from llm_magic.runtime.models.manager import ModelManager

    session.set_config(merge_on_save_yaml(llama_dir), name="tuned")
    bundle = session.load_model()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in bundle.model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero; as if training had moved it
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)

    calls = {"load_model": 0, "ensure": 0}
    real_load, real_ensure = loader.load_model, ModelManager.ensure

    def load_model(*args, **kwargs):
        calls["load_model"] += 1
        return real_load(*args, **kwargs)

    def ensure(self, *args, **kwargs):
        calls["ensure"] += 1
        return real_ensure(self, *args, **kwargs)

    monkeypatch.setattr(loader, "load_model", load_model)
    monkeypatch.setattr(ModelManager, "ensure", ensure)
    return session, bundle, calls


def test_save_with_merge_loads_no_model_and_writes_the_held_weights(counted, tmp_path):
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from llm_magic.runtime.persistence.merge import merged_copy

    session, bundle, calls = counted
    report = session.save(tmp_path / "run")
    assert report.kind == "adapter" and report.merged
    assert calls == {"load_model": 0, "ensure": 1}  # the session fetched its bundle once
    assert session.models.loaded is bundle

    saved = load_file(str(tmp_path / "run" / "adapter_model.safetensors"))
    held = get_peft_model_state_dict(bundle.model)
    assert set(saved) == set(held) and all(saved[k].equal(held[k]) for k in held)
    expected, _ = merged_copy(bundle.model, session.config)
    merged = load_file(str(tmp_path / "run" / "merged" / "model.safetensors"))
    reference = expected.state_dict()
    assert merged and all(merged[k].equal(reference[k]) for k in merged)


def test_saving_again_and_exporting_load_nothing_and_write_the_same_files(counted, tmp_path):
    session, bundle, calls = counted
    session.save(tmp_path / "first")
    session.save(tmp_path / "second")
    report = session.export(tmp_path / "export")
    assert calls["load_model"] == 0
    assert _digests(tmp_path / "first") == _digests(tmp_path / "second")
    # The export writes the merge the saves made (kept by the session), byte for byte.
    assert report.merged
    exported = _digests(tmp_path / "export")
    in_run = {k[len("merged/"):]: v for k, v in _digests(tmp_path / "first").items() if k.startswith("merged/")}
    assert exported["model.safetensors"] == in_run["model.safetensors"]
