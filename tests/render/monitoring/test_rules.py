"""The rendered PrometheusRule under the real promtool (Debian's prometheus 2.42): `promtool check rules` clean, and
`promtool test rules` with, for every alert, a case that fires exactly at its `for` boundary and one where it must
not fire (tests/render/monitoring/alert_cases.py); a case built from the real H100 capture; the runbook of every
alert exists with its heading.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import KUBE_HIGHEST
from tests.harness import monitoring
from tests.harness import render as helm
from tests.harness.prometheus_local import read_capture
from tests.render.monitoring.alert_cases import CASES, Boundary, Quiet
from tests.render.monitoring.conftest import JOB, NAMESPACE, WORKLOAD, monitoring_error, render_monitoring

pytestmark = pytest.mark.render

RUNBOOK_DIR = helm.CHARTS_DIR / "triton-monitoring" / "runbooks"
SEVERITY = {"page": "critical", "ticket": "warning"}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory, monitoring_objects) -> Path:
    directory = tmp_path_factory.mktemp("rules")
    monitoring.write_rule_file(monitoring_objects, directory / "rules.yaml")
    return directory


def label_text(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def boundary_test(alert: str, rule: dict, case: Boundary, title: str) -> dict:
    wait = monitoring.seconds(rule["for"]) // 60
    labels = {**case.labels, "severity": SEVERITY[case.tier], "tier": case.tier}
    return {
        "name": f"{alert} {title}",
        "interval": "1m",
        "input_series": case.input_series,
        "promql_expr_test": [
            {"expr": f'ALERTS{{alertname="{alert}"}}', "eval_time": f"{case.starts - 1}m", "exp_samples": []},
            {"expr": f'ALERTS{{alertname="{alert}"}}', "eval_time": f"{case.starts}m",
             "exp_samples": [{"labels": label_text("ALERTS", {**labels, "alertname": alert, "alertstate": "pending"}), "value": 1}]},
        ],
        "alert_rule_test": [
            {"eval_time": f"{case.starts + wait - 1}m", "alertname": alert, "exp_alerts": []},
            {"eval_time": f"{case.starts + wait}m", "alertname": alert,
             "exp_alerts": [{"exp_labels": labels, "exp_annotations": {**case.annotations, "runbook_url": f"{monitoring_runbooks()}/{alert}.md"}}]},
            *({"eval_time": f"{minute}m", "alertname": alert,
               "exp_alerts": [{"exp_labels": labels, "exp_annotations": {**annotations, "runbook_url": f"{monitoring_runbooks()}/{alert}.md"}}]}
              for minute, annotations in case.still_firing_at.items()),
        ],
    }


def quiet_test(alert: str, case: Quiet) -> dict:
    return {
        "name": f"{alert} must not fire: {case.why}",
        "interval": "1m",
        "input_series": case.input_series,
        "promql_expr_test": [
            {"expr": f'max_over_time(ALERTS{{alertname="{alert}"}}[{case.quiet_until}m])', "eval_time": f"{case.quiet_until}m", "exp_samples": []},
        ],
        "alert_rule_test": [{"eval_time": f"{case.quiet_until}m", "alertname": alert, "exp_alerts": []}],
    }


def monitoring_runbooks() -> str:
    values = yaml.safe_load((helm.CHARTS_DIR / "triton-monitoring" / "values.yaml").read_text())
    return values["prometheusRule"]["runbookBaseUrl"]


def write_spec(directory: Path, name: str, objects: list[dict], tests: list[dict]) -> Path:
    spec = directory / f"{name}.test.yaml"
    spec.write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        # Objectives first, then the recording rules, then the alerts: the order they are rendered in.
        "group_eval_order": [group["name"] for group in monitoring.rule_groups(objects)],
        "tests": tests,
    }, sort_keys=False))
    return spec


def test_promtool_check_rules_is_clean(rules_dir):
    output = monitoring.check_rules(rules_dir / "rules.yaml")
    print(output)
    assert "SUCCESS" in output


def test_promtool_check_rules_catches_a_broken_expression(tmp_path, monitoring_objects):
    # The negative pair: the same check fails a rule file with one expression broken.
    objects = copy.deepcopy(monitoring_objects)
    rule = monitoring.prometheus_rule(objects)
    rule["spec"]["groups"][1]["rules"][0]["expr"] += " +"
    with pytest.raises(monitoring.PromtoolError, match="parse error"):
        monitoring.check_rules(monitoring.write_rule_file(objects, tmp_path / "rules.yaml"))


def test_every_alert_has_a_boundary_and_a_quiet_case(monitoring_objects):
    assert sorted(monitoring.alerts(monitoring_objects)) == sorted(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_at_its_for_boundary_and_not_on_the_quiet_side(alert, rules_dir, monitoring_objects):
    rule = monitoring.alerts(monitoring_objects)[alert]
    cases = CASES[alert]
    tests = [boundary_test(alert, rule, cases.boundary, "fires at its for boundary"), quiet_test(alert, cases.quiet)]
    tests += [boundary_test(alert, rule, extra, f"fires at its for boundary (case {n + 2})") for n, extra in enumerate(cases.extra)]
    tests += [quiet_test(alert, quiet) for quiet in cases.extra_quiet]
    spec = write_spec(rules_dir, alert, monitoring_objects, tests)
    print(f"{alert}: for {rule['for']}, holds from {cases.boundary.starts}m, fires at {cases.boundary.starts + monitoring.seconds(rule['for']) // 60}m")
    print(monitoring.test_rules(spec))


def test_a_case_that_claims_the_alert_fires_a_minute_early_fails(rules_dir, monitoring_objects):
    # The negative pair of the boundary checks: promtool refuses a boundary one evaluation off.
    alert = "TritonServerDown"
    case = CASES[alert].boundary
    early = Boundary(case.input_series, case.starts - 1, case.labels, case.annotations, case.tier)
    spec = write_spec(rules_dir, "early", monitoring_objects, [boundary_test(alert, monitoring.alerts(monitoring_objects)[alert], early, "early")])
    with pytest.raises(monitoring.PromtoolError, match="FAILED"):
        monitoring.test_rules(spec)


def test_for_and_tier_come_from_values(tmp_path):
    objects = render_monitoring({"prometheusRule": {"alerts": {"TritonServerDown": {"for": "1m", "tier": "ticket"}, "TritonGPUMemoryPressure": {"enabled": False}}}})
    rendered = monitoring.alerts(objects)
    assert rendered["TritonServerDown"]["for"] == "1m"
    assert rendered["TritonServerDown"]["labels"] == {"severity": "warning", "tier": "ticket"}
    assert "TritonGPUMemoryPressure" not in rendered
    # The boundary moves with the value: the same series now fire 1 minute after the expression holds.
    case = CASES["TritonServerDown"].boundary
    moved = Boundary(case.input_series, case.starts, case.labels, case.annotations, "ticket")
    monitoring.write_rule_file(objects, tmp_path / "rules.yaml")
    monitoring.test_rules(write_spec(tmp_path, "moved", objects, [boundary_test("TritonServerDown", rendered["TritonServerDown"], moved, "moved")]))


# --- what every alert carries ------------------------------------------------------------------------------


def test_every_alert_has_a_tier_severity_summary_description_and_runbook(monitoring_objects):
    problems = []
    for name, rule in monitoring.alerts(monitoring_objects).items():
        if rule["labels"].get("tier") not in SEVERITY or rule["labels"].get("severity") != SEVERITY[rule["labels"]["tier"]]:
            problems.append(f"{name}: labels {rule['labels']}")
        for key in ("summary", "description", "runbook_url"):
            if not rule["annotations"].get(key, "").strip():
                problems.append(f"{name}: no {key}")
    assert problems == []


def test_both_tiers_are_used(monitoring_objects):
    assert {rule["labels"]["tier"] for rule in monitoring.alerts(monitoring_objects).values()} == {"page", "ticket"}


def runbook_file(url: str) -> Path:
    """The file in this repository a runbook_url names: the chart's default base URL is this repository's
    charts/triton-monitoring/runbooks on GitHub."""
    base = monitoring_runbooks()
    assert url.startswith(base + "/"), url
    return RUNBOOK_DIR / url.removeprefix(base + "/")


@pytest.mark.parametrize("alert", sorted(CASES))
def test_runbook_url_resolves_to_a_runbook_with_the_alert_heading(alert, monitoring_objects):
    path = runbook_file(monitoring.alerts(monitoring_objects)[alert]["annotations"]["runbook_url"])
    assert path.is_file(), f"{path} is missing"
    text = path.read_text()
    assert text.splitlines()[0] == f"# {alert}"
    for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
        assert section in text, f"{path.name} has no {section}"


def test_a_runbook_url_without_a_file_is_caught(monitoring_objects):
    # The negative pair: an alert renamed without its runbook resolves to no file.
    url = monitoring.alerts(monitoring_objects)["TritonServerDown"]["annotations"]["runbook_url"].replace("TritonServerDown", "TritonServerGone")
    assert not runbook_file(url).exists()


def test_failure_runbooks_say_triton_misses_client_visible_errors():
    for alert in ("TritonModelErrorBudgetBurnFast", "TritonModelErrorBudgetBurnSlow", "TritonMeshErrorBudgetBurnFast", "TritonMeshErrorBudgetBurnSlow"):
        text = " ".join((RUNBOOK_DIR / f"{alert}.md").read_text().split())
        assert "istio_requests_total" in text and "counted as a success" in text, alert


def test_no_runbook_without_an_alert(monitoring_objects):
    assert sorted(p.stem for p in RUNBOOK_DIR.glob("*.md")) == sorted(monitoring.alerts(monitoring_objects))


# --- the real H100 capture ---------------------------------------------------------------------------------

CAPTURE = helm.REPO_ROOT / "tests" / "fixtures" / "triton-h100" / "metrics-series-2s.prom"
H100_POD = "triton-server-5f7d8c9b4-h100x"


def capture_series() -> tuple[list[dict], list[int]]:
    """The capture as promtool input series: one sample every 2 s (the capture's own interval), the labels the
    ServiceMonitor would add. Scrapes are 2 s apart to within a few ms; promtool places them on the 2 s grid."""
    samples = read_capture(CAPTURE)
    scrapes = sorted({s.timestamp_ms for s in samples})
    by_series: dict[tuple, dict[int, float]] = {}
    extra = {"namespace": NAMESPACE, "job": JOB, "pod": H100_POD, "track": "stable", "instance": "10.0.0.7:8002"}
    for sample in samples:
        labels = {**sample.labels, **extra}
        by_series.setdefault((sample.name, tuple(sorted(labels.items()))), {})[scrapes.index(sample.timestamp_ms)] = sample.value
    series = []
    for (name, labels), values in sorted(by_series.items()):
        text = " ".join("NaN" if math.isnan(values.get(i, math.nan)) else repr(values[i]) if i in values else "_" for i in range(len(scrapes)))
        series.append({"series": label_text(name, dict(labels)), "values": text})
    return series, scrapes


def test_gpu_memory_alert_fires_on_the_real_h100_series_at_its_boundary(tmp_path):
    # burn holds ~59.7 GB of the H100's 85.5 GB (69.8%) for the whole capture: with the threshold at 65% and `for`
    # at 30s (values), the alert is pending from the first scrape and fires 30 s later, not before; at the
    # default 90% it never fires.
    series, _ = capture_series()
    objects = render_monitoring({"prometheusRule": {"thresholds": {"gpuMemoryUtilization": 0.65}, "alerts": {"TritonGPUMemoryPressure": {"for": "30s"}}}})
    monitoring.write_rule_file(objects, tmp_path / "rules.yaml")
    labels = {"namespace": NAMESPACE, "job": JOB, "pod": H100_POD, "gpu_uuid": "GPU-8a35001f-642c-e1e5-e672-701a334f534e", "severity": "warning", "tier": "ticket"}
    alert = "TritonGPUMemoryPressure"
    spec = tmp_path / "h100.test.yaml"
    spec.write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": "2s",
        "group_eval_order": [group["name"] for group in monitoring.rule_groups(objects)],
        "tests": [{
            "name": "GPU memory pressure on the H100 capture", "interval": "2s", "input_series": series,
            "promql_expr_test": [
                {"expr": f'ALERTS{{alertname="{alert}", alertstate="pending"}}', "eval_time": "0s",
                 "exp_samples": [{"labels": label_text("ALERTS", {**labels, "alertname": alert, "alertstate": "pending"}), "value": 1}]},
                {"expr": "round(triton:gpu_memory_utilization:ratio, 0.001)", "eval_time": "40s",
                 "exp_samples": [{"labels": label_text("", {k: v for k, v in labels.items() if k not in ("severity", "tier")}), "value": 0.698}]},
            ],
            "alert_rule_test": [
                {"eval_time": "28s", "alertname": alert, "exp_alerts": []},
                {"eval_time": "30s", "alertname": alert, "exp_alerts": [{"exp_labels": labels, "exp_annotations": {
                    "summary": f"GPU {labels['gpu_uuid']} of {H100_POD} is 69.78% full.",
                    "description": f"Triton reports 69.78% of the memory of GPU {labels['gpu_uuid']} in use (pod {H100_POD}, {NAMESPACE}/{JOB}) for 10 minutes, above the release's threshold: a larger batch, another model instance or a model load can fail with out-of-memory.",
                    "runbook_url": f"{monitoring_runbooks()}/{alert}.md"}}]},
            ],
        }],
    }, sort_keys=False))
    print(monitoring.test_rules(spec))


def extrapolated_rate(points: list[tuple[float, float]], at: float, window: float) -> float:
    """rate(x[window]) at `at` (seconds) over (time, value) points, the way Prometheus 2.42 computes it
    (promql/functions.go extrapolatedRate: the increase between the first and last sample inside [at - window, at],
    extrapolated towards the range's edges by at most 1.1 sample intervals, never below a counter's zero)."""
    inside = [(t, v) for t, v in points if at - window <= t <= at]
    (first_t, first_v), (last_t, last_v) = inside[0], inside[-1]
    increase = last_v - first_v  # the capture has no counter reset
    sampled = last_t - first_t
    average = sampled / (len(inside) - 1)
    to_start, to_end = first_t - (at - window), at - last_t
    if increase > 0 and first_v >= 0:
        to_start = min(to_start, sampled * (first_v / increase))
    threshold = average * 1.1
    interval = sampled + (to_start if to_start < threshold else average / 2) + (to_end if to_end < threshold else average / 2)
    return increase * (interval / sampled) / window


def test_recording_rules_over_the_real_h100_series_equal_the_counters(tmp_path, monitoring_objects):
    # At concurrency 8 and 32 on the H100 the burn model formed batches (nv_inference_count / exec_count) and
    # queued; promtool evaluates the recording rules over the capture and must find what the raw counters say,
    # rounded to 0.01 (promtool compares values exactly) at scrapes away from rounding edges. Expected values are
    # computed here from the capture on the same 2 s grid promtool puts it on.
    series, scrapes = capture_series()
    samples = read_capture(CAPTURE)
    monitoring.write_rule_file(monitoring_objects, tmp_path / "rules.yaml")

    def points(name: str) -> list[tuple[float, float]]:
        return sorted((2.0 * scrapes.index(s.timestamp_ms), s.value) for s in samples if s.name == name and s.labels.get("model") == "burn")

    checks = []
    labels = {"namespace": NAMESPACE, "job": JOB, "model": "burn"}
    for index in (20, 28):
        at = 2.0 * index

        def rate(name):
            return extrapolated_rate(points(name), at, 300)

        batch = rate("nv_inference_count") / max(rate("nv_inference_exec_count"), 1e-9)
        queue_ms = rate("nv_inference_queue_duration_us") / max(rate("nv_inference_request_success"), 1e-9) / 1e3
        for expr, value in (('round(triton:model_batch_size:rate5m{model="burn"}, 0.01)', batch),
                            ('round(triton:model_queue_seconds_per_request:rate5m{model="burn"} * 1000, 0.01)', queue_ms)):
            assert abs(value * 100 - math.floor(value * 100) - 0.5) > 0.01, f"{expr} at scrape {index}: {value} is on a rounding edge"
            checks.append({"expr": expr, "eval_time": f"{2 * index}s", "exp_samples": [{"labels": label_text("", labels), "value": math.floor(value * 100 + 0.5) / 100}]})
        print(f"scrape {index} (t+{at:.0f}s): batch size formed {batch:.3f}, queue time per request {queue_ms:.3f} ms")
    p95 = next(s.value for s in samples if s.name == "nv_inference_request_summary_us" and s.labels.get("model") == "burn"
               and s.labels.get("quantile") == "0.95" and s.timestamp_ms == scrapes[28])
    print(f"p95 at scrape 28: {p95 / 1e3:.1f} ms")
    checks.append({"expr": 'triton:model_request_latency_seconds:p95{model="burn"}', "eval_time": "56s", "exp_samples": [{"labels": label_text("triton:model_request_latency_seconds:p95", labels), "value": p95 / 1e6}]})
    # No request yet: the summary's quantiles are NaN, and the rule drops them rather than record NaN.
    checks.append({"expr": 'triton:model_request_latency_seconds:p95{model="burn"}', "eval_time": "0s", "exp_samples": []})
    spec = tmp_path / "h100-recording.test.yaml"
    spec.write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": "2s",
        "group_eval_order": [group["name"] for group in monitoring.rule_groups(monitoring_objects)],
        "tests": [{"name": "recording rules on the H100 capture", "interval": "2s", "input_series": series, "promql_expr_test": checks}],
    }, sort_keys=False))
    print(monitoring.test_rules(spec))


def test_objectives_carry_the_release_identity_and_the_values(monitoring_objects):
    recorded = monitoring.recording_rules(monitoring_objects)
    identity = {"namespace": NAMESPACE, "job": JOB, "workload": WORKLOAD}
    assert recorded["triton:release:info"] == [{"record": "triton:release:info", "expr": "1", "labels": identity}]
    assert recorded["triton:objective:availability"][0] == {"record": "triton:objective:availability", "expr": "0.999", "labels": identity}
    objects = render_monitoring({"prometheusRule": {"slo": {"availability": 0.995, "queueSecondsPerRequest": 0.05}}})
    assert monitoring.recording_rules(objects)["triton:objective:availability"][0]["expr"] == "0.995"
    assert monitoring.recording_rules(objects)["triton:objective:queue_seconds_per_request"][0]["expr"] == "0.05"


def test_shared_rules_off_renders_only_this_releases_objectives():
    objects = render_monitoring({"prometheusRule": {"sharedRules": False}})
    assert [group["name"] for group in monitoring.rule_groups(objects)] == ["triton-stack.objectives"]


def test_no_prometheus_rule_when_disabled():
    assert not [o for o in render_monitoring({"prometheusRule": {"enabled": False}}) if o["kind"] == "PrometheusRule"]


def test_rule_bodies_are_the_chart_files_verbatim(monitoring_objects):
    # Rules as data: every recording rule is rules/recording.yaml's, and every alert expression rules/alerts.yaml's.
    chart = helm.CHARTS_DIR / "triton-monitoring" / "rules"
    recording = yaml.safe_load((chart / "recording.yaml").read_text())["groups"]
    alerts = {r["alert"]: r for g in yaml.safe_load((chart / "alerts.yaml").read_text())["groups"] for r in g["rules"]}
    rendered = monitoring.rule_groups(monitoring_objects)
    assert rendered[1:1 + len(recording)] == recording
    assert {name: rule["expr"] for name, rule in monitoring.alerts(monitoring_objects).items()} == {name: rule["expr"] for name, rule in alerts.items()}


def test_per_alert_settings_accept_exactly_the_shipped_alerts(monitoring_objects):
    # values.schema.json lists the alert names prometheusRule.alerts takes: it must follow rules/alerts.yaml.
    import json
    import re

    schema = json.loads((helm.CHARTS_DIR / "triton-monitoring" / "values.schema.json").read_text())
    (pattern,) = schema["properties"]["prometheusRule"]["properties"]["alerts"]["patternProperties"]
    assert sorted(re.fullmatch(r"\^\((.*)\)\$", pattern).group(1).split("|")) == sorted(monitoring.alerts(monitoring_objects))


# --- what the mesh SLO counts: the canary gate's classification, every workload of the release --------------------

GATED = {"server": {"canary": {"enabled": True, "strategy": "argoRollouts"}},
         "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}}
MATCHER = re.compile(r'(response_code|grpc_response_status)(=~|!~)"([^"]*)"')


def mesh_matchers(query: str) -> dict[str, str]:
    """{label: operator + regex} of the failure matchers in a mesh query (response_code=~"5..", ...)."""
    return {label: op + value for label, op, value in MATCHER.findall(query)}


def gate_query(name: str) -> str:
    objects = helm.render("triton-stack", values={"monitoring": {"enabled": True}, **GATED}, kube_version=KUBE_HIGHEST)
    (template,) = [o for o in objects if o["kind"] == "AnalysisTemplate" and o["metadata"]["name"].endswith("-gate")]
    (metric,) = [m for m in template["spec"]["metrics"] if m["name"] == name]
    return metric["provider"]["prometheus"]["query"]


def test_the_mesh_slo_fails_grpc_calls_as_the_canary_gate_does(monitoring_objects):
    # charts/triton-routing/templates/_helpers.tpl triton-routing.gate.queries is the one classification of a failed
    # gRPC call (every status but those a client causes); every mesh ratio of the SLO must use the same matcher.
    gate = mesh_matchers(gate_query("client-failure-ratio-grpc"))
    assert gate == {"grpc_response_status": '!~0|1|5|7|16'}
    rules = {name: rules[0]["expr"] for name, rules in monitoring.recording_rules(monitoring_objects).items() if name.startswith("triton:workload_mesh_failure_ratio:")}
    assert len(rules) == 7
    for name, expr in rules.items():
        (grpc_selector,) = re.findall(r'istio_requests_total\{[^}]*request_protocol="grpc"[^}]*\}', expr)
        assert mesh_matchers(grpc_selector) == gate, name


def test_the_mesh_slo_leaves_out_http_400_where_the_gate_counts_it_and_says_so(monitoring_objects):
    # The one deliberate difference: the gate fails a canary that starts refusing inputs (400), the SLO does not
    # spend the budget on clients' malformed requests. The rule file says so where the matcher is.
    assert mesh_matchers(gate_query("client-failure-ratio-http")) == {"response_code": "=~5..|400"}
    expr = monitoring.recording_rules(monitoring_objects)["triton:workload_mesh_failure_ratio:rate5m"][0]["expr"]
    (http_selector,) = re.findall(r'istio_requests_total\{[^}]*request_protocol!="grpc"[^}]*\}', expr)
    assert mesh_matchers(http_selector) == {"response_code": "=~5.."}
    comment = (helm.CHARTS_DIR / "triton-monitoring" / "rules" / "recording.yaml").read_text()
    assert "triton-routing.gate.queries" in comment and "also fails a canary on 400" in comment


def test_a_matcher_other_than_the_gates_would_be_caught():
    # The negative pair: a SLO that also forgave DEADLINE_EXCEEDED (4) differs from the gate.
    assert mesh_matchers('istio_requests_total{request_protocol="grpc", grpc_response_status!~"0|1|4|5|7|16"}') != {"grpc_response_status": "!~0|1|5|7|16"}


@pytest.mark.parametrize(("server", "expected"), [
    ({"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}, "Deployment"),
    ({"canary": {"enabled": True, "strategy": "argoRollouts"}}, "Rollout"),
], ids=["tracks", "argoRollouts"])
def test_the_release_workloads_are_the_workloads_the_server_renders(server, expected):
    # triton:release:workload lists what the mesh and kube-state-metrics know the release's pods by: the stable
    # workload and the tracks strategy's <server>-canary Deployment (under argoRollouts one Rollout holds both).
    values = {"monitoring": {"enabled": True}, "server": server}
    if expected == "Rollout":
        values["routing"] = GATED["routing"]
    objects = helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST)
    workloads = sorted(o["metadata"]["name"] for o in objects if o["kind"] == expected and o["metadata"]["labels"].get("app.kubernetes.io/component") == "server")
    listed = sorted(rule["labels"]["workload"] for rule in monitoring.recording_rules(objects)["triton:release:workload"])
    assert set(workloads) <= set(listed), (workloads, listed)
    assert listed == [WORKLOAD, f"{WORKLOAD}-canary"]
    print(f"\n{expected}s rendered: {workloads}; triton:release:workload: {listed}")


# --- the availability objective the fast-burn page can still fire on -----------------------------------------------


def test_an_objective_just_above_five_sixths_renders_and_one_at_it_is_refused():
    # 6 x (1 - 0.8333333333333334) is 0.9999999999999998 in Prometheus's float64: a total failure (ratio 1) is above
    # it and pages. The double just below, 0.8333333333333333, puts the threshold at 1.0000000000000004: no ratio is.
    objects = render_monitoring({"prometheusRule": {"slo": {"availability": 0.8333333333333334}}})
    assert monitoring.recording_rules(objects)["triton:objective:availability"][0]["expr"] == "0.8333333333333334"
    error = monitoring_error({"prometheusRule": {"slo": {"availability": 0.8333333333333333}}})
    assert "monitoring.prometheusRule.slo.availability: 0.8333333333333333 leaves an error budget of 16.66666666666667% of the requests" in error
    assert "a ratio is at most 1: no page could ever fire. Set an objective above 1 - 1/6" in error


def test_the_fast_burn_page_fires_on_a_total_failure_at_the_lowest_objective_allowed(tmp_path):
    # What the boundary means: at 0.8333333333333334 every request failing still pages (6x pair), so the
    # objective is usable; promtool evaluates the rendered rules.
    objects = render_monitoring({"prometheusRule": {"slo": {"availability": 0.8333333333333334}}})
    monitoring.write_rule_file(objects, tmp_path / "rules.yaml")
    series = [{"series": f'nv_inference_request_failure{{namespace="{NAMESPACE}", job="{JOB}", model="m", version="1", reason="BACKEND"}}', "values": "0+100x420"},
              {"series": f'nv_inference_request_success{{namespace="{NAMESPACE}", job="{JOB}", model="m", version="1"}}', "values": "0x420"}]
    spec = write_spec(tmp_path, "lowest", objects, [{
        "name": "a total failure pages at the lowest objective", "interval": "1m", "input_series": series,
        "alert_rule_test": [{"eval_time": "400m", "alertname": "TritonModelErrorBudgetBurnFast", "exp_alerts": [{
            "exp_labels": {"namespace": NAMESPACE, "job": JOB, "model": "m", "severity": "critical", "tier": "page"},
            "exp_annotations": {
                "summary": "Model m burns its error budget fast (100% of requests fail).",
                "description": f"Triton counts 100% of the requests to m ({NAMESPACE}/{JOB}) as failed, at least 6 times the rate the availability objective allows, over a long and a short window. Triton's counters miss errors clients see: see TritonMeshErrorBudgetBurnFast when the mesh is on.",
                "runbook_url": f"{monitoring_runbooks()}/TritonModelErrorBudgetBurnFast.md"}}]}],
    }])
    print(monitoring.test_rules(spec))


# --- series labels are for querying the raw series ------------------------------------------------------------------


def test_series_labels_reach_the_raw_series_but_not_the_recorded_ones(tmp_path, monitoring_objects):
    # What the values documentation says of serviceMonitor.seriesLabels (a cluster name on alerts belongs in
    # Prometheus's external_labels, README "Monitoring"), proven: a `cluster` label the ServiceMonitor
    # adds is on the scraped series and gone from the recording rules' output (they aggregate by namespace, job, ...).
    doc = (helm.CHARTS_DIR / "triton-monitoring" / "values.yaml").read_text()
    assert "for querying the raw series only: the recording rules and alerts aggregate them away" in doc
    monitoring.write_rule_file(monitoring_objects, tmp_path / "rules.yaml")
    labels = f'namespace="{NAMESPACE}", job="{JOB}", pod="p", model="m", version="1", cluster="prod-eu"'
    spec = write_spec(tmp_path, "series-labels", monitoring_objects, [{
        "name": "a series label on raw and recorded series", "interval": "1m",
        "input_series": [{"series": f"nv_inference_request_success{{{labels}}}", "values": "0+60x20"},
                         {"series": f'nv_inference_request_failure{{{labels}, reason="BACKEND"}}', "values": "0x20"}],
        "promql_expr_test": [
            {"expr": 'count by (cluster) (nv_inference_request_success)', "eval_time": "10m", "exp_samples": [{"labels": '{cluster="prod-eu"}', "value": 1}]},
            {"expr": 'count by (cluster) (triton:model_requests:rate5m)', "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 1}]},
        ],
    }])
    print(monitoring.test_rules(spec))


def test_a_series_label_with_one_leading_underscore_is_accepted():
    # The pair of the bad value "__cluster" (tests/schema/test_bad_observability_values.py): one underscore is a
    # plain label name.
    (endpoint,) = [o for o in render_monitoring({"serviceMonitor": {"seriesLabels": {"_cluster": "eu"}}}) if o["kind"] == "ServiceMonitor"][0]["spec"]["endpoints"]
    assert {"targetLabel": "_cluster", "replacement": "eu", "action": "replace"} in endpoint["relabelings"]


# --- runbooks act on either workload kind: a Deployment, or under argoRollouts the Rollout ---------------------------

# What a runbook tells someone to do to the server's workload that only works on a Deployment.
DEPLOYMENT_ONLY = re.compile(r"rollout undo deploy/|get deploy,|the Deployment replaces|the routing weights\)")


def deployment_only_steps(text: str) -> list[str]:
    """The steps of a runbook that act on a Deployment when it gives no Argo Rollouts equivalent beside them."""
    found = DEPLOYMENT_ONLY.findall(text)
    return found if found and "kubectl argo rollouts" not in text and "Rollout's ReplicaSet" not in text else []


@pytest.mark.parametrize("runbook", sorted(p.name for p in RUNBOOK_DIR.glob("*.md")))
def test_every_runbook_step_on_the_workload_covers_a_rollout(runbook):
    # Under server.canary.strategy argoRollouts the server is a Rollout (argoproj.io/v1alpha1): `kubectl rollout undo
    # deploy/...` finds nothing, and the controller owns the weights.
    assert deployment_only_steps((RUNBOOK_DIR / runbook).read_text()) == []


def test_a_runbook_that_only_rolls_back_a_deployment_is_caught():
    # The negative pair: the model burn runbook as it was, with only the Deployment's undo.
    assert deployment_only_steps("Roll back what changed (`kubectl rollout undo deploy/<release>-server`).") == ["rollout undo deploy/"]


@pytest.mark.parametrize("runbook", ["TritonRestartLoop.md", "TritonModelErrorBudgetBurnFast.md"])
def test_the_rollback_runbooks_roll_back_a_deployment_and_a_rollout(runbook):
    text = (RUNBOOK_DIR / runbook).read_text()
    assert "kubectl -n <namespace> rollout undo deploy/<release>-server" in text
    assert "kubectl argo rollouts -n <namespace> undo <release>-server" in text
    assert "kubectl argo rollouts -n <namespace> abort <release>-server" in text


# --- triton-common.duration.seconds on multi-unit and millisecond durations ----------------------------------------


@pytest.mark.parametrize(("timeout", "refused"), [("59s999ms", False), ("1m", False), ("60s1ms", True), ("1m0s1ms", True)])
def test_the_scrape_timeout_check_adds_every_unit_up(timeout, refused):
    # triton-common's _duration.tpl sums the parts of a Prometheus duration; the check that a timeout is at most the
    # interval (1m) sits on the millisecond either side of it, in several spellings.
    values = {"serviceMonitor": {"interval": "1m", "scrapeTimeout": timeout}}
    if refused:
        assert f"monitoring.serviceMonitor.scrapeTimeout: {timeout} is longer than serviceMonitor.interval 1m" in monitoring_error(values)
    else:
        (monitor,) = [o for o in render_monitoring(values) if o["kind"] == "ServiceMonitor"]
        assert monitor["spec"]["endpoints"][0]["scrapeTimeout"] == timeout


# --- TritonScrapeTargetDown waits out the server's startup budget --------------------------------------------------


@pytest.mark.parametrize(("probes", "alert", "refused"), [
    ({"maxModelLoadSeconds": 600}, {}, None),                                      # the defaults: 10m covers 600 s
    ({"maxModelLoadSeconds": 601}, {}, ("10m", 610)),                              # probes every 10 s: 61 of them
    ({"maxModelLoadSeconds": 601}, {"for": "610s"}, None),
    ({"maxModelLoadSeconds": 601}, {"for": "10m9s"}, ("10m9s", 610)),
    ({"maxModelLoadSeconds": 900, "startup": {"periodSeconds": 7}}, {"for": "15m"}, ("15m", 903)),  # 129 probes of 7 s
    ({"maxModelLoadSeconds": 3600}, {"enabled": False}, None),                     # no alert, nothing to wait for
], ids=["defaults", "one-second-over", "for-covers-it", "for-one-second-short", "rounded-up-to-whole-probes", "alert-off"])
def test_the_scrape_alert_waits_out_the_startup_budget(probes, alert, refused):
    # Triton serves metrics only once its models are loaded; without kube-state-metrics (whose readiness the alert
    # uses to leave starting pods out) only `for` keeps a normal start from opening a ticket. The umbrella reads the
    # chart's default `for` from the rule file.
    extra = {"server": {"probes": probes}}
    values = {"prometheusRule": {"alerts": {"TritonScrapeTargetDown": alert}}} if alert else {}
    if refused:
        shown, budget = refused
        error = monitoring_error(values, extra)
        assert f"monitoring.prometheusRule.alerts.TritonScrapeTargetDown.for: {shown} is shorter than the server's startup budget, {budget}s" in error
        assert f"Set it to at least {budget}s." in error
    else:
        objects = helm.render("triton-stack", values={"monitoring": {"enabled": True, **values}, **extra}, kube_version=KUBE_HIGHEST)
        rendered = monitoring.alerts(objects)
        assert ("TritonScrapeTargetDown" in rendered) == alert.get("enabled", True)
        if "for" in alert:
            assert rendered["TritonScrapeTargetDown"]["for"] == alert["for"]


def test_the_umbrella_reads_the_scrape_alerts_default_for_from_the_rule_file():
    # The default the check compares with is the rule file's, not a copy: raising it there moves the boundary.
    rules = yaml.safe_load((helm.CHARTS_DIR / "triton-monitoring" / "rules" / "alerts.yaml").read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == "TritonScrapeTargetDown"]
    assert monitoring.seconds(rule["for"]) == 600
    template = (helm.CHARTS_DIR / "triton-stack" / "templates" / "_validate.tpl").read_text()
    assert '.Subcharts.monitoring.Files.Get "rules/alerts.yaml"' in template
