"""The run-folder layout: file names, the manifest, atomic writes and secret checks.

A run folder is flat so that it is also a valid Hub repository: ``PeftModel.from_pretrained``
reads the adapter files at its root, ``AutoModelForCausalLM`` the full weights (when present) and
``AutoTokenizer`` the tokenizer files. Our own files sit beside them::

    llm_magic.json              manifest (this module): kind, base model, file sizes, checkpoint
    config.yaml                 the effective config (all defaults filled)
    config.user.yaml            the config as the user wrote it (what a load builds from)
    adapter_config.json         } kind "adapter": PEFT save_pretrained output (non-default
    adapter_model.safetensors   }   adapters of an ``adapters:`` config go into <name>/)
    config.json, model.safetensors, generation_config.json   kind "full" only
    merged/                     merge_adapter_into_base_model: a standalone HF model folder
    tokenizer.json, tokenizer_config.json, ...                the tokenizer
    history.csv, metrics.json   training history and final metrics (when there was training)
    checkpoints/checkpoint-N/   the last trainer checkpoint, for ``%llm_train --resume``
    README.md                   the model card

Only the standard library here: reading a manifest must stay cheap.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llm_magic.errors import CheckpointError, LlmMagicError
from llm_magic.runtime.interrupts import deferred_interrupts
from llm_magic.runtime.secrets import check_folder, hub_token

MANIFEST_NAME = "llm_magic.json"
CONFIG_NAME = "config.yaml"
#: The config as given (``LLMConfig.source``): loading it keeps unset keys unset (``.user_config``).
USER_CONFIG_NAME = "config.user.yaml"
HISTORY_NAME = "history.csv"
METRICS_NAME = "metrics.json"
CARD_NAME = "README.md"
ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
MODEL_CONFIG_NAME = "config.json"
FULL_WEIGHTS_NAME = "model.safetensors"
FULL_INDEX_NAME = "model.safetensors.index.json"
CHECKPOINTS_DIR = "checkpoints"
MERGED_DIR = "merged"

#: Bumped when the layout changes incompatibly; older llm_magic refuses newer folders.
FORMAT_VERSION = 1

#: What a run folder holds: adapter weights on a base, a full fine-tune, or only a config
#: (a zero-shot session: the base model is reloaded from its name).
KINDS = ("adapter", "full", "config")



@dataclass
class Manifest:
    """What ``llm_magic.json`` records about a run folder.

    ``files`` maps every weights file (relative path) to its size in bytes, so a truncated copy
    is named precisely; ``checkpoint`` is the relative path of the copied trainer checkpoint.
    """

    kind: str
    base_model: str
    adapter_type: str | None = None
    adapter_names: list[str] = field(default_factory=list)
    merged: bool = False
    files: dict[str, int] = field(default_factory=dict)
    #: The sha256 (hex) of every weights file in ``files``; checked at load (empty in old folders).
    sha256: dict[str, str] = field(default_factory=dict)
    data_rows: int | None = None
    checkpoint: str | None = None
    config_name: str | None = None
    #: The last fine-tune run's record (run id, status, steps, best step/metric, rows).
    run: dict[str, Any] | None = None
    created: str | None = None
    llm_magic_version: str | None = None
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The manifest as pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> "Manifest":
        """Parse a manifest, naming the file when it is damaged or from a newer llm_magic."""
        try:
            data = json.loads(text)
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            manifest = cls(**known)
        except (ValueError, TypeError, AttributeError) as exc:
            raise CheckpointError(
                f"{where} is not a valid llm_magic manifest ({exc}). The folder is damaged: "
                "save the model again with %llm_save."
            ) from None
        if manifest.format > FORMAT_VERSION:
            raise CheckpointError(
                f"{where} was written by a newer llm_magic (format {manifest.format}, this one "
                f"reads up to {FORMAT_VERSION}). Upgrade llm_magic to load it."
            )
        if manifest.kind not in KINDS:
            raise CheckpointError(
                f"{where}: unknown kind {manifest.kind!r} (expected one of {', '.join(KINDS)})."
            )
        return manifest


def run_folder(directory: str | os.PathLike) -> Path:
    """Resolve ``directory`` as an existing run folder, or raise a clear error."""
    path = Path(directory).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such folder. Pass the folder written by %llm_save (or Session.save)."
        )
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file; pass the folder written by %llm_save.")
    if not (path / MANIFEST_NAME).is_file():
        hint = ""
        if (path / ADAPTER_CONFIG_NAME).is_file() or (path / MODEL_CONFIG_NAME).is_file():
            hint = (
                " It looks like a plain Hugging Face/PEFT folder: use it as `base_model` (full "
                "model) or `adapter.pretrained_adapter_weights` (adapter) in %%llm_config instead."
            )
        raise CheckpointError(
            f"{path} is not an llm_magic run folder (no {MANIFEST_NAME}).{hint}"
        )
    return path


def read_manifest(directory: Path) -> Manifest:
    """Read ``llm_magic.json`` of a run folder."""
    where = directory / MANIFEST_NAME
    return Manifest.from_json(where.read_text(encoding="utf-8"), where)


def check_file_sizes(directory: Path, manifest: Manifest) -> None:
    """Every weights file listed in the manifest exists with the recorded size."""
    for rel, size in manifest.files.items():
        path = directory / rel
        if not path.is_file():
            raise CheckpointError(
                f"{path} is missing: the run folder is incomplete. Copy the whole folder, or "
                "save the model again with %llm_save."
            )
        actual = path.stat().st_size
        if actual != size:
            raise CheckpointError(
                f"{path} is corrupted or truncated: {actual:,} bytes, but {size:,} were saved. "
                "Copy the folder again from where it was saved, or save the model again."
            )


def weight_files(directory: Path) -> dict[str, int]:
    """Sizes of the safetensors files under ``directory`` (relative paths), checkpoints excluded."""
    sizes = {}
    for path in sorted(directory.rglob("*.safetensors")):
        rel = path.relative_to(directory)
        if rel.parts[0] != CHECKPOINTS_DIR:
            sizes[rel.as_posix()] = path.stat().st_size
    return sizes


def sha256_of(path: Path) -> str:
    """The sha256 (hex) of a file, read in 1 MB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_hashes(directory: Path) -> dict[str, str]:
    """The sha256 of every file :func:`weight_files` lists."""
    return {rel: sha256_of(directory / rel) for rel in weight_files(directory)}


