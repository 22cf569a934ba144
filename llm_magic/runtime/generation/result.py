"""What a generation call returns: one :class:`GenerationResult`, or several in :class:`GenerationResults`.

Results are plain objects (no torch tensors) with a plain-text ``__repr__`` and an HTML
``_repr_html_``, so ``-o NAME`` variables display well in both terminal IPython and Jupyter.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GenerationResult", "GenerationResults"]


@dataclass
class GenerationResult:
    """One generated answer and how it was made.

    ``text`` is the generated continuation only (prompt and special tokens stripped); ``prompt``
    the exact text the model saw; ``settings`` the effective ``generation`` settings (defaults,
    config and per-call overrides merged); ``tokens`` the number of generated tokens;
    ``interrupted`` is True when the user stopped generation early (``text`` then holds what was
    generated so far). ``label`` names the model variant ("fine-tuned", "base") in comparisons.
    """

    text: str
    prompt: str
    settings: dict[str, Any] = field(default_factory=dict)
    tokens: int = 0
    seconds: float = 0.0
    seed: int | None = None
    interrupted: bool = False
    label: str = ""

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second (0 when nothing was timed)."""
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line of statistics: tokens, time, speed, the seed when sampling, and whether it was stopped.

        Greedy and beam decoding do not depend on the seed, so printing one would suggest a
        randomness that is not there.
        """
        parts = [f"{self.tokens} tokens", f"{self.seconds:.2f} s", f"{self.tokens_per_second:.1f} tok/s"]
        if self.seed is not None and self.settings.get("do_sample", True):
            parts.append(f"seed {self.seed}")
        if self.interrupted:
            parts.append("stopped early")
        return " · ".join(parts)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        head = f"{self.label}: " if self.label else ""
        return f"{head}{self.text}\n[{self.summary()}]"

    def _repr_html_(self) -> str:
        title = f"<div style='font-weight:bold'>{html.escape(self.label)}</div>" if self.label else ""
        return (
            f"<div class='llm-magic-result'>{title}"
            f"<pre style='white-space:pre-wrap;margin:0'>{html.escape(self.text)}</pre>"
            f"<div style='color:#888;font-size:smaller'>{html.escape(self.summary())}</div></div>"
        )


class GenerationResults(list):
    """Several results of one prompt: ``--n K`` samples and/or a ``--compare`` of base vs fine-tuned.

    A list of :class:`GenerationResult`; :attr:`base` and :attr:`tuned` pick one side of a comparison.
    """

    @property
    def base(self) -> list[GenerationResult]:
        """The base-model (adapter disabled) results of a comparison."""
        return [r for r in self if r.label.startswith("base")]

    @property
    def tuned(self) -> list[GenerationResult]:
        """The fine-tuned-model results (every result when not comparing)."""
        return [r for r in self if not r.label.startswith("base")]

    @property
    def texts(self) -> list[str]:
        """The generated texts, in order."""
        return [r.text for r in self]

    def __repr__(self) -> str:
        return "\n\n".join(repr(r) for r in self)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<div style='flex:1 1 45%;min-width:240px;border:1px solid #ddd;padding:4px'>"
            f"{r._repr_html_()}</div>"
            for r in self
        )
        return f"<div style='display:flex;flex-wrap:wrap;gap:6px'>{cells}</div>"
