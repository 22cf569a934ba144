"""Run every benchmark, print a table and write ``benchmarks/results.json``.

Usage: ``python -m benchmarks [--quick] [--out FILE] [name ...]`` (names: the ``bench_*`` module
suffixes). ``--quick`` is a fast smoke run (fewer rows and repeats; the figures are rough);
``--out`` writes the JSON elsewhere.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fast smoke run: fewer rows and repeats")
    parser.add_argument("--out", default=str(package_dir / "results.json"), help="where to write the JSON")
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default: all): {', '.join(sorted(names))}")
    options = parser.parse_args(argv)
    unknown = sorted(set(options.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    selected = options.names or sorted(names)
    env = environment()
    print(f"environment: {json.dumps(env)}")
    rows = []
    for name in selected:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"\n== {name}: {module.__doc__.strip().splitlines()[0]}")
        quick = "quick" in inspect.signature(module.run).parameters
        for result in (module.run(quick=options.quick) if quick else module.run()):
            rows.append(result.as_dict())
            ratio = f"{result.ratio:.2f}x" if result.ratio is not None else "-"
            base = f"{result.baseline:.4g}" if result.baseline is not None else "-"
            verdict = {True: "OK", False: "MISS", None: "info"}[result.ok]
            print(f"  {result.name:<55} {result.measured:>10.4g} {result.unit:<6} baseline {base:>9} "
                  f"ratio {ratio:>7}  target {result.target:<30} {verdict}  {result.note}")
    out = Path(options.out)
    out.write_text(json.dumps({"environment": env, "quick": options.quick, "results": rows}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
