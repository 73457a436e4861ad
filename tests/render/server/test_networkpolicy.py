"""NetworkPolicy: inference ports from allowed sources, metrics from the monitoring namespace only."""

import pytest

from tests.conftest import find
from tests.harness import selectors
from tests.harness.policy import admitted_peers as rules_by_port
from tests.render.server.conftest import error_of, render_server

pytestmark = pytest.mark.render


def test_inference_from_the_release_namespace_by_default():
    rules = rules_by_port(find(render_server(), "NetworkPolicy"))
    assert {"podSelector": {}} in rules["http"]
    assert rules["http"] == rules["grpc"]


def test_inference_from_the_listed_sources_only():
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}}
    rules = rules_by_port(find(render_server({"networkPolicy": {"inferenceFrom": [peer]}}), "NetworkPolicy"))
    assert peer in rules["http"]
    assert {"podSelector": {}} not in rules["http"]


def test_metrics_from_the_monitoring_namespace_only():
    rules = rules_by_port(find(render_server({"networkPolicy": {"monitoringNamespace": "observability"}}), "NetworkPolicy"))
    assert rules["metrics"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}]


def test_helm_test_pod_is_admitted_on_the_inference_ports():
    objects = render_server({"networkPolicy": {"inferenceFrom": [{"namespaceSelector": {"matchLabels": {"a": "b"}}}]}})
    peers = {s.reference.field: s.selected for s in selectors.selections(objects) if s.reference.kind == "NetworkPolicy"}
    assert peers == {"spec.podSelector": ["Deployment/triton-triton-server"], "spec.ingress[0].from[1].podSelector": ["Pod/triton-triton-server-test"]}
    ports = find(objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"]
    assert [p["port"] for p in ports] == ["http", "grpc"]


def test_helm_test_pod_is_not_admitted_when_it_is_not_rendered():
    objects = render_server({"helmTest": {"enabled": False}})
    assert rules_by_port(find(objects, "NetworkPolicy"))["http"] == [{"podSelector": {}}]


def test_no_policy_when_disabled():
    assert not [o for o in render_server({"networkPolicy": {"enabled": False}}) if o["kind"] == "NetworkPolicy"]


def test_exposed_service_without_listed_sources_fails():
    message = error_of({"service": {"type": "LoadBalancer"}})
    assert "networkPolicy.inferenceFrom: is empty while service.type is LoadBalancer" in message
