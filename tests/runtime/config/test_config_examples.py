"""Every example Ludwig config (ludwig_examples.py) loads, means what it says, and round-trips."""
from __future__ import annotations

import pytest
import yaml

from llm_magic.runtime.config import load_config
from ludwig_examples import EXAMPLES


@pytest.mark.parametrize("name", sorted(EXAMPLES, key=lambda n: int(n[1:])))
def test_example_loads_and_round_trips(name):
    config = load_config(EXAMPLES[name])
    again = load_config(config.to_dict())
    assert again.to_dict() == config.to_dict()
    # The dict form loads the same as the YAML text.
    assert load_config(yaml.safe_load(EXAMPLES[name])).to_dict() == config.to_dict()


def test_examples_mean_what_they_say():
    e2 = load_config(EXAMPLES["E2"])
    assert e2.output_feature.type == "category"
    assert list(e2.output_feature.decoder.match) == ["positive", "negative", "neutral"]
    assert e2.output_feature.decoder.match["neutral"].value == r"\bneutral\b"
    assert e2.output_feature.decoder.fallback_label == "neutral"
    assert e2.trainer.type == "none"

    e3 = load_config(EXAMPLES["E3"])
    assert e3.prompt.retrieval.k == 3 and e3.preprocessing.split.type == "fixed"

    e5 = load_config(EXAMPLES["E5"])
    assert e5.adapter.r == 16 and e5.adapter.alpha == 32
    assert e5.trainer.gradient_accumulation_steps == 8
    assert e5.trainer.learning_rate_scheduler.decay == "cosine"
    assert e5.generation.max_new_tokens == 1024  # derived from global_max_sequence_length
    assert ("generation.max_new_tokens", 1024, "max(32, global_max_sequence_length)") in e5.derived

    e6 = load_config(EXAMPLES["E6"])
    assert e6.base_model == "mistralai/Mistral-7B-v0.1"
    assert e6.adapter.alpha == 16 and e6.quantization.bits == 4
    assert e6.trainer.optimizer.type == "paged_adam"

    e7 = load_config(EXAMPLES["E7"])
    assert e7.adapter.target_modules is None  # discovered from the loaded model, not hard-coded
    assert e7.adapter.postprocessor.merge_adapter_into_base_model

    e8 = load_config(EXAMPLES["E8"])
    assert (e8.adapter.type, e8.adapter.delta_t, e8.adapter.total_step) == ("adalora", 10, 2000)

    e11 = load_config(EXAMPLES["E11"])
    assert e11.model_parameters.rope_scaling.factor == 2.0 and e11.adapter is None

    e12 = load_config(EXAMPLES["E12"])
    assert e12.trainer.type == "none" and e12.adapter.pretrained_adapter_weights

    e13 = load_config(EXAMPLES["E13"])
    assert e13.adapters.active_name == "blended" and e13.adapters.merge.combination_type == "ties"

    e14 = load_config(EXAMPLES["E14"])
    assert e14.quantization.backend == "torchao" and e14.quantization.qat

    e15 = load_config(EXAMPLES["E15"])
    assert e15.backend.type == "ray" and e15.backend.trainer.num_workers == 2
