"""The monitoring chart's rules run for real: a loopback Prometheus (Debian's 2.42) loads the rendered PrometheusRule
and scrapes the real local Triton started from the rendered values/local.yaml pod, with the scrape config the
rendered ServiceMonitor stands for (its interval, timeout and relabelings, the target labels prometheus-operator
adds). Induced failures (a model that raises on bad input) make the fast burn-rate alert go pending, then firing;
every recording rule whose inputs exist here returns a value, and the test prints them.

Shortened for a test of seconds: scraped and evaluated every second, and the fast burn alert's `for` set to 5 s
through its value (prometheusRule.alerts.*.for); the rule bodies are the chart's.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as http_client

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import monitoring, prometheus_local
from tests.harness import render as helm
from tests.harness.triton_local import TRITON_METRICS_FOR_MONITORING, find_triton_pod, launch_triton
from tests.local.conftest import open_client

pytestmark = pytest.mark.local

FAILING_REPOSITORY = Path(__file__).parent / "failing_repository"
ALERT = "TritonModelErrorBudgetBurnFast"
ALERT_FOR_SECONDS = 5
VALUES = {"monitoring": {
    "enabled": True,
    "serviceMonitor": {"interval": "1s", "scrapeTimeout": "1s"},
    "prometheusRule": {"alerts": {ALERT: {"for": f"{ALERT_FOR_SECONDS}s"}}},
}}
POD_SUFFIX = "-7d9f8c6b5-x2x4z"  # <deployment>-<replicaset hash>-<pod hash>
REQUESTS_PER_BURST = 40
STATE_TIMEOUT_SECONDS = 40
# Recording rules whose inputs a single CPU Triton on loopback cannot produce, and where they are proven instead.
NOT_HERE = {
    "triton:workload_mesh_failure_ratio": "needs Istio's istio_requests_total (promtool cases)",
    "triton:gpu_memory_utilization": "needs a GPU (promtool cases and the H100 capture)",
    "triton:pod_restarts": "needs kube-state-metrics (promtool cases)",
    "triton:pod_crash_looping": "needs kube-state-metrics (promtool cases, on the kubelet's real backoff)",
    "triton:workload_desired_replicas": "needs kube-state-metrics (promtool cases)",
    "triton:pod_readiness_changes": "needs kube-state-metrics (promtool cases)",
    "triton:autoscaler_": "needs kube-state-metrics and an autoscaler (promtool cases)",
}


def not_here(name: str) -> str | None:
    return next((why for prefix, why in NOT_HERE.items() if name.startswith(prefix)), None)


class Live:
    def __init__(self, prometheus, server, objects):
        self.prometheus = prometheus
        self.server = server
        self.objects = objects

    def alert_state(self) -> str:
        (rule,) = [r for r in self.prometheus.rules() if r.get("name") == ALERT]
        return rule["state"]

    def wait_for_state(self, state: str) -> float:
        """Seconds until the alert reaches `state`; bounded."""
        started = time.monotonic()
        while time.monotonic() - started < STATE_TIMEOUT_SECONDS:
            if self.alert_state() == state:
                return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError(f"{ALERT} not {state} after {STATE_TIMEOUT_SECONDS}s (now {self.alert_state()}); {self.prometheus.targets_health()}")


def picky_request(values: np.ndarray):
    request = http_client.InferInput("X", list(values.shape), "FP32")
    request.set_data_from_numpy(values.astype(np.float32))
    return request


def send(server, model: str, inputs, count: int) -> tuple[int, int]:
    """count requests; returns (answered, refused with an error)."""
    ok = failed = 0
    with open_client(server.http_address, "http") as client:
        for _ in range(count):
            try:
                client.infer(model, inputs)
                ok += 1
            except Exception:  # tritonclient raises InferenceServerException for an HTTP error
                failed += 1
    return ok, failed


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    objects = helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], VALUES, kube_version=KUBE_HIGHEST)
    pod = find_triton_pod(objects)
    work = tmp_path_factory.mktemp("monitoring-live")
    # models/ as values/local.yaml's claim holds it, and the test model that raises (copies: the python backend
    # writes __pycache__ beside model.py).
    repository = work / "models"
    from tests.harness.triton_local import prepare_local_model_repository

    prepare_local_model_repository(repository)
    shutil.copytree(FAILING_REPOSITORY / "picky", repository / "picky")
    server = launch_triton(pod.container, work_dir=work / "triton", path_mapping={"/models": repository})
    deployment = find(objects, "Deployment")
    scrape = monitoring.scrape_config_for(
        find(objects, "ServiceMonitor"), f"127.0.0.1:{server.metrics_port}",
        monitoring.Pod(name=deployment["metadata"]["name"] + POD_SUFFIX, namespace=helm.DEFAULT_NAMESPACE,
                       labels=deployment["spec"]["template"]["metadata"]["labels"], service=find(objects, "Service", "-metrics")["metadata"]["name"]),
    )
    rules = monitoring.write_rule_file(objects, work / "rules.yaml")
    prometheus = prometheus_local.PrometheusServer(work / "prometheus", rule_files=[rules], scrape_configs=[scrape])
    try:
        server.wait_ready()
        prometheus.start()
        yield Live(prometheus, server, objects)
    finally:
        prometheus.stop()
        server.stop()


@pytest.fixture(scope="module")
def good_traffic(live):
    """Answered requests only, to both kinds of model; the scrape that sees them has landed."""
    live.prometheus.wait_for_samples('up{job="triton-server-metrics"} == 1')
    image = np.zeros((1, 3, 32, 32), dtype=np.float32)
    request = http_client.InferInput("IMAGE", list(image.shape), "FP32")
    request.set_data_from_numpy(image)
    assert send(live.server, "image_classifier", [request], REQUESTS_PER_BURST) == (REQUESTS_PER_BURST, 0)
    assert send(live.server, "picky", [picky_request(np.ones((1, 4)))], REQUESTS_PER_BURST) == (REQUESTS_PER_BURST, 0)
    # Rule groups are evaluated independently: wait until the last ones have seen the requests too.
    for query in ('triton:model_requests:rate5m{model="picky"} > 0', 'triton:model_failure_ratio:rate3d{model="picky"}',
                  'triton:model_track_requests:rate5m{model="picky"} > 0', 'triton:pod_pending_requests:avg5m{model="picky"}'):
        live.prometheus.wait_for_samples(query)
    live.prometheus.wait_for_samples('triton:model_request_latency_seconds:p95{model="picky"}')
    return live


def test_series_carry_the_labels_the_servicemonitor_gives(good_traffic):
    (sample,) = good_traffic.prometheus.query('nv_inference_request_success{model="picky"}')
    labels = sample.labels
    assert (labels["namespace"], labels["job"], labels["service"], labels["endpoint"], labels["track"]) == (
        helm.DEFAULT_NAMESPACE, "triton-server-metrics", "triton-server-metrics", "metrics", "stable")
    assert labels["pod"].startswith("triton-server-")


def test_alert_is_quiet_while_every_request_is_answered(good_traffic):
    # The negative pair of the alert below: the same Prometheus, rules and server, no failure.
    assert good_traffic.alert_state() == "inactive"
    assert good_traffic.prometheus.scalar('triton:model_failure_ratio:rate5m{model="picky"}') == 0.0


def test_a_wrong_input_shape_is_refused_but_counted_nowhere_by_triton(good_traffic):
    # Why the failure alerts also read the mesh (FIELD-NOTES): a 400 for a wrong shape moves no Triton counter.
    before = good_traffic.prometheus.scalar('sum(nv_inference_request_failure{model="picky"}) + sum(nv_inference_request_success{model="picky"})')
    ok, failed = send(good_traffic.server, "picky", [picky_request(np.ones((1, 5)))], 10)
    assert (ok, failed) == (0, 10)
    time.sleep(2.5)  # two scrapes
    after = good_traffic.prometheus.scalar('sum(nv_inference_request_failure{model="picky"}) + sum(nv_inference_request_success{model="picky"})')
    assert after == before


def test_every_recording_rule_returns_a_value(good_traffic):
    recorded = sorted(monitoring.recording_rules(good_traffic.objects))
    missing, skipped = [], {}
    print()
    for name in recorded:
        why = not_here(name)
        samples = good_traffic.prometheus.query(name)
        if why:
            skipped[name] = why
            assert samples == [], f"{name}: expected no input here ({why}), got {samples}"
            continue
        if not samples or not all(prometheus_local.is_number(s.value) for s in samples):
            missing.append(name)
        for sample in samples:
            shown = {k: v for k, v in sample.labels.items() if k not in ("__name__", "namespace", "job")}
            print(f"  {name}{shown} = {sample.value:.6g}")
    for name, why in skipped.items():
        print(f"  {name}: not here, {why}")
    assert missing == []
    assert len(recorded) - len(skipped) >= 20


def test_bad_inputs_make_the_failure_ratio_alert_pend_then_fire(good_traffic):
    live = good_traffic
    ok, failed = send(live.server, "picky", [picky_request(-np.ones((1, 4)))], REQUESTS_PER_BURST)
    assert (ok, failed) == (0, REQUESTS_PER_BURST)
    failures = live.prometheus.wait_for_samples('nv_inference_request_failure{model="picky", reason="BACKEND"} > 0')
    print(f"\nBACKEND failures scraped: {failures[0].value:.0f}")
    pending_after = live.wait_for_state("pending")
    # Rule groups are evaluated independently: the by-reason group may see the failures an evaluation later.
    live.prometheus.wait_for_samples('triton:model_failure_ratio_by_reason:rate5m{model="picky", reason="BACKEND"} > 0')
    ratio = live.prometheus.scalar('triton:model_failure_ratio:rate5m{model="picky"}')
    by_reason = {s.labels["reason"]: s.value for s in live.prometheus.query('triton:model_failure_ratio_by_reason:rate5m{model="picky"}')}
    print(f"pending {pending_after:.1f}s after the failures were scraped; failure ratio (5m) {ratio:.3f}, by reason {by_reason}")
    assert ratio > 14.4 * (1 - 0.999)
    assert by_reason["BACKEND"] == pytest.approx(ratio) and by_reason["REJECTED"] == 0.0
    pending_at = time.monotonic()
    firing_after = live.wait_for_state("firing")
    print(f"firing {firing_after:.1f}s after pending (for: {ALERT_FOR_SECONDS}s)")
    assert firing_after >= ALERT_FOR_SECONDS - 1.5  # evaluated every second: the first firing evaluation is at for
    assert time.monotonic() - pending_at < ALERT_FOR_SECONDS + 10
    (alert,) = [a for a in live.prometheus._api("alerts", {})["alerts"] if a["labels"]["alertname"] == ALERT]
    print(f"labels {alert['labels']}\nsummary: {alert['annotations']['summary']}")
    assert alert["labels"]["model"] == "picky" and alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["runbook_url"].endswith(f"/runbooks/{ALERT}.md")
    # The healthy model is not dragged in.
    assert {a["labels"].get("model") for a in live.prometheus._api("alerts", {})["alerts"] if a["labels"]["alertname"] == ALERT} == {"picky"}


def test_the_local_server_exports_every_triton_metric_the_rules_and_dashboards_read(good_traffic):
    # Checked against the H100 capture in the render tier; here against the local server (no GPU: nv_gpu_* are
    # the H100's only).
    exported = {sample.name for sample in good_traffic.server.scrape_metrics()}
    used = set()
    for group in monitoring.rule_groups(good_traffic.objects):
        for rule in group["rules"]:
            used |= {name for name in monitoring.metric_names(str(rule["expr"])) if name.startswith("nv_")}
    gpu_only = {name for name in used if name.startswith("nv_gpu_")}
    assert used - gpu_only <= exported, sorted(used - gpu_only - exported)
    assert used - gpu_only <= set(TRITON_METRICS_FOR_MONITORING), "the local tier's list of what monitoring reads is out of date"
    print(f"\nTriton metrics the rules read, exported by the local server: {sorted(used - gpu_only)}; GPU only: {sorted(gpu_only)}")


def test_every_dashboard_panel_shows_data_here_or_needs_what_is_not_here(good_traffic):
    # The dashboards' queries, Grafana's variables filled in for this release, against the live Prometheus: each
    # returns series, unless it reads only what a CPU Triton on loopback cannot have (kube-state-metrics, a GPU).
    import json

    from tests.render.monitoring.test_scraping_and_dashboards import GRAFANA_VALUES

    empty = {}
    for config_map in (o for o in good_traffic.objects if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]):
        ((key, text),) = config_map["data"].items()
        for title, _, expr in monitoring.panel_queries(json.loads(text)):
            query = monitoring.substitute_grafana_variables(expr, GRAFANA_VALUES)
            names = monitoring.metric_names(query)
            if all(not_here(name) or name.startswith("nv_gpu_") for name in names):
                continue
            if not good_traffic.prometheus.query(query):
                empty[f"{key}: {title}"] = query
    assert empty == {}
