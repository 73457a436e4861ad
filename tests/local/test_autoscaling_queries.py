"""The scaling queries the chart renders, run for real: a loopback Prometheus (Debian's) scraping the real
local Triton started from the rendered pod, and the same queries over the real H100 capture.

Live: one server and one Prometheus for the module; a bounded load ramp (gRPC, concurrency 1 -> 32, every
loop bounded in count and time) shows the reactive queue-time query at 0 when idle, rising with load and
back at 0 after it; the forecast leading the current rate on the ramp; the HPA arithmetic
(ci/scaling/hpa.py) moving the replica count the right way at the first poll; the prometheus-adapter rule
giving the same number as the KEDA trigger; and a lost target reading as no data (so KEDA's fallback holds).

Capture: the 40 scrapes of Triton on an H100 under perf_analyzer load (tests/fixtures/triton-h100/) are
backfilled with promtool and every signal's query is checked against the value computed from the raw counters.
The tests print the numbers.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpc_client
import yaml

from ci.scaling.hpa import Behavior, HorizontalPodAutoscaler, proposal
from tests.conftest import KUBE_HIGHEST, find
from tests.harness import prometheus_local
from tests.harness import render as helm
from tests.harness.triton_local import find_triton_pod

pytestmark = pytest.mark.local

MODEL = "image_classifier"
# Short windows so that a test of seconds sees what a cluster sees in minutes; scraped every second.
WINDOW_SECONDS = 4
LOOKBACK_SECONDS = 12
TARGET_QUEUE_US = 1000  # above the 0.5 ms batching delay a lone request waits, below a saturated queue
POLLING_SECONDS = 4
RAMP = (1, 4, 16, 32)  # concurrency steps
STEP_SECONDS = 4
MAX_REQUESTS_PER_WORKER = 20000
SCALING_VALUES = {
    "mode": "keda", "minReplicas": 1, "maxReplicas": 8, "model": MODEL, "target": TARGET_QUEUE_US, "window": f"{WINDOW_SECONDS}s",
    "keda": {"pollingInterval": POLLING_SECONDS},
    "predictive": {"enabled": True, "horizonSeconds": 8, "lookback": f"{LOOKBACK_SECONDS}s", "maxFactor": 3, "replicaCapacity": 1000},
}


def render_scaling(mode: str) -> list[dict]:
    return helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], {"server": {"autoscaling": {**SCALING_VALUES, "mode": mode}}},
                       kube_version=KUBE_HIGHEST)


@dataclass
class Reading:
    """The rendered queries' values at one instant (None: the query returned no sample)."""

    at: float
    reactive: float | None
    predicted: float | None
    rate: float | None
    adapter: float | None = None


@dataclass
class LiveScaling:
    prometheus: prometheus_local.PrometheusServer
    server: object
    reactive_query: str
    predicted_query: str
    rate_query: str
    adapter_query: str
    behavior: Behavior
    readings: dict[str, Reading] = field(default_factory=dict)

    def read(self, label: str) -> Reading:
        def one(query):
            samples = self.prometheus.query(query, at=now)
            assert len(samples) <= 1, f"{query} returned {len(samples)} series; KEDA needs one"
            return samples[0].value if samples else None

        now = time.time()
        reading = Reading(now, one(self.reactive_query), one(self.predicted_query), one(self.rate_query), one(self.adapter_query))
        self.readings[label] = reading
        print(f"{label:>14}: queue/request {reading.reactive} us, rate {reading.rate}/s, forecast {reading.predicted}/s, adapter {reading.adapter}")
        return reading


def load(address: str, concurrency: int, seconds: float) -> list[threading.Thread]:
    """`concurrency` gRPC clients sending one image after another for `seconds` (each bounded in count)."""
    deadline = time.monotonic() + seconds
    image = np.zeros((1, 3, 32, 32), dtype=np.float32)

    def worker():
        client = grpc_client.InferenceServerClient(address)
        try:
            request = grpc_client.InferInput("IMAGE", list(image.shape), "FP32")
            request.set_data_from_numpy(image)
            for _ in range(MAX_REQUESTS_PER_WORKER):
                if time.monotonic() >= deadline:
                    break
                client.infer(MODEL, [request], client_timeout=10)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    return threads


