"""The promotion gate's mesh queries run by the real promtool (Debian's prometheus 2.42) over istio_requests_total
series synthesised in promtool's test format: no mesh runs here, so the series are written the way the routing
chart's sidecar PodMonitor would store them (the pod's namespace, its track under promotion.trackLabel, Istio's
standard labels). The Triton queries of the same gate run against live local servers in
tests/local/test_canary_gate.py.

Each regime lasts three minutes of 15 s scrapes and is judged at its end, over the gate's window: healthy (1% of
failures: the boundary, passes), failing (3%, a 400 among them: fails), quiet (fewer requests than minRequests: no
data, so inconclusive under `hold` and a failure under `rollback`, never a pass) and client errors (404s are
the client's, not the canary's: passes). All along, series that must not count are present: the stable track's
failures, the calling sidecars' own reports (reporter="source", the same requests again) and another namespace.
promtool compares each query's value, rounded to 1e-4, with the ratio computed here from the synthesised counts;
the verdict is then Argo's (tests/harness/argo_analysis.py).
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import KUBE_HIGHEST
from tests.harness import argo_analysis, monitoring
from tests.harness import render as helm

pytestmark = pytest.mark.render

SCRAPE_SECONDS = 15
SCRAPES_PER_REGIME = 12  # three minutes: longer than the gate's window (promotion.interval, 2m by default)
MIN_REQUESTS = 100  # promotion.minRequests' default
NAMESPACE = helm.DEFAULT_NAMESPACE
GATED = {"server": {"canary": {"enabled": True, "strategy": "argoRollouts"}}, "monitoring": {"enabled": True},
         "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}}
# Requests per scrape interval by (response code or gRPC status), for the canary, per regime.
HTTP = {"healthy": {"200": 99, "503": 1}, "failing": {"200": 97, "503": 2, "400": 1}, "quiet": {"200": 10}, "client-errors": {"200": 95, "404": 5}}
GRPC = {"healthy": {"0": 99, "14": 1}, "failing": {"0": 97, "14": 2, "4": 1}, "quiet": {"0": 10}, "client-errors": {"0": 95, "5": 5}}
# What counts as the canary failing, as the issue states it: HTTP 5xx and 400 (Triton's answer to a malformed input),
# gRPC statuses other than OK, except those a client causes (NOT_FOUND for an unknown model, here the 404 and 5).
HTTP_FAILED = ("503", "400")
GRPC_FAILED = ("14", "4")
REGIMES = list(HTTP)
EXPECTED = {"healthy": argo_analysis.SUCCESSFUL, "failing": argo_analysis.FAILED, "client-errors": argo_analysis.SUCCESSFUL}


def counter(per_regime: list[int]) -> str:
    """promtool input values: a counter rising by per_regime[k] each scrape during regime k (one leading 0)."""
    values, total = [0], 0
    for step in per_regime:
        for _ in range(SCRAPES_PER_REGIME):
            total += step
            values.append(total)
    return " ".join(str(v) for v in values)


def series(track_label: str) -> list[dict]:
    out = []

    def add(labels: dict, per_regime: list[int]):
        text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        out.append({"series": f"istio_requests_total{{{text}}}", "values": counter(per_regime)})

    for protocol, table in (("http", HTTP), ("grpc", GRPC)):
        codes = sorted({code for regime in table.values() for code in regime})
        for code in codes:
            status = {"response_code": code} if protocol == "http" else {"response_code": "200", "grpc_response_status": code}
            labels = {"namespace": NAMESPACE, track_label: "canary", "reporter": "destination", "request_protocol": protocol, **status}
            add(labels, [table[regime].get(code, 0) for regime in REGIMES])
        failed = {"response_code": "503"} if protocol == "http" else {"response_code": "200", "grpc_response_status": "14"}
        noise = [
            {"namespace": NAMESPACE, track_label: "stable", "reporter": "destination"},           # stable's own failures
            {"namespace": NAMESPACE, track_label: "canary", "reporter": "source"},                # the callers' sidecars
            {"namespace": "another-team", track_label: "canary", "reporter": "destination"},      # another release
        ]
        for labels in noise:
            add({**labels, "request_protocol": protocol, **failed}, [50] * len(REGIMES))
    return out


def expected_ratio(table: dict, regime: str, failed_codes: tuple[str, ...], window_seconds: int, min_requests: int) -> float | None:
    counts = table[regime]
    total = sum(counts.values())
    if total * (window_seconds // SCRAPE_SECONDS) < min_requests:  # the gate's minRequests in its window
        return None
    return round(sum(counts.get(code, 0) for code in failed_codes) / total, 4)


@pytest.fixture(scope="module")
def gate():
    return argo_analysis.gate_metrics(helm.render("triton-stack", values=GATED, kube_version=KUBE_HIGHEST))


@pytest.fixture(scope="module")
def track_label() -> str:
    """The label the rendered sidecar PodMonitor writes the pod's track to: the synthesised series carry it."""
    objects = helm.render("triton-stack", values=GATED, kube_version=KUBE_HIGHEST)
    (endpoint,) = next(o for o in objects if o["kind"] == "PodMonitor")["spec"]["podMetricsEndpoints"]
    (relabeling,) = [r for r in endpoint["relabelings"] if r["sourceLabels"] == ["__meta_kubernetes_pod_label_triton_stack_io_track"]]
    return relabeling["targetLabel"]


