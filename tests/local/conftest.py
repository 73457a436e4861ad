"""Fixtures for the real-Triton tier: the servable model repository, the reference network, one server per module."""

from __future__ import annotations

import pytest

from tests.harness.model_config import MODELS_DIR, load_python_source
from tests.harness.triton_local import LocalModelRepository, describe_changes, launch_triton, prepare_local_model_repository
from tests.local.sample_spec import ADMIN_SECRET, triton_container


@pytest.fixture(scope="session")
def local_models(tmp_path_factory) -> LocalModelRepository:
    """A copy of the models/ that this python-only tritonserver can load."""
    return prepare_local_model_repository(tmp_path_factory.mktemp("repository") / "models")


@pytest.fixture(scope="session")
def patterns():
    """models/synthetic_patterns.py: labelled images whose right answer is known."""
    return load_python_source(MODELS_DIR / "synthetic_patterns.py", "models_synthetic_patterns")


@pytest.fixture(scope="session")
def network():
    """models/image_classifier/1/network.py, run in-process as the reference for what the server returns."""
    return load_python_source(MODELS_DIR / "image_classifier" / "1" / "network.py", "models_image_classifier_network")


@pytest.fixture(scope="module")
def triton(tmp_path_factory, local_models):
    """tritonserver started from the sample container spec, ready, stopped with SIGTERM after the module."""
    server = launch_triton(
        triton_container(),
        work_dir=tmp_path_factory.mktemp("triton"),
        path_mapping={"/models": local_models.path},
        secrets=ADMIN_SECRET,
    )
    with server:
        ready_seconds = server.wait_ready()
        print(f"\ntritonserver ready in {ready_seconds:.2f}s; changes to the rendered spec:\n{describe_changes(server.plan.changes)}")
        yield server

