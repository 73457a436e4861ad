"""The cluster tier: a real kind cluster, made by ci/cluster/up.sh (`make test-cluster`).

Skipped, with the reason, wherever there is no Docker daemon (the CI machines and this project's dev
machines have none) or no cluster was made. pytest-helm-charts provides the cluster connection
(`kube_cluster`, from $KUBECONFIG) and the waits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from tests.cluster import scenarios
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


def kubectl(*args: str, stdin: str | None = None, timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess:
    """kubectl against the kind cluster; raises AssertionError with kubectl's stderr when `check` and it fails."""
    completed = subprocess.run(["kubectl", "--kubeconfig", str(KIND_KUBECONFIG), *args], input=stdin, capture_output=True, text=True,
                               timeout=timeout)
    if check and completed.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {completed.returncode}: {completed.stderr[-3000:]}")
    return completed


def apply(*objects: dict, server_side: bool = False) -> None:
    args = ["apply", "--server-side", "--field-manager=triton-stack-ci"] if server_side else ["apply"]
    kubectl(*args, "-f", "-", stdin=yaml.safe_dump_all(objects))


def cluster_minor() -> str:
    """The API server's Kubernetes minor, "1.29"."""
    version = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    return f"{version['major']}.{version['minor'].rstrip('+')}"


def wait_until(condition, *, timeout_seconds: float, interval_seconds: float = 2, what: str):
    """Polls `condition()` until it returns something truthy, which is returned; fails naming `what` at the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_seconds}s waiting for {what}")
        time.sleep(interval_seconds)


def prepare_namespace(namespace: str) -> None:
    """The namespace, the model ConfigMap and admin-key Secret the kind values expect, and the inference client pod."""
    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    configmap = subprocess.run([sys.executable, str(scenarios.helm.REPO_ROOT / "ci/cluster/models_configmap.py"), namespace],
                               capture_output=True, text=True, check=True).stdout
    kubectl("apply", "--server-side", "--field-manager=triton-stack-ci", "-f", "-", stdin=configmap)
    if kubectl("-n", namespace, "get", "secret", "triton-admin-key", check=False).returncode != 0:
        kubectl("-n", namespace, "create", "secret", "generic", "triton-admin-key", f"--from-literal=admin-key={os.urandom(16).hex()}")
    apply(scenarios.client_configmap_manifest(namespace), scenarios.client_pod_manifest(namespace))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", f"pod/{scenarios.CLIENT_POD}", "--timeout=300s", timeout=330)


def infer_once(namespace: str, host: str) -> dict:
    """One labelled image per protocol through the Service, from the client pod (inference_client.py once)."""
    output = kubectl("-n", namespace, "exec", scenarios.CLIENT_POD, "--", "python", "inference_client.py", "once", host, timeout=120).stdout
    return json.loads(output.strip().splitlines()[-1])


class BoundedLoad:
    """inference_client.py load, running in the client pod while the test changes the cluster; `stop()` returns its
    counts. Bounded: LOAD_WORKERS in-flight requests per protocol, and it stops by itself after LOAD_MAX_SECONDS."""

    def __init__(self, namespace: str, host: str):
        self.process = subprocess.Popen(
            ["kubectl", "--kubeconfig", str(KIND_KUBECONFIG), "-n", namespace, "exec", "-i", scenarios.CLIENT_POD, "--",
             "python", "inference_client.py", "load", host, str(scenarios.LOAD_WORKERS), str(scenarios.LOAD_MAX_SECONDS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline().strip()
        if first != "started":
            self.process.kill()
            raise AssertionError(f"the load client did not start: {first!r} {self.process.stderr.read()[-2000:]}")

    def stop(self) -> dict:
        stdout, stderr = self.process.communicate("stop\n", timeout=120)
        if self.process.returncode != 0:
            raise AssertionError(f"the load client exited {self.process.returncode}: {stderr[-2000:]}")
        counts = json.loads(stdout.strip().splitlines()[-1])
        print(f"load through the change: {counts}")
        return counts


def failed_requests(counts: dict) -> int:
    return counts["http"]["failed"] + counts["grpc"]["failed"]
