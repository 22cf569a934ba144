"""trainer: settings, optimizer and LR-schedule mapping (Ludwig's trainer keys), and TrainingArguments."""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.training.optimizers import OPTIMIZERS, build_optimizer, optimizer_class
from llm_magic.runtime.training.schedulers import build_scheduler
from llm_magic.runtime.training.settings import settings_from_config


def test_defaults_and_accumulation_resolution():
    s = settings_from_config({"type": "finetune"})
    # The schema's defaults (FinetuneTrainer), not a second set: 0.0002 and 3, not 0.001 and 100.
    assert (s.learning_rate, s.epochs, s.batch_size, s.eval_batch_size) == (0.0002, 3, 1, 2)
    assert s.gradient_accumulation_steps == 1 and s.early_stop == 5 and s.clip_global_norm == 0.5
    assert settings_from_config({"batch_size": 2, "effective_batch_size": 8}).gradient_accumulation_steps == 4
    assert settings_from_config({"batch_size": 2, "gradient_accumulation_steps": 3}).effective_batch_size == 6
    assert settings_from_config({"eval_batch_size": None, "batch_size": 3}).eval_batch_size == 3
    auto = settings_from_config({"batch_size": "auto"})
    assert auto.auto_batch_size and auto.batch_size == 8


@pytest.mark.parametrize("trainer, needle", [
    ({"steps_per_checkpoint": 10, "checkpoints_per_epoch": 2}, "steps_per_checkpoint and checkpoints_per_epoch"),
    ({"learning_rate": "auto"}, "learning_rate: 'auto'"),
    ({"batch_size": 3, "effective_batch_size": 8}, "multiple of batch_size"),
    ({"batch_size": 2, "gradient_accumulation_steps": 2, "effective_batch_size": 8}, "effective_batch_size 8"),
    ({"validation_metric": "accuracy"}, "validation_metric"),
    ({"layers_to_freeze_regex": "("}, "layers_to_freeze_regex"),
])
def test_run_time_rules_name_the_key(trainer, needle):
    with pytest.raises(LlmMagicError, match=needle.replace("(", r"\(")):
        settings_from_config(trainer)


def test_inert_keys_are_reported_not_applied():
    assert settings_from_config({"model_soup": "uniform", "bucketing_field": "x"}).inert_set == [
        "bucketing_field", "model_soup"]
    assert settings_from_config({}).inert_set == []


@pytest.mark.parametrize("kind", sorted(k for k in OPTIMIZERS if k != "schedule_free_adamw"))
def test_every_mapped_optimizer_steps(kind):
    layer = torch.nn.Linear(8, 8)
    before = layer.weight.detach().clone()
    optimizer = build_optimizer(layer, {"type": kind, "betas": [0.9, 0.99], "eps": 1e-8, "weight_decay": 0.0,
                                        "momentum": 0.9 if "sgd" in kind or "lars" in kind else None}, 0.01)
    layer(torch.randn(4, 8)).pow(2).sum().backward()
    optimizer.step()
    assert not torch.equal(layer.weight, before)
    if "betas" in inspect.signature(type(optimizer).__init__).parameters:
        assert tuple(optimizer.defaults["betas"]) == (0.9, 0.99)


def test_unsupported_and_unknown_optimizers_are_clear():
    with pytest.raises(LlmMagicError, match="'lbfgs' is not supported.*closure"):
        optimizer_class("lbfgs")
    with pytest.raises(LlmMagicError, match="unknown optimizer 'adamm'"):
        optimizer_class("adamm")


def _curve(cfg, steps=100, lr=1.0, eval_interval=None):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = build_scheduler(optimizer, cfg, lr, steps, eval_interval)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_schedules_follow_their_decay_type():
    constant = _curve({})
    assert constant[0] == constant[-1] == 1.0
    warm_cos = _curve({"decay": "cosine", "warmup_fraction": 0.1})
    assert warm_cos[0] == 0.0 and warm_cos[10] == pytest.approx(1.0) and warm_cos[-1] < 0.01
    assert all(a >= b for a, b in zip(warm_cos[10:], warm_cos[11:]))
    linear = _curve({"decay": "linear"})
    assert linear[50] == pytest.approx(0.5)
    exp = _curve({"decay": "exponential", "decay_rate": 0.5, "decay_steps": 10})
    assert exp[10] == pytest.approx(0.5) and exp[20] == pytest.approx(0.25)
    stair = _curve({"decay": "exponential", "decay_rate": 0.5, "decay_steps": 10, "staircase": True})
    assert stair[9] == 1.0 and stair[10] == pytest.approx(0.5)
    wsd = _curve({"decay": "wsd"})
    assert wsd[50] == pytest.approx(1.0) and wsd[-1] < 0.1
    one_cycle = _curve({"decay": "one_cycle", "max_lr": 1.0})
    assert max(one_cycle) == pytest.approx(1.0, rel=1e-2) and one_cycle[0] < 0.1
    poly = _curve({"decay": "polynomial", "polynomial_power": 2.0})
    assert poly[50] == pytest.approx(0.25, rel=0.01)
    assert _curve({"warmup_evaluations": 2}, eval_interval=5)[5] == pytest.approx(0.5)
    with pytest.raises(LlmMagicError, match="decay: unknown value 'cosin'"):
        _curve({"decay": "cosin"})


