"""The selector module itself, on small hand-written renders: each kind it knows, what it selects, and the
cases where it must report that a selector selects nothing. Kinds the charts do not render yet
(ServiceMonitor, DestinationRule, HPA, ScaledObject) are proven here before a chart relies on them.
"""

import pytest

from tests.harness import policy, selectors

pytestmark = pytest.mark.render

NS = "inference"
SERVER = {"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": "triton", "app.kubernetes.io/component": "server"}


def deployment(name, labels, replicas=2, **spec):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "strategy": {"type": "Recreate"},
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }


def service(name, selector, labels=None):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
            "spec": {"selector": selector, "ports": [{"name": "metrics", "port": 8002}]}}


STABLE = deployment("server", {**SERVER, "triton-stack.io/track": "stable"})
CANARY = deployment("server-canary", {**SERVER, "triton-stack.io/track": "canary"})
METRICS = service("server-metrics", SERVER, {**SERVER, "triton-stack.io/metrics": "true"})


def selected(objects, kind):
    return {s.reference.field: s.selected for s in selectors.selections(objects) if s.reference.kind == kind}


class TestLabelSelectors:
    @pytest.mark.parametrize(
        ("selector", "matches"),
        [
            ({}, True),
            (None, False),
            ({"matchLabels": {"a": "1"}}, True),
            ({"matchLabels": {"a": "2"}}, False),
            ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, True),
            ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]}]}, False),
            ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["2"]}]}, True),
            ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, False),
            ({"matchExpressions": [{"key": "missing", "operator": "NotIn", "values": ["1"]}]}, True),
            ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, True),
            ({"matchExpressions": [{"key": "b", "operator": "Exists"}]}, False),
            ({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}, True),
            ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, False),
            ({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]}]}, False),
        ],
    )
    def test_label_selector_semantics(self, selector, matches):
        assert selectors.matches_label_selector(selector, {"a": "1"}) is matches

    def test_an_unknown_operator_is_refused(self):
        with pytest.raises(ValueError, match="Like"):
            selectors.matches_label_selector({"matchExpressions": [{"key": "a", "operator": "Like"}]}, {"a": "1"})


class TestPodSelectors:
    def test_service_selects_every_track_and_pdb_matches_expressions(self):
        pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "server", "namespace": NS},
               "spec": {"maxUnavailable": 1, "selector": {"matchExpressions": [{"key": "triton-stack.io/track", "operator": "In", "values": ["canary"]}]}}}
        objects = [STABLE, CANARY, METRICS, pdb]
        assert selected(objects, "Service") == {"spec.selector": ["Deployment/server", "Deployment/server-canary"]}
        assert selected(objects, "PodDisruptionBudget") == {"spec.selector": ["Deployment/server-canary"]}

    def test_service_without_selector_and_pods_in_another_namespace_select_nothing(self):
        elsewhere = deployment("server", SERVER)
        elsewhere["metadata"]["namespace"] = "other"
        objects = [elsewhere, service("headless", None), service("server", SERVER)]
        assert selectors.selects_nothing(objects) == [
            "Service/headless spec.selector selects no pods (no selector: the Service manages no endpoints)",
            "Service/server spec.selector selects no pods",
        ]

    def test_network_policy_peers_outside_the_render_are_not_references(self):
        policy_ = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": NS}, "spec": {
            "podSelector": {"matchLabels": SERVER},
            "ingress": [{"from": [
                {"namespaceSelector": {"matchLabels": {"team": "apps"}}},
                {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "client"}}},
                {"ipBlock": {"cidr": "10.0.0.0/8"}},
                {"podSelector": {"matchLabels": {"app": "absent"}}},
            ]}]}}
        assert selected([STABLE, policy_], "NetworkPolicy") == {"spec.podSelector": ["Deployment/server"], "spec.ingress[0].from[3].podSelector": []}

    def test_affinity_and_spread_select_in_the_pods_namespace_and_report_their_owner(self):
        term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "other"}}}
        anywhere = {"topologyKey": "zone", "namespaceSelector": {}, "labelSelector": {"matchLabels": SERVER}}
        spec = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term, anywhere]}},
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": SERVER}}]}
        objects = [deployment("server", SERVER, **spec)]
        found = {s.reference.field: (s.reference.owner, s.reference.namespaces, s.selected) for s in selectors.selections(objects)}
        prefix = "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        assert found[f"{prefix}[0].labelSelector"] == ("Deployment/server", frozenset({NS}), [])
        assert found[f"{prefix}[1].labelSelector"] == ("Deployment/server", None, ["Deployment/server"])
        assert found["spec.template.spec.topologySpreadConstraints[0].labelSelector"] == ("Deployment/server", frozenset({NS}), ["Deployment/server"])


