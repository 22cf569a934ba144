"""Preference tuning (trainer.type dpo / kto / orpo) end to end through Session.train and TRL.

Each run must move the preference: the reward margin TRL logs rises, and on held-out pairs the
tuned model prefers the chosen answer more often than the base model did.
"""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from llm_magic.errors import ConfigError, DataError, LlmMagicError
from llm_magic.runtime.training.loggers import RecordingLogger
from tests.runtime.training.training_helpers import trainable_state
from tests.tiny_models import build_tiny_model

pytest.importorskip("trl")

ANIMALS = ["cat", "dog", "fox", "owl", "cow", "pig", "hen", "bee", "ant", "elk", "yak", "bat",
           "eel", "ram", "emu", "gnu", "cod", "jay", "koi", "asp"]


def preference_frame(animals=ANIMALS):
    """Answers that name the animal are preferred to answers that do not."""
    return pd.DataFrame({"word": animals, "answer": [f" a {a}" for a in animals],
                         "rejected": [" no idea" for _ in animals]})


def config(model_dir, trainer, **extra):
    cfg = {
        "model_type": "llm", "base_model": str(model_dir),
        "input_features": [{"name": "word", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": "Name the {word}:"},
        "adapter": {"type": "lora", "r": 8, "dropout": 0.0},
        "trainer": {"learning_rate": 0.01, "epochs": 3, "batch_size": 4, **trainer},
        "preprocessing": {"split": {"type": "random", "probabilities": [0.6, 0.2, 0.2]}},
        "generation": {"max_new_tokens": 4, "do_sample": False},
    }
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    return build_tiny_model("qwen2", tmp_path_factory.mktemp("qwen2"))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _train_and_compare(session, model_dir, trainer):
    session.set_config(config(model_dir, trainer))
    frame = preference_frame()
    base = session.evaluate(frame).metrics  # the base model on the held-out test pairs
    before = trainable_state(session.load_model().model)
    log = RecordingLogger()
    record = session.train(frame, loggers=[log])
    assert record.status == "finished" and record.global_step > 0
    after = trainable_state(session.load_model().model)
    assert any(not torch.equal(after[n], before[n]) for n in before)
    assert set(session.load_model().model.peft_config) == {"default"}  # no reference adapter left behind
    return base, record, log


@pytest.mark.parametrize("kind", ["dpo", "orpo"])
def test_paired_preference_runs_raise_the_margin_and_the_held_out_preference(session, llama_dir, workdir, kind):
    base, record, log = _train_and_compare(session, llama_dir, {"type": kind})
    margins = [v for _, v in log.series("rewards/margins")]
    assert len(margins) == record.global_step and margins[-1] > margins[0]
    assert log.series("eval_rewards/margins"), "validation rewards are logged for the chart"
    assert record.metrics["test_preference_accuracy"] > base["preference_accuracy"]
    assert record.metrics["test_reward_margin"] > 0 and "reward_margin" not in base or base["reward_margin"] == 0


def test_kto_learns_from_unpaired_feedback_on_qwen2(session, qwen_dir, workdir):
    frame = preference_frame()
    # Unpaired: each row is one answer and whether it is desirable.
    unpaired = pd.concat([
        pd.DataFrame({"word": frame.word, "answer": frame.answer, "good": True}),
        pd.DataFrame({"word": frame.word, "answer": frame.rejected, "good": False}),
    ]).sample(frac=1.0, random_state=0).reset_index(drop=True)
    session.set_config(config(qwen_dir, {"type": "kto", "label_column": "good"}))
    log = RecordingLogger()
    record = session.train(unpaired, loggers=[log])
    margins = [v for _, v in log.series("rewards/margins")]
    assert record.status == "finished" and margins[-1] > margins[0]
    # Measured on paired held-out rows (animals the run never saw), against the untouched base.
    session.set_config(config(qwen_dir, {"type": "kto"}))
    held_out = preference_frame(["wolf", "bear", "lion", "seal", "crab", "moth", "frog", "toad"])
    tuned = session.evaluate(held_out, split="train").metrics
    assert tuned["reward_accuracy"] > 0.5 and tuned["reward_margin"] > 0


@pytest.mark.parametrize("kind", ["dpo", "kto", "orpo"])
def test_each_trainer_on_the_embedded_model_prefers_the_chosen_answers_more_than_the_base(session, workdir, kind):
    """The notebook's task: the rejected answers are what the base model says now."""
    animals = ["cat", "dog", "fox", "owl", "cow", "pig", "hen", "bee", "duck", "goat", "horse", "mouse",
               "sheep", "bird", "fish", "frog", "bear", "lion", "wolf", "rabbit"]
    frame = pd.DataFrame({"animal": animals, "answer": [f"the {a}" for a in animals]})
    session.set_config({
        "model_type": "llm", "base_model": "llm-magic/tiny",
        "input_features": [{"name": "animal", "type": "text"}],
        "output_features": [{"name": "answer", "type": "text"}],
        "prompt": {"template": "Question: the {animal} ran to the farm. which animal ran to the farm?\nAnswer:\n"},
        "adapter": {"type": "lora"},
        "trainer": {"type": kind, "epochs": 3},
        "preprocessing": {"split": {"type": "random", "probabilities": [0.7, 0.15, 0.15]}},
        "generation": {"max_new_tokens": 6, "do_sample": False},
    })
    frame["rejected"] = list(session.predict(frame)["answer_response"])
    base = session.evaluate(frame).metrics
    log = RecordingLogger()
    record = session.train(frame, loggers=[log])
    margins = [v for _, v in log.series("rewards/margins")]
    assert margins[-1] > margins[0]
    assert record.metrics["test_preference_accuracy"] > base["preference_accuracy"]
    assert record.metrics["test_reward_margin"] > 0


def test_a_missing_rejected_column_is_named_before_any_model_loads(session, llama_dir, workdir):
    session.set_config(config(llama_dir, {"type": "dpo", "rejected_column": "worse"}))
    with pytest.raises(DataError, match=r"trainer\.rejected_column: the data has no column 'worse'"):
        session.train(preference_frame())
    assert not session.models.loaded
    empty = preference_frame().assign(worse=None)
    with pytest.raises(DataError, match="'worse' is empty in every row"):
        session.train(empty)
    assert not session.models.loaded


def test_without_trl_the_error_names_the_extra(session, llama_dir, workdir, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a))
    session.set_config(config(llama_dir, {"type": "orpo"}))
    with pytest.raises(LlmMagicError, match=r"pip install 'llm-magic\[preference\]'"):
        session.train(preference_frame())


def test_stop_keeps_a_checkpoint_and_resume_finishes_the_dpo_run(session, llama_dir, workdir):
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 4, "batch_size": 2}))

    class StopAtTwo(RecordingLogger):
        def log_dict(self, payload, step):
            super().log_dict(payload, step)
            if step == 2:
                session.stop_training()

    first = session.train(preference_frame(), loggers=[StopAtTwo()])
    assert first.status == "stopped" and first.global_step == 2
    assert first.checkpoint and (workdir / first.checkpoint / "trainer_state.json").is_file()
    second = session.train(resume=True, loggers=[RecordingLogger()])
    assert second is first and second.status == "finished" and second.global_step == second.max_steps
    assert list(session.history["step"]) == list(range(1, second.max_steps + 1))


