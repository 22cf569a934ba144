"""The embedded model's fine-tuning recipe fills in unset trainer keys, shown as derived values."""
from __future__ import annotations

from llm_magic import load_config
from llm_magic.runtime.embedded.recipe import TINY_RECIPE

PASTED = """\
model_type: llm
base_model: {model}
input_features: [{{name: instruction, type: text}}]
output_features: [{{name: output, type: text}}]
adapter: {{type: lora}}
trainer: {trainer}
"""


def _derived(config):
    return {path: (value, reason) for path, value, reason in config.derived}


def test_pasted_ludwig_config_gets_the_recipe_with_reasons():
    config = load_config(PASTED.format(model="llm-magic/tiny", trainer="{type: finetune}"))
    derived = _derived(config)
    for key, value in TINY_RECIPE:
        shown, reason = derived[f"trainer.{key}"]
        assert shown == value and "llm-magic/tiny" in reason and f"trainer.{key}" in reason
    scheduler = config.trainer.learning_rate_scheduler
    assert (config.trainer.learning_rate, scheduler.decay, scheduler.warmup_fraction) == (0.001, "linear", 0.05)
    assert config.trainer.batch_size == 4 and config.trainer.epochs == 5
    assert [p for p, _, _ in config.derived].count("trainer.epochs") == 1
    # Derived, not user-set: the config's diff from the defaults is still only what was written.
    assert "learning_rate" not in config.diff_from_defaults()["trainer"]


def test_explicit_values_are_honoured():
    trainer = "{type: finetune, learning_rate: 0.0001, learning_rate_scheduler: {decay: cosine}}"
    config = load_config(PASTED.format(model="llm-magic/tiny", trainer=trainer))
    derived = _derived(config)
    assert config.trainer.learning_rate == 0.0001 and "trainer.learning_rate" not in derived
    assert config.trainer.learning_rate_scheduler.decay == "cosine"
    assert "trainer.learning_rate_scheduler.decay" not in derived
    # The key left unset is still filled in.
    assert derived["trainer.learning_rate_scheduler.warmup_fraction"][0] == 0.05


def test_a_given_step_count_is_not_overridden_by_the_recipe_epochs():
    config = load_config(PASTED.format(model="llm-magic/tiny", trainer="{type: finetune, train_steps: 7}"))
    assert config.trainer.train_steps == 7 and "trainer.epochs" not in _derived(config)
    config = load_config(PASTED.format(model="llm-magic/tiny", trainer="{type: finetune, epochs: 2}"))
    assert config.trainer.epochs == 2 and "trainer.epochs" not in _derived(config)


def test_other_models_keep_the_general_defaults():
    config = load_config(PASTED.format(model="gpt2", trainer="{type: finetune}"))
    derived = _derived(config)
    assert config.trainer.learning_rate == 0.0002 and config.trainer.learning_rate_scheduler.decay is None
    assert config.trainer.batch_size == 1
    assert not [p for p in derived if p.startswith("trainer.learning_rate_scheduler")]
    assert "Ludwig's is 0.001" in derived["trainer.learning_rate"][1]


def test_inference_only_config_gets_no_recipe():
    text = PASTED.format(model="llm-magic/tiny", trainer="{type: none}").replace("adapter: {type: lora}\n", "")
    config = load_config(text)
    assert not [p for p in _derived(config) if p.startswith("trainer.learning")]


def test_preference_trainers_get_their_own_recipe():
    from llm_magic.runtime.embedded.recipe import TINY_PREFERENCE_RECIPE

    trainer = "{type: dpo, rejected_column: rejected}"
    config = load_config(PASTED.format(model="llm-magic/tiny", trainer=trainer))
    derived = _derived(config)
    for key, value in TINY_PREFERENCE_RECIPE:
        assert derived[f"trainer.{key}"][0] == value
    # The preference recipe keeps the general epochs; the fine-tuning recipe's 5 are not applied.
    assert config.trainer.learning_rate == 0.003 and config.trainer.epochs == 3
    assert "llm-magic/tiny" not in derived["trainer.epochs"][1]
