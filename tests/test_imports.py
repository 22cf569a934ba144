"""Imports run one way: magics -> session -> feature modules -> models, data, config.

Read from the source with ``scripts/import_graph.py`` (the script a developer runs to see the
graph), so function-level imports count like module-level ones; only ``if TYPE_CHECKING:``
imports, which never run, are left out.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SESSION = "llm_magic.runtime.session"
# The package's face and the magics; everything below them is handed the session's parts.
SESSION_IMPORTERS_ALLOWED = {"llm_magic", "llm_magic.runtime", SESSION}


def _load_graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


graph = _load_graph_module()


@pytest.fixture(scope="module")
def package():
    modules = graph.module_names()
    imports = graph.all_imports()
    return modules, imports


def _describe(component, edges, imports):
    lines = [" <-> ".join(component)]
    for imp in graph.cycle_edges(component, edges, imports):
        lines.append(f"  {imp.path.relative_to(ROOT)}:{imp.line} imports {imp.target}"
                     f" ({'in a function' if imp.in_function else 'at module level'})")
    return "\n".join(lines)


def test_no_import_cycle_inside_llm_magic(package):
    modules, imports = package
    edges = graph.graph(imports, modules)
    found = graph.cycles(edges)
    assert not found, "import cycles (break them by moving the shared part down a layer):\n" + "\n".join(
        _describe(component, edges, imports) for component in found)


def test_only_the_magics_and_the_package_face_import_the_session(package):
    _, imports = package
    importers = {imp.source for imp in imports if imp.target == SESSION}
    wrong = sorted(m for m in importers if m not in SESSION_IMPORTERS_ALLOWED
                   and not m.startswith("llm_magic.magics."))
    assert not wrong, (f"{', '.join(wrong)} import {SESSION}: a feature module takes the parts it "
                       "needs as arguments and returns values; the session calls it.")


def test_every_function_level_import_says_why(package):
    # A function-level import is either moved to the top of its module or kept with its reason
    # (e.g. "# lazy: pulls torch; %load_ext stays light"): never one that only hides a cycle.
    _, imports = package
    bare = graph.uncommented_lazy_imports(imports)
    assert not bare, (
        "function-level imports without a comment giving the reason; move each to the top of its module, "
        "or say why it stays (one comment line above a run of imports covers the run):\n"
        + "\n".join(f"  {imp.path.relative_to(ROOT)}:{imp.line} imports {imp.target}" for imp in bare))


def _logger_outliers(root: Path, package: str) -> list[str]:
    """``file:line`` of each ``getLogger`` call that names an llm_magic logger other than by ``__name__``.

    At module level every ``getLogger(...)`` must be ``getLogger(__name__)`` (the module's own
    logger); inside functions a library's logger may be looked up by its name, never one of ours.
    """
    found = []
    for path in graph.module_names(root, package).values():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for n in ast.walk(f)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
                    == "getLogger"):
                continue
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Name) and arg.id == "__name__":
                continue
            ours = isinstance(arg, ast.Constant) and str(arg.value).split(".")[0] == package
            if ours or id(node) not in in_function:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_modules_log_under_their_own_name():
    outliers = _logger_outliers(ROOT, "llm_magic")
    assert not outliers, ("loggers not named by their module; use logging.getLogger(__name__):\n  "
                          + "\n  ".join(outliers))


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_analysis_finds_a_cycle_hidden_in_a_function(tmp_path):
    # The checks above pass on a clean tree; this one shows they would fail on a cycle, however
    # it is spelled, and ignore what never runs.
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from pkg.top import Top  # types only: never runs, not an edge
            def helper():
                from . import mid  # a cycle hidden in a function is still a cycle
                return mid
            """,
        "pkg/mid.py": "from pkg.low import helper\n",
        "pkg/top.py": "import pkg.mid\nclass Top: ...\n",
        "pkg/sub/__init__.py": "from .leaf import x\n",
        "pkg/sub/leaf.py": "from ..top import Top\nx = 1\n",
    })
    modules = graph.module_names(tmp_path, "pkg")
    imports = graph.all_imports(tmp_path, "pkg")
    edges = graph.graph(imports, modules)
    assert graph.cycles(edges) == [["pkg.low", "pkg.mid"]]
    assert edges["pkg.low"] == {"pkg.mid"}  # the TYPE_CHECKING import of pkg.top is not an edge
    assert edges["pkg.sub"] == {"pkg.sub.leaf"} and edges["pkg.sub.leaf"] == {"pkg.top"}
    lazy = [imp for imp in imports if imp.in_function]
    assert [(imp.source, imp.target) for imp in lazy] == [("pkg.low", "pkg.mid")]


def test_the_analysis_reports_uncommented_lazy_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": """
            def f():
                import json
                # torch is heavy: load it on first use
                import torch
                import numpy  # in the same block as torch

                import pandas
                return json, torch, numpy, pandas

            def g():
                # both for the same reason
                import torch
                from transformers import AutoModel
                import peft
                return torch, AutoModel, peft
            """,
    })
    imports = graph.all_imports(tmp_path, "pkg")
    assert [imp.target for imp in graph.uncommented_lazy_imports(imports)] == ["pandas"]


def test_the_logger_check_finds_a_hand_named_logger(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "import logging\nlogger = logging.getLogger(__name__)\n",
        "pkg/a.py": """
            import logging
            from logging import getLogger
            logger = logging.getLogger("pkg.models")  # ours, named by hand
            other = getLogger()  # the root logger at module level
            def quiet():
                logging.getLogger("transformers").setLevel(logging.ERROR)  # a library's: fine
                return logging.getLogger("pkg.a.debug")  # ours again
            """,
    })
    assert _logger_outliers(tmp_path, "pkg") == ["pkg/a.py:4", "pkg/a.py:5", "pkg/a.py:8"]
