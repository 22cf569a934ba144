"""Config-time checks of keys that used to pass load_config and do nothing (or fail much later):
unknown {__x__} placeholders, class balancing, category `lowercase`; and the one-pass safe YAML."""
from __future__ import annotations

import pytest
import yaml

from llm_magic import ConfigError, load_config
from llm_magic.runtime.config.yaml_lines import ConfigLoader, parse_yaml

BASE = """\
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""
FT = "trainer: {type: finetune}\n"


def errors_of(text):
    with pytest.raises(ConfigError) as info:
        load_config(text)
    return info.value.errors


# ------------------------------------------------------------------------------- placeholders
def test_unknown_special_placeholder_names_key_line_and_fix():
    text = BASE + "prompt:\n  template: |\n    Q: {question}\n    {__sampel__} and {__sampel__}\n    A:\n"
    errors = errors_of(text)
    assert len(errors) == 1  # once, though used twice
    err = errors[0]
    assert err.path == "prompt.template" and err.line == 6
    assert "{__sampel__}" in err.message and "line 2 of the template" in err.message
    assert "Did you mean {__sample__}?" in err.message


def test_unknown_special_placeholder_without_close_match_lists_the_known_ones():
    err = errors_of(BASE + "prompt: {template: 'Q: {__input__}'}\n")[0]
    assert err.path == "prompt.template" and err.line == 5
    assert "Did you mean" not in err.message
    for known in ("{__sample__}", "{__task__}", "{__context__}"):
        assert known in err.message
    assert "write {input}" in err.message  # the fix when a column was meant


def test_known_special_placeholders_still_load():
    config = load_config(BASE + "prompt: {task: Answer., template: '{__sample__} {__task__}'}\n")
    assert config.prompt.template == "{__sample__} {__task__}"


# ------------------------------------------------------------------------------- class balancing
@pytest.mark.parametrize("extra, path, words", [
    ("preprocessing: {oversample_minority: 0.5, undersample_majority: 0.5}\n" + FT,
     "preprocessing.undersample_majority", "mutually exclusive"),
    ("preprocessing: {oversample_minority: 0.5}\n", "preprocessing.oversample_minority", "finetune"),
    ("preprocessing: {undersample_majority: 0.5}\ntrainer: {epochs: 2}\n",
     "preprocessing.undersample_majority", "would do nothing"),
])
def test_balancing_rules(extra, path, words):
    errors = errors_of(BASE + extra)
    found = [e for e in errors if e.path == path]
    assert found and words in found[0].message, [str(e) for e in errors]
    assert found[0].line is not None


def test_balancing_a_category_output_is_rejected_like_ludwig():
    text = BASE.replace("{name: answer, type: text}",
                        "{name: answer, type: category, preprocessing: {vocab: [a, b], fallback_label: a}}")
    err = [e for e in errors_of(text + "preprocessing: {oversample_minority: 0.5}\n")
           if e.path == "preprocessing.oversample_minority"][0]
    assert "binary" in err.message and "category" in err.message


def test_balancing_a_finetuned_text_output_loads():
    config = load_config(BASE + "preprocessing: {oversample_minority: 0.5}\n" + FT)
    assert config.preprocessing.oversample_minority == 0.5


# ------------------------------------------------------------------------------- category lowercase
CATEGORY = BASE.replace(
    "{name: answer, type: text}",
    "{name: answer, type: category, preprocessing: {vocab: [Positive, Negative], fallback_label: Other, "
    "lowercase: true}, decoder: {match: {Positive: {type: contains, value: good}}}}")


def test_category_lowercase_lowers_the_config_labels_and_says_so():
    config = load_config(CATEGORY)
    prep, decoder = config.output_feature.preprocessing, config.output_feature.decoder
    assert prep.vocab == ["positive", "negative", "other"] and prep.fallback_label == "other"
    assert list(decoder.match) == ["positive"] and decoder.fallback_label == "other"
    derived = {path for path, _, _ in config._derived}
    assert {"output_features[0].preprocessing.vocab", "output_features[0].decoder.match"} <= derived


def test_category_lowercase_must_not_merge_labels():
    err = errors_of(CATEGORY.replace("[Positive, Negative]", "[Positive, positive, Negative]"))[0]
    assert err.path == "output_features[0].preprocessing.vocab"
    assert "`Positive` and `positive`" in err.message


# ------------------------------------------------------------------------------- YAML loading
def test_yaml_loader_is_safe_and_uses_libyaml_when_available():
    assert issubclass(ConfigLoader, yaml.SafeLoader if not yaml.__with_libyaml__ else yaml.CSafeLoader)
    assert not issubclass(ConfigLoader, (yaml.Loader, yaml.FullLoader, yaml.UnsafeLoader))
    data, lines, problems = parse_yaml("a: 1\nb: !!python/object/apply:os.system [echo hi]\n")
    assert data is None and problems[0].line == 2 and "plain data only" in problems[0].message


def test_one_parse_gives_data_lines_and_yaml_12_booleans():
    data, lines, problems = parse_yaml("labels: [yes, no]\nflag: true\nnested:\n  - {k: on}\n")
    assert data == {"labels": ["yes", "no"], "flag": True, "nested": [{"k": "on"}]}
    assert lines == {"labels": 1, "labels[0]": 1, "labels[1]": 1, "flag": 2, "nested": 3,
                     "nested[0]": 4, "nested[0].k": 4}
    assert problems == []
