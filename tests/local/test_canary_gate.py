"""The promotion gate's Triton queries run by a real Prometheus over real Triton servers: the stable track and two
canaries, each a tritonserver started from the rendered Rollout's pod (values/local.yaml with a gated rollout),
scraped with the scrape config the rendered monitoring ServiceMonitor stands for, the pod's track given as Argo
Rollouts gives it (the Rollout's stableMetadata / canaryMetadata labels).

Two releases share the stable server, told apart by namespace as the gate's queries tell them apart:
- gate-pass: the canary runs what stable runs (picky, a test model, behind a 20 ms dynamic-batching delay);
- gate-fail: the canary is misconfigured with a 100 ms delay, and one request in ten it gets is bad input that
  the model raises on (tests/local/failing_repository/picky): Triton counts those as failures.
Before any traffic every query returns nothing (fewer than minRequests): inconclusive, never a pass. After a
window of traffic the gate-pass canary passes both metrics and the gate-fail one fails both; the values agree
with what the clients themselves counted and timed. The gate is shortened for a test of seconds through its
values (promotion.interval 10s, minRequests 20; scraped every second); the queries are the chart's.
The mesh queries of the same gate run under promtool in tests/render/routing/test_gate_queries.py.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as http_client

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import argo_analysis, monitoring, prometheus_local
from tests.harness import render as helm
from tests.harness.triton_local import find_triton_pod, launch_triton
from tests.local.conftest import open_client

pytestmark = pytest.mark.local

PICKY = Path(__file__).parent / "failing_repository" / "picky"
WINDOW_SECONDS = 10
VALUES = {
    "server": {"canary": {"enabled": True, "strategy": "argoRollouts"}},
    "monitoring": {"enabled": True, "serviceMonitor": {"interval": "1s", "scrapeTimeout": "1s"}},
    "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True, "interval": f"{WINDOW_SECONDS}s", "minRequests": 20}},
}
# server -> (dynamic batching delay µs, one bad request in every n (0: none))
SERVERS = {"stable": (20000, 0), "canary-same": (20000, 0), "canary-broken": (100000, 10)}
RELEASES = {"gate-pass": {"stable": "stable", "canary": "canary-same"}, "gate-fail": {"stable": "stable", "canary": "canary-broken"}}
TRAFFIC_SECONDS = WINDOW_SECONDS + 4
MAX_REQUESTS = 5000
POD_HASH = "-6d5f7c9b8-"  # <rollout>-<pod-template-hash>-<pod id>
TRITON_GATE_METRICS = ("triton-failure-ratio", "latency-ratio-vs-stable")


def repository(work: Path, name: str, delay_us: int) -> Path:
    """A model repository holding picky behind a dynamic batcher that waits delay_us for a batch to form: served
    one request at a time, every request waits the whole delay in Triton's queue."""
    root = work / f"models-{name}"
    shutil.copytree(PICKY, root / "picky", ignore=shutil.ignore_patterns("__pycache__"))
    config = root / "picky" / "config.pbtxt"
    config.write_text(config.read_text() + f"\ndynamic_batching {{\n  preferred_batch_size: [ 8 ]\n  max_queue_delay_microseconds: {delay_us}\n}}\n")
    return root


