"""Rules about ``prompt`` (Ludwig's template, task and retrieval checks), checked up front
instead of at preprocessing time."""
from __future__ import annotations

import difflib
import string

from llm_magic.runtime.config.rules.registry import rule

SPECIAL = ("__sample__", "__task__", "__context__")


def template_fields(template: str) -> list[tuple[str, str]]:
    """``(field, format_spec)`` for each placeholder; raises ValueError on bad brace syntax."""
    return [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(template) if name is not None]


@rule("prompt")
def retrieval_settings(c):
    """Ludwig's retrieval post-init checks."""
    r = c.prompt.retrieval
    if r.type is None and r.k != 0:
        yield ("prompt.retrieval.k",
               f"k is {r.k} but retrieval.type is null; set `type: random` or `type: semantic`, or remove k.")
    if r.type is None and r.model_name is not None:
        yield ("prompt.retrieval.model_name",
               "model_name is only used with `type: semantic`; set the type or remove model_name.")
    if r.type == "semantic" and r.model_name is None:
        yield ("prompt.retrieval.model_name",
               "semantic retrieval needs a sentence-transformers model, e.g. `model_name: all-MiniLM-L6-v2`.")


@rule("prompt", "preprocessing")
def retrieval_needs_fixed_split(c):
    """The retrieval index holds only training rows, found through the split column."""
    r = c.prompt.retrieval
    if r.type is not None and r.index_name is None and c.preprocessing.split.type != "fixed":
        yield ("preprocessing.split.type",
               "retrieval builds its index from the training rows, which needs a fixed split: "
               "`preprocessing: {split: {type: fixed, column: split}}` with 0/1/2 in that column.",
               "prompt.retrieval.type")


@rule("prompt", "output_features", "input_features")
def template_rules(c):
    """Placeholders that must (or must not) appear, and a template Python can format."""
    p = c.prompt
    if p.is_default():
        return
    if p.template is None and p.task is None:
        yield ("prompt.task",
               "a task is required when no template is given (the retrieval block alone does not make "
               "a prompt); add `task: ...` or `template: ...`.", "prompt")
        return
    if p.template is None:
        return
    try:
        fields = template_fields(p.template)
    except ValueError as exc:
        yield ("prompt.template",
               f"not a valid template ({exc}). Placeholders look like {{column}}; write literal braces "
               "(e.g. JSON examples) doubled: {{ and }}.")
        return
    names = [name for name, _ in fields]
    if p.task is not None and "__task__" not in names:
        yield ("prompt.template", "prompt.task is set, so the template must contain {__task__} where the "
                                  "task goes.")
    if p.retrieval.type is not None and "__context__" not in names:
        yield ("prompt.template", "retrieval is set, so the template must contain {__context__} where the "
                                  "retrieved examples go.")
    if p.retrieval.type is None and "__context__" in names:
        # Ludwig fails at preprocessing on this; rendering it empty would train on a silent gap.
        yield ("prompt.template",
               f"the template uses {{__context__}}{_where('{__context__}', p.template)}, the retrieved "
               "examples, but prompt.retrieval is not set, so there would be nothing to put there. "
               "Add `retrieval: {type: random, k: 3}` under prompt (it needs `preprocessing: {split: "
               "{type: fixed}}`), or remove {__context__} from the template.")
    if p.task is None and not names:
        yield ("prompt.template", "the template has no placeholder, so every row would get the same prompt; "
                                  "use {column} or {__sample__}.")
    outputs = {name for f in c.output_features for name in (f.name, f.column)}
    inputs = {name for f in c.input_features for name in (f.name, f.column)}
    for name, spec in fields:
        if name in outputs and name not in inputs:
            yield ("prompt.template",
                   f"the template uses the output column {{{name}}}; the target is appended "
                   "automatically, so remove it from the template.")
        if spec and "f" not in spec:
            yield ("prompt.template",
                   f"placeholder {{{name}:{spec}}}: only float formats (like :.2f) are allowed.")
        if name == "":
            yield ("prompt.template", "empty placeholder {}; name a column, e.g. {question}.")
    for name in dict.fromkeys(names):  # once per name, however often it is used
        if _is_dunder(name) and name not in SPECIAL:
            yield ("prompt.template", _unknown_special(name, p.template))


def _is_dunder(name: str) -> bool:
    """``{__x__}``-style names, which the renderer reserves for special placeholders."""
    return name.startswith("__") and name.endswith("__")


def _where(text: str, template: str) -> str:
    """`` (line N of the template)`` for the first line holding ``text``, when the template has several."""
    row = next((i for i, line in enumerate(template.splitlines(), 1) if text in line), None)
    return f" (line {row} of the template)" if row is not None and "\n" in template.strip() else ""


def _unknown_special(name: str, template: str) -> str:
    """The message for ``{__foo__}``: where it is in the template, and what to write instead."""
    # Without this rule the template passes load_config and fails only when the first row renders.
    where = _where("{" + name, template)
    # Compare without the underscores, which every special name shares.
    close = difflib.get_close_matches(name.strip("_"), [s.strip("_") for s in SPECIAL], n=1, cutoff=0.75)
    hint = f"Did you mean {{__{close[0]}__}}? " if close else ""
    column = name.strip("_")
    return (f"unknown special placeholder {{{name}}}{where}. {hint}The special placeholders are "
            "{__sample__} (the input feature's text), {__task__} (prompt.task) and {__context__} "
            f"(the retrieved examples)" + (f"; for a column named {column!r} write {{{column}}}." if column else "."))
