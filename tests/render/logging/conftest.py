"""Render helpers for the logging chart's tests: the umbrella with logging on, at the highest declared Kubernetes."""

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import fluentd
from tests.harness import render as helm


def render_logging(values: dict | None = None, extra: dict | None = None) -> list[dict]:
    """The umbrella with logging.enabled and `values` under logging:, the whole render."""
    return helm.render("triton-stack", values={"logging": {"enabled": True, **(values or {})}, **(extra or {})}, kube_version=KUBE_HIGHEST)


def logging_error(values: dict, extra: dict | None = None) -> str:
    return helm.render_error("triton-stack", values={"logging": {"enabled": True, **values}, **(extra or {})}, kube_version=KUBE_HIGHEST).stderr


def config_map(objects: list[dict]) -> dict:
    return find(objects, "ConfigMap", "-logging")


@pytest.fixture(scope="session")
def logging_objects() -> list[dict]:
    return render_logging()


@pytest.fixture(scope="session")
def pipeline(logging_objects) -> fluentd.Pipeline:
    """The pipeline's expressions as the rendered ConfigMap holds them."""
    return fluentd.Pipeline.from_config(config_map(logging_objects)["data"]["fluent.conf"])
