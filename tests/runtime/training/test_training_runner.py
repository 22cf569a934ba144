"""run_job on a tiny LoRA Llama: learning, best checkpoint, early stop, accumulation, NaN guard."""
from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from llm_magic.errors import LlmMagicError
from llm_magic.runtime.training.loggers import RecordingLogger
from llm_magic.runtime.training.runner import run_job
from llm_magic.runtime.training.settings import settings_from_config
from tests.runtime.training.training_helpers import WORDS, make_job, make_state, pairs, trainable_state


def settings(**trainer):
    return settings_from_config({"type": "finetune", **trainer})


def test_loss_goes_down_and_validation_keeps_the_best(lora_model, tokenizer, task, tmp_path):
    model, log = lora_model(), RecordingLogger()
    history: list[dict] = []
    result = run_job(
        make_job(settings(learning_rate=0.01, epochs=4, batch_size=4, early_stop=-1),
                 task(), output_dir=str(tmp_path / "run"), run_id="r1"),
        model, tokenizer, make_state(history=history), loggers=[log],
    )
    losses = [v for _, v in log.series("loss")]
    evals = [v for _, v in log.series("eval_loss")]
    assert result.status == "finished" and result.global_step == result.max_steps == 12
    assert losses[-1] < losses[0] - 0.2
    assert len(evals) == 4 and min(evals) < evals[0]
    # The best checkpoint is the one with the lowest validation loss, and it was recorded.
    assert result.best_metric == pytest.approx(min(evals))
    assert result.best_step == 3 * (evals.index(min(evals)) + 1)
    assert log.series("best_step")[-1][1] == result.best_step
    assert log.series("max_steps") == [(0, 12)]
    # History: one row per step, evaluation merged into its step's row.
    assert [row["step"] for row in history] == list(range(1, 13))
    assert all(row["run_id"] == "r1" and row["loss"] is not None for row in history)
    assert [row["eval_loss"] for row in history if row["eval_loss"] is not None] == evals
    assert all(row["tokens_per_second"] for row in history[1:])
    assert os.path.isdir(result.checkpoint)
    assert not model.training  # left ready for generation


def test_early_stopping_after_evaluations_without_improvement(lora_model, tokenizer, task, tmp_path):
    # With a zero learning rate the validation loss cannot improve after the first evaluation.
    model, log = lora_model(), RecordingLogger()
    result = run_job(
        make_job(settings(learning_rate=0.0, epochs=10, batch_size=12, early_stop=2, steps_per_checkpoint=1),
                 task(), output_dir=str(tmp_path / "run"), run_id="es"),
        model, tokenizer, make_state(), loggers=[log],
    )
    evals = [v for _, v in log.series("eval_loss")]
    assert result.status == "early_stopped"
    assert result.global_step == 3 < result.max_steps == 10  # 1 best + 2 evaluations without improvement
    assert len(evals) == 3 and result.best_step == 1


def test_gradient_accumulation_matches_a_bigger_batch(lora_model, tokenizer, task, tmp_path):
    data = task(train=WORDS[:4], validation=None, test=None)
    common = dict(learning_rate=0.05, train_steps=1, should_shuffle=False,
                  optimizer={"type": "sgd"}, gradient_clipping={"clipglobalnorm": None})
    big, small = lora_model(seed=3), lora_model(seed=3)
    before = trainable_state(big)
    run_job(make_job(settings(batch_size=4, **common), data, output_dir=str(tmp_path / "a"), run_id="a"),
            big, tokenizer, make_state())
    run_job(make_job(settings(batch_size=2, gradient_accumulation_steps=2, **common), data,
                     output_dir=str(tmp_path / "b"), run_id="b"),
            small, tokenizer, make_state())
    after_big, after_small = trainable_state(big), trainable_state(small)
    moved = [n for n in after_big if not torch.equal(after_big[n], before[n])]
    assert moved  # the step did something
    for name in after_big:
        torch.testing.assert_close(after_small[name], after_big[name], atol=1e-6, rtol=1e-5)


