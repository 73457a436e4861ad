"""Render helpers for the monitoring chart's tests: the umbrella with monitoring on (so names and the server's
identity are the ones a release gets), at the highest declared Kubernetes minor."""

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm

# The release every monitoring test renders: the umbrella, release "triton" in namespace "inference".
NAMESPACE = helm.DEFAULT_NAMESPACE
JOB = "triton-server-metrics"  # the metrics Service, the job label prometheus-operator gives its targets
WORKLOAD = "triton-server"  # the server Deployment


def render_monitoring(values: dict | None = None, kube_version: str = KUBE_HIGHEST) -> list[dict]:
    """The umbrella with monitoring.enabled and `values` under monitoring:, only the monitoring chart's objects."""
    objects = helm.render("triton-stack", values={"monitoring": {"enabled": True, **(values or {})}}, kube_version=kube_version)
    return [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "monitoring"]


def monitoring_error(values: dict, extra: dict | None = None) -> str:
    return helm.render_error("triton-stack", values={"monitoring": {"enabled": True, **values}, **(extra or {})}, kube_version=KUBE_HIGHEST).stderr


@pytest.fixture(scope="session")
def monitoring_objects() -> list[dict]:
    return render_monitoring()
