"""``%llm_upload REPO_ID``: push a saved or exported folder to the Hugging Face Hub.

The equivalent of Ludwig's ``upload_to_hf_hub``, through ``huggingface_hub.HfApi``
(``create_repo`` then ``upload_folder``). The token comes only from the environment
(``HF_TOKEN`` or ``HUGGING_FACE_HUB_TOKEN``); it is passed to the library and never printed,
logged or written: error messages from the Hub are scrubbed of it before they reach the user.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llm_magic.errors import CheckpointError, HubError, LlmMagicError
from llm_magic.runtime.persistence import layout

__all__ = ["UploadReport", "upload_folder", "upload_run"]

#: Not uploaded: trainer checkpoints (optimizer state, only useful to resume here) and dotfiles.
IGNORE_PATTERNS = [f"{layout.CHECKPOINTS_DIR}/**", ".*", "**/.*"]


@dataclass
class UploadReport:
    """Where the folder went."""

    repo_id: str
    url: str
    private: bool
    files: int

    def __repr__(self) -> str:
        visibility = "private" if self.private else "public"
        return f"Uploaded {self.files} files to the {visibility} Hub repo {self.repo_id}: {self.url}"


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def upload_folder(
    directory: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    commit_message: str | None = None,
) -> UploadReport:
    """Create ``repo_id`` on the Hub (if needed) and upload ``directory`` to it."""
    # lazy: huggingface_hub loads only for an upload
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    token = layout.env_token()
    if not token:
        raise HubError(
            "No Hugging Face token: set the HF_TOKEN environment variable (a write token from "
            "https://huggingface.co/settings/tokens) before starting the kernel, then retry."
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(
            f"{repo_id!r} is not a valid Hub repo id ({exc}). Use NAME or ORG/NAME."
        ) from None
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such folder to upload. Save (%llm_save) or export first.")
    files = [
        p for p in path.rglob("*")
        if p.is_file() and not p.relative_to(path).as_posix().startswith(f"{layout.CHECKPOINTS_DIR}/")
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    if not any(p.suffix == ".safetensors" for p in files) and not (path / layout.CONFIG_NAME).is_file():
        raise CheckpointError(
            f"{path} holds no model (no .safetensors weights, no config.yaml). Upload a folder "
            "written by %llm_save or %llm_export."
        )
    layout.assert_no_secret(path, token)

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model", token=token)
        commit = api.upload_folder(
            folder_path=str(path),
            repo_id=repo_id,
            repo_type="model",
            commit_message=commit_message or "Upload model fine-tuned with llm_magic",
            ignore_patterns=IGNORE_PATTERNS,
            token=token,
        )
    except Exception as exc:  # network and Hub errors come in many types; all are user-facing
        raise HubError(
            f"Upload to {repo_id} failed: {_scrub(str(exc), token)}. Check that the token may "
            "write to this repo and that the Hub is reachable."
        ) from None
    url = str(getattr(commit, "repo_url", None) or f"https://huggingface.co/{repo_id}")
    return UploadReport(repo_id=repo_id, url=url, private=private, files=len(files))


def upload_run(
    repo_id: str,
    directory: str | Path | None,
    last_folder: Path | None,
    *,
    private: bool = False,
    commit_message: str | None = None,
) -> UploadReport:
    """Upload ``directory``, by default ``last_folder`` (the folder of the last save or export)."""
    if directory is None:
        directory = last_folder
        if directory is None:
            raise LlmMagicError(
                "Nothing to upload yet: save the model first (%llm_save DIR or %llm_export DIR), "
                "or name the folder with --dir DIR."
            )
    return upload_folder(directory, repo_id, private=private, commit_message=commit_message)
