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
