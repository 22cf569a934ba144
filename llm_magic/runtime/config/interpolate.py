"""``%%llm_config --interpolate``: render a config cell with Jinja2 over plain notebook data only.

The notebook namespace holds modules (``os``), callables (``get_ipython``, ``open``) and live
objects; even Jinja's sandbox has had escapes through such objects. So the template never sees the
namespace: we parse it, find the names it reads, and pass only those, each checked to be plain data
(str, int, float, bool, None and lists / tuples / dicts of those, of exact built-in types, so a
subclass cannot bring its own methods). Rendering happens in ``ImmutableSandboxedEnvironment``
(no attribute starting with ``_``, no mutating methods) with Jinja's own globals removed
(``cycler``, ``joiner``, ``namespace``, ``lipsum`` and ``dict`` are objects or callables too);
only ``range`` stays, which the sandbox caps in size. ``*`` and ``**`` are intercepted too, so
``{{ 'a' * 10**9 }}`` cannot exhaust memory.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from jinja2 import StrictUndefined, TemplateError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llm_magic.errors import LlmMagicError

if TYPE_CHECKING:  # pragma: no cover - types only
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["interpolate", "plain_data_problem"]

_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 20


def plain_data_problem(value: Any, depth: int = 0) -> str | None:
    """None when ``value`` is plain data; otherwise what is not (``"a module"``, ``"item [2]: ..."``)."""
    kind = type(value)
    if kind in _SCALARS:
        return None
    if depth >= _MAX_DEPTH:
        return f"nested deeper than {_MAX_DEPTH} levels"
    if kind in (list, tuple):
        for index, item in enumerate(value):
            problem = plain_data_problem(item, depth + 1)
            if problem:
                return f"item [{index}] is {problem}" if depth == 0 else problem
        return None
    if kind is dict:
        for key, item in value.items():
            problem = plain_data_problem(key, depth + 1) or plain_data_problem(item, depth + 1)
            if problem:
                return f"key {key!r} holds {problem}" if depth == 0 else problem
        return None
    return _describe(value)


def _describe(value: Any) -> str:
    import inspect

    if inspect.ismodule(value):
        return "a module"
    if callable(value):
        return "a function or other callable"
    return f"a {type(value).__module__}.{type(value).__qualname__} object"


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Render ``text`` over the plain-data variables of ``namespace`` that it names.

    A name the template reads that is missing, or that holds anything but plain data, is an
    :class:`LlmMagicError` naming it; so is anything the sandbox refuses. No user code runs.
    """
    env = _environment(ImmutableSandboxedEnvironment, StrictUndefined)
    env.globals = {"range": env.globals["range"]}
    try:
        names = meta.find_undeclared_variables(env.parse(text))
    except TemplateError as exc:
        raise _template_error(exc) from None
    variables: dict[str, Any] = {}
    for name in sorted(names):
        if name in env.globals:
            continue
        if name not in namespace:
            raise LlmMagicError(f"--interpolate: '{name}' is undefined: define it in the notebook first, or "
                                "drop --interpolate if the braces are meant literally.")
        problem = plain_data_problem(namespace[name])
        if problem:
            raise LlmMagicError(
                f"--interpolate: the variable '{name}' is {problem}, not plain data. A config cell may "
                "read only text, numbers, true/false, None and lists / dicts of those: put the value "
                f"in a plain variable first (e.g. {name}_value = str(...)).")
        variables[name] = namespace[name]
    try:
        return env.from_string(text).render(**variables)
    except UndefinedError as exc:
        raise LlmMagicError(f"--interpolate: {exc.message}: the template asks for something the "
                            "variables do not hold.") from None
    except TemplateError as exc:
        raise _template_error(exc) from None
    except (ArithmeticError, ValueError, TypeError, OverflowError) as exc:
        raise LlmMagicError(f"--interpolate: the template failed: {type(exc).__name__}: {exc}.") from None


#: The longest text or list a template may build with ``*`` (a config cell is small).
MAX_REPEAT = 100_000


def _environment(base: type, undefined: type) -> SandboxedEnvironment:
    """The sandbox, also refusing ``*`` / ``**`` results that would exhaust memory or time."""
    class ConfigSandbox(base):  # type: ignore[misc, valid-type]
        intercepted_binops = frozenset(["*", "**"])

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int) and abs(right) > 64:
                raise SecurityError(f"the power {right} is too large for a config value")
            if operator == "*":
                for seq, count in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(count, int) \
                            and len(seq) * count > MAX_REPEAT:
                        raise SecurityError(f"repeating a value {count} times makes more than "
                                            f"{MAX_REPEAT:,} items")
            return super().call_binop(context, operator, left, right)

    return ConfigSandbox(undefined=undefined, keep_trailing_newline=True)


def _template_error(exc: Exception) -> LlmMagicError:
    where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
    if isinstance(exc, SecurityError):
        return LlmMagicError(f"--interpolate: refused by the sandbox{where}: {str(exc).rstrip('.')}. A config template may "
                             "only insert values ({{ name }}, {{ d.key }}, filters such as | lower).")
    return LlmMagicError(f"--interpolate: Jinja2 template error{where}: {exc}. Without --interpolate the "
                         "cell is read as plain YAML.")
