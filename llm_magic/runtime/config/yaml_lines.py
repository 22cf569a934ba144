"""Parse YAML safely and remember the line of every key path (``adapter.r`` -> 7).

PyYAML's ``safe_load`` drops positions, so we compose the node tree once, read the line of every
key from it and then construct the data from that same tree (one parse, not two). The loader is
libyaml's ``CSafeLoader`` when PyYAML was built with it (several times faster than the pure-Python
``SafeLoader``, which is the fallback); both are safe loaders: plain data only, no Python objects.
Duplicate keys (which PyYAML silently resolves to the last) are reported.

A key reached through an alias (``trainer: *t``) keeps the line where it is written, in the
anchored block (that is where its value is fixed), and a note saying where the alias uses it
(:class:`LineMap`); a key whose value is an alias keeps its own line, noting the anchor's. Keys a
``<<: *t`` merge brings in are read after the data is built, when PyYAML has folded them into the
mapping: a merged key the mapping gives again is an override, not a duplicate.

Aliases (``*name``) are shared nodes in the composed tree, so a few lines can stand for billions
of values ("billion laughs"); everything that walks the data afterwards (line numbers, pydantic)
would expand them. Before anything is constructed we count the nodes the tree stands for, each
shared node once per use but counted only once per node (memoised), and refuse past
:data:`MAX_NODES`. The count is linear in the text, so a bomb is refused in microseconds.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from llm_magic.errors import ConfigErrorItem


#: The most values (mappings, lists, scalars, with aliases expanded) a config may stand for.
#: Real configs have a few hundred; 100,000 leaves room for long inline lists.
MAX_NODES = 100_000

# Security: only these two loaders (SafeConstructor), never yaml.Loader / FullLoader / UnsafeLoader.
_SAFE_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigLoader(_SAFE_BASE):  # type: ignore[misc, valid-type]
    """A safe loader with YAML 1.2 booleans: only true/false, so labels like `yes`/`no`/`on` stay text."""


# libyaml's parser still resolves tags through the Python Resolver, so the same table works for both.
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def join_path(parent: str, key: Any) -> str:
    """Append a key or list index to a dotted path: ``a`` + ``b`` -> ``a.b``; ``a`` + 0 -> ``a[0]``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


class LineMap(dict):
    """``path -> line`` of every key, and :attr:`notes`: ``path -> `` what an alias made of it.

    A key reached through an alias (``trainer: *t``) or a merge (``<<: *t``) has the line where it
    is written, in the anchored block: that is where its value can be fixed. Its note says where
    the block is used (``reached through the alias at line 8``), since the error names a path
    (``trainer.learning_rate``) that line does not show; :func:`with_alias_notes` adds it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, str] = {}


def with_alias_notes(problems: list[ConfigErrorItem], lines: dict[str, int]) -> list[ConfigErrorItem]:
    """``problems`` with the alias note (see :class:`LineMap`) of their path, or of its nearest key."""
    notes = getattr(lines, "notes", None)
    if not notes:
        return problems
    out = []
    for item in problems:
        note, path = None, item.path
        while path and note is None:
            note = notes.get(path)
            if path in lines:  # the nearest written key decides (a missing key takes its parent's)
                break
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        out.append(ConfigErrorItem(item.path, item.line, f"{item.message} ({note})") if note else item)
    return out


def parse_yaml(text: str) -> tuple[Any, dict[str, int], list[ConfigErrorItem]]:
    """``(data, path -> line, problems)``; data is None when the text is not valid YAML.

    The lines are a :class:`LineMap`: keys reached through an alias carry a note.
    """
    merges: dict[int, tuple[int, set[int]]] = {}
    try:
        # Building a mapping folds its `<<` merges into it in place: note them before.
        node, data = _compose_and_construct(text, before=lambda root: _find_merges(root, merges))
    except YamlTooLarge as exc:
        return None, {}, [ConfigErrorItem("", exc.line, str(exc))]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        if isinstance(exc, yaml.constructor.ConstructorError):
            return None, {}, [ConfigErrorItem(
                "", line, f"YAML tag not allowed: {detail}. A config holds plain data only (text, "
                          "numbers, true/false, lists, mappings); remove the `!!` tag.")]
        return None, {}, [ConfigErrorItem(
            "", line, f"YAML syntax error: {detail}. Check the indentation and quoting on this line "
                      "(values containing ': ' or starting with '{' need quotes).")]
    lines = LineMap()
    problems: list[ConfigErrorItem] = []
    if node is not None:
        _walk(node, "", lines, problems, set(), merges)
    return data, lines, problems


def _compose_and_construct(text: str, loader_class: type = ConfigLoader,
                           before: Any = None) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data built from it, from a single parse.

    ``before(node)`` sees the tree (size-checked) before the data is built from it.
    """
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_expanded_size(node)
            if before is not None:
                before(node)
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


