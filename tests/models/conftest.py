"""Fixtures for the model repository tests: copies of model directories to break, and the models' own code."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from tests.harness.model_config import MODELS_DIR


@pytest.fixture
def copy_model(tmp_path: Path) -> Callable[[str], Path]:
    """Copy models/<name> into a scratch repository under tmp_path and return the copy's path.

    Tests break copies, never the repository itself.
    """

    def copy(name: str) -> Path:
        destination = tmp_path / "models" / name
        shutil.copytree(MODELS_DIR / name, destination, ignore=shutil.ignore_patterns("__pycache__"))
        return destination

    return copy


