"""Models we refuse or cannot reach fail early with a message that says what to do.

Remote code and pickle weights are refused; gated, missing and offline hub repos get clear
messages (huggingface_hub's exception types, and a real offline attempt); the hub token never
appears in errors, info or reprs.
"""
from __future__ import annotations

import pytest

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.models.manager import ModelManager
from tests.runtime.models.model_helpers import make_config
from tests.tiny_models import build_tiny_model

SECRET = "hf_SecretTokenValue123456789"


def _load(config):
    manager = ModelManager()
    try:
        return manager.ensure(config), manager
    except BaseException:
        manager.unload()
        raise


def test_trust_remote_code_is_refused_before_loading(tiny_dirs, monkeypatch):
    # The config layer rejects the key too; the runtime must refuse on its own (defence in depth).
    config = make_config(tiny_dirs["llama"]).model_copy(update={"trust_remote_code": True})
    import transformers

    def boom(*args, **kwargs):  # pragma: no cover - reaching it is the failure
        raise AssertionError("a loader was called")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", boom)
    with pytest.raises(LlmMagicError, match="trust_remote_code.*not supported.*run Python code"):
        _load(config)


def test_folder_with_only_pickle_weights_is_refused(tmp_path):
    folder = build_tiny_model("llama", tmp_path / "bin-only", safetensors=False)
    assert (folder / "pytorch_model.bin").is_file()
    with pytest.raises(LlmMagicError) as err:
        _load(make_config(folder))
    message = str(err.value)
    assert "pytorch_model.bin" in message
    assert "safetensors" in message and "save_pretrained" in message


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "model"
    with pytest.raises(LlmMagicError, match="not an existing folder"):
        _load(make_config(missing))


def test_folder_without_config_is_not_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LlmMagicError, match="no config.json"):
        _load(make_config(tmp_path / "empty"))


def test_real_offline_attempt_says_offline_and_suggests_a_local_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LlmMagicError) as err:
        _load(make_config("llm-magic-tests/no-such-model-xyz"))
    message = str(err.value)
    assert "llm-magic-tests/no-such-model-xyz" in message
    assert "HF_HUB_OFFLINE" in message
    assert "local" in message and "llm-magic/tiny" in message


def _hub_error(kind: str):
    import httpx2
    from huggingface_hub import errors

    url = "https://huggingface.co/api/models/owner/name"
    request = httpx2.Request("GET", url)
    if kind == "gated":
        response = httpx2.Response(403, request=request)
        return errors.GatedRepoError("Access to model owner/name is restricted.", response=response)
    response = httpx2.Response(404, request=request)
    return errors.RepositoryNotFoundError("404 Client Error: Repository Not Found", response=response)


@pytest.mark.parametrize("kind,expected", [("gated", "gated repo"), ("missing", "not found")])
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "as-transformers-raises-it"])
def test_gated_and_missing_repos_get_clear_messages(monkeypatch, kind, expected, wrapped):
    import transformers

    def raise_hub_error(*args, **kwargs):
        error = _hub_error(kind)
        if wrapped:  # transformers re-raises hub errors as OSError "from" the original
            raise OSError("owner/name is not a local folder and is not a valid model") from error
        raise error

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", raise_hub_error)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(LlmMagicError) as err:
        _load(make_config("owner/name"))
    message = str(err.value)
    assert "owner/name" in message and expected in message
    assert "HF_TOKEN" in message


def test_hub_token_is_passed_but_never_shown(monkeypatch, tiny_dirs):
    import transformers

    monkeypatch.setenv("HF_TOKEN", SECRET)
    seen = {}

    def gated(name, **kwargs):
        seen["token"] = kwargs.get("token")
        raise OSError(f"You are trying to access a gated repo (token {kwargs.get('token')})") from (
            _hub_error("gated")
        )

    with monkeypatch.context() as patch:
        patch.setattr(transformers.AutoConfig, "from_pretrained", gated)
        with pytest.raises(LlmMagicError) as err:
            _load(make_config("owner/name"))
    assert seen["token"] == SECRET
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)

    # An unrecognised OSError is shown with the token redacted.
    def other(name, **kwargs):
        raise OSError(f"disk trouble while using {kwargs.get('token')}")

    with monkeypatch.context() as patch:
        patch.setattr(transformers.AutoConfig, "from_pretrained", other)
        with pytest.raises(LlmMagicError) as err:
            _load(make_config("owner/name"))
    assert "disk trouble" in str(err.value) and SECRET not in str(err.value)

    loaded, manager = _load(make_config(tiny_dirs["llama"]))
    try:
        info = manager.info()
        for text in (repr(loaded), repr(info), info._repr_html_(), str(loaded.notes)):
            assert SECRET not in text
        assert SECRET not in repr(vars(loaded))
    finally:
        manager.unload()


def test_torchao_backend_is_not_supported_yet(tiny_dirs):
    config = make_config(
        tiny_dirs["llama"],
        adapter={"type": "lora"},
        quantization={"backend": "torchao", "mode": "int8_weight_only"},
    )
    with pytest.raises(LlmMagicError, match="torchao is not supported yet"):
        _load(config)


def test_quantization_on_an_unsupported_device_fails_before_loading():
    import torch

    from llm_magic.runtime.models.quantization import check_quantization
    from tests.runtime.models.model_helpers import make_config as mk

    quantization = mk("x", adapter={"type": "lora"}, quantization={"bits": 4}).quantization
    with pytest.raises(LlmMagicError, match="cannot quantize on this device.*mps"):
        check_quantization(quantization, torch.device("mps"))


def test_adapter_that_cannot_wrap_conv1d_layers_gets_clear_error(tiny_dirs):
    with pytest.raises(LlmMagicError) as err:
        _load(make_config(tiny_dirs["gpt2"], adapter={"type": "loha"}))
    message = str(err.value)
    assert "adapter.type: loha" in message and "c_attn" in message and "lora" in message


def test_unknown_target_module_names_the_key(tiny_dirs):
    with pytest.raises(LlmMagicError) as err:
        _load(make_config(tiny_dirs["llama"], adapter={"type": "lora", "target_modules": ["qkv"]}))
    assert "target_modules" in str(err.value) and "qkv" in str(err.value)


def test_rope_scaling_on_a_model_without_rope_names_the_key(tiny_dirs):
    config = make_config(
        tiny_dirs["gpt2"], model_parameters={"rope_scaling": {"rope_type": "linear", "factor": 2.0}}
    )
    with pytest.raises(LlmMagicError, match="model_parameters.rope_scaling.*rotary"):
        _load(config)


def test_pad_token_falls_back_to_eos_and_is_noted(tiny_dirs):
    loaded, manager = _load(make_config(tiny_dirs["llama"]))
    try:
        assert loaded.tokenizer.pad_token == loaded.tokenizer.eos_token == "</s>"
        assert loaded.model.config.pad_token_id == loaded.tokenizer.eos_token_id
        assert any("pad token" in note for note in loaded.notes)
    finally:
        manager.unload()


def test_no_token_in_environment_means_no_token_passed(monkeypatch):
    from llm_magic.runtime.models.source import hub_token

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert hub_token() is None
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", SECRET)
    assert hub_token() == SECRET
