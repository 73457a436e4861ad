"""The canary split, measured through a real Istio mesh in kind: with routing.canary.weight 20, the share of
requests the canary answers is within ±2 percentage points of 20% over 5,000 requests, for HTTP and for gRPC,
and the track header forces the canary for both. Nothing here can run without a cluster: no Envoy or Istio proxy
is installable on the dev and CI machines (not on PyPI, npm or Debian), so the render tier checks the routes'
shape and this tier checks what Envoy does with them.

Needs Istio in the cluster (ci/cluster/up.sh installs it with ci/cluster/istio.sh). The release goes to its own
namespace with sidecar injection on: Istio's iptables init container needs NET_ADMIN, which the restricted
Pod Security Standard of the main install's namespace refuses (Istio CNI lifts that; see the README).
The client is a pod in the mesh (the sidecar of the caller applies a VirtualService), running
tests/cluster/split_client.py, which counts the track each answer names in the routing chart's response header.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import KIND_KUBECONFIG
from tests.harness import render as helm

pytestmark = pytest.mark.cluster

NAMESPACE = "canary-split"
RELEASE = "split"
WEIGHT = 20
REQUESTS = 5000
TOLERANCE_POINTS = 2.0
TRACK_HEADER = "x-triton-track"
CLIENT_POD = "split-client"
CLIENT_IMAGE = "docker.io/library/python:3.11-slim"
TRITONCLIENT = "tritonclient[grpc]==2.51.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
# ci-kind.yaml plus a canary track (the stable image named explicitly: the split, not the canary, is measured, and
# kind has one image loaded, ci/kind-image's) and the routing chart with its weight.
STABLE_TAG = yaml.safe_load((REPO_ROOT / "values/ci-kind.yaml").read_text())["server"]["image"]["tag"]
SPLIT_VALUES = {
    "server": {"canary": {"enabled": True, "image": {"tag": STABLE_TAG}}},
    "routing": {"enabled": True, "canary": {"enabled": True, "weight": WEIGHT, "header": TRACK_HEADER}},
}


def kubectl(*args: str, stdin: str | None = None, timeout: int = 300) -> str:
    completed = subprocess.run(["kubectl", "--kubeconfig", str(KIND_KUBECONFIG), *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {completed.returncode}: {completed.stderr[-3000:]}")
    return completed.stdout


def client_pod_manifest() -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": CLIENT_POD, "namespace": NAMESPACE, "labels": {"app": CLIENT_POD},
        # pip must not start before the sidecar can carry its connections.
        "annotations": {"proxy.istio.io/config": json.dumps({"holdApplicationUntilProxyStarts": True})}},
        "spec": {"containers": [{
            "name": "client", "image": CLIENT_IMAGE,
            "command": ["sh", "-c", f"pip install --no-cache-dir '{TRITONCLIENT}' && touch /tmp/ready && exec sleep infinity"],
            "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 2},
            "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        }]}}


@pytest.fixture(scope="module")
def mesh_release(kube_cluster, tmp_path_factory):
    if "virtualservices.networking.istio.io" not in kubectl("get", "crd", "-o", "name"):
        pytest.skip("Istio is not installed in the kind cluster: ci/cluster/istio.sh installs it (make test-cluster does)")
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": NAMESPACE, "labels": {"istio-injection": "enabled"}}}))
    configmap = subprocess.run([sys.executable, str(REPO_ROOT / "ci/cluster/models_configmap.py"), NAMESPACE], capture_output=True, text=True, check=True).stdout
    kubectl("apply", "--server-side", "--field-manager=triton-stack-ci", "-f", "-", stdin=configmap)
    values = tmp_path_factory.mktemp("split") / "split.yaml"
    values.write_text(yaml.safe_dump(SPLIT_VALUES))
    helm.install("triton-stack", [helm.VALUES_DIR / "ci-kind.yaml", values], kubeconfig=KIND_KUBECONFIG, release=RELEASE,
                 namespace=NAMESPACE, timeout_seconds=900)
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(client_pod_manifest()))
    kubectl("-n", NAMESPACE, "wait", "--for=condition=Ready", f"pod/{CLIENT_POD}", "--timeout=600s", timeout=660)
    yield
    kubectl("-n", NAMESPACE, "delete", "pod", CLIENT_POD, "--ignore-not-found", "--wait=false")
    helm.uninstall(kubeconfig=KIND_KUBECONFIG, release=RELEASE, namespace=NAMESPACE)


@pytest.fixture(scope="module")
def split(mesh_release) -> dict:
    host = f"{RELEASE}-server.{NAMESPACE}.svc.cluster.local"
    output = kubectl("-n", NAMESPACE, "exec", "-i", CLIENT_POD, "-c", "client", "--", "python", "-", host, "8000", "8001", TRACK_HEADER,
                     str(REQUESTS), stdin=(Path(__file__).parent / "split_client.py").read_text(), timeout=1800)
    result = json.loads(output.strip().splitlines()[-1])
    print(f"observed split over {REQUESTS} requests per protocol at weight {WEIGHT}: {result}")
    return result


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_canary_share_is_within_two_points_of_the_weight(split, protocol):
    tracks = split[protocol]
    assert set(tracks) <= {"stable", "canary"}, f"answers without a track header: {tracks}"
    assert sum(tracks.values()) == REQUESTS
    share = 100.0 * tracks.get("canary", 0) / REQUESTS
    assert abs(share - WEIGHT) <= TOLERANCE_POINTS, f"{protocol}: canary answered {share:.2f}% of {REQUESTS} requests at weight {WEIGHT}"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_track_header_forces_the_canary(split, protocol):
    assert split["forced"][protocol] == {"canary": 50}
