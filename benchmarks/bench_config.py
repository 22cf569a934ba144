"""Re-running a ``%%llm_config`` cell where only ``generation`` keys changed: < 50 ms, no reload.

The cell runs through a real ``InteractiveShell`` (parse, validate, reconcile with the loaded
model, display the effective-config view), alternating two configs that differ only in
``generation.temperature`` and ``max_new_tokens``. The loaded model object must be the very same
afterwards (nothing reloaded or re-wrapped). No baseline: the target is absolute. A second row times refusing YAML alias bombs (< 0.1 s).
"""
from __future__ import annotations

import statistics
import time

from benchmarks import workloads
from benchmarks.common import Result

TARGET_SECONDS = 0.050


def _yaml(base_model: str, temperature: float, max_new_tokens: int) -> str:
    import yaml

    cfg = workloads.config(base_model, adapter=workloads.LORA, generation={
        "temperature": temperature, "max_new_tokens": max_new_tokens, "do_sample": True})
    return yaml.safe_dump(cfg, sort_keys=False)


def run(quick: bool = False) -> list[Result]:
    """Time the cell re-run (median) and check that the loaded model was kept."""
    workloads.quiet()
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from llm_magic.runtime.session import reset_session

    base_model = str(workloads.model_dir("tiny" if quick else "10m"))
    repeats = 5 if quick else 21
    cells = [_yaml(base_model, 0.1, 32), _yaml(base_model, 0.7, 64)]
    session = reset_session()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "llm_magic")
    with capture_output():
        shell.run_cell_magic("llm_config", "--load", cells[0])
    loaded = session.models.loaded
    model = loaded.model

    magic_times, api_times, actions = [], [], set()
    for i in range(repeats):
        cell = cells[(i + 1) % 2]
        with capture_output():
            started = time.perf_counter()
            shell.run_cell_magic("llm_config", "", cell)
            magic_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        change = session.set_config(cells[i % 2])
        api_times.append(time.perf_counter() - started)
        actions.add(change.action)
    kept = session.models.loaded is loaded and loaded.model is model and actions == {"none"}
    magic = statistics.median(magic_times)
    api = statistics.median(api_times)
    note = (f"model kept: {kept} (reconcile actions {sorted(actions)}); "
            f"temperature {session.config.generation.temperature} now")
    return [
        Result("%%llm_config re-run, only generation keys changed", magic, None, "s",
               "< 50 ms, no model reload", magic < TARGET_SECONDS and kept, note),
        Result("session.set_config(yaml), only generation keys changed", api, None, "s",
               "reported (the API, no display)", None),
        _alias_bomb_result(),
    ]


def _alias_bomb_result() -> Result:
    """Billion-laughs configs (6 and 9 levels of 10 aliases) must be refused within 0.1 s."""
    from llm_magic import ConfigError, load_config

    head = ("model_type: llm\nbase_model: llm-magic/tiny\ninput_features: [{name: q, type: text}]\n"
            "output_features: [{name: a, type: text}]\ndefaults:\n  l0: &l0 [" + ", ".join(['"lol"'] * 10) + "]\n")
    times, refused = [], True
    for levels in (6, 9):
        text = head + "".join(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, levels))
        started = time.perf_counter()
        try:
            load_config(text)
            refused = False
        except ConfigError as exc:
            refused = refused and "alias" in str(exc)
        times.append(time.perf_counter() - started)
    worst = max(times)
    return Result("YAML alias bomb (6 and 9 levels of 10) refused", worst, None, "s", "< 0.1 s, refused",
                  worst < 0.1 and refused, f"6 levels {times[0] * 1e3:.2f} ms, 9 levels {times[1] * 1e3:.2f} ms")
