"""Re-running a ``%%llm_config`` cell where only ``generation`` keys changed: < 50 ms, no reload.

The cell runs through a real ``InteractiveShell`` (parse, validate, reconcile with the loaded
model, display the effective-config view), alternating two configs that differ only in
``generation.temperature`` and ``max_new_tokens``. The loaded model object must be the very same
afterwards (nothing reloaded or re-wrapped). No baseline: the target is absolute.
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
    ]
