"""A node drain honours the server's PodDisruptionBudget (maxUnavailable 1) on a three-node kind cluster: two server
pods on the two workers (hard anti-affinity). Draining one worker evicts its pod while the other keeps serving
(bounded load, 0 failed requests); the evicted pod cannot be placed again (one worker cordoned, the other taken),
so draining the second worker is refused by the budget and its pod keeps serving; once the first worker is back
and the replacement is ready, the same drain goes through."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cluster.conftest import KIND_KUBECONFIG, BoundedLoad, failed_requests, kubectl, prepare_namespace, wait_until
from tests.cluster.scenarios import DRAIN, KIND_VALUES
from tests.harness import render as helm

pytestmark = pytest.mark.cluster

SELECTOR = "app.kubernetes.io/component=server"
REFUSED_DRAIN_SECONDS = 45


def server_pods() -> list[dict]:
    return json.loads(kubectl("-n", DRAIN.namespace, "get", "pods", "-l", SELECTOR, "-o", "json").stdout)["items"]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def drain(node: str, timeout_seconds: int) -> subprocess.CompletedProcess:
    # --disable-eviction is never set: kubectl evicts through the Eviction API, which the PDB guards.
    return kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--pod-selector", SELECTOR,
                   f"--timeout={timeout_seconds}s", check=False, timeout=timeout_seconds + 60)


@pytest.fixture(scope="module")
def spread_release(kube_cluster, tmp_path_factory):
    workers = kubectl("get", "nodes", "-l", "!node-role.kubernetes.io/control-plane", "-o", "name").stdout.split()
    if len(workers) < 2:
        pytest.fail(f"the drain test needs two worker nodes (ci/cluster/kind-config.yaml), found {workers}")
    prepare_namespace(DRAIN.namespace)
    helm.install("triton-stack", [KIND_VALUES, DRAIN.values_file(tmp_path_factory.mktemp("drain"))], kubeconfig=KIND_KUBECONFIG,
                 release=DRAIN.name, namespace=DRAIN.namespace, timeout_seconds=900)
    yield
    for worker in workers:
        kubectl("uncordon", worker.removeprefix("node/"), check=False)
    helm.uninstall(kubeconfig=KIND_KUBECONFIG, release=DRAIN.name, namespace=DRAIN.namespace)


def test_the_pdb_lets_one_drain_through_and_holds_the_second(spread_release):
    pods = wait_until(lambda: (found := server_pods()) and len(found) == 2 and all(map(ready, found)) and found,
                      timeout_seconds=600, what="two ready server pods")
    first, second = sorted(pod["spec"]["nodeName"] for pod in pods)
    assert first != second, "hard anti-affinity must put the two pods on two workers"
    load = BoundedLoad(DRAIN.namespace, DRAIN.service_host)

    drained = drain(first, 300)
    assert drained.returncode == 0, drained.stderr
    wait_until(lambda: any(pod["status"].get("phase") == "Pending" for pod in server_pods()), timeout_seconds=120,
               what="the evicted pod's replacement, unschedulable while its worker is cordoned")
    budget = json.loads(kubectl("-n", DRAIN.namespace, "get", "pdb", DRAIN.deployment, "-o", "json").stdout)
    assert budget["status"]["disruptionsAllowed"] == 0

    refused = drain(second, REFUSED_DRAIN_SECONDS)
    assert refused.returncode != 0
    assert "disruption budget" in refused.stderr
    survivor = [pod for pod in server_pods() if pod["spec"].get("nodeName") == second]
    assert len(survivor) == 1 and ready(survivor[0]), "the budget must keep the last serving pod"
    counts = load.stop()
    assert failed_requests(counts) == 0, counts["errors"]

    # The pair: with the first worker back and the replacement ready, the budget allows the second drain.
    kubectl("uncordon", first)
    wait_until(lambda: (found := server_pods()) and len(found) == 2 and all(map(ready, found)), timeout_seconds=600,
               what="the replacement pod ready on the uncordoned worker")
    allowed = drain(second, 300)
    assert allowed.returncode == 0, allowed.stderr
