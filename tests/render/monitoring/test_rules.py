"""The rendered PrometheusRule under the real promtool (Debian's prometheus 2.42): `promtool check rules` clean, and
`promtool test rules` with, for every alert, a case that fires exactly at its `for` boundary and one where it must
not fire (tests/render/monitoring/alert_cases.py); a case built from the real H100 capture; the runbook of every
alert exists with its heading.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from tests.harness import monitoring
from tests.harness import render as helm
from tests.harness.prometheus_local import read_capture
from tests.render.monitoring.alert_cases import CASES, Boundary, Quiet
from tests.render.monitoring.conftest import JOB, NAMESPACE, WORKLOAD, render_monitoring

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