def test_training_arguments_follow_the_trainer_keys(tmp_path):
    from llm_magic.runtime.training.runner import build_arguments

    s = settings_from_config({"learning_rate": 0.003, "batch_size": 2, "effective_batch_size": 8,
                              "checkpoints_per_epoch": 4, "validation_metric": "token_accuracy",
                              "should_shuffle": False, "enable_gradient_checkpointing": True,
                              "gradient_clipping": {"clipglobalnorm": 1.5}, "train_steps": 30})
    args = build_arguments(s, str(tmp_path), steps_per_epoch=10, has_eval=True, notes=[])
    assert (args.learning_rate, args.per_device_train_batch_size, args.gradient_accumulation_steps) == (0.003, 2, 4)
    assert args.eval_strategy == "steps" and args.eval_steps == math.ceil(10 / 4) == args.save_steps
    assert args.metric_for_best_model == "eval_token_accuracy" and args.greater_is_better
    assert args.load_best_model_at_end and args.max_steps == 30 and args.max_grad_norm == 1.5
    assert args.train_sampling_strategy == "sequential"
    assert getattr(args, "activation_checkpointing", None) or getattr(args, "gradient_checkpointing", None)
    none = build_arguments(settings_from_config({"skip_all_evaluation": True}), str(tmp_path), 10, True, [])
    assert none.eval_strategy == "no" and not none.load_best_model_at_end
    notes: list[str] = []
    build_arguments(settings_from_config({"use_mixed_precision": True}), str(tmp_path), 10, True, notes)
    if not torch.cuda.is_available():
        assert notes and "use_mixed_precision" in notes[0]


def test_layers_to_freeze_and_l2_regularization_apply(lora_model, tokenizer, task, tmp_path):
    from llm_magic.runtime.training.runner import run_job
    from tests.runtime.training.training_helpers import make_job, make_state, trainable_state

    model = lora_model()
    before = trainable_state(model)
    s = settings_from_config({"type": "finetune", "learning_rate": 0.01, "train_steps": 2, "batch_size": 4,
                              "layers_to_freeze_regex": r"layers\.0\.", "regularization_lambda": 0.1,
                              "gradient_clipping": {"clipglobalnorm": None, "clipvalue": 0.001}})
    run_job(make_job(s, task(validation=None, test=None), output_dir=str(tmp_path), run_id="f"),
            model, tokenizer, make_state())
    after = trainable_state(model)  # requires_grad restored after the run
    assert set(after) == set(before)
    frozen = [n for n in after if "layers.0." in n]
    trained = [n for n in after if "layers.1." in n and "lora_B" in n]
    assert frozen and all(torch.equal(after[n], before[n]) for n in frozen)
    assert all(not torch.equal(after[n], before[n]) for n in trained)
    with pytest.raises(LlmMagicError, match="matches no trainable parameter"):
        run_job(make_job(settings_from_config({"type": "finetune", "layers_to_freeze_regex": "nope"}),
                         task(validation=None, test=None), output_dir=str(tmp_path), run_id="g"),
                model, tokenizer, make_state())


@pytest.mark.parametrize("rule, factor", [("linear", 4.0), ("sqrt", 2.0), ("constant", 1.0)])
def test_learning_rate_scales_with_the_processes_as_in_ludwig(rule, factor):
    from llm_magic.runtime.training.settings import scale_for_processes

    settings = settings_from_config({"type": "finetune", "learning_rate": 0.001, "learning_rate_scaling": rule})
    scaled, note = scale_for_processes(settings, 4)
    assert scaled.learning_rate == pytest.approx(0.001 * factor)
    assert (note is None) == (factor == 1.0)
    assert settings.learning_rate == 0.001  # a new settings object; the given one is unchanged
    one = settings_from_config({"type": "finetune", "learning_rate": 0.001, "learning_rate_scaling": rule})
    same, note = scale_for_processes(one, 1)
    assert note is None and same.learning_rate == 0.001 and one.learning_rate == 0.001


def test_a_multi_process_run_scales_a_copy_and_leaves_the_jobs_settings(monkeypatch, tmp_path):
    # In each process of a multi-process job, the kernel executor trains on the scaled learning
    # rate while the FinetuneJob it was given (frozen) keeps the planned settings.
    from types import SimpleNamespace

    from llm_magic.runtime.training import api, runner
    from llm_magic.runtime.training.runs import RunRecord
    from tests.runtime.training.training_helpers import make_job, make_state

    settings = settings_from_config({"type": "finetune", "learning_rate": 0.001, "learning_rate_scaling": "linear"})
    job = make_job(settings, None, output_dir=str(tmp_path), run_id="scaled")
    job = job.replace(config=SimpleNamespace(without_effect=lambda: []))
    seen = []

    def fake_run_job(ran, model, tokenizer, state, **kwargs):
        seen.append(ran)
        return runner.RunResult(ran.run_id, ran.output_dir, "stopped", 0, 1, 0.0)

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    monkeypatch.setenv("WORLD_SIZE", "4")
    record = RunRecord(run_id="scaled", kind="finetune", config={})
    api._execute_finetune(job, SimpleNamespace(model=None, tokenizer=None), record, make_state(), [])
    assert seen[0].settings.learning_rate == pytest.approx(0.004)
    assert job.settings.learning_rate == 0.001 and job.settings is settings
    assert any("0.001 x 4 = 0.004" in note for note in record.notes)
