"""Fixtures for the model repository tests: copies of model directories to break, and the models' own code."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from tests.harness.model_config import MODELS_DIR, load_python_source


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


@pytest.fixture(scope="session")
def patterns():
    """models/synthetic_patterns.py: labelled images whose right answer is known."""
    return load_python_source(MODELS_DIR / "synthetic_patterns.py", "models_synthetic_patterns")


@pytest.fixture(scope="session")
def network():
    """models/image_classifier/1/network.py: the network every image_classifier* model serves."""
    return load_python_source(MODELS_DIR / "image_classifier" / "1" / "network.py", "models_image_classifier_network")
