"""Library log lines that have no place in a cell's output, taken out where they are emitted.

bitsandbytes logs a WARNING when it is imported on a CPU with AVX512-BF16 and the optional
``kernels`` package is missing: "Failed to load CPU gemm_4bit_forward from kernels-community".
It is imported by peft (any LoRA load, quantized or not) and by every 4-bit load. The logger has
no handler, so Python's last-resort handler prints it to stderr: a red block in the notebook and
a stray line in the terminal. It tells the user nothing to act on: without that kernel
bitsandbytes uses its own compiled CPU kernel for the same 4-bit matmul (and fetching the
other one would download code from the Hub at import time).

:func:`absorb` drops such records before any handler sees them and re-logs them at DEBUG under
``llm_magic.runtime.library_logs``, so they remain available to whoever turns on debug logging;
:func:`absorbed` lists what was taken. ``llm_magic.runtime`` installs it on import, before any
module of the runtime can import peft or bitsandbytes.

:func:`absorb` also redacts Hugging Face tokens from every record the model libraries log
(transformers, huggingface_hub, peft, accelerate, TRL, datasets, bitsandbytes), as our own
messages are (``runtime.secrets.redact``): a library quoting a URL or a header must not print one.
A log-record factory does it, not a filter, because filters on a logger do not see the records
of its child loggers (``transformers.modeling_utils``), and a library adds its handlers late.
"""
from __future__ import annotations

import logging

from llm_magic.runtime.secrets import redact

__all__ = ["ABSORBED", "LIBRARIES", "absorb", "absorbed"]

#: Top-level logger names whose records are redacted.
LIBRARIES = frozenset({"transformers", "huggingface_hub", "peft", "accelerate", "trl", "datasets", "bitsandbytes"})

#: Logger name -> message prefixes taken out of the output.
ABSORBED: dict[str, tuple[str, ...]] = {
    "bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward",),
}

_debug = logging.getLogger(__name__)
_taken: list[str] = []


class _Absorb(logging.Filter):
    """Refuses the records whose message starts with one of ``prefixes`` and keeps their text."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the library's problem: let it through
            return True
        if not message.startswith(self.prefixes):
            return True
        if message not in _taken:
            _taken.append(message)
            _debug.debug("%s: %s", record.name, message)
        return False


def absorb() -> None:
    """Install the filters and the redaction (once; a second call changes nothing). Imports no library."""
    for name, prefixes in ABSORBED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Absorb) for f in logger.filters):
            logger.addFilter(_Absorb(prefixes))
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "_llm_magic_redacts", False):
        logging.setLogRecordFactory(_redacting(factory))


def _redacting(factory):
    """``factory`` whose records from :data:`LIBRARIES` have their tokens redacted."""
    def make(*args, **kwargs):
        record = factory(*args, **kwargs)
        if record.name.split(".", 1)[0] in LIBRARIES:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is the library's problem
                return record
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
        return record

    make._llm_magic_redacts = True  # type: ignore[attr-defined]
    return make


def absorbed() -> list[str]:
    """The messages taken out so far, each once, in the order they came."""
    return list(_taken)
