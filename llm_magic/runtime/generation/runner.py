"""Generation for a session: prompt from the config's template, settings merged, model loaded.

This is what ``Session.generate`` / ``Session.predict`` and the ``%%llm_prompt`` /
``%llm_predict`` magics call. It ties together the config (``generation`` block, prompt
template, output feature), the loaded model bundle and the low-level generators in
:mod:`~llm_magic.runtime.generation.streaming` and :mod:`~llm_magic.runtime.generation.batch`.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import yaml

from llm_magic.errors import DataError, LlmMagicError
from llm_magic.runtime.config.yaml_lines import safe_load
from llm_magic.runtime.data.prepare import clean_prompt_columns, retriever_for_data
from llm_magic.runtime.data.prompts import PromptRenderer
from llm_magic.runtime.data.sources import load_data
from llm_magic.runtime.data.tokenize import SequenceLimits
from llm_magic.runtime.generation.labels import category_labels, map_to_label
from llm_magic.runtime.generation.result import GenerationResult, GenerationResults
from llm_magic.runtime.generation.settings import hf_kwargs, merge_settings
from llm_magic.runtime.generation.streaming import fresh_seed, generate_one
from llm_magic.runtime.progress import task

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd
    import torch
    from transformers import PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.generation import GenerationConfig
    from llm_magic.runtime.data.prompts import PromptRenderer
    from llm_magic.runtime.data.retrieval import Retriever
    from llm_magic.runtime.data.sources import DataSource
    from llm_magic.runtime.data.tokenize import SequenceLimits
    from llm_magic.runtime.models.loader import LoadedModel
    from llm_magic.runtime.session import Session


__all__ = [
    "GenerationListener",
    "build_prompt",
    "effective_settings",
    "generate",
    "generate_samples",
    "predict",
    "prompt_limits",
    "prediction_batch_size",
]


class GenerationListener(Protocol):
    """Receives progress of :func:`generate_samples` (the magics' stream display implements it)."""

    def start(self, titles: list[str]) -> None:
        """Called once with one title per result that will be generated."""

    def text(self, index: int, text: str) -> None:
        """Called with the text generated so far for result ``index``."""

    def done(self, index: int, result: GenerationResult) -> None:
        """Called when result ``index`` is complete (or was stopped)."""


# ----------------------------------------------------------------------------------- prompts
def _renderer(session: Session, config: LLMConfig, tokenizer: PreTrainedTokenizerBase | None) -> PromptRenderer:
    return PromptRenderer(config, retriever=_retriever(session, config), tokenizer=tokenizer)


def _retriever(session: Session, config: LLMConfig) -> Retriever | None:
    """The few-shot retriever over the session's training split (built once per config)."""
    if not config.prompt.retrieval.type:
        return None
    state = session.generation
    cached = state.retriever
    if cached is not None and cached[0] is config and cached[1] is session.data:
        return cached[2]
    if session.data is None:
        raise DataError(
            "prompt.retrieval needs training examples to retrieve from, and no data is bound to the "
            "session yet. Bind some with %llm_train --data NAME (or %llm_preview --data NAME) first, "
            "or use --raw to send the text without the template."
        )

    # The same cleaning, sampling and split as training, so generation sees the same examples.
    retriever = retriever_for_data(config, session.data, cache_dir=session.settings.cache_dir)
    state.retriever = (config, session.data, retriever)
    return retriever


def prompt_row(renderer: PromptRenderer, text: str) -> dict[str, Any]:
    """The data row a cell body stands for, given the template's placeholders.

    A template that reads only the input feature (``{__sample__}`` or its column, or no template)
    gets the whole body as that column. A template that reads other columns needs them all: the
    body is then YAML ``column: value`` lines (``yaml.safe_load`` of a mapping).
    """
    columns = [c for c in renderer.column_placeholders if c != renderer.input_column]
    if not columns:
        return {renderer.input_column: text}

    needed = list(renderer.required_columns())
    example = "\n".join(f"{c}: ..." for c in needed)
    try:
        row = safe_load(text, yaml11_booleans=True)  # alias-capped, as config cells are
    except yaml.YAMLError as exc:
        raise LlmMagicError(
            f"The prompt template uses the columns {', '.join(needed)}, so the cell body must be "
            f"YAML 'column: value' lines, like:\n{example}\nIt is not valid YAML ({exc}). "
            "Use --raw to send the text as it is."
        ) from None
    if not isinstance(row, dict):
        raise LlmMagicError(
            f"The prompt template uses the columns {', '.join(needed)}, so the cell body must be "
            f"'column: value' lines, like:\n{example}\nUse --raw to send the text as it is."
        )
    row = {str(k): v for k, v in row.items()}
    missing = [c for c in needed if c not in row]
    if missing:
        raise LlmMagicError(
            f"The cell body has no value for {', '.join(missing)} (the prompt template uses "
            f"{', '.join(needed)}). Add a line '{missing[0]}: ...' for each."
        )
    return row


def build_prompt(session: Session, config: LLMConfig, text: str, *, raw: bool = False,
                 tokenizer: PreTrainedTokenizerBase | None = None) -> tuple[str, bool]:
    """The prompt for ``text`` and whether the tokenizer should add special tokens (BOS).

    ``raw`` sends ``text`` unchanged; otherwise it goes through the config's prompt template
    (:func:`prompt_row`). A chat-template prompt already holds its special tokens.
    """
    if raw:
        return text, True
    renderer = _renderer(session, config, tokenizer)
    row = prompt_row(renderer, text)
    if any(value is None for value in row.values()):  # `column: null` in the body: training's rule
        import pandas as pd  # lazy: pandas only for a `column: null` body; %load_ext stays light

        row = clean_prompt_columns(pd.DataFrame([row]), config, renderer)[0].iloc[0]
    return renderer.render(row), not renderer.chat_template


# ---------------------------------------------------------------------------------- settings
def effective_settings(config: LLMConfig, overrides: dict[str, Any] | None = None,
                       name_format: Callable[[str], str] = str) -> GenerationConfig:
    """``config.generation`` with ``overrides`` merged and validated (see ``settings.merge_settings``)."""
    return merge_settings(config.generation, dict(overrides or {}), name_format)


def prompt_limits(config: LLMConfig) -> SequenceLimits:
    """The config's sequence limits for prompts, as training applies them (a ``SequenceLimits``).

    Without the model's context length: that cut is :func:`max_prompt_tokens`, which also leaves
    room for the new tokens.
    """
    return SequenceLimits.from_config(config)


def max_prompt_tokens(bundle: LoadedModel, kwargs: dict[str, Any]) -> int | None:
    """Room left for the prompt: context length − max_new_tokens − 8 (Ludwig's truncation margin)."""
    context = getattr(bundle, "context_length", None)
    if not context:
        return None
    return max(1, int(context) - int(kwargs.get("max_new_tokens") or 0) - 8)


def _settings_dict(settings: Any) -> dict[str, Any]:
    return {k: v for k, v in settings.model_dump().items() if v is not None}


@contextlib.contextmanager
def _adapter_disabled(model: torch.nn.Module) -> Iterator[None]:
    """Run the base model: a PEFT model with its adapter(s) switched off."""
    with model.disable_adapter():
        yield


def _check_can_compare(model: torch.nn.Module, config: LLMConfig) -> None:
    if not hasattr(model, "disable_adapter"):
        raise LlmMagicError(
            "--compare shows the base model next to the fine-tuned one, but this config has no "
            "adapter, so both are the same model. Add an adapter (e.g. 'adapter: {type: lora}') "
            "and train it with %llm_train, or drop --compare."
        )


# -------------------------------------------------------------------------------- generation
def generate_samples(
    session: Session,
    text: str,
    *,
    raw: bool = False,
    seed: int | None = None,
    n: int = 1,
    compare: bool = False,
    overrides: dict[str, Any] | None = None,
    name_format: Callable[[str], str] = str,
    listener: GenerationListener | None = None,
) -> GenerationResults:
    """Generate ``n`` answers to ``text`` (base and fine-tuned side by side with ``compare``).

    Sample ``i`` uses seed ``seed + i`` (a random ``seed`` is drawn and recorded when None), and
    in a comparison both models get the same seed and settings. Stopping (KeyboardInterrupt)
    keeps the results so far, the current one partial, and skips the rest.
    """
    if n < 1:
        raise LlmMagicError(f"--n {n}: the number of samples must be at least 1.")
    session.check_idle("generate")
    return _samples(session, text, raw=raw, seed=seed, n=n, compare=compare, overrides=overrides,
                    name_format=name_format, listener=listener)


def _samples(session: Session, text: str, *, raw: bool, seed: int | None, n: int, compare: bool,
             overrides: dict[str, Any] | None, name_format: Callable[[str], str],
             listener: GenerationListener | None) -> GenerationResults:
    """:func:`generate_samples` once the session was found idle (or claimed busy by the caller)."""
    config = session.require_config()
    settings = effective_settings(config, overrides, name_format)
    bundle = session.load_model()
    model, tokenizer = bundle.model, bundle.tokenizer
    if compare:
        _check_can_compare(model, config)
    prompt, special = build_prompt(session, config, text, raw=raw, tokenizer=tokenizer)
    # A raw prompt is sent as it is; a templated one is cut as training cut it.
    limits = None if raw else prompt_limits(config)
    kwargs = hf_kwargs(settings, tokenizer)
    base_seed = fresh_seed() if seed is None else int(seed)

    plan = []  # (title, base model?, seed)
    for i in range(n):
        suffix = f" #{i + 1}" if n > 1 else ""
        if compare:
            plan.append((f"base{suffix}", True, base_seed + i))
        plan.append(((f"fine-tuned{suffix}" if compare else f"sample{suffix}".strip()), False, base_seed + i))
    if listener is not None:
        listener.start([title for title, _, _ in plan])

    results = GenerationResults()
    for index, (title, use_base, sample_seed) in enumerate(plan):
        on_text = (lambda t, i=index: listener.text(i, t)) if listener is not None else None
        context = _adapter_disabled(model) if use_base else contextlib.nullcontext()
        with context:
            result = generate_one(
                model, tokenizer, prompt, kwargs, seed=sample_seed, on_text=on_text,
                settings=_settings_dict(settings), label=title if (compare or n > 1) else "",
                device=getattr(bundle, "device", None), add_special_tokens=special,
                max_prompt_tokens=max_prompt_tokens(bundle, kwargs), prompt_limits=limits,
            )
        results.append(result)
        if listener is not None:
            listener.done(index, result)
        if result.interrupted:
            break
    _remember(session, results)
    return results


def generate(session: Session, text: str, *, raw: bool = False, seed: int | None = None,
             on_text: Callable[[str], None] | None = None, busy: str | None = None,
             **overrides: Any) -> GenerationResult:
    """One answer to ``text`` (see :func:`generate_samples`); ``on_text`` sees the text as it grows.

    ``busy``: mark the session busy with this reason while generating, as a background training
    run does. The playground generates on a worker thread while the kernel runs other cells, and
    a command there (training, loading or unloading a model, another generation) must be refused
    clearly instead of using the model mid-answer. Refused itself when the session is busy.
    """
    listener = _CallbackListener(on_text) if on_text is not None else None
    if busy is None:
        return generate_samples(session, text, raw=raw, seed=seed, overrides=overrides, listener=listener)[0]
    # Checked and claimed under the session's lock: two claims at once cannot both pass.
    with session.lock:
        session.check_idle("generate")
        session.busy_reason = busy
    try:
        return _samples(session, text, raw=raw, seed=seed, n=1, compare=False, overrides=overrides,
                        name_format=str, listener=listener)[0]
    finally:
        session.busy_reason = None


class _CallbackListener:
    def __init__(self, on_text: Callable[[str], None]) -> None:
        self.on_text = on_text

    def start(self, titles: list[str]) -> None:
        pass

    def text(self, index: int, text: str) -> None:
        self.on_text(text)

    def done(self, index: int, result: GenerationResult) -> None:
        pass


def _remember(session: Session, results: GenerationResults) -> None:
    """Keep the last results in the session, so a stopped generation's text is not lost."""
    session.generation.last = results


# -------------------------------------------------------------------------------- prediction
def prediction_batch_size(config: LLMConfig, batch_size: int | None = None) -> int | None:
    """Rows per ``generate`` call: ``batch_size`` if given, else a ``trainer.eval_batch_size``
    the user set to a number, else None (automatic: as many as memory allows, see
    :func:`llm_magic.runtime.generation.plan.batch_plan`; ``eval_batch_size: auto`` means this).

    The trainer's default ``eval_batch_size`` (2, Ludwig's LLM value) is for teacher-forced
    validation; prediction at 2 rows a call ran at 0.14x of batched ``generate`` (issue 16).
    """
    if batch_size is not None:
        if int(batch_size) < 1:
            raise LlmMagicError(f"--batch-size {batch_size}: must be at least 1.")
        return int(batch_size)
    value = config.trainer.eval_batch_size
    if "eval_batch_size" in config.trainer.model_fields_set and isinstance(value, int) \
            and not isinstance(value, bool) and value > 0:
        return value
    return None


def predict(
    session: Session,
    data: DataSource,
    *,
    batch_size: int | None = None,
    seed: int | None = None,
    progress: bool | Callable[[int], None] = True,
    overrides: dict[str, Any] | None = None,
    name_format: Callable[[str], str] = str,
    on_stopped: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Generate for every row of ``data``; return a DataFrame of inputs, prompts and outputs.

    Columns added: ``prompt`` (the rendered prompt; ``llm_prompt`` if the data has a ``prompt``
    column already; the model sees it cut to the sequence limits as in training, see
    :func:`prompt_limits`), ``<output>_response`` (the generated text) and, for category outputs,
    ``<output>_predictions`` (the label, see :func:`~llm_magic.runtime.generation.labels.map_to_label`).
    ``progress``: True reports the rows done as a :func:`runtime.progress.task <llm_magic.runtime.progress.task>`
    (a bar in the cell's output), False not at all, a callable is told after each batch how many rows it finished.

    ``batch_size`` None sizes batches from memory (:func:`prediction_batch_size`); prompts run
    longest first, in batches of similar length, and the frame keeps the rows' order.

    Stopping it (KeyboardInterrupt, the notebook's stop button) keeps the rows of the batches
    already finished: the frame then holds only those (in row order; since long prompts run
    first they need not be the first rows), ``frame.attrs["interrupted"]`` is True
    (``frame.attrs["rows_total"]`` is the number of rows asked for), and ``on_stopped(message)``
    is told how many were done (default: a ``UserWarning``).
    """
    # lazy: pulls torch and transformers; %load_ext stays light
    from llm_magic.runtime.generation.batch import BatchInterrupted, generate_batch

    session.check_idle("predict")
    config = session.require_config()
    settings = effective_settings(config, overrides, name_format)
    size = prediction_batch_size(config, batch_size)
    df = load_data(data)
    bundle = session.load_model()
    renderer = _renderer(session, config, bundle.tokenizer)
    # Missing inputs follow the rule training used (fill_value, drop_row, ...), not "nan".
    cleaned, cleaning = clean_prompt_columns(df, config, renderer)
    prompts = [renderer.render(row) for _, row in cleaned.iterrows()]
    output = config.output_feature
    is_category = getattr(output, "type", "text") == "category"
    constrain = is_category and bool(getattr(getattr(output, "decoder", None), "constrain_to_vocabulary", False))
    kwargs = hf_kwargs(settings, bundle.tokenizer)
    try:
        with _progress_bar(progress, len(prompts)) as tick:
            texts = generate_batch(
                bundle.model, bundle.tokenizer, prompts, kwargs,
                batch_size=size, seed=seed, device=getattr(bundle, "device", None),
                labels=category_labels(output) if constrain else None, progress=tick,
                add_special_tokens=not renderer.chat_template,
                max_prompt_tokens=max_prompt_tokens(bundle, kwargs), prompt_limits=prompt_limits(config),
            )
        kept = list(range(len(prompts)))
    except BatchInterrupted as stop:
        # Batches run longest prompt first: the finished rows are any of them, kept in row order.
        texts, kept = stop.outputs, stop.indices
    done = len(texts)
    result = df.loc[cleaned.index[kept]].copy()
    result["llm_prompt" if "prompt" in result.columns else "prompt"] = [prompts[i] for i in kept]
    name = output.name
    result[f"{name}_response"] = texts
    if is_category:
        result[f"{name}_predictions"] = [map_to_label(t, output) for t in texts]
    result.attrs.update(interrupted=done < len(prompts), rows_total=len(prompts),
                        missing_values=cleaning.messages())
    if cleaning.rows_dropped:
        import warnings

        warnings.warn(f"Missing values: {'; '.join(cleaning.messages())} (missing_value_strategy "
                      "drop_row); the result has no row for those.", UserWarning, stacklevel=3)
    if done < len(prompts):
        message = (f"Prediction stopped: {done} of {len(prompts)} rows done; the result holds "
                   f"those {done} rows.")
        if on_stopped is None:
            import warnings

            # stacklevel 3: the line that called Session.predict.
            warnings.warn(message, UserWarning, stacklevel=3)
        else:
            on_stopped(message)
    return result


@contextlib.contextmanager
def _progress_bar(progress: bool | Callable[[int], None], total: int) -> Iterator[Callable[[int], None] | None]:
    if callable(progress):
        yield progress
    elif not progress:
        yield None
    else:
        # The one progress system (runtime.progress): a tqdm.auto bar would be an ipywidget that a
        # saved notebook cannot show.
        with task("Predicting", total=total) as step:
            yield step.advance