@pytest.fixture(scope="module")
def live(tmp_path_factory, launch_rendered):
    """The rendered values/local.yaml pod (KEDA mode, short windows) running, a Prometheus scraping it with the
    labels prometheus-operator would give it, and the queries taken from the rendered objects."""
    objects = render_scaling("keda")
    scaled_object = find(objects, "ScaledObject")
    triggers = {trigger["name"]: trigger for trigger in scaled_object["spec"]["triggers"]}
    reactive = triggers["triton-queue-time-per-request-us"]["metadata"]["query"]
    predicted = triggers["predicted-request-rate"]["metadata"]["query"]
    workload = scaled_object["spec"]["scaleTargetRef"]["name"]
    pod_name = f"{workload}-7d9f8c6b5-x2x4z"  # <deployment>-<replicaset hash>-<pod hash>, as the selector expects
    adapter_rule = yaml.safe_load(find(render_scaling("hpa"), "ConfigMap", "-prometheus-adapter")["data"]["values.yaml"])["rules"]["custom"][0]
    # What prometheus-adapter sends for one pod of the HPA's target: its matchers and its grouping.
    adapter = adapter_rule["metricsQuery"].replace("<<.LabelMatchers>>", f'namespace="{helm.DEFAULT_NAMESPACE}",pod="{pod_name}"').replace("<<.GroupBy>>", "pod")
    rate = predicted.split("scalar(", 1)[1].rsplit(") * ", 1)[0]

    launched = launch_rendered(find_triton_pod(objects), tmp_path_factory.mktemp("scaling-triton"))
    prometheus = prometheus_local.PrometheusServer(
        tmp_path_factory.mktemp("scaling-prometheus"),
        targets=[prometheus_local.ScrapeTarget(launched.server.metrics_url.split("//")[1].split("/")[0],
                                               {"namespace": helm.DEFAULT_NAMESPACE, "pod": pod_name})],
    )
    try:
        launched.server.wait_ready()
        prometheus.start()
        yield LiveScaling(prometheus, launched.server, reactive, predicted, rate, adapter,
                          Behavior.from_spec(scaled_object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]))
    finally:
        prometheus.stop()
        launched.server.stop()


@pytest.fixture(scope="module")
def ramp(live):
    """Idle for the forecast's lookback, a load ramp, idle again, then the target lost: readings at each point."""
    live.prometheus.wait_for_samples(f'nv_inference_request_success{{model="{MODEL}"}}')
    time.sleep(LOOKBACK_SECONDS + 1)
    live.read("idle")
    threads = []
    for step, concurrency in enumerate(RAMP):
        threads += load(live.server.grpc_address, concurrency, STEP_SECONDS * (len(RAMP) - step))
        time.sleep(STEP_SECONDS)
        live.read(f"ramp c={concurrency}")
    for thread in threads:
        thread.join(timeout=30)
    time.sleep(WINDOW_SECONDS + 2)
    live.read("idle after")
    return live


def test_every_query_returns_a_number_at_idle_not_nan_or_nothing(ramp):
    idle = ramp.readings["idle"]
    assert (idle.reactive, idle.predicted, idle.rate, idle.adapter) == (0.0, 0.0, 0.0, 0.0)


def test_reactive_signal_rises_with_load_and_falls_back_at_idle(ramp):
    values = [ramp.readings[f"ramp c={c}"].reactive for c in RAMP]
    assert all(value is not None and value > 0 for value in values)
    assert values[-1] > values[0], f"queue time per request did not rise from c={RAMP[0]} to c={RAMP[-1]}: {values}"
    assert values[-1] > TARGET_QUEUE_US, "the top of the ramp must be above the target, or nothing would scale"
    assert ramp.readings["idle after"].reactive == 0.0


def test_adapter_rule_gives_the_same_number_as_the_keda_trigger(ramp):
    for label in ("idle", *(f"ramp c={c}" for c in RAMP), "idle after"):
        reading = ramp.readings[label]
        assert reading.adapter == pytest.approx(reading.reactive, rel=1e-9), label


