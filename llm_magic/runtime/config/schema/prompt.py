"""``prompt``: the template that turns a data row into the model's input text, and retrieval.

Cross-field rules (task needs ``{__task__}``, retrieval needs ``{__context__}``, ...) are in
``rules/prompt.py``; this module only types the fields.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from llm_magic.runtime.config.schema.base import F, ConfigModel


class RetrievalConfig(ConfigModel):
    """Few-shot retrieval: which training rows are inserted at ``{__context__}``."""

    type: Literal["random", "semantic"] | None = F(
        None, "null = zero-shot; `random` = k random training rows; `semantic` = k nearest by embedding.",
        diverges="Ludwig accepts any string and fails at preprocessing; we check the value up front.")
    index_name: str | None = F(None, "Reuse a cached retrieval index by name.")
    model_name: str | None = F(
        None, "sentence-transformers model for `semantic` (e.g. all-MiniLM-L6-v2). Required for semantic.")
    k: int = F(0, "Number of examples to retrieve; 0 with a type set becomes 1.", ge=0)

    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v


class PromptConfig(ConfigModel):
    """How each row becomes a prompt. Applied only when `template` or `task` is set."""

    template: str | None = F(
        None, "Python str.format template: `{column}`, `{__sample__}`, `{__task__}`, `{__context__}`. "
              "Double literal braces: `{{ }}`.")
    task: str | None = F(None, "Instruction text inserted at `{__task__}` (required when template is null).")
    retrieval: RetrievalConfig = F(default_factory=RetrievalConfig, help="Few-shot retrieval settings.")
    chat_template: bool = F(
        False, "Wrap the rendered prompt in the tokenizer's chat template (user turn) before generation "
               "and training.",
        diverges="llm_magic extension; not a Ludwig key.")

    def is_default(self) -> bool:
        """True when nothing is set: the raw input column is used as the prompt."""
        return self.template is None and self.task is None and self.retrieval == RetrievalConfig()
