"""``%%llm_config``: write, validate and store a Ludwig-style LLM config; ``%llm_config``: show/switch."""
from __future__ import annotations

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from llm_magic.errors import ConfigError, ConfigErrorItem, LlmMagicError
from llm_magic.magics._common import user_errors
from llm_magic.runtime.config import load_config
from llm_magic.runtime.session import get_session
from llm_magic.widgets.config_view import ConfigView
from llm_magic.widgets.prompt_preview import maybe_show_preview

#: Lines above the YAML body in a ``%%llm_config`` cell: the magic line itself.
_MAGIC_LINES = 1


def as_cell_lines(error: ConfigError, offset: int = _MAGIC_LINES) -> ConfigError:
    """``error`` with every line number counted as the cell shows them (the magic line is line 1).

    The YAML parser counts from the body's first line; the user reads the cell's line numbers.
    """
    import re

    def shift(item: ConfigErrorItem) -> ConfigErrorItem:
        # A message may name another config line too ("duplicate key (first at line 3)"), but
        # not a line inside the prompt template ("line 2 of the template").
        message = re.sub(r"\bline (\d+)\b(?! of the template)", lambda m: f"line {int(m.group(1)) + offset}", item.message)
        return ConfigErrorItem(item.path, None if item.line is None else item.line + offset, message)

    return ConfigError([shift(item) for item in error.errors])


@magics_class
class ConfigMagics(Magics):
    """The config magic."""

    @line_cell_magic
    @magic_arguments()
    @argument("name", nargs="?", default=None,
              help="Store the config under this name (cell), or switch to the stored config (line).")
    @argument("--interpolate", action="store_true",
              help="Render the cell with sandboxed Jinja2 over the notebook's plain-data variables first ({{ var }}).")
    @argument("--load", action="store_true", help="Also load the model now (otherwise on first use).")
    @user_errors
    def llm_config(self, line: str = "", cell: str | None = None):
        """Validate and store a Ludwig ``model_type: llm`` config, then show what it sets and derives.

        As a cell magic the body is YAML; every problem is reported at once with its key and line,
        and a bad cell leaves the previous config in place. Several named configs can coexist; the
        last one stored is current. As a line magic it shows the current config, or switches to a
        stored one by name.

        Examples::

            %%llm_config
            base_model: llm-magic/tiny
            input_features: [{name: question, type: text}]
            output_features: [{name: answer, type: text}]

            %%llm_config lora_run --interpolate --load
            base_model: {{ model_id }}
            ...

            %llm_config            # show the current config
            %llm_config lora_run   # make a stored config current again
        """
        args = parse_argstring(self.llm_config, line)
        session = get_session()
        if cell is None:
            return self._show_or_switch(session, args)
        if not cell.strip():
            raise LlmMagicError("%%llm_config: the cell is empty; write the YAML config below the magic line.")
        if args.interpolate:
            # lazy: pulls jinja2, only for a cell that interpolates; %load_ext stays light
            from llm_magic.runtime.config.interpolate import interpolate

            cell = interpolate(cell, self.shell.user_ns if self.shell is not None else {})

        try:
            config = load_config(cell)  # raises before anything in the session changes
            # All or nothing: if loading fails or is interrupted, config and model stay as they were.
            change = session.set_config(config, args.name, load=args.load)
        except ConfigError as exc:
            raise as_cell_lines(exc) from None
        if change is not None and change.kept_message:
            print(change.kept_message)
        self._display(session)
        return None

    def _show_or_switch(self, session, args) -> None:
        if args.name:
            session.use_config(args.name)
        session.require_config()
        if args.load:
            session.load_model()
        self._display(session)

    @staticmethod
    def _display(session) -> None:
        display(ConfigView(session.config, session.config_name))
        maybe_show_preview(session)
