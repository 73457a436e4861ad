"""Install the kind values file (values/ci-kind.yaml) into kind: the server reaches ready, helm test infers,
inference through the Service answers correctly over HTTP and gRPC, pods run under the restricted standard."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import KIND_KUBECONFIG, infer_once, prepare_namespace
from tests.cluster.scenarios import KIND_VALUES
from tests.harness import render as helm

pytestmark = pytest.mark.cluster

DEPLOYMENT = f"{helm.DEFAULT_RELEASE}-server"
SERVICE_HOST = f"{helm.DEFAULT_RELEASE}-server.{helm.DEFAULT_NAMESPACE}.svc.cluster.local"


@pytest.fixture(scope="module")
def installed(kube_cluster):
    prepare_namespace(helm.DEFAULT_NAMESPACE)
    helm.install("triton-stack", [KIND_VALUES], kubeconfig=KIND_KUBECONFIG, timeout_seconds=900)
    yield kube_cluster
    helm.uninstall(kubeconfig=KIND_KUBECONFIG)


def test_server_deployment_becomes_available(installed):
    from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

    deployments = wait_for_deployments_to_run(installed.kube_client, [DEPLOYMENT], helm.DEFAULT_NAMESPACE, timeout_sec=600)
    assert deployments[0].obj["status"]["readyReplicas"] == 1


def test_helm_test_checks_readiness_and_infers(installed):
    output = helm.run_helm_tests(kubeconfig=KIND_KUBECONFIG)
    assert "inference on image_classifier succeeded" in output


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_inference_through_the_service_returns_the_right_classes(installed, protocol):
    answers = infer_once(helm.DEFAULT_NAMESPACE, SERVICE_HOST)[protocol]
    assert answers["predicted"] == answers["expected"]


def test_a_request_to_a_port_the_service_does_not_expose_fails(installed):
    # The negative pair: the metrics port is on its own Service, never on the inference one.
    from tests.cluster.conftest import kubectl

    completed = kubectl("-n", helm.DEFAULT_NAMESPACE, "exec", "inference-client", "--", "python", "-c",
                        f"import urllib.request; urllib.request.urlopen('http://{SERVICE_HOST}:8002/metrics', timeout=5)",
                        check=False, timeout=60)
    assert completed.returncode != 0


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
