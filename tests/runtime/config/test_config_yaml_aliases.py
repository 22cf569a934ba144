"""Error lines for keys reached through a YAML alias (``*anchor``) or a merge (``<<: *anchor``).

A key inside an aliased block is written once, in the anchored block: its error gives that line
(where the value can be fixed) and says where the alias uses it, since the path in the error
(``trainer.epochs``) is not what that line shows. A key whose own value is an alias gives its own
line and says where the value is written. A merge's overridden key is no duplicate.
"""
from __future__ import annotations

import pytest

from llm_magic import ConfigError, load_config
from llm_magic.runtime.config.yaml_lines import parse_yaml

BASE = """\
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: q, type: text}]
output_features: [{name: a, type: text}]
"""


def errors(text: str) -> dict[str, tuple[int, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(text)
    return {item.path: (item.line, item.message) for item in info.value.errors}


def test_a_key_inside_an_aliased_block_gives_the_anchor_line_and_names_the_alias():
    text = BASE + (
        "generation: &t\n"        # 5
        "  max_new_tokens: 4\n"   # 6
        "  epochs: many\n"        # 7
        "trainer: *t\n"           # 8
    )
    _, lines, _ = parse_yaml(text)
    assert lines["trainer"] == 8 and lines["trainer.epochs"] == 7
    found = errors(text)
    line, message = found["trainer.epochs"]
    assert line == 7 and message.endswith("(reached through the alias at line 8)"), message
    # The block where it is written: its own error, no note.
    line, message = found["generation.epochs"]
    assert line == 7 and "alias" not in message


def test_a_key_whose_value_is_an_alias_gives_its_line_and_names_the_anchor():
    text = BASE + (
        "trainer:\n"              # 5
        "  type: finetune\n"      # 6
        "  epochs: &n many\n"     # 7
        "  train_steps: *n\n"     # 8
    )
    found = errors(text)
    line, message = found["trainer.train_steps"]
    assert line == 8 and message.endswith("(its value is the anchor at line 7)"), message
    line, message = found["trainer.epochs"]
    assert line == 7 and "anchor" not in message


def test_a_merge_overrides_without_a_duplicate_and_its_keys_name_the_merge():
    text = (
        "x_gen: &g {max_new_tokens: 3, temperature: hot}\n"  # 1 (unknown top-level key, reported too)
        + BASE                                                # 2-5
        + "generation:\n"                                     # 6
          "  <<: *g\n"                                        # 7
          "  max_new_tokens: 4\n"                             # 8
    )
    data, lines, problems = parse_yaml(text)
    assert problems == []  # an override, not a duplicate key
    assert data["generation"] == {"max_new_tokens": 4, "temperature": "hot"}
    assert lines["generation.max_new_tokens"] == 8 and lines["generation.temperature"] == 1
    assert lines.notes["generation.temperature"] == "merged in by `<<` at line 7"
    line, message = errors(text)["generation.temperature"]
    assert line == 1 and message.endswith("(merged in by `<<` at line 7)"), message


def test_with_several_merges_the_line_is_that_of_the_value_the_data_holds():
    # The YAML spec lets the first merged mapping win; the installed PyYAML (6.0.4) keeps the last. The line
    # must follow what the data holds, whichever PyYAML is installed.
    text = BASE + (
        "generation:\n"                         # 5
        "  <<:\n"                               # 6
        "    - {temperature: 0.3}\n"            # 7
        "    - {temperature: 0.5, top_k: 3}\n"  # 8
        "  max_new_tokens: 4\n"                 # 9
    )
    data, lines, problems = parse_yaml(text)
    assert problems == [] and data["generation"]["top_k"] == 3 and data["generation"]["max_new_tokens"] == 4
    assert lines["generation.temperature"] == {0.3: 7, 0.5: 8}[data["generation"]["temperature"]]
    assert lines["generation.top_k"] == 8 and lines["generation.max_new_tokens"] == 9
    assert lines.notes["generation.top_k"] == "merged in by `<<` at line 6"


def test_a_duplicate_key_is_still_reported_beside_a_merge():
    text = BASE + "generation:\n  <<: {temperature: 0.5}\n  max_new_tokens: 3\n  max_new_tokens: 4\n"
    _, _, problems = parse_yaml(text)
    assert [(p.path, p.line) for p in problems] == [("generation.max_new_tokens", 8)]
    assert "first at line 7" in problems[0].message


def test_a_list_item_alias_names_the_alias_on_a_one_line_list():
    text = BASE.replace("output_features: [{name: a, type: text}]",
                        "x_f: &f {name: a, type: txt}\noutput_features: [*f]")
    line, message = errors(text)["output_features[0]"]
    assert line == 4 and message.endswith("(reached through an alias at line 5)"), message


def test_the_alias_line_in_the_message_counts_as_the_cell_shows_it():
    from llm_magic.magics.config_magics import as_cell_lines

    with pytest.raises(ConfigError) as info:
        load_config(BASE + "generation: &t\n  max_new_tokens: 4\n  epochs: many\ntrainer: *t\n")
    shifted = {item.path: item for item in as_cell_lines(info.value).errors}
    item = shifted["trainer.epochs"]
    assert item.line == 8 and item.message.endswith("(reached through the alias at line 9)"), item
