"""Tokenisation for fine-tuning: prompt + target + EOS, the prompt masked out of the loss.

Per row (as Ludwig merges prompt and target; the deliberate differences are in
``docs/data-and-prompts.md``):

- ``input_ids`` = prompt tokens (with the tokenizer's BOS, if it adds one) + target tokens + EOS;
- ``labels`` = -100 on every prompt position, the target ids (and EOS) elsewhere;
- truncation keeps the **end** of the prompt (where the answer cue such as ``ASSISTANT:`` is;
  Ludwig keeps the start) and the **start** of the target. A target cut short loses its EOS:
  teaching the model to stop mid-answer would be wrong. When prompt + target exceed the global
  limit, the prompt gives way first, down to half the budget; then the target is cut.
- a feature's fixed ``sequence_length`` replaces its ``max_sequence_length`` (as in Ludwig). On the
  input it also keeps the prompt's **start**, exactly as Ludwig does, for configs that rely on it.
  Ludwig also pads every row to that length; we do not, since batches are padded to their longest
  row anyway and fixed padding would only add masked-out work.

Padding happens per batch in the collator (:func:`make_data_collator`): transformers'
``DataCollatorForSeq2Seq`` pads ``input_ids`` with the tokenizer's pad id (Ludwig pads with id 0),
``attention_mask`` with 0 and ``labels`` with -100.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from llm_magic.errors import ModelLoadError
from llm_magic.runtime import embedded
from llm_magic.runtime.data.sources import feature_setting
from llm_magic.runtime.progress import task

if TYPE_CHECKING:  # pragma: no cover - types only
    from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig

__all__ = [
    "SequenceLimits",
    "TokenizedData",
    "TruncationReport",
    "base_model_context_length",
    "cut_prompt",
    "cut_prompt_for_generation",
    "ensure_pad_token",
    "load_tokenizer",
    "make_data_collator",
    "plan_truncation",
    "tokenize_for_training",
]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class SequenceLimits:
    """Token limits: the prompt (input feature), the target + EOS (output feature), and the total.

    ``keep_prompt_start``: a cut prompt keeps its first tokens (Ludwig's way, chosen by the input's
    ``sequence_length``) instead of its last ones.
    """

    max_input: int | None = None
    max_target: int | None = None
    max_total: int | None = None
    keep_prompt_start: bool = False

    @classmethod
    def from_config(cls, config: LLMConfig, context_length: int | None = None) -> "SequenceLimits":
        """Limits from the features' ``sequence_length`` (else ``max_sequence_length``) and
        ``global_max_sequence_length``.

        A feature's ``sequence_length`` wins over its ``max_sequence_length``, as in Ludwig. The
        global limit defaults to ``context_length`` (the model's) and is capped by it, as in Ludwig.
        """
        total = config.preprocessing.global_max_sequence_length
        if context_length is not None:
            total = context_length if total is None else min(total, context_length)
        fixed_input = feature_setting(config.input_feature, "sequence_length", None)
        fixed_target = feature_setting(config.output_feature, "sequence_length", None)
        return cls(
            max_input=fixed_input or feature_setting(config.input_feature, "max_sequence_length", None),
            max_target=fixed_target or feature_setting(config.output_feature, "max_sequence_length", None),
            max_total=total,
            keep_prompt_start=fixed_input is not None,
        )


def plan_truncation(n_prompt: int, n_target: int, limits: SequenceLimits) -> tuple[int, int]:
    """How many prompt and target tokens survive the limits: ``(keep_prompt, keep_target)``."""
    keep_p, keep_t = n_prompt, n_target
    if limits.max_input is not None:
        keep_p = min(keep_p, limits.max_input)
    if limits.max_target is not None:
        keep_t = min(keep_t, limits.max_target)
    total = limits.max_total
    if total is not None and keep_p + keep_t > total:
        # The prompt gives way first (its start matters least), but keeps at least half the budget.
        keep_p = min(keep_p, max(total - keep_t, total // 2))
        keep_t = min(keep_t, total - keep_p)
    return keep_p, keep_t


@dataclass
class TruncationReport:
    """Which rows the limits cut, and by how many tokens (``cuts``: row -> (prompt, target) cut)."""

    rows: int = 0
    limits: SequenceLimits = field(default_factory=SequenceLimits)
    cuts: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def rows_truncated(self) -> int:
        """Rows that lost any token."""
        return len(self.cuts)

    @property
    def prompt_tokens_cut(self) -> int:
        """Prompt tokens cut, over all rows."""
        return sum(p for p, _ in self.cuts.values())

    @property
    def target_tokens_cut(self) -> int:
        """Target tokens (EOS included) cut, over all rows."""
        return sum(t for _, t in self.cuts.values())

    def summary(self) -> str:
        """One line for the user: how many rows were truncated and by how much."""
        if not self.cuts:
            return f"No truncation: all {self.rows} rows fit the sequence limits."
        side = "end" if self.limits.keep_prompt_start else "start"
        return (
            f"{self.rows_truncated} of {self.rows} rows truncated: {self.prompt_tokens_cut} prompt "
            f"tokens cut from the {side}, {self.target_tokens_cut} target tokens cut from the end "
            f"(limits: input {self.limits.max_input}, target {self.limits.max_target}, "
            f"total {self.limits.max_total})."
        )


@dataclass
class TokenizedData:
    """Unpadded training rows (``input_ids``, ``attention_mask``, ``labels`` lists) and the truncation report.

    Indexable like a torch ``Dataset``, so it can go straight to the Hugging Face ``Trainer`` with
    :func:`make_data_collator`.
    """

    rows: list[dict[str, list[int]]]
    truncation: TruncationReport

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


def _token_ids(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
               add_special_tokens: bool) -> list[list[int]]:
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]


def _keep_end(ids: list[int], keep: int, bos_id: int | None) -> list[int]:
    """The last ``keep`` tokens, but a leading BOS stays first (the model expects it there)."""
    if keep >= len(ids):
        return ids
    if keep <= 0:
        return []
    if bos_id is not None and ids and ids[0] == bos_id:
        return [bos_id] + ids[len(ids) - keep + 1:] if keep > 1 else [bos_id]
    return ids[len(ids) - keep:]


def cut_prompt(ids: Sequence[int], keep: int, limits: SequenceLimits, bos_id: int | None) -> list[int]:
    """The ``keep`` prompt tokens a cut leaves: the first ones with ``limits.keep_prompt_start``,
    else the last ones (a leading BOS stays first). Training and generation both cut with this."""
    ids = list(ids)
    return ids[:max(keep, 0)] if limits.keep_prompt_start else _keep_end(ids, keep, bos_id)


def cut_prompt_for_generation(ids: Sequence[int], limits: SequenceLimits, bos_id: int | None) -> list[int]:
    """A prompt's tokens cut for generation by the rules training uses (Ludwig preprocesses
    prediction inputs like training inputs).

    No target follows a prompt at generation, so the input feature's limit applies as in training
    and the global limit caps the prompt alone.
    """
    keep, _ = plan_truncation(len(ids), 0, limits)
    return cut_prompt(ids, keep, limits, bos_id)


def tokenize_for_training(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], targets: Sequence[str],
                          max_input_len: int | None = None, max_target_len: int | None = None,
                          global_max_len: int | None = None, *,
                          add_special_tokens: bool = True, keep_prompt_start: bool = False) -> TokenizedData:
    """Tokenise prompt/target pairs into training rows with the prompt masked out of the loss.

    ``max_input_len`` limits the prompt tokens, ``max_target_len`` the target tokens including EOS,
    ``global_max_len`` their sum (None: no limit). ``add_special_tokens=False`` skips the BOS for
    prompts that already hold it (chat templates write it as text). ``keep_prompt_start=True`` cuts
    a long prompt's end instead of its start (Ludwig's way; see :class:`SequenceLimits`).
    """
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ModelLoadError(
            f"The tokenizer of {getattr(tokenizer, 'name_or_path', 'this model')!r} has no EOS token, "
            "so fine-tuning cannot teach the model where an answer ends. Use a model whose tokenizer "
            "defines eos_token."
        )
    limits = SequenceLimits(max_input_len, max_target_len, global_max_len, keep_prompt_start)
    report = TruncationReport(rows=len(prompts), limits=limits)
    prompt_ids = _token_ids(tokenizer, prompts, add_special_tokens)
    target_ids = _token_ids(tokenizer, [str(t) for t in targets], False)
    bos = getattr(tokenizer, "bos_token_id", None)
    rows = []
    for i, (p_ids, t_ids) in enumerate(zip(prompt_ids, target_ids)):
        t_ids = list(t_ids) + [eos]
        keep_p, keep_t = plan_truncation(len(p_ids), len(t_ids), limits)
        if keep_p < len(p_ids) or keep_t < len(t_ids):
            report.cuts[i] = (len(p_ids) - keep_p, len(t_ids) - keep_t)
        p_ids = cut_prompt(p_ids, keep_p, limits, bos)
        t_ids = t_ids[:keep_t]
        ids = p_ids + t_ids
        rows.append({
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "labels": [IGNORE_INDEX] * len(p_ids) + t_ids,
        })
    return TokenizedData(rows, report)


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give ``tokenizer`` a pad token (its EOS, as Ludwig and most recipes do) if it has none."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(
                f"The tokenizer of {getattr(tokenizer, 'name_or_path', 'this model')!r} has neither a "
                "pad nor an EOS token; batches cannot be padded."
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def make_data_collator(tokenizer: PreTrainedTokenizerBase,
                       pad_to_multiple_of: int | None = None) -> DataCollatorForSeq2Seq:
    """A collator that pads :class:`TokenizedData` rows into a batch of tensors.

    transformers' ``DataCollatorForSeq2Seq`` does what causal-LM fine-tuning needs here: pad ids
    are the tokenizer's pad id, padded ``attention_mask`` is 0 and padded ``labels`` are -100, on
    the tokenizer's ``padding_side``.
    """
    # lazy: pulls transformers; %load_ext stays light
    from transformers import DataCollatorForSeq2Seq

    ensure_pad_token(tokenizer)
    return DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX,
                                  pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")


def _base_model_path(config: LLMConfig) -> str:
    name = config.base_model
    return str(embedded.embedded_model_path()) if embedded.is_embedded_model(name) else name


def base_model_context_length(config: LLMConfig) -> int | None:
    """The base model's context length from its ``config.json`` alone (no weights); None if unknown."""
    try:
        # lazy: pulls transformers; %load_ext stays light
        from transformers import AutoConfig

        hf_config = AutoConfig.from_pretrained(_base_model_path(config), trust_remote_code=False)
    except (OSError, ValueError):
        return None
    for key in ("max_sequence_length", "max_position_embeddings", "n_positions"):
        value = getattr(hf_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def load_tokenizer(config: LLMConfig) -> PreTrainedTokenizerBase:
    """The tokenizer of ``config.base_model`` alone (no weights), with a pad token set.

    ``llm-magic/tiny`` is the embedded model; other names are local folders or hub ids.
    """
    name = config.base_model
    try:
        path = _base_model_path(config)

        with task(f"Loading the tokenizer of {name}"):  # importing transformers alone takes seconds
            # lazy: pulls transformers; %load_ext stays light
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(
                path, trust_remote_code=config.trust_remote_code
            )
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"Cannot load the tokenizer of base_model {name!r}: {first}. Check the name, or use a "
            "local folder (or llm-magic/tiny) when offline."
        ) from None
    return ensure_pad_token(tokenizer)
