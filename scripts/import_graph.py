"""Import graph of the llm_magic package, read from the source with ``ast`` (nothing is imported).

    python scripts/import_graph.py            # list import cycles, session importers, lazy imports
    python scripts/import_graph.py --edges    # also print every edge

Every ``import`` counts, at module level and inside functions alike (a function-level import is
still a dependency; hiding one in a function only delays the cycle). Imports under
``if TYPE_CHECKING:`` are left out: they never run. ``tests/test_imports.py`` uses the same
functions, so the rule the tests enforce is the one this script prints.

An edge goes to the module named by the import: ``from a.b import c`` points at ``a.b.c`` when
that is a module, else at ``a.b``. Parent packages are not edges (Python runs them first, but a
package ``__init__`` importing its own submodules is not a cycle). Modules imported by name at
run time (``importlib.import_module("...")``: ``llm_magic.__getattr__``, the magics' class list)
are not seen; only the package face and the magics do that.
"""
from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "llm_magic"


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it is, and whether it runs inside a function."""

    source: str  # importing module, dotted
    target: str  # imported module (or top-level name of an outside package), dotted
    path: Path
    line: int
    end_line: int
    in_function: bool


def module_names(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Map every module of ``package`` under ``root`` to its file (``pkg/__init__.py`` is ``pkg``)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """True for ``TYPE_CHECKING`` and ``typing.TYPE_CHECKING`` (the guards whose body never runs)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(node: ast.AST, in_function: bool):
    """Yield (import node, in_function) for every import under ``node``, skipping TYPE_CHECKING bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            # Only the else branch runs.
            for other in child.orelse:
                yield from _walk_one(other, in_function)
            continue
        yield from _walk_one(child, in_function)


def _walk_one(node: ast.AST, in_function: bool):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, in_function
        return
    nested = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    yield from _walk(node, nested)


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # In a package __init__, "." is the package itself; in a module, its parent package.
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import statement of one module, resolved to absolute targets."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node, in_function in _walk(tree, False):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _resolve_from(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in dict.fromkeys(targets):
            found.append(Import(module, target, path, node.lineno, node.end_lineno or node.lineno, in_function))
    return found


def all_imports(root: Path = ROOT, package: str = PACKAGE) -> list[Import]:
    """Every import in the package, in file order."""
    modules = module_names(root, package)
    return [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]


def graph(imports: list[Import], modules: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between the package's own modules (self-imports dropped)."""
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative, so a deep package cannot hit the recursion limit.
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(found, key=lambda c: (-len(c), c))


def cycle_edges(component: list[str], edges: dict[str, set[str]], imports: list[Import]) -> list[Import]:
    """The import statements that tie one strongly connected component together."""
    members = set(component)
    return [imp for imp in imports if imp.source in members and imp.target in members and imp.target != imp.source]


def _comments(path: Path) -> tuple[set[int], set[int]]:
    """(lines that carry a ``#`` comment, lines that are only a comment)."""
    anywhere, alone = set(), set()
    with io.StringIO(path.read_text(encoding="utf-8")) as handle:
        for token in tokenize.generate_tokens(handle.readline):
            if token.type == tokenize.COMMENT:
                anywhere.add(token.start[0])
                if not token.line[: token.start[1]].strip():
                    alone.add(token.start[0])
    return anywhere, alone


def uncommented_lazy_imports(imports: list[Import]) -> list[Import]:
    """Function-level imports of anything outside the standard library with no comment giving a reason.

    The comment may be a line of its own just above the statement, or on any line of it; a run
    of import statements on consecutive lines shares the comment above its first one.
    """
    comments: dict[Path, tuple[set[int], set[int]]] = {}
    covered_until: dict[Path, int] = {}  # last line of the latest covered import in each file
    bare = []
    for imp in sorted((i for i in imports if i.in_function), key=lambda i: (str(i.path), i.line)):
        anywhere, alone = comments.setdefault(imp.path, _comments(imp.path))
        # A comment line above starts a block; the next import statement continues it. A
        # comment at the end of a statement is about that statement only.
        block = imp.line - 1 in alone or covered_until.get(imp.path) in (imp.line - 1, imp.end_line)
        if block:
            covered_until[imp.path] = imp.end_line
        if block or anywhere & set(range(imp.line, imp.end_line + 1)):
            continue
        if imp.target.split(".")[0] not in sys.stdlib_module_names:
            bare.append(imp)
    # One statement can name several targets; report it once.
    unique = {(imp.path, imp.line): imp for imp in bare}
    return list(unique.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every edge between package modules")
    args = parser.parse_args()
    modules = module_names()
    imports = all_imports()
    edges = graph(imports, modules)
    if args.edges:
        for source in sorted(edges):
            for target in sorted(edges[source]):
                print(f"{source} -> {target}")
    found = cycles(edges)
    print(f"{len(found)} import cycle(s)")
    for component in found:
        print(f"- {len(component)} modules: {', '.join(component)}")
        for imp in cycle_edges(component, edges, imports):
            where = "function" if imp.in_function else "module"
            print(f"    {imp.source} -> {imp.target}  ({imp.path.relative_to(ROOT)}:{imp.line}, {where} level)")
    session = f"{PACKAGE}.runtime.session"
    importers = sorted({imp.source for imp in imports if imp.target == session and imp.source != session})
    print(f"{len(importers)} module(s) import {session}: {', '.join(importers)}")
    lazy = [imp for imp in imports if imp.in_function]
    bare = uncommented_lazy_imports(imports)
    print(f"{len(lazy)} function-level import target(s); {len(bare)} non-stdlib statement(s) without a comment")
    for imp in bare:
        print(f"    {imp.path.relative_to(ROOT)}:{imp.line} {imp.target}")
    return 1 if found else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into head
        sys.exit(1)
