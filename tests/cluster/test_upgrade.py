"""An upgrade from the previous chart version and a rolling update, each under bounded inference load (HTTP and
gRPC through the Service, LOAD_WORKERS in flight per protocol) with 0 failed requests: the PDB, the surge pod, the
readiness gate and the drained shutdown (preStop, then Triton's exit timeout) together never drop a request."""

from __future__ import annotations

import pytest
import yaml

from tests.cluster.conftest import KIND_KUBECONFIG, BoundedLoad, failed_requests, kubectl, prepare_namespace, wait_until
from tests.cluster.scenarios import KIND_VALUES, ROLLING, ROLLING_CHANGE, check_out_previous_version, previous_chart_version
from tests.harness import render as helm

pytestmark = pytest.mark.cluster


def replica_sets() -> set[str]:
    output = kubectl("-n", ROLLING.namespace, "get", "replicasets", "-l", "app.kubernetes.io/component=server",
                     "-o", "jsonpath={range .items[?(@.status.replicas>0)]}{.metadata.name}{'\\n'}{end}").stdout
    return set(output.split())


@pytest.fixture(scope="module")
def namespace_ready(kube_cluster):
    prepare_namespace(ROLLING.namespace)
    yield
    helm.uninstall(kubeconfig=KIND_KUBECONFIG, release=ROLLING.name, namespace=ROLLING.namespace)


def install_current(directory, *extra) -> None:
    helm.install("triton-stack", [KIND_VALUES, ROLLING.values_file(directory), *extra], kubeconfig=KIND_KUBECONFIG,
                 release=ROLLING.name, namespace=ROLLING.namespace, timeout_seconds=900)


def test_upgrade_from_the_previous_chart_version_drops_no_request(namespace_ready, tmp_path):
    previous = previous_chart_version()
    if previous is None:
        pytest.skip("no previous chart version: every commit carries the umbrella's current version (the first release)")
    old_chart = check_out_previous_version(previous, tmp_path / "previous")
    helm.install(old_chart, [tmp_path / "previous" / "values" / KIND_VALUES.name, ROLLING.values_file(tmp_path)], kubeconfig=KIND_KUBECONFIG,
                 release=ROLLING.name, namespace=ROLLING.namespace, timeout_seconds=900)
    load = BoundedLoad(ROLLING.namespace, ROLLING.service_host)
    install_current(tmp_path)
    counts = load.stop()
    assert counts["http"]["ok"] > 0 and counts["grpc"]["ok"] > 0
    assert failed_requests(counts) == 0, counts["errors"]


def test_a_rolling_update_under_load_drops_no_request(namespace_ready, tmp_path):
    install_current(tmp_path)
    before = replica_sets()
    load = BoundedLoad(ROLLING.namespace, ROLLING.service_host)
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump(ROLLING_CHANGE))
    install_current(tmp_path, change)
    kubectl("-n", ROLLING.namespace, "rollout", "status", f"deployment/{ROLLING.deployment}", "--timeout=600s", timeout=660)
    after = wait_until(lambda: (sets := replica_sets()) and len(sets) == 1 and sets, timeout_seconds=300, what="one ReplicaSet left")
    counts = load.stop()
    assert after != before, "the change did not roll the pods"
    assert counts["http"]["ok"] > 0 and counts["grpc"]["ok"] > 0
    assert failed_requests(counts) == 0, counts["errors"]

