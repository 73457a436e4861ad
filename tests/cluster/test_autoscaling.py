"""KEDA reconciles the chart's ScaledObject (KEDA installed by ci/cluster/prerequisites.sh): it creates an HPA on the
server Deployment with the chart's bounds and reports the ScaledObject ready; with its Prometheus unreachable, the
fallback engages and the replicas hold at the minimum instead of scaling in on missing data."""

from __future__ import annotations

import json

import pytest

from tests.cluster.conftest import KIND_KUBECONFIG, kubectl, prepare_namespace, wait_until
from tests.cluster.scenarios import AUTOSCALED, KIND_VALUES, KEDA_FAILURE_THRESHOLD, KEDA_POLLING_SECONDS
from tests.harness import render as helm

pytestmark = pytest.mark.cluster


def get(kind: str, name: str) -> dict | None:
    completed = kubectl("-n", AUTOSCALED.namespace, "get", kind, name, "-o", "json", check=False)
    return json.loads(completed.stdout) if completed.returncode == 0 else None


def condition(obj: dict | None, kind: str) -> dict:
    return next((c for c in (obj or {}).get("status", {}).get("conditions", []) if c["type"] == kind), {})


@pytest.fixture(scope="module")
def scaled(kube_cluster, tmp_path_factory):
    if "scaledobjects.keda.sh" not in kubectl("get", "crd", "-o", "name").stdout:
        pytest.fail("KEDA is not installed in the kind cluster: ci/cluster/prerequisites.sh installs it (make e2e does)")
    prepare_namespace(AUTOSCALED.namespace)
    values = AUTOSCALED.values_file(tmp_path_factory.mktemp("autoscaled"))
    helm.install("triton-stack", [KIND_VALUES, values], kubeconfig=KIND_KUBECONFIG, release=AUTOSCALED.name,
                 namespace=AUTOSCALED.namespace, timeout_seconds=900)
    yield
    helm.uninstall(kubeconfig=KIND_KUBECONFIG, release=AUTOSCALED.name, namespace=AUTOSCALED.namespace)


def test_keda_reports_the_scaled_object_ready(scaled):
    ready = wait_until(lambda: condition(get("scaledobject", AUTOSCALED.deployment), "Ready").get("status") == "True" and
                       get("scaledobject", AUTOSCALED.deployment), timeout_seconds=180, what="the ScaledObject's Ready condition")
    assert condition(ready, "Ready")["reason"] == "ScaledObjectReady"


def test_keda_creates_an_hpa_on_the_deployment_with_the_charts_bounds(scaled):
    scaled_object = wait_until(lambda: (get("scaledobject", AUTOSCALED.deployment) or {}).get("status", {}).get("hpaName") and
                               get("scaledobject", AUTOSCALED.deployment), timeout_seconds=180, what="KEDA's HPA")
    hpa = get("hpa", scaled_object["status"]["hpaName"])
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": AUTOSCALED.deployment}
    autoscaling = AUTOSCALED.values["server"]["autoscaling"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (autoscaling["minReplicas"], autoscaling["maxReplicas"])


def test_the_deployment_reaches_the_minimum_without_a_replicas_field(scaled):
    # The chart leaves `replicas` out under an autoscaler: the HPA, not helm, takes it from 1 to the minimum.
    deployment = wait_until(lambda: (get("deployment", AUTOSCALED.deployment) or {}).get("status", {}).get("readyReplicas") == 2 and
                            get("deployment", AUTOSCALED.deployment), timeout_seconds=600, what="two ready server pods")
    assert deployment["spec"]["replicas"] == 2


def test_with_prometheus_unreachable_the_fallback_holds_the_replicas(scaled):
    budget = KEDA_POLLING_SECONDS * (KEDA_FAILURE_THRESHOLD + 2) + 120
    fallback = wait_until(lambda: condition(get("scaledobject", AUTOSCALED.deployment), "Fallback").get("status") == "True" and
                          get("scaledobject", AUTOSCALED.deployment), timeout_seconds=budget, what="KEDA's Fallback condition")
    assert condition(fallback, "Fallback")["status"] == "True"
    # Not scaled in below the minimum, nor to zero, while the signal is missing.
    assert get("deployment", AUTOSCALED.deployment)["spec"]["replicas"] >= AUTOSCALED.values["server"]["autoscaling"]["minReplicas"]
