"""The ServiceMonitor (what it scrapes, every track, the track label) and the Grafana dashboards (every panel's
query parses under promtool and reads only metrics real Triton exposes or the chart's recording rules)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import monitoring
from tests.harness import render as helm
from tests.harness.prometheus_local import read_capture
from tests.render.monitoring.conftest import JOB, NAMESPACE, WORKLOAD, monitoring_error, render_monitoring

pytestmark = pytest.mark.render

H100_CAPTURE = helm.REPO_ROOT / "tests" / "fixtures" / "triton-h100" / "metrics-series-2s.prom"
# Series the rules read that Triton does not export, each with where it comes from. Everything else a rule or a
# panel reads must be a metric of the real H100 capture or a series the chart's own rules record.
NOT_TRITON = {
    "up": "Prometheus's own, one per scrape target",
    "kube_pod_container_status_restarts_total": "kube-state-metrics (restart loop)",
    "kube_pod_container_status_waiting_reason": "kube-state-metrics (restart loop: CrashLoopBackOff)",
    "kube_pod_container_status_ready": "kube-state-metrics (a pod still loading its models is not a scrape failure)",
    "kube_deployment_spec_replicas": "kube-state-metrics (a workload scaled to zero is not a down server)",
    "kube_pod_status_ready": "kube-state-metrics (readiness flapping)",
    "kube_horizontalpodautoscaler_info": "kube-state-metrics (the autoscaler that owns the Deployment)",
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_min_replicas": "kube-state-metrics",
    "istio_requests_total": "Istio's sidecars (what clients see, when routing is on)",
    "ALERTS": "Prometheus's own",
}


@pytest.fixture(scope="module")
def triton_metric_names() -> set[str]:
    """Every metric name in the real H100 capture (Triton 2.51 with GPU metrics and latency summaries)."""
    return {sample.name for sample in read_capture(H100_CAPTURE)}


def full_render(values: dict | None = None) -> list[dict]:
    return helm.render("triton-stack", values={"monitoring": {"enabled": True}, **(values or {})}, kube_version=KUBE_HIGHEST)


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- scraping ------------------------------------------------------------------------------------------------


class TestServiceMonitor:
    def test_selects_the_metrics_service_only(self):
        objects = full_render()
        monitor = find(objects, "ServiceMonitor")
        selected = [o["metadata"]["name"] for o in objects if o["kind"] == "Service" and matches(monitor["spec"]["selector"]["matchLabels"], o["metadata"]["labels"])]
        assert selected == [JOB]
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        (endpoint,) = monitor["spec"]["endpoints"]
        service = find(objects, "Service", "-metrics")
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} == {"metrics"}
        assert (endpoint["scheme"], endpoint["path"]) == ("http", "/metrics")  # Triton's metrics port: plain HTTP

    def test_the_inference_service_is_never_scraped_even_as_a_load_balancer(self):
        objects = full_render({"server": {"service": {"type": "LoadBalancer"}, "networkPolicy": {"inferenceFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}}})
        monitor = find(objects, "ServiceMonitor")
        exposed = find(objects, "Service", "triton-server")
        assert exposed["spec"]["type"] == "LoadBalancer"
        assert not matches(monitor["spec"]["selector"]["matchLabels"], exposed["metadata"]["labels"])

    def test_every_track_is_behind_the_scraped_service(self):
        objects = full_render()
        service = find(objects, "Service", "-metrics")
        pod_labels = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["triton-stack.io/track"] == "stable"
        assert "triton-stack.io/track" not in service["spec"]["selector"]
        canary = {**pod_labels, "triton-stack.io/track": "canary"}
        assert matches(service["spec"]["selector"], pod_labels) and matches(service["spec"]["selector"], canary)

    def test_the_track_label_reaches_every_series(self):
        (endpoint,) = find(full_render(), "ServiceMonitor")["spec"]["endpoints"]
        assert {"sourceLabels": ["__meta_kubernetes_pod_label_triton_stack_io_track"], "targetLabel": "track", "action": "replace"} in endpoint["relabelings"]

    def test_interval_timeout_labels_and_series_labels_come_from_values(self):
        values = {"serviceMonitor": {"interval": "15s", "scrapeTimeout": "5s", "labels": {"release": "kube-prometheus-stack"}, "seriesLabels": {"cluster": "prod-eu"}}}
        monitor = find(render_monitoring(values), "ServiceMonitor")
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert {"targetLabel": "cluster", "replacement": "prod-eu", "action": "replace"} in endpoint["relabelings"]

    def test_none_when_disabled(self):
        assert not [o for o in render_monitoring({"serviceMonitor": {"enabled": False}}) if o["kind"] == "ServiceMonitor"]

    def test_a_timeout_longer_than_the_interval_fails(self):
        assert "monitoring.serviceMonitor.scrapeTimeout: 1m is longer than serviceMonitor.interval 30s" in monitoring_error({"serviceMonitor": {"scrapeTimeout": "1m"}})

    def test_the_job_the_objectives_name_is_the_metrics_service_under_a_full_name_override(self):
        # One identity for the server (STYLE 6a): with global.server.fullnameOverride the objectives' job is still
        # the metrics Service's name and their workload the Deployment's, the names Prometheus and
        # kube-state-metrics will report.
        objects = full_render({"global": {"server": {"fullnameOverride": "shared-triton"}}})
        info = monitoring.recording_rules(objects)["triton:release:info"][0]["labels"]
        assert info == {"namespace": NAMESPACE, "job": find(objects, "Service", "-metrics")["metadata"]["name"], "workload": find(objects, "Deployment")["metadata"]["name"]}
        assert info["job"] == "shared-triton-metrics"
        monitor = find(objects, "ServiceMonitor")
        assert [o["metadata"]["name"] for o in objects if o["kind"] == "Service" and matches(monitor["spec"]["selector"]["matchLabels"], o["metadata"]["labels"])] == ["shared-triton-metrics"]


class TestUmbrella:
    def test_monitoring_needs_the_server_metrics(self):
        assert "monitoring.enabled: the server's metrics are off" in monitoring_error({}, {"server": {"triton": {"metrics": {"enabled": False}}}})

    def test_monitoring_needs_the_latency_summaries(self):
        assert "server.triton.metrics.summaryLatencies: false removes the latency summaries" in monitoring_error({}, {"server": {"triton": {"metrics": {"summaryLatencies": False}}}})

    def test_nothing_of_monitoring_is_rendered_when_off(self):
        objects = helm.render("triton-stack", kube_version=KUBE_HIGHEST)
        assert not [o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == "monitoring"]


# --- rules read only real series ----------------------------------------------------------------------------


def test_rules_read_only_triton_series_recorded_series_and_the_listed_others(monitoring_objects, triton_metric_names):
    recorded = set(monitoring.recording_rules(monitoring_objects))
    unknown = {}
    for group in monitoring.rule_groups(monitoring_objects):
        for rule in group["rules"]:
            names = monitoring.metric_names(str(rule["expr"])) - triton_metric_names - recorded - set(NOT_TRITON)
            if names:
                unknown[rule.get("record") or rule["alert"]] = sorted(names)
    assert unknown == {}


# --- dashboards ----------------------------------------------------------------------------------------------


def dashboards(objects: list[dict]) -> dict[str, dict]:
    found = {}
    for config_map in (o for o in objects if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]):
        ((key, text),) = config_map["data"].items()
        found[key] = json.loads(text)
    return found


# What Grafana sends for the dashboards' variables, for this release (model: every model).
GRAFANA_VALUES = {"datasource": "prometheus", "namespace": NAMESPACE, "job": JOB, "model": ".*"}


def test_dashboards_are_configmaps_the_grafana_sidecar_loads(monitoring_objects):
    config_maps = [o for o in monitoring_objects if o["kind"] == "ConfigMap"]
    assert {o["metadata"]["name"] for o in config_maps} == {"triton-monitoring-dashboard-overview", "triton-monitoring-dashboard-tracks", "triton-monitoring-dashboard-autoscaling"}
    for config_map in config_maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Triton"}
    assert len({d["uid"] for d in dashboards(monitoring_objects).values()}) == 3


def test_sidecar_label_folder_and_namespace_come_from_values():
    objects = render_monitoring({"dashboards": {"sidecarLabel": "dashboards.example.com/load", "sidecarLabelValue": "yes", "folder": "", "namespace": "grafana"}})
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        assert config_map["metadata"]["labels"]["dashboards.example.com/load"] == "yes"
        assert "annotations" not in config_map["metadata"] and config_map["metadata"]["namespace"] == "grafana"


def test_no_dashboards_when_disabled():
    assert not [o for o in render_monitoring({"dashboards": {"enabled": False}}) if o["kind"] == "ConfigMap"]


def test_the_three_dashboards_show_what_they_are_for(monitoring_objects):
    found = dashboards(monitoring_objects)
    overview, tracks, autoscaling = found["triton-overview.json"], found["triton-tracks.json"], found["triton-autoscaling.json"]
    assert "model" in monitoring.dashboard_variables(overview)
    assert all("model=~\"$model\"" in expr for _, _, expr in monitoring.panel_queries(overview) if "triton:model_" in expr)
    assert all("{{track}}" in legend for _, legend, _ in monitoring.panel_queries(tracks))
    replica_queries = " ".join(expr for title, _, expr in monitoring.panel_queries(autoscaling) if title.startswith("Replicas"))
    assert "triton:autoscaler_desired_replicas" in replica_queries and "triton:autoscaler_current_replicas" in replica_queries
    assert any("nv_inference_queue_duration_us" in expr for title, _, expr in monitoring.panel_queries(autoscaling) if "signal" in title)


def panel_rule_file(dashboard: dict) -> dict:
    """Every panel query of a dashboard, Grafana variables filled in, as recording rules of a throwaway rule file
    (promtool parses and type-checks each expression)."""
    rules = []
    for index, (title, _, expr) in enumerate(monitoring.panel_queries(dashboard)):
        rules.append({"record": f"dashboard:panel_{index}", "expr": monitoring.substitute_grafana_variables(expr, GRAFANA_VALUES), "labels": {"panel": title}})
    return {"groups": [{"name": dashboard["uid"], "rules": rules}]}


@pytest.mark.parametrize("name", ["triton-overview.json", "triton-tracks.json", "triton-autoscaling.json"])
def test_every_panel_query_parses_under_promtool(name, monitoring_objects, tmp_path):
    dashboard = dashboards(monitoring_objects)[name]
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump(panel_rule_file(dashboard), sort_keys=False))
    output = monitoring.check_rules(path)
    print(output)
    assert f"SUCCESS: {len(monitoring.panel_queries(dashboard))} rules found" in output


def test_a_broken_panel_query_fails_promtool(monitoring_objects, tmp_path):
    # The negative pair: one unbalanced parenthesis is caught.
    dashboard = json.loads(json.dumps(dashboards(monitoring_objects)["triton-overview.json"]))
    dashboard["panels"][0]["targets"][0]["expr"] += ")"
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump(panel_rule_file(dashboard), sort_keys=False))
    with pytest.raises(monitoring.PromtoolError):
        monitoring.check_rules(path)


@pytest.mark.parametrize("name", ["triton-overview.json", "triton-tracks.json", "triton-autoscaling.json"])
def test_every_panel_reads_real_triton_metrics_or_the_recording_rules(name, monitoring_objects, triton_metric_names):
    recorded = set(monitoring.recording_rules(monitoring_objects))
    used = {}
    for title, _, expr in monitoring.panel_queries(dashboards(monitoring_objects)[name]):
        names = monitoring.metric_names(monitoring.substitute_grafana_variables(expr, GRAFANA_VALUES))
        assert names, f"{title}: {expr} reads no metric"
        used[title] = names - triton_metric_names - recorded
    assert {title: names for title, names in used.items() if names} == {}


def test_an_unknown_metric_in_a_panel_is_caught(triton_metric_names):
    # The negative pair: a metric name Triton never exported (the DCGM exporter's) is reported.
    names = monitoring.metric_names(monitoring.substitute_grafana_variables('avg(DCGM_FI_DEV_GPU_UTIL{namespace="$namespace"})', GRAFANA_VALUES))
    assert names - triton_metric_names == {"DCGM_FI_DEV_GPU_UTIL"}


def test_an_undefined_grafana_variable_is_caught():
    with pytest.raises(ValueError, match="not defined"):
        monitoring.substitute_grafana_variables('up{cluster="$cluster"}', GRAFANA_VALUES)


@pytest.mark.parametrize(("kind", "shown"), [("Deployment", True), ("Rollout", True), ("StatefulSet", False)])
def test_the_autoscaling_dashboard_shows_the_hpa_of_a_deployment_or_a_rollout(kind, shown, monitoring_objects, tmp_path):
    # Under server.canary.strategy argoRollouts the HPA (the chart's, or KEDA's keda-hpa-*) scales a Rollout
    # (argoproj.io/v1alpha1); its replica panels must show it as they show a Deployment's. promtool evaluates the
    # panels' queries over kube-state-metrics' HPA series. The negative pair: an HPA of another kind (a
    # StatefulSet of the same name) is not the release's.
    from tests.render.monitoring.alert_cases import hpa
    from tests.render.monitoring.test_rules import write_spec

    monitoring.write_rule_file(monitoring_objects, tmp_path / "rules.yaml")
    panels = [(title, monitoring.substitute_grafana_variables(expr, GRAFANA_VALUES))
              for title, _, expr in monitoring.panel_queries(dashboards(monitoring_objects)["triton-autoscaling.json"]) if title.startswith("Replicas")]
    assert panels
    checks = []
    for title, query in panels:
        labels = f'{{horizontalpodautoscaler="keda-hpa-{WORKLOAD}", job="{JOB}", namespace="{NAMESPACE}", workload="{WORKLOAD}"}}'
        value = {"desired": 5, "current": 5, "max": 8, "min": 3}[next(word for word in ("desired", "current", "max", "min") if f"autoscaler_{word}" in query)]
        checks.append({"expr": query, "eval_time": "10m", "exp_samples": [{"labels": query.split("{")[0] + labels, "value": value}] if shown else []})
    spec = write_spec(tmp_path, f"dashboard-{kind}", monitoring_objects, [{
        "name": f"autoscaling panels with an HPA of a {kind}", "interval": "1m",
        "input_series": hpa("5x20", kind=kind), "promql_expr_test": checks}])
    print(f"\n{kind}: {[title for title, _ in panels]}")
    print(monitoring.test_rules(spec))