def test_same_seed_same_dpo_curve_and_answers(session, llama_dir, workdir):
    curves, answers = [], []
    for _ in range(2):
        session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
        session.unload_model()
        log = RecordingLogger()
        session.train(preference_frame(), loggers=[log], seed=7)
        curves.append([v for _, v in log.series("loss")])
        answers.append(session.generate("Name the wolf:", seed=0).text)
    assert curves[0] == curves[1] and answers[0] == answers[1]


def test_a_saved_dpo_run_loads_with_the_same_answers(session, llama_dir, workdir):
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
    session.train(preference_frame(), loggers=[RecordingLogger()])
    answer = session.generate("Name the wolf:").text
    session.save(workdir / "saved")
    from llm_magic.runtime.session import reset_session

    fresh = reset_session()
    fresh.load(workdir / "saved")
    assert fresh.config.trainer.type == "dpo" and fresh.config.trainer.dpo_beta == 0.1
    assert fresh.generate("Name the wolf:").text == answer
    # Merged into the base and exported as a plain Hugging Face folder: the same greedy answer.
    fresh.export(workdir / "exported")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(workdir / "exported")
    tokenizer = AutoTokenizer.from_pretrained(workdir / "exported")
    ids = tokenizer("Name the wolf:", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True) == answer


def test_a_background_dpo_run_finishes_and_frees_the_session(session, llama_dir, workdir):
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
    record = session.train(preference_frame(), background=True, loggers=[RecordingLogger()])
    assert session.busy_reason  # the kernel is free, the session says it is training
    session.training.thread.join(120)
    assert record.status == "finished" and session.busy_reason is None
    assert record.metrics["test_reward_margin"] > 0


