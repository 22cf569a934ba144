"""``%load_ext llm_magic`` in a fresh process, against a fresh ``import IPython`` (target < 0.5 s)."""
from __future__ import annotations

from benchmarks.common import Result, time_subprocess

BASELINE = "import IPython"
LOAD_EXT = (
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "shell = InteractiveShell.instance()\n"
    "import time; t = time.perf_counter()\n"
    "shell.run_line_magic('load_ext', 'llm_magic')\n"
    "import sys; assert 'torch' not in sys.modules, 'load_ext imported torch'\n"
    "charts = {'anywidget', 'matplotlib', 'plotly', 'bqplot'} & set(sys.modules)\n"
    "assert not charts, f'load_ext imported a chart library: {charts}'\n"
)


def run(repeats: int = 5) -> list[Result]:
    """Time a fresh process doing %load_ext (shell creation included) against ``import IPython``."""
    baseline = time_subprocess(BASELINE, repeats)
    shell_only = time_subprocess(LOAD_EXT.replace("shell.run_line_magic('load_ext', 'llm_magic')", ""), repeats)
    measured = time_subprocess(LOAD_EXT, repeats)
    load_ext_alone = max(measured - shell_only, 0.0)
    return [
        Result("%load_ext llm_magic (fresh process, incl. shell)", measured, baseline, "s",
               "reported as ratio to `import IPython`", None),
        Result("%load_ext llm_magic (the magic alone)", load_ext_alone, None, "s", "< 0.5 s",
               load_ext_alone < 0.5, note=f"process with shell but no load_ext: {shell_only:.3f} s"),
    ]