class _NanAfter:
    """A forward hook that turns hidden states (so the loss) into NaN from the ``n``-th training forward."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, module, args, output):
        if module.training:
            self.calls += 1
            if self.calls >= self.n:
                output.last_hidden_state = output.last_hidden_state * float("nan")
        return output


def test_nan_loss_stops_the_run_names_causes_and_restores_weights(lora_model, tokenizer, task, tmp_path):
    model, log = lora_model(), RecordingLogger()
    before = trainable_state(model)
    handle = model.base_model.model.model.register_forward_hook(_NanAfter(3))
    try:
        with pytest.raises(LlmMagicError) as info:
            run_job(make_job(settings(learning_rate=0.01, epochs=3, batch_size=2),
                             task(), output_dir=str(tmp_path / "run"), run_id="nan"),
                    model, tokenizer, make_state(), loggers=[log])
    finally:
        handle.remove()
    message = str(info.value)
    assert "step 3" in message and "nan" in message.lower()
    assert "learning rate" in message and "fp16" in message and "bad data" in message
    assert log.series("status")[-1][1] == "failed"
    assert max(step for step, _ in log.series("loss")) == 3  # stopped at once
    for name, value in trainable_state(model).items():
        assert torch.equal(value, before[name]), name


def test_exploding_loss_from_a_huge_learning_rate_is_caught(llama_dir, tokenizer, task, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(llama_dir))  # full fine-tune: logits can explode
    before = trainable_state(model)
    with pytest.raises(LlmMagicError, match="exploded.*learning rate is too high"):
        # The schema caps learning_rate at 1, so the runner's own guard is reached past validation.
        huge = dataclasses.replace(settings(epochs=2, batch_size=2), learning_rate=10.0)
        run_job(make_job(huge, task(validation=None, test=None), output_dir=str(tmp_path / "run"), run_id="lr"),
                model, tokenizer, make_state())
    for name, value in trainable_state(model).items():
        assert torch.equal(value, before[name]), name


def test_stop_event_keeps_weights_checkpoints_and_resumes(lora_model, tokenizer, task, tmp_path):
    import threading

    stop = threading.Event()

    class StopAtStep(RecordingLogger):
        def log(self, name, data, step):
            super().log(name, data, step)
            if name == "loss" and step == 2:
                stop.set()

    model, log = lora_model(), StopAtStep()
    out = str(tmp_path / "run")
    s = settings(learning_rate=0.01, epochs=2, batch_size=2, early_stop=-1)
    first = run_job(make_job(s, task(), output_dir=out, run_id="s"), model, tokenizer,
                    make_state(stop_event=stop), loggers=[log])
    assert first.status == "stopped" and first.global_step == 2
    assert first.checkpoint == os.path.join(out, "checkpoint-2")
    for name in ("optimizer.pt", "scheduler.pt", "trainer_state.json", "adapter_model.safetensors"):
        assert os.path.isfile(os.path.join(first.checkpoint, name)), name
    # The weights reached at step 2 stay in the model (not rolled back to a best checkpoint).
    from safetensors.torch import load_file

    saved = load_file(os.path.join(first.checkpoint, "adapter_model.safetensors"))
    current = trainable_state(model)
    for key, value in saved.items():
        match = [n for n in current if n.endswith(key.replace(".weight", ".default.weight"))]
        assert match and torch.equal(current[match[0]], value)

    stop.clear()
    log2 = RecordingLogger()
    second = run_job(make_job(s, task(), output_dir=out, run_id="s", resume_from=first.checkpoint),
                     model, tokenizer, make_state(stop_event=stop), loggers=[log2])
    assert second.status == "finished" and second.global_step == second.max_steps == 12
    assert log2.series("loss")[0][0] == 3  # continued after step 2, not from scratch
