"""``LlmMagics``: llm_magic's user settings as IPython traitlets, and ``%llm_settings`` to show them.

Set them like any IPython setting, in a cell or in ``ipython_config.py``::

    %config LlmMagics.output_root = "runs"
    c.LlmMagics.output_root = "runs"          # ~/.ipython/profile_default/ipython_config.py

Precedence, highest first: a value set with ``%config`` or in ``ipython_config.py``, then the
environment variable (``LLM_MAGIC_FRONTEND``, ``LLM_MAGIC_CACHE``; read when used), then the
built-in default. These traitlets are read here only: every change is pushed into the session as a
:class:`~llm_magic.runtime.settings.Settings` (``Session.configure``) and into the widgets
(``widgets.frontend.set_frontend``), so no feature module reads IPython's config.
"""
from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Enum, Float, TraitError, Unicode, observe, validate

from llm_magic.magics._common import user_errors
from llm_magic.runtime.session import get_session
from llm_magic.runtime.settings import DEFAULT_OUTPUT_ROOT, Settings, SettingsError, cache_root
from llm_magic.widgets.frontend import is_notebook, set_frontend

#: Seconds between two chart messages to the page by default (``LossPlot.min_interval``).
DEFAULT_CHART_INTERVAL = 0.25


@magics_class
class LlmMagics(Magics):
    """llm_magic's settings (``%config LlmMagics``); ``%llm_settings`` shows what is in effect."""

    output_root = Unicode(
        DEFAULT_OUTPUT_ROOT,
        help="Folder for run folders (<output_root>/<run id>/checkpoint-N), relative to the kernel's "
             "working folder unless absolute. The next %llm_train uses a new value; a run in progress "
             "keeps its folder.",
    ).tag(config=True)
    chart_interval = Float(
        DEFAULT_CHART_INTERVAL,
        help="Least seconds between two updates of the live training chart (0.25: four a second). "
             "Larger values send less to the browser on a slow connection; 0 sends every logged step.",
    ).tag(config=True)
    stop_grace = Float(
        None, allow_none=True,
        help="Seconds the processes of a %llm_train --processes N run get, after a stop, to write their "
             "checkpoint before they are ended. None: 300.",
    ).tag(config=True)
    frontend = Enum(
        ["auto", "notebook", "terminal"], "auto",
        help="How widgets draw: notebook (widgets and HTML), terminal (text), or auto: "
             "$LLM_MAGIC_FRONTEND if set, else detected from the kernel.",
    ).tag(config=True)
    cache_dir = Unicode(
        None, allow_none=True,
        help="llm_magic's cache folder (retrieval indices go to <cache_dir>/index). "
             "None: $LLM_MAGIC_CACHE if set, else ~/.cache/llm_magic.",
    ).tag(config=True)

    def __init__(self, shell=None, **kwargs) -> None:
        try:
            super().__init__(shell=shell, **kwargs)
        except TraitError as exc:
            # A bad value in ipython_config.py: one line naming it, not a traceback from %load_ext.
            if shell is not None and self in getattr(shell, "configurables", []):
                shell.configurables.remove(self)
            raise UsageError(f"llm_magic: ipython_config.py: {exc} Fix or remove the line, then "
                             "%load_ext llm_magic again.") from None
        self._push()

    # ------------------------------------------------------------------ validation
    @validate("output_root", "stop_grace", "cache_dir")
    def _check_runtime(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        try:
            Settings(**{name: value})
        except SettingsError as exc:
            raise TraitError(f"LlmMagics.{exc}") from None
        return value

    @validate("chart_interval")
    def _check_chart_interval(self, proposal):
        value = proposal["value"]
        if not value >= 0 or value == float("inf"):  # NaN fails the first test
            raise TraitError(f"LlmMagics.chart_interval = {value!r}: expected seconds >= 0, e.g. 0.25 "
                             "(0 sends every logged step).")
        return value

    # ------------------------------------------------------------------ pushing them in
    @observe("output_root", "stop_grace", "cache_dir", "frontend")
    def _changed(self, change) -> None:
        self._push()

    def settings(self):
        """The runtime part of these settings, as the session takes them (a ``Settings``)."""
        return Settings(output_root=self.output_root, stop_grace=self.stop_grace, cache_dir=self.cache_dir)

    def _push(self) -> None:
        get_session().configure(self.settings())
        set_frontend(None if self.frontend == "auto" else self.frontend)

    # ------------------------------------------------------------------ %llm_settings
    @line_magic
    @user_errors
    def llm_settings(self, line: str = ""):
        """Show llm_magic's settings in effect and where each comes from.

        Change one with ``%config LlmMagics.NAME = value`` (or ``c.LlmMagics.NAME = value`` in
        ipython_config.py); ``%config LlmMagics`` lists them with their help.
        """
        import os

        def origin(name: str, env: str | None = None) -> str:
            if getattr(self, name) != self.trait_defaults(name):
                return "%config / ipython_config.py"
            if env and os.environ.get(env, "").strip():
                return f"${env}"
            return "default"

        frontend = "notebook" if is_notebook() else "terminal"
        rows = [
            ("output_root", os.path.abspath(self.output_root), origin("output_root")),
            ("chart_interval", f"{self.chart_interval:g} s", origin("chart_interval")),
            ("stop_grace", f"{self.stop_grace if self.stop_grace is not None else 300:g} s",
             origin("stop_grace")),
            ("frontend", f"{self.frontend} ({frontend})", origin("frontend", "LLM_MAGIC_FRONTEND")),
            ("cache_dir", str(cache_root(self.cache_dir)), origin("cache_dir", "LLM_MAGIC_CACHE")),
        ]
        width = max(len(name) for name, _, _ in rows)
        print("\n".join(f"LlmMagics.{name:<{width}}  {value}  [{source}]" for name, value, source in rows))
