"""Rules about preprocessing keys that only make sense in some configs (feature and global
``preprocessing``)."""
from __future__ import annotations

from llm_magic.runtime.config.rules.registry import rule

_BALANCE_KEYS = ("oversample_minority", "undersample_majority")


@rule("preprocessing", "trainer", "output_features")
def class_balancing(c):
    """Ludwig's two balancing checks, plus the one an LLM needs: balancing only changes training rows."""
    prep = c.preprocessing
    chosen = [key for key in _BALANCE_KEYS if getattr(prep, key)]
    if len(chosen) == 2:
        yield ("preprocessing.undersample_majority",
               "oversample_minority and undersample_majority are mutually exclusive (as in Ludwig); "
               "keep one of them.")
    if not chosen:
        return
    key = chosen[0]
    if any(f.type != "text" for f in c.output_features):
        yield (f"preprocessing.{key}",
               "class balancing is for a fine-tuned text output whose targets take two values (Ludwig "
               "balances binary outputs only); a category output is never trained, so remove it.")
    elif c.trainer.type != "finetune":
        yield (f"preprocessing.{key}",
               "class balancing changes only the rows a model is fine-tuned on, and trainer.type is "
               "`none` (nothing is trained, so it would do nothing). Add `trainer: {type: finetune}` "
               "or remove it.")


@rule("output_features")
def lowercase_labels_stay_distinct(c):
    """``lowercase: true`` must not merge two labels of a category output into one."""
    for index, feature in enumerate(c.output_features):
        prep = feature.preprocessing
        if feature.type != "category" or not prep.lowercase or not prep.vocab:
            continue
        seen: dict[str, str] = {}
        for label in prep.vocab:
            other = seen.setdefault(label.lower(), label)
            if other != label:
                yield (f"output_features[{index}].preprocessing.vocab",
                       f"with lowercase: true the labels `{other}` and `{label}` become the same label "
                       f"`{label.lower()}`; remove one of them or set lowercase: false.")