class TestServiceMonitor:
    @staticmethod
    def monitor(selector, namespace_selector=None, namespace="monitoring"):
        spec = {"selector": selector, "endpoints": [{"port": "metrics"}]}
        if namespace_selector is not None:
            spec["namespaceSelector"] = namespace_selector
        return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "triton", "namespace": namespace}, "spec": spec}

    def test_selects_the_metrics_service_in_the_named_namespace(self):
        monitor = self.monitor({"matchLabels": {"triton-stack.io/metrics": "true"}}, {"matchNames": [NS]})
        assert selected([STABLE, METRICS, service("server", SERVER, SERVER), monitor], "ServiceMonitor") == {"spec.selector": ["Service/server-metrics"]}

    def test_selects_in_every_namespace_when_any(self):
        monitor = self.monitor({"matchLabels": {"triton-stack.io/metrics": "true"}}, {"any": True})
        assert selected([METRICS, monitor], "ServiceMonitor") == {"spec.selector": ["Service/server-metrics"]}

    @pytest.mark.parametrize(
        ("selector", "namespace_selector"),
        [
            ({"matchLabels": {"triton-stack.io/metrics": "true"}}, None),  # its own namespace, not the Service's
            ({"matchLabels": {"triton-stack.io/metrics": "yes"}}, {"matchNames": [NS]}),
            ({"matchLabels": {"triton-stack.io/metrics": "true"}}, {"matchNames": ["elsewhere"]}),
        ],
        ids=["own-namespace", "wrong-label-value", "wrong-namespace"],
    )
    def test_selects_nothing_when_label_or_namespace_is_wrong(self, selector, namespace_selector):
        assert selectors.selects_nothing([STABLE, METRICS, self.monitor(selector, namespace_selector)]) == ["ServiceMonitor/triton spec.selector selects no services"]


class TestDestinationRule:
    @staticmethod
    def rule(host, subsets):
        return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "server", "namespace": NS},
                "spec": {"host": host, "subsets": [{"name": name, "labels": labels} for name, labels in subsets]}}

    @pytest.mark.parametrize("host", ["server", f"server.{NS}", f"server.{NS}.svc", f"server.{NS}.svc.cluster.local"])
    def test_each_subset_selects_its_track_of_the_host_service(self, host):
        rule = self.rule(host, [("stable", {"triton-stack.io/track": "stable"}), ("canary", {"triton-stack.io/track": "canary"})])
        assert selected([STABLE, CANARY, service("server", SERVER), rule], "DestinationRule") == {
            "spec.host": ["Service/server"],
            "spec.subsets[0] (stable)": ["Deployment/server"],
            "spec.subsets[1] (canary)": ["Deployment/server-canary"],
        }

    def test_subset_without_pods_and_unknown_host_select_nothing(self):
        objects = [STABLE, service("server", SERVER), self.rule("server", [("canary", {"triton-stack.io/track": "canary"})])]
        assert selectors.selects_nothing(objects) == ["DestinationRule/server spec.subsets[0] (canary) selects no pods"]
        objects = [STABLE, service("server", SERVER), self.rule("triton.other.svc.cluster.local", [("stable", {"triton-stack.io/track": "stable"})])]
        assert selectors.selects_nothing(objects) == [
            "DestinationRule/server spec.host selects no services (host triton.other.svc.cluster.local is no rendered Service)",
            "DestinationRule/server spec.subsets[0] (stable) selects no pods (host triton.other.svc.cluster.local resolves to no Service with a selector)",
        ]


