"""The runtime: everything llm_magic does, as a plain Python API that knows nothing of IPython.

Sub-modules own one concept each: ``config`` (the Ludwig LLM config language), ``models``
(loading, quantization, adapters, the embedded model), ``data`` (data sources, splits, prompts,
retrieval, tokenisation), ``training``, ``generation``, and ``session`` which ties them together.
"""
