"""A run's notes name every key the user set that had no effect, once each (Session.train, tiny Llama)."""
from __future__ import annotations

import pandas as pd

from tests.runtime.training.training_helpers import WORDS


def test_run_notes_name_keys_without_effect_once(session, llama_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session.set_config({
        "model_type": "llm", "base_model": str(llama_dir),
        "input_features": [{"name": "word", "type": "text", "preprocessing": {"ngram_size": 3}}],
        "output_features": [{"name": "answer", "type": "text", "loss": {"robust_lambda": 0.1}}],
        "prompt": {"template": "Say {word}:"},
        "adapter": {"type": "lora", "r": 4},
        "trainer": {"type": "finetune", "train_steps": 1, "batch_size": 4, "model_soup": "uniform",
                    "learning_rate_scheduler": {"reduce_on_plateau": 2}},
        "preprocessing": {"split": {"type": "fixed"}},
        "generation": {"max_new_tokens": 2},
    })
    frame = pd.DataFrame({"word": WORDS, "answer": [f" {w}" for w in WORDS],
                          "split": [0] * (len(WORDS) - 2) + [1, 2]})
    record = session.train(frame)
    assert record.status == "finished"
    text = "\n".join(record.notes)
    for key in ("input_features[0].preprocessing.ngram_size: 3", "output_features[0].loss.robust_lambda: 0.1",
                "trainer.model_soup: 'uniform'", "trainer.learning_rate_scheduler.reduce_on_plateau: 2"):
        assert text.count(key) == 1, (key, record.notes)
    assert text.count("model_soup") == 1  # not also in the trainer's own inert-key note
    assert "trainer.learning_rate:" not in text and "adapter" not in text