def test_forecast_leads_the_current_rate_on_the_ramp_within_its_clamp(ramp):
    top = ramp.readings[f"ramp c={RAMP[-2]}"]
    assert top.predicted is not None and top.rate is not None
    assert top.predicted > top.rate, f"the forecast ({top.predicted}/s) does not lead the rate ({top.rate}/s) on a ramp"
    for concurrency in RAMP:
        reading = ramp.readings[f"ramp c={concurrency}"]
        if reading.predicted is not None:
            assert reading.predicted <= SCALING_VALUES["predictive"]["maxFactor"] * reading.rate + 1e-9


def test_replica_count_moves_the_right_way_at_the_first_poll(ramp):
    # The HPA KEDA creates, polled with the rendered behavior: reactive (Value) and forecast (AverageValue) metrics.
    scaler = HorizontalPodAutoscaler(1, SCALING_VALUES["maxReplicas"], ramp.behavior)
    capacity = SCALING_VALUES["predictive"]["replicaCapacity"]

    def metrics(reading):
        return [(reading.reactive, TARGET_QUEUE_US, "Value"), (reading.predicted or 0.0, capacity, "AverageValue")]

    idle, top, after = ramp.readings["idle"], ramp.readings[f"ramp c={RAMP[-1]}"], ramp.readings["idle after"]
    current = scaler.desired_replicas(idle.at, 1, metrics(idle))
    assert current == 1
    current = scaler.desired_replicas(top.at, current, metrics(top))
    print(f"desired replicas: idle 1 -> loaded {current}")
    assert current > 1, "one poll under load did not scale up"
    # Load gone: the raw recommendation falls at once; the scale-down stabilization window holds the count.
    raw = max(proposal(current, value, target, kind) for value, target, kind in metrics(after))
    held = scaler.desired_replicas(after.at, current, metrics(after))
    print(f"after the load: raw recommendation {raw}, held at {held} for {ramp.behavior.scale_down.stabilization_window_seconds}s")
    assert raw < current and held == current


def test_a_lost_target_reads_as_no_data_so_the_fallback_holds(ramp):
    ramp.server.stop()

    def no_data(query):
        return all(math.isnan(sample.value) for sample in ramp.prometheus.query(query))  # [] or NaN only

    # The forecast sums every model's rate while the queue signal reads one model: a server shutting down unloads
    # models one by one, so the two go silent a few scrapes apart. Wait (bounded) for both, then read both.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (no_data(ramp.reactive_query) and no_data(ramp.predicted_query)):
        time.sleep(0.5)
    # No series (not 0): KEDA with ignoreNullValues "false" reports an error, and its fallback keeps the count.
    assert ramp.prometheus.query(ramp.reactive_query) == []
    assert no_data(ramp.predicted_query), "the forecast still reads a number with its target gone (a NaN is also an error to KEDA)"


# --- the real H100 capture --------------------------------------------------------------------------------

CAPTURE = helm.REPO_ROOT / "tests" / "fixtures" / "triton-h100" / "metrics-series-2s.prom"
H100_MODEL = "burn"
H100_WINDOW_SECONDS = 10


@pytest.fixture(scope="module")
def h100(tmp_path_factory):
    """The capture backfilled into a TSDB, with the labels a pod of the rendered Deployment would have."""
    samples = prometheus_local.read_capture(CAPTURE)
    workload = find(render_scaling("keda"), "ScaledObject")["spec"]["scaleTargetRef"]["name"]
    labels = {"namespace": helm.DEFAULT_NAMESPACE, "pod": f"{workload}-5f7d8c9b4-h100x"}
    work = tmp_path_factory.mktemp("h100")
    storage = prometheus_local.backfill(prometheus_local.to_openmetrics(samples, labels), work / "backfill")
    with prometheus_local.PrometheusServer(work / "prometheus", storage=storage) as prometheus:
        yield prometheus, samples


def capture_queries(signal: str) -> str:
    values = {**SCALING_VALUES, "signal": signal, "model": H100_MODEL, "window": f"{H100_WINDOW_SECONDS}s", "target": 0.5}
    objects = helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], {"server": {"gpu": {"count": 1}, "autoscaling": values}},
                          kube_version=KUBE_HIGHEST)
    return find(objects, "ScaledObject")["spec"]["triggers"][0]["metadata"]["query"]


