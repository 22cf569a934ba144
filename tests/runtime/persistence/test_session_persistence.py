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
    assert trained.persistence.last_folder == tmp_path / "run"
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


def _run(script: str, cwd: Path) -> dict:
    """Run ``script`` in a fresh interpreter (a new kernel, as far as llm_magic can tell)."""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin",
             "HOME": str(cwd), "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


_COMMON = '''
import json, torch
import pandas as pd
from llm_magic.runtime.session import Session, get_session
WORDS = ["cat", "dog", "fox", "the", "quick", "lazy", "brown", "model", "tiny", "runs",
         "fast", "test", "red", "blue", "green", "sun"]
df = pd.DataFrame({"word": WORDS, "answer": [" " + w for w in WORDS]})
CONFIG = """
model_type: llm
base_model: BASE
input_features: [{name: word, type: text}]
output_features: [{name: answer, type: text}]
prompt: {template: "Say {word}:"}
adapter: {type: lora, r: 8, dropout: 0.0}
trainer: {type: finetune, learning_rate: 0.05, epochs: 2, batch_size: 4}
preprocessing: {split: {type: random, probabilities: [0.75, 0.125, 0.125]}}
"""
def greedy(s):
    return s.generate("dog", do_sample=False, max_new_tokens=6).text
def losses(s):
    return s.history["loss"].tolist()
'''


@pytest.mark.slow
def test_a_saved_run_generates_the_same_and_resumes_in_another_process(llama_dir, tmp_path):
    """Kernel 1 trains, stops at step 2 and saves; kernel 2 loads, generates the same greedy
    text, and --resume continues at step 3 with the same optimizer and schedule: its losses
    match an uninterrupted reference run step for step."""
    run_dir = tmp_path / "saved-run"
    common = _COMMON.replace("BASE", str(llama_dir))
    first_kernel = common + textwrap.dedent(f"""
        from llm_magic.runtime.training.runs import training_state
        # The reference: the same run, never interrupted (same seeds, same data order).
        ref = Session()
        torch.manual_seed(0)
        ref.set_config(CONFIG)
        ref.load_model()
        ref.train(df, loggers=[])

        class StopAt2:
            def log(self, name, data, step):
                pass
            def log_dict(self, payload, step):
                if "loss" in payload and step == 2:
                    training_state(s).stop_event.set()
            def close(self):
                pass

        s = get_session()
        torch.manual_seed(0)
        s.set_config(CONFIG)
        s.load_model()
        record = s.train(df, loggers=[StopAt2()])
        assert record.status == "stopped" and record.global_step == 2, record.status
        text = greedy(s)
        s.save({str(run_dir)!r})
        print(json.dumps({{"reference": losses(ref), "text": text, "steps": record.max_steps}}))
    """)
    second_kernel = common + textwrap.dedent(f"""
        from llm_magic import load_session
        s = load_session({str(run_dir)!r})
        text = greedy(s)
        record = s.train(df, resume=True, loggers=[])
        print(json.dumps({{"text": text, "status": record.status, "step": record.global_step,
                          "losses": losses(s), "history_steps": s.history["step"].tolist()}}))
    """)
    first = _run(first_kernel, tmp_path)
    from safetensors.torch import load_file

    saved = load_file(str(run_dir / "adapter_model.safetensors"))
    assert any(v.abs().sum() > 0 for k, v in saved.items() if "lora_B" in k)
    assert (run_dir / "checkpoints" / "checkpoint-2" / "optimizer.pt").is_file()
    assert (run_dir / "history.csv").is_file()

    second = _run(second_kernel, tmp_path)
    assert second["text"] == first["text"]
    assert second["status"] == "finished" and second["step"] == first["steps"] == 6
    # Steps 1-2 come from the saved history, 3-6 from the resumed run: nothing restarted.
    assert second["history_steps"] == [1, 2, 3, 4, 5, 6]
    assert second["losses"] == pytest.approx(first["reference"], rel=1e-4, abs=1e-5)


def test_a_full_fine_tune_saves_and_loads_its_whole_weights(session, llama_dir, tmp_path):
    import torch

    from llm_magic.runtime.session import reset_session

    session.set_config(lora_yaml(llama_dir).replace(
        "adapter: {type: lora, r: 4, target_modules: [q_proj, v_proj]}\n", ""))
    model = session.load_model().model
    with torch.no_grad():  # stand in for training: every weight of one layer moves
        model.model.layers[0].mlp.down_proj.weight.add_(0.25)
    ids = torch.tensor([[1, 40, 41, 42]])
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    report = session.save(tmp_path / "full")
    assert report.kind == "full" and "model.safetensors" in report.files
    assert "adapter_config.json" not in report.files

    fresh = reset_session()
    loaded = fresh.load(tmp_path / "full")
    assert loaded.kind == "full"
    assert fresh.config.base_model == str((tmp_path / "full").resolve())
    reloaded = fresh.load_model().model
    reloaded.eval()
    with torch.no_grad():
        assert reloaded(input_ids=ids).logits.equal(expected)
