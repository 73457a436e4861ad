"""The cluster tier: a real kind cluster, made by ci/cluster/up.sh (`make test-cluster`).

Skipped, with the reason, wherever there is no Docker daemon (the CI machines and this project's dev
machines have none) or no cluster was made. pytest-helm-charts provides the cluster connection
(`kube_cluster`, from $KUBECONFIG) and the waits.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.harness.render import CACHE_DIR

KIND_KUBECONFIG = CACHE_DIR / "kind" / "kubeconfig"


def _why_no_cluster() -> str | None:
    if not shutil.which("docker"):
        return "no docker on PATH: the kind tier runs where Docker runs (make test-cluster)"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return "no Docker daemon reachable (docker info failed): the kind tier runs where Docker runs (make test-cluster)"
    if not shutil.which("kind"):
        return "kind is not on PATH: install kind, then make test-cluster"
    if os.environ.get("KUBECONFIG") != str(KIND_KUBECONFIG) or not KIND_KUBECONFIG.exists():
        return "no kind cluster made for this run: make test-cluster creates it (ci/cluster/up.sh) and runs this tier"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _why_no_cluster()
    if reason:
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if "cluster" in item.keywords:
                item.add_marker(skip)
