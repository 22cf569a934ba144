"""Where a model comes from: ``base_model`` resolution, the hub token, and load-error messages.

``base_model`` may be the embedded model (``llm-magic/tiny``), a Ludwig preset short name, a local
directory or a Hugging Face hub id. This module turns it into a :class:`ModelSource`, refuses what
we will not load (remote code, pickle-only weights), and turns hub and network failures into
messages that say what to do. It imports no torch; ``huggingface_hub`` only inside functions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llm_magic.errors import HubError, LlmMagicError, ModelLoadError
from llm_magic.runtime import embedded
from llm_magic.runtime.config.presets import resolve_preset
from llm_magic.runtime.secrets import hub_token as resolve
from llm_magic.runtime.secrets import redact as hide

__all__ = ["ModelSource", "hub_token", "refuse_remote_code", "resolve_source", "explain_load_error"]

@dataclass(frozen=True)
class ModelSource:
    """A resolved ``base_model``: what the user wrote, and what ``from_pretrained`` gets.

    ``location`` is a local folder path or a hub repo id; ``is_local`` says which.
    """

    requested: str
    location: str
    is_local: bool

    @property
    def model_id(self) -> str:
        """The name to show: the hub id (presets resolved), or the folder as the user wrote it."""
        return self.requested if self.is_local else self.location


def hub_token() -> str | None:
    """The hub token the Hub libraries would use (``runtime.secrets.hub_token``). Never print it."""
    return resolve()


def redact(text: str) -> str:
    """``text`` with every known token replaced by ``***`` (``runtime.secrets.redact``)."""
    return hide(text)


def refuse_remote_code(trust_remote_code: bool) -> None:
    """Raise if the config asks to run a model repository's own Python code."""
    if trust_remote_code:
        raise LlmMagicError(
            "trust_remote_code: true is not supported. It would run Python code downloaded with the "
            "model, with your notebook's permissions, and llm_magic does not execute code from model "
            "repositories. Remove the key (or set it to false) and pick a model whose architecture "
            "transformers supports natively (Llama, Mistral, Qwen2, Phi, Gemma, GPT-2, GPT-NeoX, ...)."
        )


def _resolve_preset(name: str) -> str:
    """A Ludwig preset short name -> its hub id (unchanged when it is not a preset)."""
    return resolve_preset(name) or name


def resolve_source(base_model: str) -> ModelSource:
    """Resolve ``base_model`` to a local folder or a hub id; check local folders up front.

    Order: the embedded model, an existing local directory, a preset short name, a hub id.
    A local folder must hold ``config.json`` and safetensors weights.
    """
    if embedded.is_embedded_model(base_model):
        try:
            folder = embedded.embedded_model_path()
        except FileNotFoundError as exc:
            raise ModelLoadError(f"base_model: {base_model}: {exc}") from None
        return ModelSource(base_model, str(folder), is_local=True)
    expanded = Path(os.path.expanduser(base_model))
    if expanded.is_dir():
        check_local_folder(expanded, base_model)
        return ModelSource(base_model, str(expanded.resolve()), is_local=True)
    # Hub ids are "name" or "owner/name"; anything else that looks like a path is a missing folder.
    if base_model.startswith((".", "/", "~")) or base_model.count("/") > 1:
        raise ModelLoadError(
            f"base_model: {base_model!r} is not an existing folder (and not a hub id of the form "
            "'owner/name'). Check the path, or use a hub id such as 'Qwen/Qwen2.5-0.5B'."
        )
    return ModelSource(base_model, _resolve_preset(base_model), is_local=False)


def check_local_folder(folder: Path, requested: str) -> None:
    """A local model folder needs ``config.json`` and ``*.safetensors`` weights (no pickles)."""
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"base_model: the folder {requested!r} has no config.json, so it is not a saved model. "
            "Point base_model at the folder written by model.save_pretrained(...)."
        )
    names = {p.name for p in folder.iterdir()}
    if any(n.endswith(".safetensors") or n.endswith(".safetensors.index.json") for n in names):
        return
    if any(n.startswith("pytorch_model") and n.endswith((".bin", ".bin.index.json")) for n in names):
        raise ModelLoadError(
            f"base_model: the folder {requested!r} holds only pickle weights (pytorch_model.bin). "
            "llm_magic loads safetensors only, because loading a pickle can run arbitrary code. "
            "Convert it once, in a Python session you trust:\n"
            "    from transformers import AutoModelForCausalLM\n"
            f"    AutoModelForCausalLM.from_pretrained({str(folder)!r}).save_pretrained("
            f"{str(folder)!r}, safe_serialization=True)"
        )
    raise ModelLoadError(
        f"base_model: the folder {requested!r} has no weights (*.safetensors). Save the model there "
        "with model.save_pretrained(folder) first."
    )


