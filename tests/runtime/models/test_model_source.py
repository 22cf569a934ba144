"""``base_model`` resolution: the embedded model, presets, hub ids and local folders."""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.models.source import resolve_source


def test_embedded_model_resolves_to_its_folder_and_keeps_its_name(monkeypatch, tiny_dirs):
    import llm_magic.runtime.embedded as embedded

    monkeypatch.setattr(embedded, "embedded_model_path", lambda: tiny_dirs["llama"])
    source = resolve_source("llm-magic/tiny")
    assert source.is_local and source.location == str(tiny_dirs["llama"])
    assert source.model_id == "llm-magic/tiny"


def test_missing_embedded_weights_say_how_to_rebuild(monkeypatch):
    import llm_magic.runtime.embedded as embedded

    def missing():
        raise FileNotFoundError("no config.json; run `python -m tools.embedded_model.build`")

    monkeypatch.setattr(embedded, "embedded_model_path", missing)
    with pytest.raises(LlmMagicError, match="llm-magic/tiny.*tools.embedded_model.build"):
        resolve_source("llm-magic/tiny")


def test_preset_short_name_resolves_to_its_hub_id():
    source = resolve_source("llama-2-7b")
    assert not source.is_local
    assert source.location == source.model_id == "meta-llama/Llama-2-7b-hf"


def test_hub_ids_are_left_to_the_hub():
    source = resolve_source("Qwen/Qwen2.5-0.5B")
    assert not source.is_local and source.model_id == "Qwen/Qwen2.5-0.5B"


@pytest.mark.parametrize("path", ["./models/mine", "~/nope/model", "/no/such/dir", "a/b/c"])
def test_path_like_names_that_do_not_exist_are_missing_folders(path):
    with pytest.raises(LlmMagicError, match="not an existing folder"):
        resolve_source(path)


def test_local_folder_keeps_the_name_the_user_wrote(tiny_dirs):
    source = resolve_source(str(tiny_dirs["gpt2"]))
    assert source.is_local and source.model_id == str(tiny_dirs["gpt2"])


def test_multimodal_is_refused_before_loading(tiny_dirs):
    from llm_magic.runtime.models.loader import precheck
    from tests.runtime.models.model_helpers import make_config

    config = make_config(tiny_dirs["llama"]).model_copy(update={"is_multimodal": True})
    with pytest.raises(LlmMagicError, match="is_multimodal.*not supported yet"):
        precheck(config)