def send_for(server, seconds: float, bad_every: int, tally: dict) -> None:
    """Sequential picky requests for `seconds` (at most MAX_REQUESTS); tallies answered, failed and time taken."""
    good = http_client.InferInput("X", [1, 4], "FP32")
    good.set_data_from_numpy(np.ones((1, 4), dtype=np.float32))
    bad = http_client.InferInput("X", [1, 4], "FP32")
    bad.set_data_from_numpy(-np.ones((1, 4), dtype=np.float32))
    deadline = time.monotonic() + seconds
    with open_client(server.http_address, "http") as client:
        for index in range(MAX_REQUESTS):
            if time.monotonic() > deadline:
                break
            failing = bad_every and index % bad_every == bad_every - 1
            started = time.monotonic()
            try:
                client.infer("picky", [bad if failing else good])
                tally["answered"] += 1
                tally["seconds"] += time.monotonic() - started
            except Exception:  # tritonclient's InferenceServerException for the HTTP 500
                tally["failed"] += 1


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    work = tmp_path_factory.mktemp("canary-gate")
    renders = {namespace: helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], VALUES, kube_version=KUBE_HIGHEST, namespace=namespace)
               for namespace in RELEASES}
    objects = renders["gate-pass"]
    pod = find_triton_pod(objects)
    mount = next(arg.partition("=")[2] for arg in pod.container["args"] if arg.startswith("--model-repository="))
    servers = {name: launch_triton(pod.container, work_dir=work / name, path_mapping={mount: repository(work, name, delay)})
               for name, (delay, _) in SERVERS.items()}
    prometheus = None
    try:
        for server in servers.values():
            server.wait_ready()
        scrape_configs = []
        for namespace, tracks in RELEASES.items():
            release = renders[namespace]
            rollout = find(release, "Rollout")
            canary = rollout["spec"]["strategy"]["canary"]
            track_labels = {"stable": canary["stableMetadata"]["labels"], "canary": canary["canaryMetadata"]["labels"]}
            configs = [monitoring.scrape_config_for(
                find(release, "ServiceMonitor"), f"127.0.0.1:{servers[server].metrics_port}",
                monitoring.Pod(name=f"{rollout['metadata']['name']}{POD_HASH}{track}", namespace=namespace,
                               labels={**rollout["spec"]["template"]["metadata"]["labels"], **track_labels[track]},
                               service=find(release, "Service", "-metrics")["metadata"]["name"]))
                for track, server in tracks.items()]
            # One job per ServiceMonitor, as prometheus-operator makes it: the tracks are two targets of it.
            configs[0]["static_configs"] += configs[1]["static_configs"]
            scrape_configs.append(configs[0])
        prometheus = prometheus_local.PrometheusServer(work / "prometheus", scrape_configs=scrape_configs).start()
        prometheus.wait_for_samples("up == 1", count=4)
        yield prometheus, servers, {namespace: argo_analysis.gate_metrics(release) for namespace, release in renders.items()}
    finally:
        if prometheus:
            prometheus.stop()
        for server in servers.values():
            server.stop()


def measure(prometheus, gates: dict, at: float | None = None) -> dict:
    """{(namespace, metric): (result values, verdict)} for the gate's Triton metrics."""
    out = {}
    for namespace, metrics in gates.items():
        for name in TRITON_GATE_METRICS:
            values = [sample.value for sample in prometheus.query(metrics[name]["query"], at=at)]
            out[(namespace, name)] = (values, argo_analysis.verdict(metrics[name], values))
    return out


@pytest.fixture(scope="module")
def measured(gated):
    prometheus, servers, gates = gated
    time.sleep(3)  # a few scrapes of idle servers
    idle = measure(prometheus, gates)
    tallies = {name: {"answered": 0, "failed": 0, "seconds": 0.0} for name in servers}
    threads = [threading.Thread(target=send_for, args=(servers[name], TRAFFIC_SECONDS, SERVERS[name][1], tallies[name])) for name in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TRAFFIC_SECONDS + 30)
    time.sleep(2.5)  # the last requests scraped
    loaded = measure(prometheus, gates)
    print(f"\nclients: {tallies}\nidle: {idle}\nafter {TRAFFIC_SECONDS}s of traffic: {loaded}")
    return idle, loaded, tallies


def test_without_enough_requests_the_gate_is_inconclusive_never_a_pass(measured):
    idle, _, _ = measured
    assert {key: found for key, found in idle.items()} == {key: ([], argo_analysis.INCONCLUSIVE) for key in idle}


def test_a_canary_that_runs_what_stable_runs_passes(measured):
    _, loaded, tallies = measured
    (failure_ratio,), verdict = loaded[("gate-pass", "triton-failure-ratio")]
    assert (failure_ratio, verdict) == (0.0, argo_analysis.SUCCESSFUL)
    (latency_ratio,), verdict = loaded[("gate-pass", "latency-ratio-vs-stable")]
    assert verdict == argo_analysis.SUCCESSFUL, f"the same configuration measured {latency_ratio:.2f}x stable's time per request"
    assert tallies["canary-same"]["failed"] == 0


def test_a_slower_failing_canary_fails_both_metrics_by_what_its_clients_saw(measured):
    _, loaded, tallies = measured
    (failure_ratio,), verdict = loaded[("gate-fail", "triton-failure-ratio")]
    broken = tallies["canary-broken"]
    client_ratio = broken["failed"] / (broken["failed"] + broken["answered"])
    assert verdict == argo_analysis.FAILED and failure_ratio == pytest.approx(client_ratio, abs=0.04)
    (latency_ratio,), verdict = loaded[("gate-fail", "latency-ratio-vs-stable")]
    client_latency_ratio = (broken["seconds"] / broken["answered"]) / (tallies["stable"]["seconds"] / tallies["stable"]["answered"])
    print(f"latency ratio: Triton's counters {latency_ratio:.2f}, the clients' clocks {client_latency_ratio:.2f}")
    assert verdict == argo_analysis.FAILED and latency_ratio == pytest.approx(client_latency_ratio, rel=0.35)
