"""Evaluate a model on one split without changing its weights (``trainer.type: none``, ``%llm_eval``).

Text outputs: a teacher-forced pass gives loss, perplexity and token accuracy on the target
tokens; greedy generation gives exact match, BLEU and ROUGE. Category outputs: the generated text
is mapped to a label (``decoder.match``) and scored with accuracy, per-class P/R/F1 and a confusion matrix.

Decoding is greedy (``do_sample: false``) whatever ``generation:`` says, so metrics are
reproducible; the other generation settings apply. A text answer is generated for at most twice
the longest reference's token count plus 8 tokens: a longer answer cannot be an exact match and
only costs time (Ludwig's default of half the context would make an untrained model ramble).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd
import torch

from llm_magic.runtime.config.schema.trainer import PreferenceTrainer
from llm_magic.runtime.evaluation.metrics import (
    bleu, classification_metrics, exact_match, perplexity, rouge,
)
from llm_magic.runtime.evaluation.preference import preference_metrics
from llm_magic.runtime.evaluation.report import EvalReport
from llm_magic.runtime.generation.batch import generate_batch
from llm_magic.runtime.generation.labels import category_labels, map_to_label
from llm_magic.runtime.generation.runner import prompt_limits
from llm_magic.runtime.generation.settings import hf_kwargs
from llm_magic.runtime.generation.streaming import model_device
from llm_magic.runtime.progress import task

if TYPE_CHECKING:  # pragma: no cover - types only
    import torch
    from transformers import PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.data.tokenize import SequenceLimits
    from llm_magic.runtime.training.data import SplitData

__all__ = ["evaluate_split", "greedy_generate", "teacher_forced_metrics"]

# Sampling knobs that would only trigger HF warnings under greedy decoding.
_SAMPLING_KEYS = ("temperature", "top_k", "top_p", "typical_p", "epsilon_cutoff", "eta_cutoff")
_EXAMPLE_ROWS = 20


def teacher_forced_metrics(model: torch.nn.Module, rows: Any, collator: Any, batch_size: int = 8,
                           progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """Loss, perplexity and token/sequence accuracy on the labelled tokens of ``rows``.

    ``progress(n)`` is told after each batch how many rows it scored.
    """
    device = model_device(model)
    total_loss, total_tokens = 0.0, 0
    correct_tokens, correct_rows, scored_rows = 0, 0, 0
    was_training = model.training
    # Rows of similar length batch together (each batch pads to its longest); the sums below
    # do not depend on the order.
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                batch = collator([rows[i] for i in order[start : start + batch_size]])
                labels = batch.pop("labels").to(device)
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(**batch).logits[:, :-1].float()
                target = labels[:, 1:]
                mask = target != -100
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
                )
                total_loss += float(loss)
                total_tokens += int(mask.sum())
                preds = logits.argmax(-1)
                hit = (preds == target) & mask
                correct_tokens += int(hit.sum())
                has = mask.any(dim=1)
                correct_rows += int(((hit | ~mask).all(dim=1) & has).sum())
                scored_rows += int(has.sum())
                if progress is not None:
                    progress(len(labels))
    finally:
        model.train(was_training)
    loss = total_loss / total_tokens if total_tokens else math.nan
    return {
        "loss": loss,
        "perplexity": perplexity(loss) if total_tokens else math.nan,
        "token_accuracy": correct_tokens / total_tokens if total_tokens else 0.0,
        "sequence_accuracy": correct_rows / scored_rows if scored_rows else 0.0,
    }


def _generation_kwargs(config: LLMConfig, tokenizer: PreTrainedTokenizerBase,
                       max_new_tokens: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if config.generation is not None:
        try:
            kwargs = hf_kwargs(config.generation, tokenizer)
        except (ImportError, AttributeError):
            kwargs = {}
    for key in _SAMPLING_KEYS:
        kwargs.pop(key, None)
    kwargs.pop("max_length", None)
    configured = kwargs.get("max_new_tokens") or max_new_tokens
    kwargs.update(do_sample=False, num_beams=kwargs.get("num_beams", 1),
                  max_new_tokens=min(configured, max_new_tokens), pad_token_id=tokenizer.pad_token_id)
    return kwargs


def greedy_generate(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
                    max_new_tokens: int,
                    batch_size: int | None = None, add_special_tokens: bool = True,
                    extra: dict[str, Any] | None = None, labels: list[str] | None = None,
                    prompt_limits: Any = None, progress: Callable[[int], None] | None = None) -> list[str]:
    """Greedy answers (new text only) for ``prompts``, batched with left padding.

    ``batch_size`` None: as many prompts per call as memory allows (``generation.plan``).
    ``prompt_limits`` (a ``runtime.data.SequenceLimits``) cuts each prompt as training cut it,
    so the answers scored are to the prompts the model was trained on. ``progress(n)`` is told
    after each batch how many prompts it finished.
    """
    kwargs = {"max_new_tokens": max_new_tokens, "do_sample": False, "pad_token_id": tokenizer.pad_token_id,
              **(extra or {})}
    was_training = model.training
    model.eval()
    try:
        return generate_batch(model, tokenizer, list(prompts), kwargs, batch_size=batch_size,
                              add_special_tokens=add_special_tokens, labels=labels, prompt_limits=prompt_limits,
                              progress=progress)
    finally:
        model.train(was_training)


def sample_generator(tokenizer: PreTrainedTokenizerBase, max_new_tokens: int = 16, add_special_tokens: bool = True,
                     prompt_limits: SequenceLimits | None = None) -> Callable[[torch.nn.Module, list[str]], list[str]]:
    """A ``(model, prompts) -> answers`` function for the widget's ``--sample-every`` previews."""
    def generate(model: torch.nn.Module, prompts: list[str]) -> list[str]:
        return greedy_generate(model, tokenizer, prompts, max_new_tokens, add_special_tokens=add_special_tokens,
                               prompt_limits=prompt_limits)

    return generate


