"""Cluster-wide and security-relevant fields, asserted by value in every environment file's render (and, for
the fields every render has, in every chart scenario too): the PriorityClass, the NetworkPolicy's whole
rule list, service-account tokens, the Services' ports and exposure, read-only root filesystems, and the
values of every label, not only their presence.

What each field must be comes from the environment file over the charts' own defaults (what a user asked
for), or is fixed by the chart's contract (globalDefault false, no token, metrics from the monitoring
namespace only), never from the rendered objects themselves.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import pytest
import yaml

from tests.conftest import ENVIRONMENT_FILES, KUBE_HIGHEST, SCENARIOS, Scenario, find
from tests.harness import render as helm
from tests.harness.policy import admitted_peers

pytestmark = pytest.mark.render

ENVIRONMENTS = [path.stem for path in ENVIRONMENT_FILES]
RELEASE = helm.DEFAULT_RELEASE
GUARDRAIL_KINDS = {"ResourceQuota", "LimitRange", "PriorityClass"}
# The routing chart's kinds: Istio's and the Argo Rollouts gate's.
ROUTING_KINDS = {"VirtualService", "DestinationRule", "Gateway", "PeerAuthentication", "AuthorizationPolicy", "AnalysisTemplate"}


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def chart_yaml(chart: str) -> dict:
    return yaml.safe_load((helm.CHARTS_DIR / chart / "Chart.yaml").read_text())


@lru_cache(maxsize=None)
def _effective_values(values_file: str, chart: str) -> str:
    server_defaults = yaml.safe_load((helm.CHARTS_DIR / "triton-server" / "values.yaml").read_text())
    given = yaml.safe_load(open(values_file).read()) or {}
    if chart == "triton-server":
        return yaml.safe_dump(merged(server_defaults, given))
    stack_defaults = yaml.safe_load((helm.CHARTS_DIR / "triton-stack" / "values.yaml").read_text())
    values = merged(stack_defaults, given)
    values["server"] = merged(merged(server_defaults, stack_defaults.get("server") or {}), given.get("server") or {})
    return yaml.safe_dump(values)


def effective_values(scenario: Scenario) -> dict:
    """The values a scenario renders with: its file over the chart defaults (the server's under `server`)."""
    return yaml.safe_load(_effective_values(str(scenario.values_file), scenario.chart))


def server_values(scenario: Scenario) -> dict:
    values = effective_values(scenario)
    return values["server"] if scenario.chart == "triton-stack" else values


# The scenarios that render the server (its chart alone, or the umbrella); the routing, batch and load-test
# charts' own objects are checked by their own tests, and here for labels, tokens and read-only file systems.
SERVER_SCENARIOS = [s for s in SCENARIOS if s.chart in ("triton-server", "triton-stack")]


def scenario_named(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


# --- PriorityClass --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_priority_class_is_never_the_cluster_default_and_is_the_one_the_server_uses(name, default_renders):
    objects = default_renders[name]
    wanted = effective_values(scenario_named(name))["guardrails"]["priorityClass"]
    classes = [o for o in objects if o["kind"] == "PriorityClass"]
    pods = [deployment["spec"]["template"]["spec"] for deployment in workloads(objects)]
    if not wanted["create"]:
        assert classes == []
        return
    (priority_class,) = classes
    assert {k: v for k, v in priority_class.items() if k not in ("apiVersion", "kind", "metadata")} == {
        "value": wanted["value"],
        "preemptionPolicy": wanted["preemptionPolicy"],
        # Cluster-wide: true would give this priority to every pod of the cluster that names no class.
        "globalDefault": False,
        "description": f"Triton inference pods of {helm.DEFAULT_NAMESPACE}/{RELEASE}.",
    }
    assert pods and {pod["priorityClassName"] for pod in pods} == {priority_class["metadata"]["name"]} == {wanted["name"]}
    assert "namespace" not in priority_class["metadata"]


def test_priority_class_passes_preemption_never_through():
    # No environment sets Never: the value is read, not a constant that happens to match the default.
    objects = helm.render("triton-stack", values={"server": {"priorityClassName": "gold"}, "guardrails": {"priorityClass": {"create": True, "name": "gold", "preemptionPolicy": "Never"}}},
                          kube_version=KUBE_HIGHEST)
    assert find(objects, "PriorityClass")["preemptionPolicy"] == "Never"


# --- NetworkPolicy --------------------------------------------------------------------------------------


def selector_labels(chart_name: str, component: str) -> dict:
    return {"app.kubernetes.io/name": chart_name, "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": component}


def server_chart_name(scenario: Scenario, chart: str = "triton-server") -> str:
    """app.kubernetes.io/name of a subchart's objects (the server's by default): the dependency's alias inside the umbrella."""
    if scenario.chart == chart:
        return chart
    return next(d.get("alias", d["name"]) for d in chart_yaml("triton-stack")["dependencies"] if d["name"] == chart)


# Subcharts whose objects are named <release>-<alias>[-...] in the umbrella, and their component label.
NAMED_SUBCHARTS = {"triton-batch": "batch", "triton-monitoring": "monitoring", "triton-logging": "logging"}
# Service accounts that hold an API token on purpose, with the reason.
TOKEN_HOLDERS = {f"{RELEASE}-logging": "Fluentd's kubernetes_metadata filter reads pods through the API (a Role in the server's namespace, get/list/watch pods only)"}


def named_subchart(obj: dict) -> str | None:
    """The subchart (batch, monitoring, logging) an umbrella object comes from, by its name; None for the others."""
    name = obj["metadata"]["name"]
    return next((chart for chart, alias in NAMED_SUBCHARTS.items() if name == f"{RELEASE}-{alias}" or name.startswith(f"{RELEASE}-{alias}-")), None)


def is_batch(obj: dict) -> bool:
    return named_subchart(obj) == "triton-batch"


def is_server_side(obj: dict) -> bool:
    """The server chart's own objects (not a named subchart's)."""
    return named_subchart(obj) is None


def workloads(objects: list[dict]) -> list[dict]:
    """The server's Deployments: one per track."""
    return [o for o in objects if o["kind"] == "Deployment"]


def track_of(deployment: dict) -> str:
    """The track a server Deployment runs, read off its name (the canary's is <server>-canary), not its labels."""
    return "canary" if deployment["metadata"]["name"].endswith("-canary") else "stable"


@pytest.mark.parametrize("scenario", SERVER_SCENARIOS, ids=lambda s: s.name)
def test_network_policy_is_exactly_the_declared_rules(scenario, default_renders):
    values = server_values(scenario)
    # The batch and logging charts' own NetworkPolicies are checked by their tests.
    policies = [o for o in default_renders[scenario.name] if o["kind"] == "NetworkPolicy" and is_server_side(o)]
    if not values["networkPolicy"]["enabled"]:
        assert policies == []
        return
    name = server_chart_name(scenario)
    inference_from = list(values["networkPolicy"]["inferenceFrom"] or [{"podSelector": {}}])
    if values["helmTest"]["enabled"]:
        inference_from.append({"podSelector": {"matchLabels": selector_labels(name, "helm-test")}})
    rules = [{"from": inference_from, "ports": [{"port": "http", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]}]
    if values["triton"]["metrics"]["enabled"]:
        monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": values["networkPolicy"]["monitoringNamespace"]}}}
        rules.append({"from": [monitoring], "ports": [{"port": "metrics", "protocol": "TCP"}]})
    (policy,) = policies
    assert policy["spec"] == {"podSelector": {"matchLabels": selector_labels(name, "server")}, "policyTypes": ["Ingress"], "ingress": rules}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_metrics_are_admitted_from_the_monitoring_namespace_only(name, default_renders):
    admitted = admitted_peers(find(default_renders[name], "NetworkPolicy", "-server"))
    assert set(admitted) == {"http", "grpc", "metrics"}
    assert admitted["metrics"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert admitted["http"] == admitted["grpc"]


def test_a_second_rule_admitting_metrics_from_clients_is_seen():
    # The negative pair: a rule added on the metrics port shows up in what the port admits.
    policy = {"spec": {"ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"port": "metrics"}]},
        {"from": [{"podSelector": {}}], "ports": [{"port": "metrics"}]},
    ]}}
    assert admitted_peers(policy)["metrics"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}, {"podSelector": {}}]


# --- service-account tokens, Services, file systems ----------------------------------------------------


@pytest.mark.parametrize("scenario", SERVER_SCENARIOS, ids=lambda s: s.name)
def test_no_pod_and_no_service_account_mounts_an_api_token(scenario, default_renders):
    from tests.harness.policy import pod_specs

    objects = default_renders[scenario.name]
    accounts = {o["metadata"]["name"]: o.get("automountServiceAccountToken") for o in objects
                if o["kind"] == "ServiceAccount" and o["metadata"]["name"] not in TOKEN_HOLDERS}
    assert accounts and set(accounts.values()) == {False}, accounts
    pods = {pod: spec.get("automountServiceAccountToken") for pod, spec in pod_specs(objects) if spec.get("serviceAccountName") not in TOKEN_HOLDERS}
    assert workloads(objects) and [o for o in objects if o["kind"] == "Pod"] and set(pods.values()) == {False}, pods


@pytest.mark.parametrize("scenario", SERVER_SCENARIOS, ids=lambda s: s.name)
def test_services_expose_inference_ports_and_keep_metrics_in_the_cluster(scenario, default_renders):
    values = server_values(scenario)
    ports = values["service"]["ports"]
    services = {o["metadata"]["name"]: o for o in default_renders[scenario.name] if o["kind"] == "Service"}
    inference = services.pop(f"{RELEASE}-server" if scenario.chart == "triton-stack" else f"{RELEASE}-triton-server")
    assert inference["spec"]["type"] == values["service"]["type"]
    assert inference["spec"]["ports"] == [
        {"name": "http", "port": ports["http"], "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
        {"name": "grpc", "port": ports["grpc"], "targetPort": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
    ]
    if values["service"]["grpcHeadless"]["enabled"]:
        headless = services.pop(f"{inference['metadata']['name']}-grpc-headless")
        assert headless["spec"]["clusterIP"] == "None" and [p["name"] for p in headless["spec"]["ports"]] == ["grpc"]
    (metrics,) = services.values()
    assert metrics["spec"]["type"] == "ClusterIP"
    assert metrics["spec"]["ports"] == [{"name": "metrics", "port": ports["metrics"], "targetPort": "metrics", "protocol": "TCP", "appProtocol": "http"}]


@pytest.mark.parametrize("scenario", SERVER_SCENARIOS, ids=lambda s: s.name)
def test_every_container_has_a_read_only_root_filesystem(scenario, default_renders):
    from tests.harness.policy import pod_specs

    containers = {
        f"{pod}/{c['name']}": c.get("securityContext", {}).get("readOnlyRootFilesystem")
        for pod, spec in pod_specs(default_renders[scenario.name])
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]
    }
    assert containers and set(containers.values()) == {True}, containers


# --- label values --------------------------------------------------------------------------------------


def expected_labels(scenario: Scenario, obj: dict) -> dict:
    """The full label map an object must carry (its pod template's, for a Deployment), by value."""
    if named_subchart(obj):
        subchart = named_subchart(obj)
        chart, name, component = chart_yaml(subchart), server_chart_name(scenario, subchart), NAMED_SUBCHARTS[subchart]
    elif obj["kind"] in GUARDRAIL_KINDS:
        chart, name, component = chart_yaml("triton-stack"), "triton-stack", "guardrails"
    elif obj["kind"] in ROUTING_KINDS:
        chart, name, component = chart_yaml("triton-routing"), server_chart_name(scenario, "triton-routing"), "routing"
    else:
        chart, name = chart_yaml("triton-server"), server_chart_name(scenario)
        component = "helm-test" if obj["kind"] == "Pod" else "server"
    labels = {
        **selector_labels(name, component),
        "app.kubernetes.io/version": chart["appVersion"],
        "app.kubernetes.io/part-of": "triton-stack",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": f"{name}-{chart['version']}",
    }
    if obj["kind"] == "Deployment":
        labels["triton-stack.io/track"] = track_of(obj)
    if obj["kind"] == "Service" and obj["metadata"]["name"].endswith("-metrics"):
        labels["triton-stack.io/metrics"] = "true"
    if named_subchart(obj) == "triton-monitoring":
        # What the monitoring values add for the Prometheus selectors and the Grafana dashboard sidecar.
        monitoring = merged(yaml.safe_load((helm.CHARTS_DIR / "triton-monitoring" / "values.yaml").read_text()),
                            effective_values(scenario).get("monitoring") or {})
        extra = {"ServiceMonitor": monitoring["serviceMonitor"]["labels"], "PrometheusRule": monitoring["prometheusRule"]["labels"],
                 "ConfigMap": {monitoring["dashboards"]["sidecarLabel"]: str(monitoring["dashboards"]["sidecarLabelValue"])}}
        labels.update(extra.get(obj["kind"]) or {})
    if named_subchart(obj) == "triton-logging" and obj["kind"] == "Namespace":
        # Fluentd's own namespace (logging.namespace.create): the Pod Security exemption hostPath needs, and the
        # restricted level still audited and warned about.
        labels.update({"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/audit": "restricted",
                       "pod-security.kubernetes.io/warn": "restricted"})
    return labels


@pytest.mark.parametrize("scenario", SERVER_SCENARIOS, ids=lambda s: s.name)
def test_every_label_has_its_value(scenario, default_renders):
    wrong = {}
    for obj in default_renders[scenario.name]:
        want = expected_labels(scenario, obj)
        have = {"metadata": obj["metadata"].get("labels")}
        if obj["kind"] == "Deployment":
            have["template"] = obj["spec"]["template"]["metadata"]["labels"]
            have["selector"] = obj["spec"]["selector"]["matchLabels"]
            want = {"metadata": want, "template": want, "selector": {**selector_labels(server_chart_name(scenario), "server"), "triton-stack.io/track": track_of(obj)}}
        else:
            want = {"metadata": want}
        if have != want:
            wrong[f"{obj['kind']}/{obj['metadata']['name']}"] = (have, want)
    assert wrong == {}
