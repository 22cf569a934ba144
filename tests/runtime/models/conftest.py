"""Fixtures for the model runtime tests: tiny model folders, built once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import ARCHITECTURES, build_tiny_model


class _TinyDirs(dict):
    """Architecture -> tiny model folder, each built on first access."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, arch: str) -> Path:
        if arch not in ARCHITECTURES:
            raise KeyError(arch)
        self[arch] = build_tiny_model(arch, self.root / arch)
        return self[arch]


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """One tiny random-weight model folder per architecture, built once per session on first use."""
    return _TinyDirs(tmp_path_factory.mktemp("tiny-models"))