def counter_rate(samples, name: str, at_ms: int, window_seconds: int) -> float:
    """rate(name[window]) at `at_ms` for the capture's model, computed from the raw samples the way Prometheus
    2.42 does (promql/functions.go extrapolatedRate: the increase over the samples inside the range, extrapolated
    to the range's edges by at most 1.1 sample intervals, and not below zero for a counter)."""
    points = sorted((s.timestamp_ms, s.value) for s in samples
                    if s.name == name and s.labels.get("model") == H100_MODEL and at_ms - window_seconds * 1000 <= s.timestamp_ms <= at_ms)
    (first_t, first_v), (last_t, last_v) = points[0], points[-1]
    increase = last_v - first_v  # the capture has no counter resets
    sampled = (last_t - first_t) / 1000
    to_start, to_end = (first_t - (at_ms - window_seconds * 1000)) / 1000, (at_ms - last_t) / 1000
    average = sampled / (len(points) - 1)
    if increase > 0 and first_v >= 0:
        to_start = min(to_start, sampled * (first_v / increase))
    threshold = average * 1.1
    interval = sampled + (to_start if to_start < threshold else average / 2) + (to_end if to_end < threshold else average / 2)
    return increase * (interval / sampled) / window_seconds


@pytest.mark.parametrize("signal", ["queueTimePerRequest", "queueComputeRatio", "pendingRequestsPerReplica", "gpuUtilization"])
def test_each_signal_over_the_h100_capture_returns_what_the_counters_say(h100, signal):
    prometheus, samples = h100
    query = capture_queries(signal)
    scrapes = sorted({s.timestamp_ms for s in samples})
    print(f"\n{signal}: {query}")
    compared = 0
    for index in range(len(scrapes)):
        at_ms = scrapes[index] + 1000  # between scrapes: no sample sits on a range boundary
        inside = [ms for ms in scrapes if at_ms - H100_WINDOW_SECONDS * 1000 <= ms <= at_ms]
        result = prometheus.query(query, at=at_ms / 1000)
        if signal in ("queueTimePerRequest", "queueComputeRatio"):
            if len(inside) < 2:
                continue
            numerator = counter_rate(samples, "nv_inference_queue_duration_us", at_ms, H100_WINDOW_SECONDS)
            name = "nv_inference_request_success" if signal == "queueTimePerRequest" else "nv_inference_compute_infer_duration_us"
            expected = numerator / max(counter_rate(samples, name, at_ms, H100_WINDOW_SECONDS), 1e-9)
        else:
            series = "nv_inference_pending_request_count" if signal == "pendingRequestsPerReplica" else "nv_gpu_utilization"
            latest = [s.value for s in samples if s.name == series and s.timestamp_ms == scrapes[index]
                      and (signal == "gpuUtilization" or s.labels.get("model") == H100_MODEL)]
            expected = sum(latest) / (len(latest) if signal == "gpuUtilization" else 1)
        (sample,) = result
        print(f"  t+{(scrapes[index] - scrapes[0]) / 1000:5.1f}s  expected {expected:12.3f}  prometheus {sample.value:12.3f}")
        assert sample.value == pytest.approx(expected, rel=1e-9, abs=1e-9)
        compared += 1
    assert compared >= 30


def test_queue_time_per_request_follows_concurrency_on_the_h100(h100):
    # Concurrency 1, then 8, then 32 against a saturated GPU: the queue signal climbs with each step and is 0
    # when the load stops, while GPU utilisation sits at ~1 from the first step (it cannot tell 1 from 32).
    prometheus, samples = h100
    scrapes = sorted({s.timestamp_ms for s in samples})
    reactive, gpu = capture_queries("queueTimePerRequest"), capture_queries("gpuUtilization")
    values = [(prometheus.query(reactive, at=(ms + 1000) / 1000) or [None])[0] for ms in scrapes]
    queue = [sample.value for sample in values if sample is not None]
    gpu_values = [prometheus.query(gpu, at=(ms + 1000) / 1000)[0].value for ms in scrapes]
    print(f"\nqueue time per request (us): {[round(v) for v in queue]}\nGPU utilisation: {gpu_values}")
    concurrency_1, concurrency_32 = max(queue[:8]), max(queue)
    assert concurrency_1 < 1000 < 50000 < concurrency_32
    assert queue[-1] == 0.0
    assert max(gpu_values[:12]) > 0.9
