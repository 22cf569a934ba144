"""Smoke test of the benchmark runner: ``python -m benchmarks --quick config`` writes its rows.

Only that the harness runs and reports; no timing is asserted (benchmarks judge speed themselves).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a fresh process that imports torch and loads a model: ~20-40 s on 2 busy cores
def test_quick_config_benchmark_writes_its_rows(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "LLM_MAGIC_BENCH_CACHE": str(tmp_path / "models")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "config"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["environment"]["packages"]["torch"]
    rows = {row["name"]: row for row in report["results"]}
    rerun = rows["%%llm_config re-run, only generation keys changed"]
    assert rerun["unit"] == "s" and rerun["measured"] > 0
    assert "model kept: True" in rerun["note"]  # the re-run reloaded nothing
    assert "%%llm_config re-run" in proc.stdout  # the table is printed too


def test_unknown_benchmark_name_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--out", str(tmp_path / "r.json"), "nosuch"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "unknown benchmark(s) nosuch" in proc.stderr
    assert not (tmp_path / "r.json").exists()
