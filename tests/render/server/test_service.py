"""Services: inference ports with appProtocol on the main Service, metrics on a ClusterIP-only one."""

import pytest

from tests.conftest import find
from tests.render.server.conftest import rejected_paths, render_server

pytestmark = pytest.mark.render


def test_inference_service_has_named_ports_with_app_protocol():
    service = find(render_server(), "Service", "triton-server")
    ports = {p["name"]: (p["port"], p["targetPort"], p["appProtocol"]) for p in service["spec"]["ports"]}
    assert ports == {"http": (8000, "http", "http"), "grpc": (8001, "grpc", "kubernetes.io/h2c")}


def test_metrics_are_never_on_an_externally_exposed_service():
    objects = render_server({"service": {"type": "LoadBalancer"}, "networkPolicy": {"inferenceFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}})
    inference = find(objects, "Service", "triton-server")
    metrics = find(objects, "Service", "-metrics")
    assert inference["spec"]["type"] == "LoadBalancer"
    assert "metrics" not in {p["name"] for p in inference["spec"]["ports"]}
    assert metrics["spec"]["type"] == "ClusterIP"


def test_services_select_every_track():
    for service in (o for o in render_server() if o["kind"] == "Service"):
        assert "triton-stack.io/track" not in service["spec"]["selector"]


def test_unknown_service_type_is_rejected():
    assert rejected_paths({"service": {"type": "ExternalName"}}) == {"service.type"}


class TestGrpcHeadless:
    def test_headless_service_serves_only_grpc_from_ready_pods_when_enabled(self):
        objects = render_server({"service": {"grpcHeadless": {"enabled": True}}})
        headless = find(objects, "Service", "-grpc-headless")
        inference = find(objects, "Service", "triton-server")
        assert headless["metadata"]["name"] == "triton-triton-server-grpc-headless"
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["publishNotReadyAddresses"] is False
        assert [(p["name"], p["port"], p["targetPort"], p["appProtocol"]) for p in headless["spec"]["ports"]] == [("grpc", 8001, "grpc", "kubernetes.io/h2c")]
        assert headless["spec"]["selector"] == inference["spec"]["selector"]

    def test_no_headless_service_by_default(self):
        assert not [o for o in render_server() if o["metadata"]["name"].endswith("-grpc-headless")]

    def test_name_stays_within_63_characters(self):
        headless = find(render_server({"fullnameOverride": "x" * 63, "service": {"grpcHeadless": {"enabled": True}}}), "Service", "-grpc-headless")
        assert headless["metadata"]["name"] == "x" * 49 + "-grpc-headless"