def test_the_gate_has_a_mesh_ratio_per_protocol_and_reads_what_the_sidecar_podmonitor_writes(gate, track_label):
    for protocol in ("http", "grpc"):
        query = gate[f"client-failure-ratio-{protocol}"]["query"]
        assert f'{track_label}="canary"' in query and f'namespace="{NAMESPACE}"' in query and 'reporter="destination"' in query


def test_mesh_failure_ratios_pass_fail_and_hold_as_designed(gate, track_label, tmp_path):
    checks, verdicts = [], {}
    for protocol, table, failed in (("http", HTTP, HTTP_FAILED), ("grpc", GRPC, GRPC_FAILED)):
        metric = gate[f"client-failure-ratio-{protocol}"]
        for index, regime in enumerate(REGIMES):
            at = (index + 1) * SCRAPES_PER_REGIME * SCRAPE_SECONDS
            ratio = expected_ratio(table, regime, failed, monitoring.seconds(metric["interval"]), MIN_REQUESTS)
            checks.append({"expr": f"round({metric['query']}, 0.0001)", "eval_time": f"{at}s",
                           "exp_samples": [] if ratio is None else [{"labels": "{}", "value": ratio}]})
            verdicts[(protocol, regime)] = argo_analysis.verdict(metric, [] if ratio is None else [ratio])
    spec = tmp_path / "gate.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": f"{SCRAPE_SECONDS}s", "tests": [
        {"name": "promotion gate, mesh failure ratios", "interval": f"{SCRAPE_SECONDS}s", "input_series": series(track_label),
         "promql_expr_test": checks}]}, sort_keys=False))
    print(monitoring.test_rules(spec))
    print(verdicts)
    for (protocol, regime), found in verdicts.items():
        assert found == EXPECTED.get(regime, argo_analysis.INCONCLUSIVE), f"{protocol} {regime}: {found}"


def test_promtool_refuses_a_wrong_expectation(gate, track_label, tmp_path):
    # The negative pair: the healthy regime claimed at 0 failures is refused, so the comparisons above are real.
    metric = gate["client-failure-ratio-http"]
    spec = tmp_path / "wrong.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [], "tests": [{"interval": f"{SCRAPE_SECONDS}s", "input_series": series(track_label), "promql_expr_test": [
        {"expr": f"round({metric['query']}, 0.0001)", "eval_time": f"{SCRAPES_PER_REGIME * SCRAPE_SECONDS}s", "exp_samples": [{"labels": "{}", "value": 0}]}]}]}))
    with pytest.raises(monitoring.PromtoolError, match=r"exp: \{\} 0E\+00\s+got: \{\} 1E-02"):
        monitoring.test_rules(spec)


def test_no_data_rolls_back_when_asked_and_never_promotes():
    objects = helm.render("triton-stack", values={**GATED, "routing": {**GATED["routing"], "promotion": {"enabled": True, "noData": "rollback"}}},
                          kube_version=KUBE_HIGHEST)
    for name, metric in argo_analysis.gate_metrics(objects).items():
        assert argo_analysis.verdict(metric, []) == argo_analysis.FAILED, name
    for name, metric in argo_analysis.gate_metrics(helm.render("triton-stack", values=GATED, kube_version=KUBE_HIGHEST)).items():
        assert argo_analysis.verdict(metric, []) == argo_analysis.INCONCLUSIVE, name