class TestScaleTargets:
    @staticmethod
    def hpa(kind, name, api_version="apps/v1"):
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "server", "namespace": NS},
                "spec": {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name}, "minReplicas": 2, "maxReplicas": 4}}

    @staticmethod
    def scaled_object(ref):
        return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "server", "namespace": NS},
                "spec": {"scaleTargetRef": ref, "minReplicaCount": 2}}

    def test_hpa_and_scaled_object_select_their_workload(self):
        assert selected([STABLE, CANARY, self.hpa("Deployment", "server")], "HorizontalPodAutoscaler") == {"spec.scaleTargetRef": ["Deployment/server"]}
        # KEDA's kind defaults to Deployment
        assert selected([STABLE, self.scaled_object({"name": "server"})], "ScaledObject") == {"spec.scaleTargetRef": ["Deployment/server"]}

    @pytest.mark.parametrize(
        "autoscaler",
        [
            hpa.__func__("Deployment", "serve"),
            hpa.__func__("StatefulSet", "server"),
            hpa.__func__("Deployment", "server", api_version="extensions/v1beta1"),
            scaled_object.__func__({"name": "server", "kind": "StatefulSet"}),
        ],
        ids=["wrong-name", "wrong-kind", "wrong-group", "keda-wrong-kind"],
    )
    def test_a_target_that_is_not_rendered_selects_nothing_and_fails_availability(self, autoscaler):
        workload = {**STABLE, "spec": {k: v for k, v in STABLE["spec"].items() if k != "replicas"}}
        objects = [workload, autoscaler]
        assert selectors.selects_nothing(objects) == [f"{autoscaler['kind']}/server spec.scaleTargetRef selects no workloads"]
        ref = autoscaler["spec"]["scaleTargetRef"]
        assert f"{autoscaler['kind']}/server: scaleTargetRef {ref.get('kind', 'Deployment')}/{ref['name']} is no rendered workload; it scales nothing" in policy.availability_violations(objects)

    def test_availability_reads_the_autoscaler_minimum_of_the_target(self):
        workload = {**STABLE, "spec": {k: v for k, v in STABLE["spec"].items() if k != "replicas"}}
        assert policy.availability_violations([workload, self.hpa("Deployment", "server")]) == []
        assert policy.availability_violations([STABLE, self.hpa("Deployment", "server")]) == ["Deployment/server: sets replicas although an autoscaler owns it"]


class TestAvailability:
    @staticmethod
    def pdb(selector):
        return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "server", "namespace": NS},
                "spec": {"maxUnavailable": 1, "selector": selector}}

    def test_a_pdb_protecting_the_server_passes(self):
        assert policy.availability_violations([STABLE, self.pdb({"matchLabels": SERVER})]) == []

    @pytest.mark.parametrize(
        "selector",
        [
            {"matchLabels": {**SERVER, "app.kubernetes.io/component": "helm-test"}},
            {"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "NotIn", "values": ["server"]}]},
        ],
        ids=["other-component", "expression-excluding-the-server"],
    )
    def test_a_pdb_that_selects_no_workload_is_flagged(self, selector):
        helm_test_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "test", "namespace": NS, "labels": {**SERVER, "app.kubernetes.io/component": "helm-test"}}, "spec": {}}
        assert policy.availability_violations([STABLE, helm_test_pod, self.pdb(selector)]) == [
            "PodDisruptionBudget/server: selects no workload's pods; it protects nothing and a drain may evict every replica"
        ]

    def test_a_pdb_that_blocks_drains_is_flagged(self):
        pdb = self.pdb({"matchLabels": SERVER})
        pdb["spec"] = {"minAvailable": 2, "selector": pdb["spec"]["selector"]}
        assert policy.availability_violations([STABLE, pdb]) == ["PodDisruptionBudget/server: minAvailable 2 >= 2 replicas blocks drains"]


class TestStableSelectors:
    def test_a_selector_reading_version_or_chart_is_flagged_wherever_it_is(self):
        labels = {**SERVER, "app.kubernetes.io/version": "2.51.0"}
        spread = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchExpressions": [{"key": "helm.sh/chart", "operator": "Exists"}]}}
        obj = deployment("server", labels, topologySpreadConstraints=[spread])
        problems = [p for p in policy.label_violations(obj) if "selects by" in p]
        assert problems == [
            "spec.selector selects by app.kubernetes.io/version",
            "spec.template.spec.topologySpreadConstraints[0].labelSelector selects by helm.sh/chart",
        ]

    def test_selectors_of_name_instance_component_and_track_pass(self):
        assert [p for p in policy.label_violations(STABLE) if "selects by" in p] == []
