"""The shipped model ``llm-magic/tiny``: small, loadable offline by plain transformers, and English."""
from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest

from llm_magic.runtime import embedded
from llm_magic.runtime.embedded import EMBEDDED_MODEL_ID, embedded_model_path

MAX_BYTES = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_path())


@pytest.fixture(scope="module")
def model():
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(embedded_model_path())
    m.eval()
    return m


def test_id_and_folder():
    path = embedded_model_path()
    assert EMBEDDED_MODEL_ID == "llm-magic/tiny"
    assert embedded.is_embedded_model("llm-magic/tiny") and not embedded.is_embedded_model("tiny")
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()


def test_folder_is_small_and_safetensors_only():
    files = [p for p in embedded_model_path().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES
    assert any(p.name == "model.safetensors" for p in files)
    assert not [p for p in files if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"}]


def test_missing_folder_names_the_rebuild_command(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "_TINY_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="tools.embedded_model"):
        embedded.embedded_model_path()


def test_import_is_cheap():
    code = "import sys, llm_magic.runtime.embedded; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_loads_as_float32_llama(model):
    from transformers import LlamaForCausalLM

    assert isinstance(model, LlamaForCausalLM)
    assert next(model.parameters()).dtype.is_floating_point
    assert str(next(model.parameters()).dtype) == "torch.float32"
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    assert not model.config.to_dict().get("auto_map")  # no custom code: trust_remote_code stays off


def test_tokenizer_special_tokens_and_round_trip(tokenizer, model):
    assert tokenizer.pad_token and tokenizer.eos_token and tokenizer.bos_token
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer)
    text = 'The little dog ran to the park.\n"Where is my hat?" asked Mia. Zebra, café & 42!'
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    # Corpus words are single tokens (a real BPE, not bytes): "<s>" + 7 words + "."
    assert len(tokenizer("The little dog ran to the park.")["input_ids"]) == 9


def test_chat_template_renders(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert "User: Hi" in text and "Assistant: Hello" + tokenizer.eos_token in text
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("Assistant:")


def _mean_loss(model, batch_ids) -> float:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor(batch_ids), labels=torch.tensor(batch_ids)).loss.item()


def test_held_out_english_scores_far_better_than_shuffled_tokens(model, tokenizer):
    from tools.embedded_model.corpus import held_out_sentences

    text = " ".join(held_out_sentences(30, seed=99))
    ids = tokenizer(text)["input_ids"][:256]
    shuffled = ids[:1] + random.Random(0).sample(ids[1:], len(ids) - 1)
    english, scrambled = _mean_loss(model, [ids]), _mean_loss(model, [shuffled])
    # Same tokens, same unigram counts: only word order differs, so the gap is what it learned.
    # Built model: 2.4 vs 9.3 nats. The grammar's own randomness keeps the first near 2.4.
    assert english < 3.0, english
    assert scrambled - english > 4.0, (english, scrambled)


def test_greedy_continuation_is_corpus_english(model, tokenizer):
    from tools.embedded_model.corpus import generate_corpus

    known = {w for d in generate_corpus(400, seed=0) for w in re.findall(r"[A-Za-z]+", d)}
    prompt = tokenizer("Once upon a time, there was a little dog", return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=30, do_sample=False)
    continuation = tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    words = re.findall(r"[A-Za-z]+", continuation)
    assert len(words) >= 10, continuation
    assert set(words) <= known, continuation
