"""Loading a config's model: checks first, then HF config, tokenizer, weights, NEFTune, adapter.

Everything that can be checked without reading weights is checked first (remote code, the
source, the device, quantization, RoPE settings), so a bad config fails fast. The result is a
:class:`LoadedModel` bundle; :func:`free_model` releases one before another is loaded.
"""
from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from llm_magic.errors import LlmMagicError, ModelLoadError
from llm_magic.runtime.models import adapters
from llm_magic.runtime.models.device import choose_placement
from llm_magic.runtime.models.parameters import (
    apply_rope_scaling,
    attach_neftune,
    context_length,
    rope_settings,
)
from llm_magic.runtime.models.quantization import (
    bnb_config,
    check_quantization,
    compute_dtype_name,
    describe_quantization,
)
from llm_magic.runtime.models.seeding import config_seed, fingerprint, seeded
from llm_magic.runtime.models.shape import check_adapter_ranks
from llm_magic.runtime.models.source import explain_load_error, hub_token, refuse_remote_code, resolve_source
from llm_magic.runtime.models.targets import find_candidates
from llm_magic.runtime.progress import silence_library_bars, task
from llm_magic.runtime.threads import limit_threads

if TYPE_CHECKING:  # pragma: no cover - types only
    from torch.utils.hooks import RemovableHandle
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from llm_magic.runtime.config import LLMConfig
    from llm_magic.runtime.config.schema.model_parameters import ModelParameters
    from llm_magic.runtime.config.schema.quantization import QuantizationConfig
    from llm_magic.runtime.models.device import Placement
    from llm_magic.runtime.models.source import ModelSource
    from llm_magic.runtime.models.targets import TargetCandidates
    from llm_magic.runtime.progress import Task

__all__ = ["LoadedModel", "free_model", "load_model", "precheck", "wrap_adapter"]

logger = logging.getLogger(__name__)


@dataclass(eq=False, repr=False)
class LoadedModel:
    """A loaded model and everything the rest of llm_magic needs to use it.

    ``model`` is the ``transformers`` causal LM, PEFT-wrapped when an adapter is configured;
    ``tokenizer`` always has a pad token; ``config`` is the ``LLMConfig`` it was built for (kept
    current by :class:`~llm_magic.runtime.models.manager.ModelManager`).
    """

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype
    config: LLMConfig
    base_model_id: str
    context_length: int
    adapter_type: str | None
    #: The adapter's target modules (configured or found), None without an adapter.
    target_modules: list[str] | None = None
    #: Human description of the quantization (``"none"`` when unquantized).
    quantization: str = "none"
    #: Things the loader decided for the user (dtype choice, pad token, RoPE), shown by %llm_info.
    notes: list[str] = field(default_factory=list)
    #: Where the weights came from (``source.ModelSource``).
    source: ModelSource | None = None
    #: Adaptable module names of the bare base, found once at load (``targets.TargetCandidates``).
    candidates: TargetCandidates | None = None
    #: The seed the adapter's initial weights were drawn with, and their fingerprint then
    #: (``seeding.fingerprint``): training re-draws them for another seed while they are unchanged.
    adapter_seed: int | None = None
    initial_fingerprint: str | None = None
    #: The run id whose training changed these weights since they were loaded, or None.
    trained_by: str | None = None
    #: A folder that holds these exact trained weights (a save, or a copy kept before a swap).
    kept_in: str | None = None
    _neftune: RemovableHandle | None = None

    @property
    def quantized(self) -> bool:
        """Whether the base weights are 4- or 8-bit."""
        return self.quantization != "none"

    @property
    def base(self) -> PreTrainedModel:
        """The underlying ``transformers`` model, without the PEFT wrapper."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) else self.model

    def __repr__(self) -> str:
        adapter = self.adapter_type or "none (full fine-tuning)"
        return (
            f"LoadedModel({self.base_model_id}, device={self.device}, dtype={self.dtype}, "
            f"quantization={self.quantization}, adapter={adapter})"
        )


def _hf_call(func, source, **kwargs):
    """Call a ``from_pretrained`` with the hub token; translate hub/network errors for the user."""
    try:
        return func(source.location, token=hub_token(), trust_remote_code=False, **kwargs)
    except LlmMagicError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated when recognised, re-raised otherwise
        error = explain_load_error(exc, source)
        if error is None:
            raise
        raise error from None


def _set_pad_token(tokenizer, model, notes: list[str]) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(
                "The tokenizer of base_model has neither a pad nor an end-of-sequence token, so "
                "batches cannot be padded. Use a model whose tokenizer defines eos_token."
            )
        tokenizer.pad_token = tokenizer.eos_token
        note = f"tokenizer had no pad token: using eos {tokenizer.eos_token!r} for padding"
        logger.info(note)
        notes.append(note)
    # Generation warns (and guesses) when the model does not know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def precheck(config: LLMConfig) -> tuple[ModelSource, Placement]:
    """Every check that needs no weights, cheapest first; returns ``(source, placement)``.

    Remote code, the model source (local folder contents), RoPE settings, the device and
    whether quantization can work there.
    """
    refuse_remote_code(config.trust_remote_code)
    if config.is_multimodal:
        raise LlmMagicError(
            "is_multimodal: true is not supported yet: llm_magic loads text-only causal language "
            "models (AutoModelForCausalLM). Remove the key, or set it to false."
        )
    source = resolve_source(config.base_model)
    rope_settings(config.model_parameters)
    quantization = config.quantization
    check_quantization(quantization, None)  # backend and bits, before torch is imported
    placement = choose_placement(quantization)
    check_quantization(quantization, placement.device)
    return source, placement


def load_model(config: LLMConfig) -> LoadedModel:
    """Load ``config``'s base model, tokenizer and adapter; return the bundle."""
    source, placement = precheck(config)
    quantization = config.quantization
    model_parameters = config.model_parameters

    silence_library_bars()  # our own task line below replaces transformers' "Loading weights" bar
    with task(f"Loading {source.model_id}") as step:
        return _load(config, source, placement, quantization, model_parameters, step)


