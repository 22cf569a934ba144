"""config.user.yaml: a save keeps the config as written, so a load keeps unset keys unset."""
from __future__ import annotations

import pytest
import yaml

from llm_magic.runtime.persistence import layout

torch = pytest.importorskip("torch")

ADAPTER = "adapter: {type: lora, r: 4, target_modules: [q_proj, v_proj]}\n"


def four_bit_yaml(base_dir) -> str:
    # A comment and flow style: the saved user config must be this text, not a re-dump of it.
    return (
        f"model_type: llm\nbase_model: {base_dir}\n"
        "input_features: [{name: instruction, type: text}]\n"
        "output_features: [{name: output, type: text}]\n"
        + ADAPTER
        + "quantization: {bits: 4}   # no compute dtype: float32 on the CPU\n"
        "trainer: {type: finetune, epochs: 1}\n"
    )


def compute_dtypes(model) -> set:
    import bitsandbytes as bnb

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "nothing was quantized"
    return {layer.compute_dtype for layer in layers}


def save_and_reload(session, folder):
    from llm_magic.runtime.session import reset_session

    session.load_model()
    session.save(folder)
    fresh = reset_session()
    report = fresh.load(folder)
    return fresh, report


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU rule; CUDA keeps float16")
def test_an_unset_4bit_compute_dtype_stays_unset_through_save_and_load(session, llama_dir, tmp_path):
    text = four_bit_yaml(llama_dir)
    session.set_config(text, name="qlora")
    assert compute_dtypes(session.load_model().model) == {torch.float32}

    fresh, report = save_and_reload(session, tmp_path / "run")
    assert (tmp_path / "run" / layout.USER_CONFIG_NAME).read_text(encoding="utf-8") == text
    # config.yaml still holds the effective config, every default filled in.
    effective = yaml.safe_load((tmp_path / "run" / layout.CONFIG_NAME).read_text(encoding="utf-8"))
    assert effective["quantization"]["bnb_4bit_compute_dtype"] == "float16"

    assert not report.notes and fresh.config_name == "qlora"
    assert fresh.config.source == text
    assert "bnb_4bit_compute_dtype" not in fresh.config.quantization.model_fields_set
    assert compute_dtypes(fresh.load_model().model) == {torch.float32}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU rule; CUDA keeps float16")
def test_a_dict_config_is_saved_as_yaml_and_loads_the_same(session, llama_dir, tmp_path):
    config = yaml.safe_load(four_bit_yaml(llama_dir))
    session.set_config(config)

    fresh, report = save_and_reload(session, tmp_path / "run")
    saved = yaml.safe_load((tmp_path / "run" / layout.USER_CONFIG_NAME).read_text(encoding="utf-8"))
    assert saved == config and not report.notes
    assert fresh.config.quantization.model_fields_set == {"bits"}
    assert compute_dtypes(fresh.load_model().model) == {torch.float32}


def test_an_older_folder_without_a_user_config_still_loads(session, llama_dir, tmp_path):
    session.set_config(four_bit_yaml(llama_dir).replace("quantization: {bits: 4}", "quantization: null"))
    session.load_model()
    session.save(tmp_path / "run")
    expected = session.config.to_dict()
    (tmp_path / "run" / layout.USER_CONFIG_NAME).unlink()

    from llm_magic.runtime.session import reset_session

    fresh = reset_session()
    report = fresh.load(tmp_path / "run")
    assert report.kind == "adapter" and not report.notes
    assert fresh.config.to_dict() == expected
    # Built from the effective config: every key now counts as set (the old behaviour).
    assert "learning_rate" in fresh.config.trainer.model_fields_set


def test_a_hand_edited_config_yaml_wins_over_the_user_config_with_a_note(session, llama_dir, tmp_path):
    session.set_config(four_bit_yaml(llama_dir).replace("quantization: {bits: 4}", "quantization: null"))
    session.load_model()
    session.save(tmp_path / "run")
    config_path = tmp_path / "run" / layout.CONFIG_NAME
    effective = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    effective["generation"]["max_new_tokens"] = 7
    config_path.write_text(yaml.safe_dump(effective, sort_keys=False), encoding="utf-8")

    from llm_magic.runtime.session import reset_session

    fresh = reset_session()
    report = fresh.load(tmp_path / "run")
    assert fresh.config.generation.max_new_tokens == 7
    assert len(report.notes) == 1 and layout.USER_CONFIG_NAME in report.notes[0]
    assert report.notes[0] in repr(report)


def test_a_config_changed_in_place_saves_only_the_effective_config(session, llama_dir, tmp_path):
    """The source no longer describes the config, so writing it would lose the change."""
    session.set_config(four_bit_yaml(llama_dir).replace("quantization: {bits: 4}", "quantization: null"))
    session.config.generation.max_new_tokens = 9
    fresh, report = save_and_reload(session, tmp_path / "run")
    assert not (tmp_path / "run" / layout.USER_CONFIG_NAME).exists()
    assert fresh.config.generation.max_new_tokens == 9 and not report.notes


def test_a_full_fine_tune_loads_its_user_config_on_the_saved_weights(session, llama_dir, tmp_path):
    session.set_config(
        f"model_type: llm\nbase_model: {llama_dir}\n"
        "input_features: [{name: instruction, type: text}]\n"
        "output_features: [{name: output, type: text}]\n"
        "trainer: {type: finetune, epochs: 1}\n"
    )
    fresh, report = save_and_reload(session, tmp_path / "full")
    assert report.kind == "full" and not report.notes
    assert fresh.config.base_model == str((tmp_path / "full").resolve())
    assert "learning_rate" not in fresh.config.trainer.model_fields_set
