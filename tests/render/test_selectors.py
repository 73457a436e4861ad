"""Every selector the charts emit selects exactly the pods (Services, workloads) it is meant to, and none
selects nothing: in every scenario render, and in the feature renders that switch on what no scenario does.

The intent is declared here by identity (the server Deployment, the helm test pod), never read off the
selectors themselves; tests/harness/selectors.py works out what each selector really selects. A selector
kind without a declared intent fails, so a new template's selectors cannot go unchecked.
"""

import pytest

from tests.conftest import KUBE_HIGHEST, SCENARIOS
from tests.harness import render as helm
from tests.harness import selectors

pytestmark = pytest.mark.render

PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}}
# Server-chart renders of features no scenario switches on. The values are those of the feature tests in
# tests/render/server, so these are cache hits, not new renders.
FEATURE_RENDERS = {
    "hard-anti-affinity": {"podAntiAffinity": {"mode": "hard"}},
    "pdb": {"replicaCount": 3, "podDisruptionBudget": {"enabled": True}},
    "no-helm-test": {"helmTest": {"enabled": False}},
    "no-metrics": {"triton": {"metrics": {"enabled": False}}},
    "listed-sources": {"networkPolicy": {"inferenceFrom": [PEER]}},
    "long-name": {"fullnameOverride": "x" * 63},
}


def server_chart_intent(objects: list[dict]):
    """What each server-chart selector must select, by identity: the server Deployment's pods, the helm
    test pod, or (the NetworkPolicy's default peer) every pod of the namespace."""
    server = {f"Deployment/{o['metadata']['name']}" for o in objects if o["kind"] == "Deployment"}
    helm_test = {f"Pod/{o['metadata']['name']}" for o in objects if o["kind"] == "Pod" and o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"}
    every_pod = {target.id for target in selectors.pod_templates(objects)}

    def intended(reference: selectors.Reference):
        if reference.owner:
            # A workload's own selector, and the spread and anti-affinity selectors of its pods: its own pods only.
            return {reference.owner}
        if reference.kind in ("Service", "PodDisruptionBudget") or (reference.kind == "NetworkPolicy" and reference.field == "spec.podSelector"):
            return server
        if reference.kind == "NetworkPolicy" and ".from[" in reference.field:
            return every_pod if reference.selector == {} else helm_test
        return None

    return intended


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_every_selector_selects_exactly_its_intended_pods_in_every_scenario(name, default_renders):
    objects = default_renders[name]
    assert selectors.references(objects), f"{name} renders no selector"
    assert selectors.selection_problems(objects, server_chart_intent(objects)) == []


@pytest.mark.parametrize("feature", sorted(FEATURE_RENDERS))
def test_every_selector_selects_exactly_its_intended_pods_when_a_feature_is_on(feature):
    objects = helm.render("triton-server", values=FEATURE_RENDERS[feature], kube_version=KUBE_HIGHEST)
    assert selectors.selection_problems(objects, server_chart_intent(objects)) == []


def test_prod_selectors_cover_every_selector_kind_the_server_chart_emits(default_renders):
    # So that the scenario test above really looks at each kind: prod switches every selector on.
    fields = {(r.kind, r.field.split("[")[0]) for r in selectors.references(default_renders["prod"])}
    assert fields >= {
        ("Deployment", "spec.selector"),
        ("Deployment", "spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"),
        ("Deployment", "spec.template.spec.topologySpreadConstraints"),
        ("Service", "spec.selector"),
        ("PodDisruptionBudget", "spec.selector"),
        ("NetworkPolicy", "spec.podSelector"),
        ("NetworkPolicy", "spec.ingress"),
    }


def test_a_selector_naming_another_component_is_caught(default_renders):
    # The negative pair, on prod's own objects: the PDB aimed at the helm test pod protects no server pod.
    import copy

    objects = copy.deepcopy(default_renders["prod"])
    pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
    pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "helm-test"
    problems = selectors.selection_problems(objects, server_chart_intent(objects))
    assert problems == [f"PodDisruptionBudget/triton-server spec.selector selects ['Pod/triton-server-test'], not exactly ['Deployment/triton-server']"]
    pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = "guardrails"
    assert selectors.selects_nothing(objects) == ["PodDisruptionBudget/triton-server spec.selector selects no pods"]
