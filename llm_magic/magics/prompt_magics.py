"""``%%llm_prompt``, ``%llm_playground`` and ``%llm_predict``: prompt the model from a notebook.

Every key of the config's ``generation`` section is also a flag of ``%%llm_prompt`` and
``%llm_predict`` (``--temperature 0.7 --top_p 0.9 --max_new_tokens 64 ...``; dashes or
underscores). The flag list is read from the config's generation model, so no key is missed,
and values are validated by that model, so a bad value is reported as it would be in a config.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import yaml
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split

from llm_magic.errors import LlmMagicError
from llm_magic.magics._common import resolve_data_arg, user_errors
from llm_magic.runtime.generation import runner
from llm_magic.runtime.generation.settings import generation_fields, generation_model_class
from llm_magic.runtime.session import get_session
from llm_magic.widgets.stream_output import StreamOutput

if TYPE_CHECKING:  # pragma: no cover - types only
    from collections.abc import Callable

    import pandas as pd

    from llm_magic.runtime.generation.result import GenerationResult
    from llm_magic.runtime.session import Session
    from llm_magic.widgets.playground import Playground

__all__ = ["PromptMagics", "split_generation_flags"]

_GENERATION_HELP = (
    "Generation flags: every key of the config's generation section can be set for this call, "
    "e.g. --temperature 0.7 --top_p 0.9 --top_k 40 --max_new_tokens 64 --num_beams 2 "
    "--repetition_penalty 1.1 --do_sample (or --do_sample false); values are YAML "
    "(--bad_words_ids '[[5, 6]]')."
)


def _flag(name: str) -> str:
    return f"--{name}"


def _is_bool_field(info: Any) -> bool:
    annotation = info.annotation
    return annotation is bool or bool in getattr(annotation, "__args__", ())


def split_generation_flags(argv: list[str], fields: dict[str, Any], own_flags: set[str]) -> tuple[list[str],
                           dict[str, Any]]:
    """Take the generation-setting flags out of ``argv``.

    Returns the remaining arguments (for the magic's own parser) and the overrides
    ``{key: value}``. ``fields`` maps generation keys to their pydantic field info; ``own_flags``
    are the magic's other option strings. A flag that is neither raises an error suggesting the
    closest names. Values are parsed as YAML (``0.7`` is a float, ``null`` is None); a boolean
    flag without a value means true.
    """
    rest: list[str] = []
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("--") or token.split("=", 1)[0] in own_flags:
            rest.append(token)
            continue
        name, has_value, value = token[2:].partition("=")
        key = name.replace("-", "_")
        if key not in fields:
            known = sorted(set(fields) | {f.lstrip("-") for f in own_flags if f.startswith("--")})
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(_flag(c) for c in close)}?" if close else ""
            raise LlmMagicError(
                f"--{name}: unknown flag.{hint} Generation flags are the keys of the config's "
                f"generation section: {', '.join(fields)}."
            )
        is_bool = _is_bool_field(fields[key])
        if not has_value:
            nxt = argv[i] if i < len(argv) else None
            if is_bool and (nxt is None or nxt.startswith("--") or nxt.lower() not in _BOOL_WORDS):
                overrides[key] = True
                continue
            if nxt is None:
                raise LlmMagicError(f"--{name} needs a value, e.g. --{name} {_example(fields[key])}.")
            value = nxt
            i += 1
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            overrides[key] = value
    return rest, overrides


#: Why the session is busy while a playground answer is generated (what a command run meanwhile says).
PLAYGROUND_BUSY = "the playground is generating an answer"

_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def _example(info: Any) -> str:
    default = info.default
    return "VALUE" if default is None or callable(default) else str(default)


@magics_class
class PromptMagics(Magics):
    """Prompt the configured model: streaming answers, side-by-side comparisons, batch prediction."""

    def _parse(self, magic: Any, line: str) -> tuple[Any, dict[str, Any]]:
        """The magic's own arguments and the generation overrides of ``line``."""
        own = {s for action in magic.parser._actions for s in action.option_strings}
        rest, overrides = split_generation_flags(
            arg_split(line, posix=True), generation_fields(generation_model_class()), own
        )
        args = magic.parser.parse_args(rest)
        if getattr(args, "greedy", False):
            if overrides.get("do_sample") is True:
                raise LlmMagicError("--greedy and --do_sample contradict each other; pass one of them.")
            overrides["do_sample"] = False
        return args, overrides

    def _store(self, name: str | None, value: Any) -> None:
        if name:
            self.shell.user_ns[name] = value

    @magic_arguments("%llm_prompt")  # a cell magic: its usage line reads %%llm_prompt
    @argument("--raw", action="store_true", help="Send the cell as it is, without the config's prompt template.")
    @argument("--compare", action="store_true",
              help="Show the base model (adapter disabled) next to the fine-tuned one, same input and settings.")
    @argument("--n", type=int, default=1, metavar="K", help="Generate K samples (seeds SEED, SEED+1, ...).")
    @argument("--seed", type=int, default=None, help="Random seed (drawn and shown when not given).")
    @argument("--greedy", action="store_true", help="Greedy decoding: the same as --do_sample false.")
    @argument("--ui", action="store_true", help="Open the playground (sliders) with this text and settings.")
    @argument("-o", "--output", metavar="NAME", help="Store the result in the notebook variable NAME.")
    @cell_magic
    @user_errors
    def llm_prompt(self, line: str, cell: str) -> Playground | None:
        """Generate an answer to the cell's text with the configured model, streamed as it comes.

        The text goes through the config's prompt template (as the input column / ``{__sample__}``);
        when the template uses several columns, write them as ``column: value`` lines. The stop
        button ends generation and keeps what was generated so far.
        """
        args, overrides = self._parse(self.llm_prompt, line)
        session = get_session()
        text = cell.strip("\n")
        if args.ui:
            return self._playground(session, text, overrides)
        if not text.strip():
            raise LlmMagicError("%%llm_prompt: the cell is empty; write the prompt text below the magic line.")
        display = StreamOutput(columns=2 if (args.compare or args.n > 1) else 1)
        results = runner.generate_samples(
            session, text, raw=args.raw, seed=args.seed, n=args.n, compare=args.compare,
            overrides=overrides, name_format=_flag, listener=display,
        )
        single = len(results) == 1 and not args.compare and args.n == 1
        self._store(args.output, results[0] if single else results)
        return None

    llm_prompt.__doc__ = f"{llm_prompt.__doc__}\n{_GENERATION_HELP}\n"

    def _playground(self, session: Session, text: str, overrides: dict[str, Any]) -> Playground:
        # lazy: pulls torch and ipywidgets; %load_ext stays light
        from llm_magic.widgets.playground import Playground

        settings = runner.effective_settings(session.require_config(), overrides, _flag)

        def generate(prompt_text: str, values: dict[str, Any], on_text: Callable[[str], None]) -> GenerationResult:
            # The worker thread holds the session busy, so a cell run meanwhile is refused clearly.
            return runner.generate(session, prompt_text, on_text=on_text, busy=PLAYGROUND_BUSY,
                                   **{**overrides, **values})

        return Playground(generate, settings.model_dump(), text=text)

    @line_magic
    @user_errors
    def llm_playground(self, line: str = "") -> Playground:
        """Open the prompt playground: a text box, sliders for the main generation settings
        (temperature, top_p, top_k, max_new_tokens, repetition_penalty, num_beams, do_sample), a
        Generate and a Stop button, and "Copy as YAML" that copies the chosen values to the
        clipboard. Text-only in terminal IPython.
        """
        _, overrides = self._parse(self.llm_prompt, line)
        return self._playground(get_session(), "", overrides)

    @magic_arguments()
    @argument("--data", required=True, metavar="DATA",
              help="A DataFrame / datasets.Dataset variable, or a CSV/TSV/JSON/JSONL/Parquet path.")
    @argument("--batch-size", type=int, default=None, metavar="N",
              help="Rows per generate call (default: as many as memory allows, or a trainer.eval_batch_size you set).")
    @argument("--seed", type=int, default=None, help="Random seed for sampling.")
    @argument("-o", "--output", metavar="NAME", help="Store the predictions DataFrame in the variable NAME.")
    @line_magic
    @user_errors
    def llm_predict(self, line: str) -> pd.DataFrame | None:
        """Generate an answer for every row of --data, in batches; returns a DataFrame with the
        inputs, the rendered ``prompt`` and ``<output>_response`` (plus ``<output>_predictions``,
        the label, for category outputs). The stop button keeps the rows already finished.
        """
        args, overrides = self._parse(self.llm_predict, line)
        data = resolve_data_arg(self.shell, args.data)
        frame = runner.predict(
            get_session(), data, batch_size=args.batch_size, seed=args.seed,
            overrides=overrides, name_format=_flag, on_stopped=print,
        )
        if args.output:
            self._store(args.output, frame)
            print(f"Stored {len(frame)} predictions in {args.output}.")
            return None
        return frame

    llm_predict.__doc__ = f"{llm_predict.__doc__}\n{_GENERATION_HELP}\n"