def test_preference_keys_validate_at_config_time_with_ludwig_defaults(session, llama_dir):
    session.set_config(config(llama_dir, {"type": "dpo"}))
    trainer = session.config.trainer
    assert (trainer.dpo_beta, trainer.dpo_loss_type, trainer.dpo_label_smoothing, trainer.rejected_column) == \
        (0.1, "sigmoid", 0.0, "rejected")
    with pytest.raises(ConfigError, match=r"trainer\.dpo_label_smoothing"):
        session.set_config(config(llama_dir, {"type": "dpo", "dpo_label_smoothing": 0.7}))
    cfg = config(llama_dir, {"type": "kto"})
    del cfg["trainer"]["batch_size"]
    session.set_config(cfg)
    assert session.config.trainer.batch_size == 2  # Ludwig's default 1, derived up for KTO
    with pytest.raises(ConfigError, match=r"trainer\.batch_size: 1: a kto run needs at least 2 rows"):
        session.set_config(config(llama_dir, {"type": "kto", "batch_size": 1}))
    with pytest.raises(ConfigError, match="reward functions, which a config cannot hold"):
        session.set_config(config(llama_dir, {"type": "grpo"}))


def test_precomputed_reference_log_probs_give_the_on_the_fly_losses(session, llama_dir, workdir, monkeypatch):
    """A run over the data twice scores the fixed reference once; the losses must not change."""
    import llm_magic.runtime.training.preference as preference

    curves = []
    for precompute in (True, False):
        original = preference.preference_arguments

        def arguments(settings, kwargs, original=original, precompute=precompute):
            args = original(settings, kwargs)
            assert args.precompute_ref_log_probs  # two epochs: on by default
            args.precompute_ref_log_probs = precompute
            return args

        monkeypatch.setattr(preference, "preference_arguments", arguments)
        session.set_config(config(llama_dir, {"type": "dpo", "epochs": 2}))
        session.unload_model()
        log = RecordingLogger()
        session.train(preference_frame(), loggers=[log], seed=3)
        curves.append([v for _, v in log.series("loss")])
        monkeypatch.setattr(preference, "preference_arguments", original)
    assert curves[0] == pytest.approx(curves[1], rel=1e-5, abs=1e-6)


def test_after_supervised_tuning_the_reference_is_the_base_model(session, llama_dir, workdir):
    """SFT, then DPO on the same adapter: rewards are measured against the base (adapter off), so
    they are not zero at the first step, as they would be against a copy of the adapter."""
    frame = preference_frame()
    session.set_config(config(llama_dir, {"type": "finetune"}))
    session.train(frame, loggers=[RecordingLogger()])
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
    log = RecordingLogger()
    session.train(frame, loggers=[log])
    first_chosen = log.series("rewards/chosen")[0][1]
    assert abs(first_chosen) > 1e-3
    assert set(session.load_model().model.peft_config) == {"default"}


def test_a_ludwig_dpo_config_without_adapter_full_fine_tunes(session, llama_dir, workdir):
    """Ludwig accepts its preference trainers only without an adapter: that config trains here too."""
    cfg = config(llama_dir, {"type": "dpo", "epochs": 2, "learning_rate": 0.001})
    del cfg["adapter"]
    session.set_config(cfg)
    before = trainable_state(session.load_model().model)
    frame = preference_frame()
    frame.loc[0, "rejected"] = None  # a row without its rejected answer is dropped, as one without a target
    log = RecordingLogger()
    record = session.train(frame, loggers=[log])
    assert record.status == "finished" and record.train_rows == 11  # 20 rows less 1, 60% train
    margins = [v for _, v in log.series("rewards/margins")]
    assert margins[-1] > margins[0]
    after = trainable_state(session.load_model().model)
    assert any(not torch.equal(after[n], before[n]) for n in before if "embed" not in n)


def test_a_dpo_run_reports_its_rewards_to_tensorboard(session, llama_dir, workdir, monkeypatch):
    pytest.importorskip("tensorboard")
    from tests.runtime.training.test_tracking import _tensorboard

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
    record = session.train(preference_frame(), loggers=[RecordingLogger()], report_to="tensorboard")
    tb = _tensorboard(record.tracking["tensorboard"])
    margins = tb["scalars"]["train/rewards/margins"]
    assert len(margins) == record.global_step and margins[-1][1] > margins[0][1]
    assert tb["scalars"]["test/reward_margin"][0][1] == pytest.approx(record.metrics["test_reward_margin"], rel=1e-5)
    assert tb["params"]["config.trainer.type"] == "dpo"


