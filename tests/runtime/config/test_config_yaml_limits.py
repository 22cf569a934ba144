"""YAML alias bombs are refused before expansion; long error lists are one compact message.

Issue 14 item 6: six levels of ten aliases took seconds and ~270 MB, nine levels exhausted the
machine; 500 unknown keys gave hundreds of KB of text. (Speed is measured in benchmarks/, not here:
these tests assert the refusal, its message and the bounded memory.)
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from llm_magic import ConfigError, load_config
from llm_magic.runtime.config.yaml_lines import check_expanded_size, safe_load

ROOT = Path(__file__).resolve().parents[3]

BASE = """\
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""


def alias_bomb(levels: int, width: int = 10) -> str:
    """Billion laughs: each level is a list of ``width`` aliases of the level below."""
    lines = ["preprocessing:", "  sample_ratio: 1.0", "defaults:",
             "  l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return BASE + "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_alias_bomb_is_refused_in_bounded_memory(levels):
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            load_config(alias_bomb(levels))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert len(info.value.errors) == 1 and "alias" in message and "100,000 values" in message
    assert info.value.errors[0].line > 4  # the line of the level that went over the cap
    assert peak < 5_000_000, f"peak {peak / 1e6:.1f} MB while refusing a {levels}-level bomb"


def test_nine_level_bomb_in_a_fresh_process_with_capped_memory():
    # A separate process under a 1.5 GB address-space cap: on a loader that expands aliases this
    # dies (MemoryError) instead of taking the test machine down.
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
        import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_config_yaml_limits import alias_bomb
        from llm_magic import ConfigError, load_config
        try:
            load_config(alias_bomb(9))
        except ConfigError as exc:
            print("REFUSED", "alias" in str(exc))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "REFUSED True", (proc.stdout + proc.stderr)[-2000:]


def test_self_referencing_alias_is_refused():
    with pytest.raises(ConfigError, match="refers to itself"):
        load_config(BASE + "defaults: &d\n  text: *d\n")


def test_ordinary_aliases_still_work():
    text = BASE + "trainer: &t {type: finetune, epochs: 2}\nadapter: {type: lora, r: 4}\n"
    assert load_config(text).trainer.epochs == 2
    assert safe_load("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    node_count = check_expanded_size(__import__("yaml").compose("a: &x [1, 2]\nb: [*x, *x]\n"))
    assert node_count == 1 + 2 + 3 + 1 + 3 + 3  # root, 2 keys, list a, list b, two expanded copies


def test_run_folder_yaml_is_alias_capped_too():
    import yaml
    with pytest.raises(yaml.YAMLError, match="alias"):
        safe_load(alias_bomb(7))


def test_five_hundred_unknown_keys_give_one_compact_message():
    text = BASE + "".join(f"unknown_key_{i}: 1\n" for i in range(500))
    with pytest.raises(ConfigError) as info:
        load_config(text)
    message = str(info.value)
    assert len(info.value.errors) == 500  # the full list stays available to code
    assert message.count("\n") + 1 <= 30 and len(message) < 20_000
    assert message.startswith("Invalid llm config: 500 problems")
    assert "line 5: unknown_key_0" in message  # the first problems, with their lines
    shown = message.count("unknown top-level key")
    assert f"... and {500 - shown} more problems" in message


def test_compact_message_reaches_the_user_through_the_magic(ip, session, monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")
    text = BASE + "trainer:\n  type: finetune\n" + "".join(f"  bogus_{i}: 1\n" for i in range(500))
    with pytest.raises(UsageError) as info:
        ip.cell("llm_config", "", text)
    message = str(info.value)
    assert message.count("\n") + 1 <= 30 and "trainer.bogus_0" in message and "more problems" in message
    assert "Traceback" not in message


def test_prompt_cell_rows_are_alias_capped_and_keep_yaml11_booleans():
    import yaml
    assert safe_load("a: yes\nb: on\n", yaml11_booleans=True) == {"a": True, "b": True}
    assert safe_load("a: yes\n") == {"a": "yes"}  # the config loader: only true/false
    with pytest.raises(yaml.YAMLError, match="alias"):
        safe_load(alias_bomb(9), yaml11_booleans=True)