def _load(config: LLMConfig, source: ModelSource, placement: Placement, quantization: QuantizationConfig | None,
          model_parameters: ModelParameters | None, step: Task) -> LoadedModel:
    """The body of :func:`load_model`, reporting its phases to ``step``."""
    hf_config = _hf_call(AutoConfig.from_pretrained, source)
    notes = [f"device {placement.device}, dtype {_dtype_name(placement.dtype)}: {placement.note}"]
    if apply_rope_scaling(hf_config, model_parameters, source.model_id):
        settings = rope_settings(model_parameters)
        notes.append(f"RoPE scaling {settings['rope_type']} x{settings['factor']:g}")
    step.describe(f"Loading {source.model_id}: tokenizer")
    tokenizer = _hf_call(AutoTokenizer.from_pretrained, source)

    # Before any torch work (quantizing, training, generating): no more threads than usable cores.
    limit_threads()
    step.describe(f"Loading {source.model_id}: weights")
    kwargs: dict[str, Any] = {}
    if quantization is not None:
        kwargs["quantization_config"] = bnb_config(quantization, placement.device)
        dtype_note = compute_dtype_name(quantization, placement.device)[1]
        if dtype_note:
            notes.append(dtype_note)
    model = _hf_call(
        AutoModelForCausalLM.from_pretrained,
        source,
        config=hf_config,
        dtype=placement.dtype,
        use_safetensors=True,  # never unpickle weights
        device_map={"": str(placement.device)},
        **kwargs,
    )
    if quantization is not None and placement.device.type == "cpu":
        _own_unquantized_weights(model)
    _set_pad_token(tokenizer, model, notes)

    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=placement.device,
        dtype=placement.dtype,
        config=config,
        base_model_id=source.model_id,
        context_length=context_length(model.config),
        adapter_type=None,
        quantization=describe_quantization(quantization),
        notes=notes,
        source=source,
        candidates=find_candidates(model),
        _neftune=attach_neftune(model, model_parameters),
    )
    step.describe(f"Loading {source.model_id}")
    try:
        wrap_adapter(loaded, config)
    except BaseException:
        free_model(loaded)
        raise
    return loaded


def _own_unquantized_weights(model: torch.nn.Module) -> None:
    """Copy the weights bitsandbytes left unquantized (embeddings, norms, lm_head) into memory.

    On the CPU they stay views into the memory-mapped safetensors file, which keeps the whole
    full-precision file resident beside the 4-bit weights: benchmarks/bench_memory.py measured a
    4-bit load at 1.43x the fp32 process memory without this copy, 0.2-0.4x with it.
    """
    with torch.no_grad():
        for param in model.parameters():  # unique parameters: tied weights are copied once
            if type(param).__name__ in ("Params4bit", "Int8Params"):
                continue
            param.data = param.data.clone()


def wrap_adapter(loaded: LoadedModel, config: LLMConfig, seed: int | None = None) -> None:
    """Wrap ``loaded``'s bare base in ``config``'s adapter (if any), updating the bundle.

    The initial adapter weights are drawn with ``seed`` (default: the config's ``random_seed``)
    and nothing else: see ``seeding``.
    """
    # The shape may not have been known at %%llm_config (a hub model not yet downloaded).
    check_adapter_ranks(config, loaded.model)

    seed = config_seed(config) if seed is None else seed  # random_seed
    with seeded(seed):
        model, targets = adapters.attach_adapter(loaded.model, config, loaded.quantized, loaded.candidates)
    loaded.adapter_seed = seed
    loaded.initial_fingerprint = fingerprint(model) if targets is not None else None
    loaded.model = model
    loaded.target_modules = targets
    loaded.adapter_type = adapters.adapter_label(config)
    loaded.config = config


def free_model(loaded: LoadedModel | None) -> None:
    """Drop ``loaded``'s model and tokenizer and return their memory (CPU and GPU).

    The bundle is emptied too, so a stale reference held elsewhere cannot keep weights alive.
    """
    if loaded is None:
        return
    if loaded._neftune is not None:
        loaded._neftune.remove()
        loaded._neftune = None
    loaded.model = None
    loaded.tokenizer = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")
