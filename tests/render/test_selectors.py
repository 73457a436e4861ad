"""Every selector the charts emit selects exactly the pods (Services, workloads) it is meant to, and none
selects nothing: in every scenario render, and in the feature renders that switch on what no scenario does.

The intent is declared here by identity (the server Deployment, the helm test pod), never read off the
selectors themselves; tests/harness/selectors.py works out what each selector really selects. A selector
kind without a declared intent fails, so a new template's selectors cannot go unchecked.
"""

import dataclasses

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
    """What each server-chart selector must select, by identity: the server's pods (every track), one track's
    pods (the DestinationRule's subsets), the workload an autoscaler is named after, the inference Service
    (the DestinationRule's host), the helm test pod, or (the NetworkPolicy's default peer) every pod."""
    server_objects = [o for o in objects if o["kind"] in ("Deployment", "Rollout") and o["metadata"]["labels"].get("app.kubernetes.io/component") == "server"]
    server_pods = {target.id for target in selectors.pod_templates(server_objects)}
    track_pods = {track: {target.id for target in selectors.pod_templates(server_objects) if target.label_map.get("triton-stack.io/track") == track}
                  for track in ("stable", "canary")}
    workload_kind = {o["metadata"]["name"]: o["kind"] for o in server_objects}
    helm_test = {f"Pod/{o['metadata']['name']}" for o in objects if o["kind"] == "Pod" and o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"}
    every_pod = {target.id for target in selectors.pod_templates(objects)}

    subcharts = {alias: intent(objects) for alias, intent in (("batch", batch_chart_intent), ("logging", logging_chart_intent))}
    metrics_services = {f"Service/{o['metadata']['name']}" for o in objects
                        if o["kind"] == "Service" and o["metadata"].get("labels", {}).get("triton-stack.io/metrics") == "true"}

    def intended(reference: selectors.Reference):
        name = reference.source.split("/", 1)[1]
        if reference.kind == "ServiceMonitor":
            # The monitoring chart scrapes the server's metrics Service (every track), never the inference one.
            return metrics_services
        if reference.kind == "PodMonitor":
            # The routing chart scrapes the Istio sidecars of the server's pods, every track.
            return server_pods
        alias = next((a for a in subcharts if name == f"{helm.DEFAULT_RELEASE}-{a}" or name.startswith(f"{helm.DEFAULT_RELEASE}-{a}-")), None)
        if alias and name.endswith("-to-server") and reference.kind == "NetworkPolicy":
            # A client chart's policy on the server's pods (NetworkPolicies add up): it admits that chart's pods.
            return server_pods if reference.field == "spec.podSelector" else subcharts[alias](dataclasses.replace(reference, field="spec.podSelector"))
        if alias:
            return subcharts[alias](reference)
        if reference.owner:
            # A workload's own selector, and the spread and anti-affinity selectors of its pods: its own pods only
            # (a Rollout's own selector spans both its sides).
            return {target.id for target in selectors.pod_templates(server_objects) if target.id.split(" (")[0] == reference.owner} or {reference.owner}
        if reference.kind in ("Service", "PodDisruptionBudget") or (reference.kind == "NetworkPolicy" and reference.field == "spec.podSelector"):
            return server_pods
        if reference.kind == "NetworkPolicy" and ".from[" in reference.field:
            return every_pod if reference.selector == {} else helm_test
        if reference.kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            return {f"{workload_kind.get(name, 'Deployment')}/{name}"}
        if reference.kind == "DestinationRule" and reference.field == "spec.host":
            return {f"Service/{name}"}
        if reference.kind == "DestinationRule":
            # Under an Argo Rollout the controller writes each subset's pod-template hash: the rendered subsets
            # carry no label yet and so select the Rollout's pods.
            if any(o["kind"] == "Rollout" for o in server_objects):
                return server_pods
            return track_pods["canary" if "(canary)" in reference.field else "stable"]
        return None

    return intended


def loadtest_chart_intent(objects: list[dict]):
    """The load-test chart: each NetworkPolicy and Service is named after the Deployment whose pods it selects;
    the master admits its workers, and (an empty peer) every pod of the namespace on the web port."""
    every_pod = {target.id for target in selectors.pod_templates(objects)}
    workers = {f"Deployment/{o['metadata']['name']}" for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-worker")}

    def intended(reference: selectors.Reference):
        if reference.owner:
            return {reference.owner}
        name = reference.source.split("/", 1)[1]
        if reference.kind == "Service" or (reference.kind == "NetworkPolicy" and reference.field == "spec.podSelector"):
            return {f"Deployment/{name}"}
        if reference.kind == "NetworkPolicy" and ".from[" in reference.field:
            return every_pod if reference.selector == {} else workers
        return None

    return intended


def batch_chart_intent(objects: list[dict]):
    """The batch chart: its Job's (or CronJob's) own selector, and its NetworkPolicy, select the batch pods."""
    batch_pods = {target.id for target in selectors.pod_templates([o for o in objects if o["kind"] in ("Job", "CronJob")])}

    def intended(reference: selectors.Reference):
        if reference.owner:
            return {reference.owner}
        if reference.kind == "NetworkPolicy" and reference.field == "spec.podSelector":
            return batch_pods
        return None

    return intended


def logging_chart_intent(objects: list[dict]):
    """The logging chart: the DaemonSet's own selector, and its NetworkPolicy, select the Fluentd pods."""
    fluentd = {target.id for target in selectors.pod_templates([o for o in objects if o["kind"] == "DaemonSet"])}

    def intended(reference: selectors.Reference):
        if reference.owner:
            return {reference.owner}
        if reference.kind == "NetworkPolicy" and reference.field == "spec.podSelector":
            return fluentd
        return None

    return intended


INTENTS = {"triton-server": server_chart_intent, "triton-stack": server_chart_intent, "triton-loadtest": loadtest_chart_intent,
           "triton-batch": batch_chart_intent, "triton-logging": logging_chart_intent}
# Umbrella renders of what no scenario switches on: canary tracks behind the routes, and an Argo Rollout.
CANARY = {"enabled": True, "image": {"tag": "24.11-py3"}, "autoscaling": {"mode": "keda"}}
ROUTED_RENDERS = {
    "canary-tracks-routed": {"server": {"canary": CANARY, "autoscaling": {"mode": "keda"}}, "routing": {"enabled": True, "canary": {"enabled": True, "weight": 10}}},
    "argo-rollout-routed": {"server": {"canary": {"enabled": True, "strategy": "argoRollouts"}, "autoscaling": {"mode": "hpa"}},
                            "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, "monitoring": {"enabled": True}},
}


# The routing chart alone points at a server it does not render; it is checked in ROUTED_RENDERS instead.
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.chart in INTENTS], ids=lambda s: s.name)
def test_every_selector_selects_exactly_its_intended_pods_in_every_scenario(scenario, default_renders):
    objects = default_renders[scenario.name]
    assert selectors.references(objects), f"{scenario.name} renders no selector"
    assert selectors.selection_problems(objects, INTENTS[scenario.chart](objects)) == []


@pytest.mark.parametrize("name", sorted(ROUTED_RENDERS))
def test_routes_and_autoscalers_select_their_track_and_workload(name):
    objects = helm.render("triton-stack", values=ROUTED_RENDERS[name], kube_version=KUBE_HIGHEST)
    kinds = {reference.kind for reference in selectors.references(objects)}
    assert {"DestinationRule"} <= kinds and kinds & {"HorizontalPodAutoscaler", "ScaledObject"}
    assert selectors.selection_problems(objects, server_chart_intent(objects)) == []


def test_a_subset_that_selects_the_wrong_track_is_caught():
    # The negative pair: the canary subset pointed at the stable track's label selects stable pods.
    import copy

    objects = copy.deepcopy(helm.render("triton-stack", values=ROUTED_RENDERS["canary-tracks-routed"], kube_version=KUBE_HIGHEST))
    rule = next(o for o in objects if o["kind"] == "DestinationRule")
    rule["spec"]["subsets"][1]["labels"]["triton-stack.io/track"] = "stable"
    assert selectors.selection_problems(objects, server_chart_intent(objects)) == [
        "DestinationRule/triton-server spec.subsets[1] (canary) selects ['Deployment/triton-server'], not exactly ['Deployment/triton-server-canary']"]


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