def check_hashes(directory: Path, manifest: Manifest) -> None:
    """Every weights file has the sha256 the manifest recorded (a changed byte fails, by name)."""
    for rel, expected in manifest.sha256.items():
        path = directory / rel
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: the run folder is incomplete.")
        if sha256_of(path) != expected:
            raise CheckpointError(
                f"{path} is not the file that was saved: its sha256 differs from the one in "
                f"{MANIFEST_NAME} (changed, damaged or replaced). Copy the folder again from where "
                "it was saved, or save the model again with %llm_save."
            )


def env_token() -> str | None:
    """The Hugging Face token (``runtime.secrets.hub_token``; never printed, logged or saved)."""
    return hub_token()


def assert_no_secret(directory: Path, secret: str | None = None) -> None:
    """Refuse a folder whose files hold any known token or a token-shaped string
    (``runtime.secrets.check_folder``); ``secret`` is one more value to look for."""
    check_folder(directory, secret, label=None)


#: Lists every file llm_magic wrote into a folder, so a later save replaces only those.
OWNED_NAME = ".llm_magic-files.json"


def _files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def owned_files(directory: Path) -> set[str] | None:
    """The files llm_magic wrote into ``directory`` (its :data:`OWNED_NAME` list), or None."""
    try:
        return set(json.loads((directory / OWNED_NAME).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _one_line(exc: OSError, target: Path) -> LlmMagicError:
    """A permission / disk error as one line naming the folder (no traceback)."""
    import errno

    why = {
        errno.EACCES: "permission denied", errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the disk",
        errno.EDQUOT: "disk quota exceeded",
    }.get(exc.errno, exc.strerror or type(exc).__name__)
    return LlmMagicError(
        f"Cannot write {target}: {why}. Nothing was written; pick a folder you can write to."
    )


class AtomicFolder:
    """Write a folder beside its target, then swap it in: a failed write leaves nothing half-done.

    Use as a context manager; ``.path`` is the temporary folder (in the same parent, so the final
    rename is atomic) to write into. On success the target is replaced; files in it that
    llm_magic did not write (not in its :data:`OWNED_NAME` list) are carried over into the new
    folder, so a re-save never deletes a file the user put there. A non-empty target that is not
    ours (no ``marker``) is refused unless ``overwrite``. On error, or Ctrl-C, the temporary
    folder is removed and the target left as it was; permission and disk errors become one-line
    :class:`~llm_magic.LlmMagicError` messages.
    """

    def __init__(self, target: str | os.PathLike, marker: str | tuple[str, ...], *,
                 overwrite: bool = False) -> None:
        self.target = Path(target).expanduser().absolute()
        self.markers = (marker,) if isinstance(marker, str) else tuple(marker)
        self.path: Path = self.target
        if self.target.exists():
            if not self.target.is_dir():
                raise LlmMagicError(f"{self.target} is a file; pass a folder path.")
            ours = any((self.target / m).exists() for m in self.markers)
            if any(self.target.iterdir()) and not ours and not overwrite:
                raise LlmMagicError(
                    f"{self.target} exists and holds other files. Pick a new folder (it is "
                    "created for you) or an empty one, or pass --overwrite to write into it "
                    "(files llm_magic did not write are kept)."
                )

    def __enter__(self) -> "AtomicFolder":
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=parent))
        except OSError as exc:
            raise _one_line(exc, self.target) from None
        # mkdtemp makes the folder private (0700); a saved model gets the user's usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o777 & ~umask)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            with deferred_interrupts():
                shutil.rmtree(self.path, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, IsADirectoryError)):
                raise _one_line(exc, self.target) from None
            return
        # A second Ctrl-C must not land between the two renames (the target would be gone).
        with deferred_interrupts():
            try:
                self._commit()
            except OSError as error:
                shutil.rmtree(self.path, ignore_errors=True)
                raise _one_line(error, self.target) from None

    def _carry_foreign_files(self) -> None:
        """Link (or copy) into the new folder the target's files that llm_magic did not write."""
        mine, new = owned_files(self.target), _files(self.path)
        for rel in sorted(_files(self.target) - {OWNED_NAME}):
            if (rel in mine) if mine is not None else (rel in new):
                continue
            if rel in new:
                raise LlmMagicError(
                    f"{self.target / rel} was not written by llm_magic, and this save writes a "
                    "file of that name. Move it away first, or save to another folder."
                )
            dest = self.path / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.target / rel, dest)
            except OSError:
                shutil.copy2(self.target / rel, dest)

    def _commit(self) -> None:
        written = sorted(_files(self.path))
        (self.path / OWNED_NAME).write_text(json.dumps(written, indent=0) + "\n", encoding="utf-8")
        backup = None
        if self.target.exists():
            try:
                self._carry_foreign_files()
            except LlmMagicError:
                shutil.rmtree(self.path, ignore_errors=True)
                raise
            backup = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(self.target, backup)
        try:
            os.replace(self.path, self.target)
        except OSError:
            if backup is not None:
                os.replace(backup, self.target)
            raise
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
