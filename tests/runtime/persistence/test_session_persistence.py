"""Session.save / Session.load / load_session: round trips, across processes, and failed loads."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.persistence.state import own_state

PROMPT = "The quick brown fox"
REPO = Path(__file__).resolve().parents[3]


def lora_yaml(base_dir, r: int = 4) -> str:
    return textwrap.dedent(f"""
        model_type: llm
        base_model: {base_dir}
        input_features: [{{name: instruction, type: text}}]
        output_features: [{{name: output, type: text}}]
        adapter: {{type: lora, r: {r}, target_modules: [q_proj, v_proj]}}
        trainer: {{type: finetune, epochs: 1}}
    """)


def train_a_little(model, tokenizer, steps: int = 12) -> None:
    """Real optimizer steps on the LoRA weights (B starts at zero and moves).

    The model learns to continue PROMPT with a fixed sentence, so greedy decoding has clear
    winners (no near-ties for float noise to flip) and differs visibly from the base model.
    """
    import torch

    torch.manual_seed(0)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=0.05)
    ids = tokenizer(f"{PROMPT} jumps over the lazy dog.", return_tensors="pt").input_ids
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
    model.eval()


def greedy(session) -> str:
    return session.generate(PROMPT, raw=True, do_sample=False, max_new_tokens=12).text


@pytest.fixture
def trained(session, llama_dir):
    session.set_config(lora_yaml(llama_dir), name="tuned")
    bundle = session.load_model()
    model = bundle.model
    train_a_little(model, bundle.tokenizer)
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
    return session


def test_save_then_load_into_a_fresh_session_generates_the_same(trained, tmp_path):
    from llm_magic.runtime.session import reset_session

    text = greedy(trained)
    report = trained.save(tmp_path / "run")
    assert report.kind == "adapter" and "%llm_load" in repr(report)
    assert own_state(trained)["last_folder"] == tmp_path / "run"
    config_before = trained.config.to_dict()

    fresh = reset_session()
    loaded = fresh.load(tmp_path / "run")
    assert loaded.kind == "adapter" and loaded.config_name == "tuned"
    assert fresh.config_name == "tuned" and fresh.config.to_dict() == config_before
    assert greedy(fresh) == text


def _expect_unchanged(session, before):
    config, model, data, text = before
    assert session.config.to_dict() == config
    assert session.models.loaded.model is model
    assert session.data is data
    assert greedy(session) == text


def test_failed_loads_leave_the_session_as_it_was(trained, tmp_path, other_llama_dir):
    import pandas as pd

    trained.save(tmp_path / "good")
    trained.data = pd.DataFrame({"instruction": ["a"], "output": ["b"]})
    before = (trained.config.to_dict(), trained.models.loaded.model, trained.data, greedy(trained))

    with pytest.raises(LlmMagicError, match="no such folder"):
        trained.load(tmp_path / "missing")
    _expect_unchanged(trained, before)

    truncated = tmp_path / "truncated"
    shutil.copytree(tmp_path / "good", truncated)
    weights = truncated / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(LlmMagicError, match="adapter_model.safetensors is corrupted or truncated"):
        trained.load(truncated)
    _expect_unchanged(trained, before)

    other_base = tmp_path / "other_base"
    shutil.copytree(tmp_path / "good", other_base)
    config = yaml.safe_load((other_base / "config.yaml").read_text())
    config["base_model"] = str(other_llama_dir)
    (other_base / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(LlmMagicError, match="was trained on base model"):
        trained.load(other_base)
    _expect_unchanged(trained, before)

    # The adapter does not fit the model its own config builds (rank 4 weights, rank 8 config):
    # found only after the model is built, which must then be thrown away.
    misfit = tmp_path / "misfit"
    shutil.copytree(tmp_path / "good", misfit)
    config = yaml.safe_load((misfit / "config.yaml").read_text())
    config["adapter"]["r"] = 8
    (misfit / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(LlmMagicError, match="does not fit the model built from its config.yaml"):
        trained.load(misfit)
    _expect_unchanged(trained, before)


def test_save_without_a_config_is_a_clear_error(session, tmp_path):
    with pytest.raises(LlmMagicError, match="No config yet"):
        session.save(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def _run(script: str, tmp_path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin",
             "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_saved_run_generates_the_same_text_in_another_process(llama_dir, tmp_path):
    run_dir = tmp_path / "run"
    helpers = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_session_persistence import greedy, lora_yaml, train_a_little
    """)
    saver = helpers + textwrap.dedent(f"""
        import torch
        from llm_magic.runtime.session import get_session
        s = get_session()
        s.set_config(lora_yaml({str(llama_dir)!r}))
        bundle = s.load_model()
        model = bundle.model
        train_a_little(model, bundle.tokenizer)
        text = greedy(s)
        with model.disable_adapter():
            base_text = greedy(s)
        s.save({str(run_dir)!r})
        print(json.dumps({{"text": text, "base_text": base_text}}))
    """)
    loader = helpers + textwrap.dedent(f"""
        from llm_magic.runtime.persistence import load_session
        s = load_session({str(run_dir)!r})
        print(json.dumps({{"text": greedy(s), "config": s.config.to_dict()}}))
    """)
    saved = _run(saver, tmp_path)
    loaded = _run(loader, tmp_path)
    assert saved["text"] != saved["base_text"], "the trained adapter must change the output"
    assert loaded["text"] == saved["text"]
    assert loaded["config"]["adapter"]["r"] == 4
