"""gRPC spreads over replicas without a mesh: client-side round_robin over every address behind one name.

The chart's headless Service (`server.service.grpcHeadless.enabled`) makes cluster DNS return every ready pod.
Here two real tritonservers, each started from the rendered pod, stand for two pods, and an `ipv4:` target
with both addresses stands for that DNS answer (what gRPC's resolver hands its load-balancing policy either
way). A `tritonclient.grpc` client with the `round_robin` policy must raise both servers'
`nv_inference_request_success`; with gRPC's default `pick_first` one server takes every call, which is what
a client sees behind a ClusterIP Service.
"""

from __future__ import annotations

from contextlib import closing

import numpy as np
import pytest
import tritonclient.grpc as grpc_client

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.triton_local import LOOPBACK, find_triton_pod
from tests.local.conftest import settled

pytestmark = pytest.mark.local

MODEL = "image_classifier_nobatch"
CALLS = 40
# round_robin alternates once both connections are up; the first calls may all go to whichever came up first.
FAIR_SHARE_AT_LEAST = 10


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory, launch_rendered):
    """Two tritonservers from the rendered values/local.yaml pod with the headless gRPC Service on."""
    objects = helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], {"server": {"service": {"grpcHeadless": {"enabled": True}}}},
                          kube_version=KUBE_HIGHEST)
    assert [o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None"], "no headless Service rendered"
    pod = find_triton_pod(objects)
    replicas = [launch_rendered(pod, tmp_path_factory.mktemp(f"replica-{index}")) for index in range(2)]
    try:
        for replica in replicas:
            replica.server.wait_ready()
        yield [replica.server for replica in replicas]
    finally:
        for replica in replicas:
            replica.server.stop()


def successes(server) -> float:
    return sum(sample.value for sample in server.scrape_metrics()
               if sample.name == "nv_inference_request_success" and sample.labels.get("model") == MODEL)


def send_calls(servers, channel_args) -> list[float]:
    """CALLS inferences through one client over one channel to both addresses; each server's count of them."""
    before = [settled(lambda s=server: successes(s)) for server in servers]
    target = "ipv4:" + ",".join(f"{LOOPBACK}:{server.grpc_port}" for server in servers)
    image = np.zeros((1, 3, 32, 32), dtype=np.float32)
    with closing(grpc_client.InferenceServerClient(target, channel_args=channel_args)) as client:
        for _ in range(CALLS):
            request = grpc_client.InferInput("IMAGE", list(image.shape), "FP32")
            request.set_data_from_numpy(image)
            client.infer(MODEL, [request], client_timeout=10)
    return [settled(lambda s=server: successes(s)) - count for server, count in zip(servers, before)]


def test_round_robin_spreads_calls_over_both_servers(two_replicas):
    counts = send_calls(two_replicas, [("grpc.lb_policy_name", "round_robin")])
    print(f"round_robin: {CALLS} calls -> {counts}")
    assert sum(counts) == CALLS
    assert min(counts) >= FAIR_SHARE_AT_LEAST


def test_pick_first_sends_every_call_to_one_server(two_replicas):
    # The negative pair: gRPC's default policy keeps one connection, as behind a ClusterIP Service.
    counts = send_calls(two_replicas, [("grpc.lb_policy_name", "pick_first")])
    print(f"pick_first: {CALLS} calls -> {counts}")
    assert sorted(counts) == [0, CALLS]