def _chain(exc: BaseException):
    """``exc`` and every exception it was raised from (``__cause__`` / ``__context__``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def explain_load_error(exc: BaseException, source: ModelSource) -> LlmMagicError | None:
    """A user-facing error for a failed hub/config/weights load, or None for a genuine bug.

    Recognises gated (401/403) and missing (404) repos, no network / offline mode, repos that
    need custom code, and repos without safetensors weights, by huggingface_hub's exception types
    anywhere in the chain (transformers re-raises them as ``OSError``).
    """
    # lazy: pulls huggingface_hub; %load_ext stays light
    from huggingface_hub import errors as hub

    name = source.model_id
    token_hint = (
        "A token is set (HF_TOKEN, HUGGING_FACE_HUB_TOKEN or huggingface-cli login) but it has no "
        "access to this repo."
        if hub_token()
        else "Set the HF_TOKEN environment variable to a token with access (never put it in the config)."
    )
    local_hint = " Or use a model folder on disk: base_model: /path/to/model (or llm-magic/tiny)."
    for err in _chain(exc):
        if type(err).__name__ == "SafetensorError":  # by name: safetensors' Rust extension type
            return ModelLoadError(damaged_weights_message(source, err))
        if isinstance(err, hub.GatedRepoError):
            return HubError(
                f"base_model: {name} is a gated repo and access was refused. Accept its licence on "
                f"https://huggingface.co/{name} with your account. {token_hint}"
            )
        if isinstance(err, hub.RepositoryNotFoundError):
            return HubError(
                f"base_model: {name} was not found on the Hugging Face hub (404), or it is private. "
                f"Check the spelling (owner/name). {token_hint}"
            )
        if isinstance(err, hub.RevisionNotFoundError):
            return HubError(f"base_model: {name}: that revision does not exist on the hub.")
        if isinstance(err, (hub.OfflineModeIsEnabled, hub.LocalEntryNotFoundError)) or _is_network(err):
            offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
            why = (
                "HF_HUB_OFFLINE is set, so the hub is not contacted"
                if offline
                else "the Hugging Face hub could not be reached (no network?)"
            )
            return HubError(
                f"base_model: cannot load {name}: {why}, and it is not in the local cache.{local_hint}"
            )
    text = str(exc)
    if isinstance(exc, ValueError) and "does not recognize this architecture" in text:
        # lazy: pulls transformers; %load_ext stays light
        import transformers

        return ModelLoadError(
            f"base_model: {name} has an architecture that the installed transformers "
            f"{transformers.__version__} does not know. Upgrade transformers "
            "(pip install -U transformers) and restart the kernel, or pick another model."
        )
    if isinstance(exc, ValueError) and "trust_remote_code" in text:
        return ModelLoadError(
            f"base_model: {name} needs custom Python code from its repo (trust_remote_code), which "
            "llm_magic does not run. Pick a model whose architecture transformers supports natively."
        )
    if isinstance(exc, OSError) and "safetensors" in text.lower():
        return ModelLoadError(
            f"base_model: {name} has no safetensors weights. llm_magic loads safetensors only, "
            "because pickle weights (pytorch_model.bin) can run arbitrary code. Use a repo or folder "
            "with *.safetensors, or convert the weights once with "
            "model.save_pretrained(folder, safe_serialization=True)."
        )
    if type(exc).__name__ == "SafetensorError":
        # A damaged weights file (truncated copy, bytes overwritten): name the folder, no traceback.
        return ModelLoadError(
            f"base_model: {name}: a *.safetensors weights file there is corrupted or truncated "
            f"({redact(text)}). Copy or download the model folder again."
        )
    if isinstance(exc, OSError):
        return ModelLoadError(f"base_model: cannot load {name}: {redact(text)}")
    return None


def damaged_weights_message(source: ModelSource, err: BaseException) -> str:
    """Which weight file is damaged (truncated copy, bad download) and how to get a good one."""
    detail = redact(str(err))
    if not source.is_local:
        return (f"base_model: the downloaded weights of {source.model_id} are damaged ({detail}). Delete "
                "the model from the Hugging Face cache (`hf cache delete`, or remove its models--... "
                "folder under ~/.cache/huggingface/hub) and load it again.")
    # lazy: pulls safetensors; %load_ext stays light
    from safetensors import safe_open

    bad = []
    for path in sorted(Path(source.location).glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy"):  # reads and checks the header only
                pass
        except Exception:  # noqa: BLE001 - any failure to open marks the file as damaged
            bad.append(path.name)
    which = (f"the weights file{'s' if len(bad) > 1 else ''} {', '.join(bad)} in {source.requested!r} "
             f"{'are' if len(bad) > 1 else 'is'}" if bad else f"a weights file in {source.requested!r} is")
    return (f"base_model: {which} damaged or incomplete ({detail}): a copy or download that did not "
            "finish, or a file that was overwritten. Copy it again, or re-save the model there with "
            "model.save_pretrained(folder).")


def _is_network(err: BaseException) -> bool:
    """Connection failures from the HTTP client (named by class to avoid importing it)."""
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(names & {"ConnectError", "ConnectTimeout", "ConnectionError", "NetworkError"})
