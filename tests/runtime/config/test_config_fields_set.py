"""``fields_set``: the one walk over a config's set fields, behind both ``diff_from_defaults`` and
the ``%%llm_config`` display's "written" section."""
from __future__ import annotations

from llm_magic.runtime.config import fields_set, load_config

CONFIG = {
    "base_model": "llm-magic/tiny",
    "input_features": [{"name": "question", "type": "text"}],
    "output_features": [{"name": "answer", "type": "text"}],
    "adapter": {"type": "lora", "r": 16},
    "trainer": {"type": "finetune", "epochs": 3},
}


def test_kept_defaults_show_what_was_written():
    config = load_config(CONFIG)
    written = fields_set(config)
    assert written["trainer"]["epochs"] == 3  # equal to the default, but the user wrote it
    assert written["adapter"] == {"type": "lora", "r": 16}
    assert written["input_features"] == [{"name": "question", "type": "text"}]


def test_without_defaults_it_is_the_diff_from_defaults():
    config = load_config(CONFIG)
    diff = fields_set(config, defaults=False, keep_type=True)
    assert diff == config.diff_from_defaults()
    assert "epochs" not in diff["trainer"] and diff["trainer"]["type"] == "finetune"
    assert diff["adapter"]["r"] == 16
