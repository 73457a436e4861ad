"""Install values/ci-kind.yaml into kind: the server reaches ready, helm test infers, a restart drains."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import KIND_KUBECONFIG
from tests.harness import render as helm

pytestmark = pytest.mark.cluster

VALUES = helm.VALUES_DIR / "ci-kind.yaml"
DEPLOYMENT = f"{helm.DEFAULT_RELEASE}-server"


@pytest.fixture(scope="module")
def installed(kube_cluster):
    helm.install("triton-stack", [VALUES], kubeconfig=KIND_KUBECONFIG, timeout_seconds=900)
    yield kube_cluster
    helm.uninstall(kubeconfig=KIND_KUBECONFIG)


def test_server_deployment_becomes_available(installed):
    from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

    deployments = wait_for_deployments_to_run(installed.kube_client, [DEPLOYMENT], helm.DEFAULT_NAMESPACE, timeout_sec=600)
    assert deployments[0].obj["status"]["readyReplicas"] == 1


def test_helm_test_checks_readiness_and_infers(installed):
    output = helm.run_helm_tests(kubeconfig=KIND_KUBECONFIG)
    assert "inference on image_classifier succeeded" in output


def test_pods_run_under_the_restricted_pod_security_standard(installed):
    import pykube

    namespace = pykube.Namespace.objects(installed.kube_client).get(name=helm.DEFAULT_NAMESPACE)
    namespace.obj["metadata"].setdefault("labels", {})["pod-security.kubernetes.io/enforce"] = "restricted"
    namespace.update()
    pods = pykube.Pod.objects(installed.kube_client, namespace=helm.DEFAULT_NAMESPACE).filter(selector={"app.kubernetes.io/component": "server"})
    for pod in pods:
        pod.delete()
    from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

    # The replacement pod is admitted under enforce=restricted and becomes ready again.
    wait_for_deployments_to_run(installed.kube_client, [DEPLOYMENT], helm.DEFAULT_NAMESPACE, timeout_sec=600)
