"""The API server accepts every object every scenario renders: `kubectl apply --dry-run=server` for each environment
file and chart ci/ scenario, with the CRDs of KEDA, prometheus-operator, Istio and Argo Rollouts installed
(ci/cluster/prerequisites.sh, at the releases whose schemas the render tier validates with) and KEDA's admission
webhook answering. Server-side: defaulting, CRD structural schemas, CEL rules and webhooks all run; nothing is stored.
"""

from __future__ import annotations

import pytest
import yaml

from tests.cluster.conftest import apply, cluster_minor, kubectl
from tests.conftest import SCENARIOS, Scenario

pytestmark = pytest.mark.cluster

DRY_RUN_SCENARIOS = SCENARIOS
# The release namespace of every dry run (helm renders into it); the charts' own other namespaces are created too.
DRY_RUN_NAMESPACE = "dry-run"


def namespaces_named(objects: list[dict]) -> set[str]:
    """Every namespace the objects live in, or that a rendered Namespace object would create (a dry run stores
    nothing, so objects inside a rendered Namespace need it to exist already)."""
    named = {obj["metadata"]["namespace"] for obj in objects if obj["metadata"].get("namespace")}
    return named | {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Namespace"}


@pytest.fixture(scope="module")
def kube_version(kube_cluster) -> str:
    return f"{cluster_minor()}.0"


@pytest.mark.parametrize("scenario", DRY_RUN_SCENARIOS, ids=lambda s: s.name)
def test_the_api_server_accepts_every_rendered_object(kube_version, scenario: Scenario):
    objects = scenario.render(kube_version=kube_version, namespace=DRY_RUN_NAMESPACE)
    for namespace in sorted(namespaces_named(objects)):
        apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    completed = kubectl("apply", "--dry-run=server", "--validate=strict", "--server-side", "--field-manager=triton-stack-dry-run", "-f", "-",
                        stdin=yaml.safe_dump_all(objects), check=False, timeout=300)
    assert completed.returncode == 0, f"{scenario.name}: {completed.stderr}"
    assert completed.stdout.count("(server dry run)") == len(objects)


def test_the_api_server_refuses_an_unknown_field(kube_version):
    # The negative pair: a misspelt field in a rendered ServiceMonitor is refused by the installed CRD's schema.
    scenario = next(s for s in DRY_RUN_SCENARIOS if s.name == "triton-monitoring-kube-prometheus-stack")
    objects = scenario.render(kube_version=kube_version, namespace=DRY_RUN_NAMESPACE)
    monitor = next(obj for obj in objects if obj["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoint"] = monitor["spec"].pop("endpoints")
    completed = kubectl("apply", "--dry-run=server", "--validate=strict", "--server-side", "--field-manager=triton-stack-dry-run", "-f", "-",
                        stdin=yaml.safe_dump(monitor), check=False)
    assert completed.returncode != 0 and "endpoint" in completed.stderr