#: Answers shorter than this many words make BLEU (4-word overlaps) and ROUGE-2 (2-word
#: overlaps, mostly none in a 1-3 word answer) read 0 whatever the quality.
SHORT_ANSWER_WORDS = 4


def short_answer_note(references: list[str]) -> tuple[set[str], str | None]:
    """``(metrics to hide, the line saying why)`` when most references are shorter than 4 words."""
    lengths = sorted(len(str(r).split()) for r in references)
    if not lengths or lengths[len(lengths) // 2] >= SHORT_ANSWER_WORDS:
        return set(), None
    return {"bleu", "rouge2"}, (
        f"BLEU and ROUGE-2 not shown: most reference answers are shorter than {SHORT_ANSWER_WORDS} words "
        f"(median {lengths[len(lengths) // 2]}), where both read 0 whatever the answer; exact_match and "
        "ROUGE-1/L measure them (report.hidden keeps the values)."
    )


def evaluate_split(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, config: LLMConfig,
                   split: SplitData, *, name: str = "test",
                   collator: Any = None, batch_size: int = 8, add_special_tokens: bool = True,
                   rewards: bool = True) -> EvalReport:
    """Metrics of ``model`` on ``split`` (a ``runtime.training.data.SplitData``); weights unchanged.

    ``rewards=False``: no implicit rewards for a preference split (evaluating the base model itself).

    Each pass over the split is a :func:`~llm_magic.runtime.progress.task` counting its rows.
    """
    output_feature = config.output_feature
    output_type = str(getattr(output_feature, "type", "text"))
    prompts, targets = list(split.prompts), list(split.targets)
    # Generation sizes its batches from memory: the trainer's eval_batch_size (Ludwig's LLM
    # default 2) is for the teacher-forced pass, and far too small for generate calls.
    gen_batch = None
    report = EvalReport(split=name, output_type=output_type, rows=len(prompts))
    if not prompts:
        return report

    limits = prompt_limits(config)
    if output_type == "category":
        labels = category_labels(output_feature)
        constrain = bool(getattr(getattr(output_feature, "decoder", None), "constrain_to_vocabulary", False))
        longest = max(len(tokenizer(str(label), add_special_tokens=False)["input_ids"]) for label in labels)
        kwargs = _generation_kwargs(config, tokenizer, longest + 8)
        with task(f"Evaluating the {name} split: generating answers", total=len(prompts)) as step:
            texts = greedy_generate(model, tokenizer, prompts, kwargs.pop("max_new_tokens"), gen_batch,
                                    add_special_tokens, extra=kwargs, labels=labels if constrain else None,
                                    prompt_limits=limits, progress=step.advance)
        predicted = [map_to_label(text, output_feature) for text in texts]
        scores = classification_metrics(predicted, targets, labels)
        report.metrics = {"accuracy": scores["accuracy"],
                          "macro_f1": float(scores["per_class"]["f1"].mean())}
        report.per_class, report.confusion = scores["per_class"], scores["confusion"]
        report.examples = pd.DataFrame({"prompt": prompts, "target": targets, "generated": texts,
                                        "label": predicted}).head(_EXAMPLE_ROWS)
        return report

    if collator is not None and len(split.rows):
        with task(f"Evaluating the {name} split: scoring the targets", total=len(split.rows)) as step:
            report.metrics.update(teacher_forced_metrics(model, split.rows, collator, batch_size, step.advance))
    longest = max(len(ids) for ids in tokenizer(targets, add_special_tokens=False)["input_ids"])
    kwargs = _generation_kwargs(config, tokenizer, 2 * longest + 8)
    with task(f"Evaluating the {name} split: generating answers", total=len(prompts)) as step:
        predictions = greedy_generate(model, tokenizer, prompts, kwargs.pop("max_new_tokens"), gen_batch,
                                      add_special_tokens, extra=kwargs, prompt_limits=limits,
                                      progress=step.advance)
    report.metrics["exact_match"] = exact_match(predictions, targets)
    overlap = {"bleu": bleu(predictions, targets), **rouge(predictions, targets)}
    hidden, note = short_answer_note(targets)
    report.metrics.update({k: v for k, v in overlap.items() if k not in hidden})
    report.hidden = {k: v for k, v in overlap.items() if k in hidden}
    if note:
        report.notes.append(note)
    report.examples = pd.DataFrame({"prompt": prompts, "target": targets, "prediction": predictions}
                                   ).head(_EXAMPLE_ROWS)
    rejected = split.rejected
    trainer = config.trainer
    if rejected is not None:
        # The run's beta scales the implicit rewards as in its training logs.
        # A preference split scored under another trainer type: TRL's default beta.
        beta = trainer.beta if isinstance(trainer, PreferenceTrainer) else 0.1
        with task(f"Evaluating the {name} split: scoring chosen against rejected answers",
                  total=(4 if rewards else 2) * len(prompts)) as step:
            report.metrics.update(preference_metrics(
                model, tokenizer, prompts, targets, rejected, beta=beta, batch_size=max(1, batch_size),
                add_special_tokens=add_special_tokens, rewards=rewards, progress=step.advance))
    return report
