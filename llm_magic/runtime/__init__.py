"""The runtime: everything llm_magic does, as a plain Python API that knows nothing of IPython.

Sub-modules own one concept each: ``config`` (the Ludwig LLM config language), ``models``
(loading, quantization, adapters, the embedded model), ``data`` (data sources, splits, prompts,
retrieval, tokenisation), ``training``, ``generation``, and ``session`` which ties them together.
"""

from llm_magic.runtime.library_logs import absorb as _absorb_library_logs

# Before any runtime module imports peft or bitsandbytes: their import-time warnings must not
# reach the cell's output (see library_logs).
_absorb_library_logs()
