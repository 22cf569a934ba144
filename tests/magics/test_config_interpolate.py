"""``%%llm_config --interpolate`` sees plain data only; sandbox-escape payloads run no code.

Issue 14 item 4: on main the template rendered over the whole notebook namespace, so
``{{ os.system(...) }}`` and friends ran shell commands. Each payload below tries to create a marker
file; the test asserts the file does not exist and the user got one UsageError naming the problem.
"""
from __future__ import annotations

import os
import subprocess

import pytest
from IPython.core.error import UsageError

from llm_magic.runtime.config.interpolate import interpolate, plain_data_problem

CONFIG = """\
model_type: llm
base_model: llm-magic/tiny
input_features: [{name: question, type: text}]
output_features: [{name: answer, type: text}]
"""


@pytest.fixture(autouse=True)
def terminal(monkeypatch):
    monkeypatch.setenv("LLM_MAGIC_FRONTEND", "terminal")


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "pwned"


def _payloads(marker):
    touch = f"touch {marker}"
    py = f"open({str(marker)!r}, 'w').write('x')"
    return [
        # (payload, the variable or sandbox refusal the message must name)
        (f"{{{{ __builtins__.eval({py!r}) }}}}", "__builtins__"),
        (f"{{{{ __builtins__.open({str(marker)!r}, 'w').write('x') }}}}", "__builtins__"),
        (f"{{{{ get_ipython().system({touch!r}) }}}}", "get_ipython"),
        (f"{{{{ os.system({touch!r}) }}}}", "'os'"),
        (f"{{{{ subprocess.run({touch!r}, shell=True) }}}}", "subprocess"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "sandbox"),
        ("{{ ().__class__.__base__.__subclasses__() }}", "sandbox"),
        (f"{{{{ cycler.__init__.__globals__.os.system({touch!r}) }}}}", "cycler"),
        (f"{{{{ joiner.__init__.__globals__.os.system({touch!r}) }}}}", "joiner"),
        (f"{{{{ namespace.__init__.__globals__.os.system({touch!r}) }}}}", "namespace"),
        (f"{{{{ lipsum.__globals__['os'].system({touch!r}) }}}}", "lipsum"),
        (f"{{{{ self.__init__.__globals__.__builtins__.eval({py!r}) }}}}", "sandbox"),
        (f"{{{{ request|attr('application')|attr('__globals__') }}}}", "request"),
        ("{{ name|attr('__class__')|attr('__mro__') }}", "no attribute '__mro__'"),  # attr() yields undefined
        ("{{ '{0.__class__.__mro__}'.format(name) }}", "sandbox"),
        ("{{ '%s'|format(name.__class__) }}", "sandbox"),
        ("{{ items.append(1) }}", "sandbox"),  # immutable sandbox: no mutating methods
        ("{{ config_obj.base_model }}", "config_obj"),
        ("{{ 'a' * 1000000000 }}", "sandbox"),  # would build a 1 GB string
        ("{{ 10 ** 100000000 }}", "sandbox"),  # would compute for minutes
    ]


def _namespace(ip):
    ip.user_ns.update(os=os, subprocess=subprocess, name="x", items=[1, 2], config_obj=object())
    return ip.user_ns


@pytest.mark.parametrize("index", range(20))
def test_escape_payload_runs_no_code_and_is_one_clear_message(ip, session, marker, index):
    payload, named = _payloads(marker)[index]
    _namespace(ip)
    with pytest.raises(UsageError) as info:
        ip.cell("llm_config", "--interpolate", CONFIG + f"# {payload}\n")
    message = str(info.value)
    assert not marker.exists(), f"payload ran code: {payload}"
    assert message.startswith("--interpolate:") and "Traceback" not in message
    assert named in message, message
    assert session.config is None  # nothing stored
    assert ip.user_ns["items"] == [1, 2]


def test_non_plain_variables_are_named_with_what_they_are(ip, session):
    ip.user_ns.update(os=os, fn=len, nested={"a": [1, {"b": object()}]}, rank=8)
    cases = {"os": "a module", "fn": "a function or other callable", "nested": "key 'a' holds"}
    for name, kind in cases.items():
        with pytest.raises(UsageError) as info:
            ip.cell("llm_config", "--interpolate", CONFIG + f"adapter: {{type: lora, r: {{{{ rank }}}}}}\n"
                                                            f"# {{{{ {name} }}}}\n")
        assert f"the variable '{name}' is {kind}" in str(info.value)


def test_plain_data_renders_including_nested_dicts_and_loops(ip, session):
    ip.user_ns.update(settings={"rank": 4, "targets": ["q_proj", "v_proj"]}, lr=1e-3, name="tiny",
                      os=os)  # os is in the namespace but not read: no error
    ip.cell("llm_config", "--interpolate", CONFIG + """\
adapter:
  type: lora
  r: {{ settings.rank }}
  target_modules: [{% for t in settings.targets %}{{ t }}{{ ", " if not loop.last }}{% endfor %}]
trainer: {type: finetune, learning_rate: {{ lr }}}
# {% for i in range(2) %}{{ i }}{% endfor %} {{ name | upper }}
""")
    assert session.config.adapter.r == 4
    assert session.config.adapter.target_modules == ["q_proj", "v_proj"]
    assert session.config.trainer.learning_rate == 1e-3


def test_undefined_variable_is_named(ip, session):
    with pytest.raises(UsageError, match="'missing_var' is undefined"):
        ip.cell("llm_config", "--interpolate", CONFIG + "# {{ missing_var }}\n")


def test_small_repeats_still_render():
    assert interpolate("{{ '-' * 3 }}{{ 2 ** 3 }}", {}) == "---8"


def test_plain_data_rules():
    assert plain_data_problem({"a": [1, 2.0, None, True, ("x",)]}) is None
    assert plain_data_problem(os) == "a module"
    assert "item [1]" in plain_data_problem([1, object()])

    class Sneaky(str):
        pass

    assert plain_data_problem(Sneaky("x")) is not None  # a subclass could bring its own methods
    assert interpolate("{{ a }}-{{ b[1] }}", {"a": "x", "b": [0, 1]}) == "x-1"