def test_qlora_dpo_trains_a_4bit_base(session, llama_dir, workdir):
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 2},
                              quantization={"bits": 4, "bnb_4bit_compute_dtype": "float32"}))
    bundle = session.load_model()
    assert "4" in bundle.quantization
    before = trainable_state(bundle.model)
    log = RecordingLogger()
    record = session.train(preference_frame(), loggers=[log])
    margins = [v for _, v in log.series("rewards/margins")]
    assert record.status == "finished" and margins[-1] > margins[0]
    after = trainable_state(bundle.model)
    assert all("lora" in n for n in after)  # only the adapter trained; the 4-bit base is frozen
    assert any(not torch.equal(after[n].float(), before[n].float()) for n in before)


def _count_calls(monkeypatch, module, name, everywhere=True):
    """Replace ``module.name`` by a wrapper that records its calls' arguments (the list returned):
    wherever llm_magic imported it, or, with ``everywhere=False``, in ``module`` only."""
    import sys

    original, calls = getattr(module, name), []

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    modules = [m for n, m in list(sys.modules.items()) if n.startswith("llm_magic")] if everywhere else [module]
    for loaded in modules:
        if getattr(loaded, name, None) is original:
            monkeypatch.setattr(loaded, name, counting)
    return calls


def test_a_dpo_run_loads_its_data_once(session, llama_dir, workdir, monkeypatch):
    """The column check before the model loads and the preparation after it share one load."""
    from llm_magic.runtime.data import preference, sources

    loads = _count_calls(monkeypatch, sources, "load_data")
    checks = _count_calls(monkeypatch, preference, "check_preference_columns")
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
    record = session.train(preference_frame(), loggers=[RecordingLogger()])
    assert record.status == "finished"
    assert (len(loads), len(checks)) == (1, 1)


def test_a_dpo_run_tokenizes_only_its_test_split_for_supervised_scoring(session, llama_dir, workdir, monkeypatch):
    """TRL tokenizes the train and validation pairs itself; the supervised tokenization is only
    for the test split, whose report scores the chosen answers teacher-forced."""
    from llm_magic.runtime.data import prepare
    from llm_magic.runtime.training import preference

    # prepare_data's own calls; the test report's preference metrics tokenize chosen and rejected answers too.
    supervised = _count_calls(monkeypatch, prepare, "tokenize_for_training", everywhere=False)
    datasets = _count_calls(monkeypatch, preference, "preference_dataset")
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1}))
    frame = preference_frame()
    record = session.train(frame, loggers=[RecordingLogger()])
    assert record.status == "finished" and "test_loss" in record.metrics
    (train, _, _), (validation, _, _) = datasets
    assert len(train) == record.train_rows and len(validation)
    tokenized = [prompt for call in supervised for prompt in call[1]]
    assert len(tokenized) == len(frame) - len(train) - len(validation)
    assert not set(tokenized) & {*train.prompts, *validation.prompts}
    # %llm_eval of the same config still scores the train split teacher-forced.
    assert "loss" in session.evaluate(frame, split="train").metrics


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_global_max_sequence_length_bounds_the_rows_trl_trains_on(session, llama_dir, workdir, monkeypatch, kind):
    """TRL tokenizes preference rows itself: the config's limit must reach it, as it cuts a fine-tune's rows."""
    from llm_magic.runtime.training import preference

    seen = []
    original = preference.preference_arguments

    def arguments(settings, kwargs):
        args = original(settings, kwargs)
        seen.append(args.max_length)
        return args

    monkeypatch.setattr(preference, "preference_arguments", arguments)
    frame = preference_frame()
    frame["answer"] = [f" a {a} " + "and more " * 20 for a in ANIMALS]  # rows far longer than the limit
    session.set_config(config(llama_dir, {"type": kind, "epochs": 1},
                              preprocessing={"global_max_sequence_length": 12,
                                             "split": {"type": "random", "probabilities": [0.6, 0.2, 0.2]}}))
    record = session.train(frame, loggers=[RecordingLogger()])
    assert record.status == "finished" and seen == [12]
    # Unset, the model's context length bounds the rows (not TRL's own default of 1024).
    seen.clear()
    session.set_config(config(llama_dir, {"type": kind, "epochs": 1}))
    session.train(frame, loggers=[RecordingLogger()])
    context = session.load_model().model.config.max_position_embeddings
    assert seen == [context] and context != 1024


def test_a_limit_shorter_than_every_prompt_is_one_clear_error(session, llama_dir, workdir):
    session.set_config(config(llama_dir, {"type": "dpo", "epochs": 1},
                              preprocessing={"global_max_sequence_length": 2,
                                             "split": {"type": "random", "probabilities": [0.6, 0.2, 0.2]}}))
    with pytest.raises(LlmMagicError, match="global_max_sequence_length"):
        session.train(preference_frame(), loggers=[RecordingLogger()])