# --- the gate's Triton queries under promtool: minRequests holds for the canary and, for the latency ratio, stable ---

# Per 15 s scrape, by regime: (successes, failures) of each track. Time per request (µs) by stage, constant.
TRITON_TRAFFIC = {
    "busy": {"canary": (99, 1), "stable": (100, 0)},
    "quiet canary": {"canary": (5, 0), "stable": (100, 0)},  # 40 requests in the 2m window: under minRequests
    "idle stable": {"canary": (99, 1), "stable": (5, 0)},  # a setWeight 100 step: stable serves nearly nothing
}
STAGE_US = {"canary": {"queue": 200, "compute_input": 100, "compute_infer": 800, "compute_output": 100},
            "stable": {"queue": 150, "compute_input": 100, "compute_infer": 650, "compute_output": 100}}
# canary 1200 µs per request against stable's 1000: 1.2, the gate's default limit (a pass, at the boundary).
TRITON_EXPECTED = {
    "busy": {"triton-failure-ratio": 0.01, "latency-ratio-vs-stable": 1.2},
    "quiet canary": {"triton-failure-ratio": None, "latency-ratio-vs-stable": None},
    "idle stable": {"triton-failure-ratio": 0.01, "latency-ratio-vs-stable": None},
}


def triton_series(track_label: str) -> list[dict]:
    regimes = list(TRITON_TRAFFIC)
    out = []
    for track in ("canary", "stable"):
        labels = f'model="image_classifier", namespace="{NAMESPACE}", {track_label}="{track}", version="1"'
        successes = [TRITON_TRAFFIC[regime][track][0] for regime in regimes]
        out.append({"series": f"nv_inference_request_success{{{labels}}}", "values": counter(successes)})
        out.append({"series": f"nv_inference_request_failure{{{labels}, reason=\"BACKEND\"}}",
                    "values": counter([TRITON_TRAFFIC[regime][track][1] for regime in regimes])})
        for stage, us in STAGE_US[track].items():
            out.append({"series": f"nv_inference_{stage}_duration_us{{{labels}}}", "values": counter([n * us for n in successes])})
    return out


def test_the_triton_queries_wait_for_min_requests_on_the_canary_and_the_latency_ratio_on_stable_too(gate, tmp_path):
    # A ratio over a handful of requests is noise: fewer than minRequests in the window is no data (inconclusive),
    # for the canary in both queries, and for stable in the latency ratio, which divides by stable's time.
    query = gate["triton-failure-ratio"]["query"]
    track_label = query.split('",', 1)[1].split('="canary"')[0]  # the label the ServiceMonitor writes the track to
    checks, verdicts = [], {}
    for index, regime in enumerate(TRITON_TRAFFIC):
        at = (index + 1) * SCRAPES_PER_REGIME * SCRAPE_SECONDS
        for name, value in TRITON_EXPECTED[regime].items():
            checks.append({"expr": f"round({gate[name]['query']}, 0.0001)", "eval_time": f"{at}s",
                           "exp_samples": [] if value is None else [{"labels": "{}", "value": value}]})
            verdicts[(regime, name)] = argo_analysis.verdict(gate[name], [] if value is None else [value])
    spec = tmp_path / "triton-gate.yaml"
    spec.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": f"{SCRAPE_SECONDS}s", "tests": [
        {"name": "promotion gate, Triton queries", "interval": f"{SCRAPE_SECONDS}s", "input_series": triton_series(track_label),
         "promql_expr_test": checks}]}, sort_keys=False))
    monitoring.test_rules(spec)
    assert verdicts[("busy", "latency-ratio-vs-stable")] == verdicts[("busy", "triton-failure-ratio")] == argo_analysis.SUCCESSFUL
    assert {verdicts[("quiet canary", "latency-ratio-vs-stable")], verdicts[("idle stable", "latency-ratio-vs-stable")]} == {argo_analysis.INCONCLUSIVE}
