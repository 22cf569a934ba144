"""The chart's ES module computes what the final picture computes (smoothing, epoch boundaries).

The live chart (``static/loss_chart.js``) and the static SVG (``loss_picture.py``) must agree, or
the picture left after a run would differ from what the user watched. Runs the module in Node
(skipped without it); the drawing itself is checked in a real browser by
``tests/notebooks/test_browser_chart.py``.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from llm_magic.widgets.loss_picture import epoch_boundaries, smooth

NODE = shutil.which("node")
MODULE = Path(__file__).resolve().parents[2] / "llm_magic" / "widgets" / "static" / "loss_chart.js"

pytestmark = pytest.mark.skipif(NODE is None, reason="needs node to run the ES module")


def _run_module(tmp_path: Path, expression: str):
    # A copy named .mjs: Node 20 loads a .js file outside a "type: module" package as CommonJS.
    module = tmp_path / "loss_chart.mjs"
    module.write_text(MODULE.read_text())
    script = f"import * as chart from {json.dumps(module.as_uri())};\nconsole.log(JSON.stringify({expression}));\n"
    out = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_smoothing_and_epoch_boundaries_match_the_final_picture(tmp_path):
    rng = random.Random(0)
    loss = [[step, 3.0 / step ** 0.5 + rng.random()] for step in range(1, 201)]
    epochs = [[step, step / 70] for step in range(1, 211, 3)]
    result = _run_module(tmp_path, f"{{s6: chart.smooth({loss}, 0.6), s0: chart.smooth({loss}, 0), "
                                   f"s99: chart.smooth({loss}, 0.99), epochs: chart.epochBoundaries({epochs})}}")
    for key, weight in (("s6", 0.6), ("s0", 0.0), ("s99", 0.99)):
        expected = smooth([tuple(p) for p in loss], weight)
        assert [s for s, _ in result[key]] == [s for s, _ in expected]
        assert [v for _, v in result[key]] == pytest.approx([v for _, v in expected], rel=1e-12)
    assert result["s0"] == loss  # no smoothing: the raw curve
    assert result["s6"][0] == loss[0]  # debiased: starts at the first value, not at 0
    assert [tuple(m) for m in result["epochs"]] == epoch_boundaries([tuple(p) for p in epochs])
    assert [m[1] for m in result["epochs"]] == [1, 2]  # epochs 2 and 3 begin inside the run
