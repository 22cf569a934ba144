"""Run every benchmark, print a table and write ``benchmarks/results.json``.

Usage: ``python -m benchmarks [name ...]`` (names: the ``bench_*`` module suffixes).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

from benchmarks.common import environment


def main(argv: list[str]) -> int:
    """Run the selected (default: all) benchmarks and report them."""
    package_dir = Path(__file__).parent
    names = [m.name[len("bench_"):] for m in pkgutil.iter_modules([str(package_dir)])
             if m.name.startswith("bench_")]
    selected = argv or sorted(names)
    env = environment()
    print(f"environment: {json.dumps(env)}")
    rows = []
    for name in selected:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"\n== {name}: {module.__doc__.strip().splitlines()[0]}")
        for result in module.run():
            rows.append(result.as_dict())
            ratio = f"{result.ratio:.2f}x" if result.ratio is not None else "-"
            base = f"{result.baseline:.4g}" if result.baseline is not None else "-"
            verdict = {True: "OK", False: "MISS", None: "info"}[result.ok]
            print(f"  {result.name:<55} {result.measured:>10.4g} {result.unit:<6} baseline {base:>9} "
                  f"ratio {ratio:>7}  target {result.target:<30} {verdict}  {result.note}")
    out = package_dir / "results.json"
    out.write_text(json.dumps({"environment": env, "results": rows}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
