"""``trainer``: ``none`` (zero-/few-shot, the default as in Ludwig), ``finetune``, or the preference
trainers ``dpo``, ``kto`` and ``orpo`` (run by TRL; ``runtime/training/preference.py``).

Ludwig's fine-tune trainer inherits ECD defaults (learning rate 0.001, 100 epochs) that are poor for
LLMs; we use LLM defaults instead (listed in docs/ludwig-compatibility.md, and shown by
``%%llm_config`` as derived values when the user did not set them).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from llm_magic.runtime.config.schema.base import F, ConfigModel, lower_type

Auto = Literal["auto"]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
LearningRate = Annotated[float, Field(ge=0, le=1)]
UNSUPPORTED_TRAINERS = ("grpo",)
#: Trainer types that learn from (prompt, chosen, rejected) preferences instead of one target.
PREFERENCE_TRAINERS = ("dpo", "kto", "orpo")
#: Trainer types that update weights (an adapter is trained, a run writes checkpoints).
TRAINING_TRAINERS = ("finetune", *PREFERENCE_TRAINERS)

OPTIMIZERS = (
    "sgd", "lbfgs", "adam", "adamw", "adadelta", "adagrad", "adamax", "nadam", "rmsprop", "radam",
    "adafactor", "schedule_free_adamw", "muon", "soap", "lamb", "lars", "lion",
    "adam_8bit", "adamw_8bit", "sgd_8bit", "lion_8bit", "lamb_8bit", "lars_8bit", "rmsprop_8bit",
    "adagrad_8bit", "paged_adam", "paged_adam_8bit", "paged_adamw", "paged_adamw_8bit", "paged_lion",
    "paged_lion_8bit",
)


_ADAM = frozenset({"betas", "eps", "weight_decay"})
_ADAM_8BIT = _ADAM | {"min_8bit_size"}
_SGD_8BIT = frozenset({"momentum", "dampening", "weight_decay", "min_8bit_size"})
_LION_8BIT = frozenset({"betas", "weight_decay", "min_8bit_size"})

#: Ludwig optimizer type -> the ``optimizer:`` fields (besides ``type``) its class honours. Written
#: out rather than read from the signatures at config time (that would import torch and
#: bitsandbytes), and narrower than the signatures: bitsandbytes takes ``amsgrad`` and ``nesterov``
#: only to drop them, its 8-bit classes refuse any other ``optim_bits``, and Adafactor wants a pair
#: where the schema's ``eps`` is one float. tests/runtime/training/test_optimizer_fields.py builds
#: every class with each field set and checks this table against what the instance keeps.
OPTIMIZER_FIELDS: dict[str, frozenset[str]] = {
    "sgd": frozenset({"momentum", "dampening", "nesterov", "weight_decay"}),
    "adam": _ADAM | {"amsgrad"},
    "adamw": _ADAM | {"amsgrad"},
    "adadelta": frozenset({"rho", "eps", "weight_decay"}),
    "adagrad": frozenset({"lr_decay", "initial_accumulator_value", "eps", "weight_decay"}),
    "adamax": _ADAM,
    "nadam": _ADAM | {"momentum_decay"},
    "rmsprop": frozenset({"alpha", "momentum", "centered", "eps", "weight_decay"}),
    "radam": _ADAM,
    "adafactor": frozenset({"weight_decay"}),
    "lion": _LION_8BIT | {"optim_bits"},
    "lamb": _ADAM_8BIT | {"optim_bits"},
    "lars": _SGD_8BIT | {"optim_bits"},
    "sgd_8bit": _SGD_8BIT,
    "adam_8bit": _ADAM_8BIT,
    "adamw_8bit": _ADAM_8BIT,
    "adagrad_8bit": frozenset({"eps", "weight_decay", "min_8bit_size"}),
    "rmsprop_8bit": frozenset({"alpha", "momentum", "eps", "weight_decay", "min_8bit_size"}),
    "lamb_8bit": _ADAM_8BIT,
    "lars_8bit": _SGD_8BIT,
    "lion_8bit": _LION_8BIT,
    "paged_adam": _ADAM_8BIT | {"optim_bits"},
    "paged_adam_8bit": _ADAM_8BIT,
    "paged_adamw": _ADAM_8BIT | {"optim_bits"},
    "paged_adamw_8bit": _ADAM_8BIT,
    "paged_lion": _LION_8BIT | {"optim_bits"},
    "paged_lion_8bit": _LION_8BIT,
    "schedule_free_adamw": _ADAM,
}

#: Types whose bitsandbytes class has no momentum-free variant (it raises on ``momentum == 0``).
MOMENTUM_REQUIRED = ("lars", "lars_8bit", "sgd_8bit")

#: Validation metrics a fine-tune can select the best checkpoint by, and whether higher is better.
VALIDATION_METRICS = {
    "loss": False,
    "perplexity": False,
    "next_token_perplexity": False,
    "token_accuracy": True,
    "sequence_accuracy": True,
}


class OptimizerConfig(ConfigModel):
    """The optimizer. A field the chosen type does not take must stay at its default (else an error)."""

    type: Literal[OPTIMIZERS] = F("adam", "Optimizer; `*_8bit` and `paged_*` need bitsandbytes.")  # type: ignore[valid-type]
    betas: tuple[float, float] = F((0.9, 0.999), "Adam-family moment coefficients.")
    eps: float = F(1e-8, "Numerical-stability term.", ge=0)
    weight_decay: float = F(0.0, "Weight decay.", ge=0)
    amsgrad: bool = F(False, "Adam/AdamW AMSGrad variant.")
    momentum: float | None = F(None, "SGD/RMSprop momentum.", ge=0)
    nesterov: bool | None = F(None, "SGD Nesterov momentum.")
    dampening: float | None = F(None, "SGD dampening.", ge=0)
    alpha: float | None = F(None, "RMSprop smoothing constant.", ge=0)
    centered: bool | None = F(None, "RMSprop centered variant.")
    rho: float | None = F(None, "Adadelta decay.", ge=0)
    initial_accumulator_value: float | None = F(None, "Adagrad initial accumulator.", ge=0)
    lr_decay: float | None = F(None, "Adagrad learning-rate decay.", ge=0)
    momentum_decay: float | None = F(None, "NAdam momentum decay.", ge=0)
    block_wise: bool | None = F(None, "8-bit optimizers: block-wise quantisation (Ludwig: true).")
    percentile_clipping: int | None = F(None, "8-bit optimizers: adaptive clipping percentile (Ludwig: 100).",
                                        ge=1, le=100)
    optim_bits: int | None = F(None, "8-bit optimizers: state bits.")
    min_8bit_size: int | None = F(None, "8-bit optimizers: minimum tensor size for 8-bit state.", ge=0)


class SchedulerConfig(ConfigModel):
    """Learning-rate schedule: warm-up then decay."""

    decay: Literal["linear", "exponential", "cosine", "one_cycle", "inverse_sqrt", "polynomial", "wsd"] | None = F(
        None, "Decay shape after warm-up; null = constant.")
    decay_rate: float = F(0.96, "Exponential decay rate.", ge=0, le=1)
    decay_steps: int = F(10000, "Exponential decay steps.", ge=0)
    staircase: bool = F(False, "Exponential decay in discrete steps.")
    warmup_fraction: float = F(0.0, "Fraction of total steps used for linear warm-up.", ge=0)
    warmup_evaluations: float = F(0, "Warm-up length in evaluations (alternative to warmup_fraction).", ge=0)
    reduce_on_plateau: int = F(0, "How many times to reduce the LR when the metric plateaus.", ge=0)
    reduce_on_plateau_patience: int = F(10, "Evaluations without improvement before reducing.", ge=0)
    reduce_on_plateau_rate: float = F(0.1, "Factor applied on each reduction.", ge=0, le=1)
    reduce_eval_metric: str = F("loss", "Metric watched for plateaus.")
    reduce_eval_split: str = F("training", "Split watched for plateaus.")
    t_0: int | None = F(None, "Cosine restarts: steps of the first cycle; null = no restarts.", gt=0)
    t_mult: int = F(1, "Cosine restarts: cycle length multiplier.", gt=0)
    eta_min: float = F(0, "Cosine: minimum learning rate.", ge=0)
    max_lr: float | None = F(None, "One-cycle peak learning rate; null = learning_rate.", gt=0)
    pct_start: float = F(0.3, "One-cycle: fraction of steps increasing the LR.", ge=0, le=1)
    div_factor: float = F(25, "One-cycle: initial LR = max_lr / div_factor.", gt=0)
    final_div_factor: float = F(1e4, "One-cycle: final LR = initial / final_div_factor.", gt=0)
    inverse_sqrt_warmup_steps: int = F(4000, "Inverse-sqrt warm-up steps.", ge=0)
    polynomial_power: float = F(1.0, "Polynomial decay power.", gt=0)
    polynomial_end_lr: float = F(0.0, "Polynomial decay final LR.", ge=0)
    wsd_warmup_fraction: float = F(0.1, "WSD: warm-up fraction.", ge=0, le=1)
    wsd_stable_fraction: float = F(0.8, "WSD: stable fraction.", ge=0, le=1)
    wsd_decay_fraction: float = F(0.1, "WSD: decay fraction.", ge=0, le=1)


class GradientClipping(ConfigModel):
    """Gradient clipping (any combination)."""

    clipglobalnorm: float | None = F(0.5, "Clip the global gradient norm to this value.", gt=0)
    clipnorm: float | None = F(None, "Clip each gradient's norm.", gt=0)
    clipvalue: float | None = F(None, "Clip gradient values to [-v, v].", gt=0)


class ProfilerConfig(ConfigModel):
    """torch.profiler schedule (used when enable_profiling is true)."""

    wait: int = F(1, "Steps skipped before profiling.", ge=0)
    warmup: int = F(1, "Warm-up steps.", ge=0)
    active: int = F(3, "Profiled steps.", ge=0)
    repeat: int = F(5, "Cycles.", ge=0)
    skip_first: int = F(0, "Steps skipped once at the start.", ge=0)


class _TrainerCommon(ConfigModel):
    """Fields both trainer types share."""

    learning_rate: LearningRate | Auto = F(0.0002, "Learning rate. Ludwig's `auto` (a range test) is refused at `%%llm_config` with a suggested value.")
    batch_size: PosInt | Auto = F(1, "Rows per step (or `auto` to tune).")
    eval_batch_size: NonNegInt | Auto | None = F(2, "Rows per evaluation batch; null/0 = batch_size.")
    base_learning_rate: float = F(0.0, "Base LR for multi-worker scaling.", ge=0)
    should_shuffle: bool = F(True, "Shuffle training rows each epoch.")
    train_steps: int | None = F(None, "Total steps; overrides epochs.", gt=0)
    eval_steps: int | None = F(None, "Batches per evaluation; null = whole eval set.", ge=0)
    steps_per_checkpoint: int = F(0, "Steps between checkpoints/evaluations; 0 = once per epoch.", ge=0)
    checkpoints_per_epoch: int = F(0, "Checkpoints per epoch; 0 = use steps_per_checkpoint.", ge=0)
    evaluate_training_set: bool = F(False, "Also evaluate on the training set at each checkpoint.")
    validation_field: str | None = F(None, "Output feature watched for best model/early stop; null = the output.")
    validation_metric: str | None = F(None, "Metric watched; null = `loss` (text) or `accuracy` (category).")
    skip_all_evaluation: bool = F(False, "Skip every evaluation (faster; no early stopping).")
    enable_profiling: bool = F(False, "Profile training with torch.profiler.")
    profiler: ProfilerConfig = F(default_factory=ProfilerConfig, help="Profiler schedule.")


class NoneTrainer(_TrainerCommon):
    """Zero-/few-shot: no weight updates; ``train`` only preprocesses and evaluates."""

    type: Literal["none"] = F("none", "No training (Ludwig's default).")
    epochs: int = F(3, "Inert for `none`.", gt=0)
    early_stop: int = F(-1, "Inert for `none`.", ge=-1)
    packing: bool = F(False, "Inert for `none` (Ludwig never packs).")
    packing_max_sequences_per_pack: int = F(8, "Inert for `none`.", gt=0)


class FinetuneTrainer(_TrainerCommon):
    """Supervised fine-tuning (full or adapter) with next-token loss on the target tokens."""

    type: Literal["finetune"] = F("finetune", "Supervised fine-tuning.")
    learning_rate: LearningRate | Auto = F(
        0.0002, "Learning rate. Ludwig's `auto` (a range test) is refused at `%%llm_config` with a suggested value.",
        diverges="Ludwig inherits the ECD default 0.001, far too high for LLMs; we default to 0.0002.")
    epochs: int = F(3, "Passes over the training data (overridden by train_steps).", gt=0,
                    diverges="Ludwig inherits the ECD default 100; we default to 3.")
    early_stop: int = F(5, "Evaluations without improvement before stopping; -1 = never.", ge=-1)
    gradient_accumulation_steps: PosInt | Auto = F("auto", "Steps per optimizer update; auto = 1.")
    effective_batch_size: PosInt | Auto = F("auto", "batch_size x gradient_accumulation_steps x workers.")
    max_batch_size: int = F(2 ** 40, "Upper bound for batch-size tuning.", gt=0)
    optimizer: OptimizerConfig = F(default_factory=OptimizerConfig, help="Optimizer.")
    learning_rate_scheduler: SchedulerConfig = F(default_factory=SchedulerConfig, help="LR schedule.")
    gradient_clipping: GradientClipping = F(default_factory=GradientClipping, help="Gradient clipping.")
    regularization_type: Literal["l1", "l2", "l1_l2"] | None = F("l2", "Weight regularisation type.")
    regularization_lambda: float = F(0.0, "Weight regularisation strength.", ge=0, le=1)
    use_mixed_precision: bool = F(False, "Automatic mixed precision (fp16/bf16 autocast).")
    compile: bool = F(False, "torch.compile the model.")
    enable_gradient_checkpointing: bool = F(False, "Trade compute for memory; also disables the KV cache.")
    layers_to_freeze_regex: str | None = F(None, "Freeze parameters whose name matches this regex.")
    learning_rate_scaling: Literal["constant", "sqrt", "linear"] = F("linear", "Multi-worker LR scaling.")
    increase_batch_size_on_plateau: int = F(0, "Times to grow the batch on plateau.", ge=0)
    increase_batch_size_on_plateau_patience: int = F(5, "Evaluations before growing.", ge=0)
    increase_batch_size_on_plateau_rate: float = F(2.0, "Growth factor.", gt=0)
    increase_batch_size_eval_metric: str = F("loss", "Metric watched.")
    increase_batch_size_eval_split: str = F("training", "Split watched.")
    bucketing_field: str | None = F(None, "Group rows of similar length (feature name).")
    model_soup: Literal["uniform", "greedy"] | None = F(None, "Average checkpoints at the end.")
    model_soup_top_k: int = F(5, "Checkpoints averaged by model_soup.", gt=0)


class _PreferenceTrainer(FinetuneTrainer):
    """Fields every preference trainer adds to the fine-tune ones (Ludwig 0.17's preference configs)."""

    rejected_column: str = F("rejected", "Dataset column holding the rejected answer of each row (the output "
                             "feature's column holds the chosen one).")


class DPOTrainerConfig(_PreferenceTrainer):
    """Direct Preference Optimization (TRL's ``DPOTrainer``)."""

    type: Literal["dpo"] = F("dpo", "Direct Preference Optimization.")
    dpo_beta: float = F(0.1, "Strength of the pull towards the reference model (TRL's `beta`).", gt=0)
    dpo_loss_type: Literal["sigmoid", "ipo"] = F("sigmoid", "The DPO loss (sigmoid) or IPO's.")
    dpo_label_smoothing: float = F(0.0, "Conservative DPO: assumed probability that a label is flipped.",
                                   ge=0, le=0.5)

    @property
    def beta(self) -> float:
        """TRL's ``beta``: ``dpo_beta``."""
        return self.dpo_beta


class KTOTrainerConfig(_PreferenceTrainer):
    """Kahneman-Tversky Optimization (TRL's ``KTOTrainer``), from paired or unpaired feedback."""

    type: Literal["kto"] = F("kto", "Kahneman-Tversky Optimization.")
    kto_beta: float = F(0.1, "Strength of the pull towards the reference model (TRL's `beta`).", gt=0)
    label_column: str = F("label", "Unpaired data (no rejected column): a true/false column saying whether "
                          "the row's answer is desirable.",
                          diverges="llm_magic addition: Ludwig's KTO reads paired data only.")

    @property
    def beta(self) -> float:
        """TRL's ``beta``: ``kto_beta``."""
        return self.kto_beta


class ORPOTrainerConfig(_PreferenceTrainer):
    """Odds Ratio Preference Optimization (TRL's ``ORPOTrainer``): no reference model."""

    type: Literal["orpo"] = F("orpo", "Odds Ratio Preference Optimization.")
    orpo_beta: float = F(0.1, "Weight of the odds-ratio term beside the fine-tuning loss (TRL's `beta`).", gt=0)

    @property
    def beta(self) -> float:
        """TRL's ``beta``: ``orpo_beta``."""
        return self.orpo_beta


PreferenceTrainer = Union[DPOTrainerConfig, KTOTrainerConfig, ORPOTrainerConfig]


def _trainer_before(value: Any) -> Any:
    """Default the type to ``none`` (as Ludwig does) and reject ``grpo`` clearly."""
    if value is None:
        return {"type": "none"}
    value = lower_type(value)
    if isinstance(value, dict):
        if "type" not in value:
            value = {**value, "type": "none"}
        if value["type"] in UNSUPPORTED_TRAINERS:
            raise PydanticCustomError(
                "unsupported_trainer",
                "trainer type '{t}' is not supported by llm_magic: GRPO scores generated answers with reward "
                "functions, which a config cannot hold. Use `type: dpo`, `kto` or `orpo` to learn from "
                "preference data, `type: finetune` (supervised) or `type: none` (inference only).",
                {"t": value["type"]})
    return value


Trainer = Annotated[
    Union[NoneTrainer, FinetuneTrainer, DPOTrainerConfig, KTOTrainerConfig, ORPOTrainerConfig],
    Field(discriminator="type"), BeforeValidator(_trainer_before)]
TRAINER_TYPES = ("none", *TRAINING_TRAINERS)