class YamlTooLarge(yaml.YAMLError):
    """The tree stands for too many values (an alias bomb) or refers to itself."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def check_expanded_size(root: yaml.Node, limit: int | None = None) -> int:
    """The number of values ``root`` stands for with aliases expanded; raise past ``limit``.

    Iterative (no recursion limit for deep trees) and memoised per node, so the work is the size of
    the text, not of the expansion. A node that contains itself (``&a [*a]``) is refused too.
    """
    limit = MAX_NODES if limit is None else limit
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > limit:
                raise YamlTooLarge(
                    f"the YAML stands for more than {limit:,} values once its aliases (*name) are "
                    "expanded (an alias bomb?). A config is small: write the values out, or use "
                    "fewer nested aliases.", node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YamlTooLarge("the YAML refers to itself through an alias (*name inside its own &name "
                            "block). Write the values out instead.", node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def safe_load(text: str, yaml11_booleans: bool = False) -> Any:
    """``yaml.safe_load`` with the alias cap of configs (raises ``yaml.YAMLError``).

    For the other YAML we read (run folders, cell bodies): a folder from someone else may hold a
    bomb just as a cell may. The loader is the config one (only true/false are booleans) unless
    ``yaml11_booleans`` keeps PyYAML's ``safe_load`` reading (``yes``/``no``/``on``/``off`` too).
    """
    return _compose_and_construct(text, _SAFE_BASE if yaml11_booleans else ConfigLoader)[1]


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _find_merges(root: yaml.Node, merges: dict[int, tuple[int, set[int]]]) -> None:
    """For each mapping with a ``<<`` key: the line of its (first) ``<<`` and its own key nodes.

    Building the data folds the merged pairs into the mapping's node; these tell them apart
    afterwards, whatever order the installed PyYAML folds them in.
    """
    done: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(node, yaml.MappingNode):
            tags = [key.tag for key, _ in node.value]
            if _MERGE_TAG in tags:
                line = node.value[tags.index(_MERGE_TAG)][0].start_mark.line + 1
                merges[id(node)] = (line, {id(key) for key, _ in node.value if key.tag != _MERGE_TAG})
        stack.extend(_children(node))


def _walk(node: yaml.Node, path: str, lines: LineMap, problems: list[ConfigErrorItem], seen: set[int],
          merges: dict[int, tuple[int, set[int]]], note: str | None = None) -> None:
    """Record the line of every key under ``node`` (at ``path``) and report duplicate keys.

    ``seen`` holds the nodes walked so far: the composed tree shares an anchored node with its
    aliases, and anchors come first in the text, so a node met again is an alias of it. Under
    an alias (``note`` set) keys keep the anchored block's lines, with ``note`` saying where.
    A mapping's pairs are in the order the data was built from (merged pairs first, see
    :func:`_find_merges`): the last of a key wins, as in the data; only the mapping's own keys
    can be duplicates (a merged key given again is an override).
    """
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        merge_line, own = merges.get(id(node), (None, None))
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            child = join_path(path, key)
            line = key_node.start_mark.line + 1
            if own is not None and id(key_node) not in own:  # brought in by `<<`
                here = note or (f"merged in by `<<` at line {merge_line}" if line != merge_line else None)
                lines[child] = line
                lines.notes.pop(child, None)
                if here:
                    lines.notes[child] = here
                _walk(value_node, child, lines, problems, seen, merges, here or "")
                continue
            if child in first:
                problems.append(ConfigErrorItem(
                    child, line, f"duplicate key `{key}` (first at line {first[child]}); YAML would keep "
                                 "only the last one. Remove one of them."))
            first[child] = lines[child] = line
            lines.notes.pop(child, None)
            if note is not None:
                if note:
                    lines.notes[child] = note
                _walk(value_node, child, lines, problems, seen, merges, note)
            elif id(value_node) in seen:  # an alias of a value written earlier
                lines.notes[child] = f"its value is the anchor at line {value_node.start_mark.line + 1}"
                _walk(value_node, child, lines, problems, seen, merges, f"reached through the alias at line {line}")
            else:
                _walk(value_node, child, lines, problems, seen, merges)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines[child] = item.start_mark.line + 1
            if note is None and id(item) in seen:
                # The composed tree keeps no position of the alias itself: a one-line (flow)
                # list is its line; in a block list only the anchor's line is known.
                one_line = node.start_mark.line == node.end_mark.line
                alias_note = "reached through an alias" + (f" at line {node.start_mark.line + 1}" if one_line else "")
                lines.notes[child] = alias_note
                _walk(item, child, lines, problems, seen, merges, alias_note)
            else:
                if note:
                    lines.notes[child] = note
                _walk(item, child, lines, problems, seen, merges, note)
