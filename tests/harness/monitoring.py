"""What the monitoring tests share: the rendered rules as a Prometheus rule file, promtool, the scrape config
prometheus-operator would generate from the rendered ServiceMonitor, and the metric names a PromQL expression
reads (parsed with promql-parser, not guessed with a regex).

promtool is Debian's (`prometheus` package, the same 2.42 as the loopback server); every check runs the real
binary on the rendered text.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import promql_parser
import yaml

from tests.harness.prometheus_local import PROMTOOL, find_binary

PROMTOOL_TIMEOUT_SECONDS = 120


class PromtoolError(AssertionError):
    """promtool found a problem; carries its output."""


def prometheus_rule(objects: Iterable[Mapping]) -> dict:
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    return rule


def rule_groups(objects: Iterable[Mapping]) -> list[dict]:
    return prometheus_rule(objects)["spec"]["groups"]


def alerts(objects: Iterable[Mapping]) -> dict[str, dict]:
    """Alert name -> rendered alerting rule."""
    return {rule["alert"]: rule for group in rule_groups(objects) for rule in group["rules"] if "alert" in rule}


def recording_rules(objects: Iterable[Mapping]) -> dict[str, list[dict]]:
    """Recorded series name -> the rules that record it (objectives: one per release)."""
    found: dict[str, list[dict]] = {}
    for group in rule_groups(objects):
        for rule in group["rules"]:
            if "record" in rule:
                found.setdefault(rule["record"], []).append(rule)
    return found


def write_rule_file(objects: Iterable[Mapping], path: Path) -> Path:
    """The PrometheusRule's spec as the rule file prometheus-operator writes for Prometheus ({groups: [...]})."""
    path.write_text(yaml.safe_dump({"groups": rule_groups(objects)}, sort_keys=False))
    return path


def promtool(*args: str, cwd: Path | None = None) -> str:
    """Runs promtool; returns its output, raises PromtoolError when it exits non-zero."""
    completed = subprocess.run([str(find_binary(PROMTOOL)), *args], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_SECONDS, cwd=cwd)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise PromtoolError(f"promtool {' '.join(args)} exited {completed.returncode}:\n{output}")
    return output


def check_rules(path: Path) -> str:
    return promtool("check", "rules", str(path))


def test_rules(spec: Path) -> str:
    return promtool("test", "rules", str(spec), cwd=spec.parent)


test_rules.__test__ = False  # a helper, not a pytest test


def seconds(duration: str) -> int:
    """A Prometheus duration ("5m", "1h30m", "10s") in whole seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"{duration!r} is not a Prometheus duration")
    return round(sum(int(number) * units[unit] for number, unit in parts))


# --- PromQL ---------------------------------------------------------------------------------------------


def metric_names(expression: str) -> set[str]:
    """Every metric name an expression selects, from promql-parser's syntax tree (a vector selector's name,
    or its __name__ matcher). Raises ValueError when the expression does not parse."""
    try:
        tree = promql_parser.parse(expression)
    except Exception as error:  # the binding raises a plain exception type of its own
        raise ValueError(f"{expression!r} does not parse: {error}") from None
    names: set[str] = set()
    _walk(tree, names)
    return names


def _walk(node, names: set[str]) -> None:
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            names.add(node.name)
        for matcher in node.matchers.matchers:
            if matcher.name == "__name__":
                names.add(matcher.value)
        return
    for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            _walk(child, names)
    for arg in getattr(node, "args", None) or ():
        _walk(arg, names)


# --- Grafana dashboards ------------------------------------------------------------------------------------

# What Grafana puts in place of its variables before the query reaches Prometheus, for a given release.
GRAFANA_RANGE_VARIABLES = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "1h"}


def panel_queries(dashboard: Mapping) -> list[tuple[str, str, str]]:
    """(panel title, legend, expr) for every target of every panel, rows included."""
    found = []
    for panel in dashboard.get("panels", []):
        for nested in [panel, *panel.get("panels", [])]:
            for target in nested.get("targets", []):
                if "expr" in target:
                    found.append((nested["title"], target.get("legendFormat", ""), target["expr"]))
    return found


def substitute_grafana_variables(expression: str, variables: Mapping[str, str], range_variables: Mapping[str, str] = GRAFANA_RANGE_VARIABLES) -> str:
    """The query as Grafana sends it: $__rate_interval and friends, then $var / ${var} by value. A variable left
    over is an error (the dashboard uses one it does not define)."""
    for name, value in range_variables.items():
        expression = expression.replace(name, value)
    for name, value in sorted(variables.items(), key=lambda item: -len(item[0])):
        expression = expression.replace("${" + name + "}", value).replace("$" + name, value)
    leftover = re.findall(r"\$\{?\w+", expression)
    if leftover:
        raise ValueError(f"{expression!r}: variables {leftover} are not defined by the dashboard")
    return expression


def dashboard_variables(dashboard: Mapping) -> list[str]:
    return [variable["name"] for variable in dashboard.get("templating", {}).get("list", [])]


# --- the ServiceMonitor as Prometheus runs it -----------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """What Kubernetes service discovery knows of one endpoint of the metrics Service."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    service: str
    container: str = "triton"


def _sanitize(label: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def scrape_config_for(service_monitor: Mapping, address: str, pod: Pod) -> dict:
    """The scrape config prometheus-operator generates for the ServiceMonitor's one endpoint (its job, interval,
    timeout, path, the target labels namespace/service/pod/container/endpoint/job, then the endpoint's own
    relabelings), aimed at one static target that carries the __meta_kubernetes_* labels Kubernetes service
    discovery would give it. prometheus-operator pkg/prometheus/promcfg.go generateServiceMonitorConfig: the
    standard relabelings come before the user's."""
    (endpoint,) = service_monitor["spec"]["endpoints"]
    meta = {
        "__meta_kubernetes_namespace": pod.namespace,
        "__meta_kubernetes_service_name": pod.service,
        "__meta_kubernetes_pod_name": pod.name,
        "__meta_kubernetes_pod_container_name": pod.container,
        "__meta_kubernetes_endpoint_port_name": endpoint["port"],
        **{f"__meta_kubernetes_pod_label_{_sanitize(key)}": value for key, value in pod.labels.items()},
    }
    standard = [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]
    own = [_relabel_config(relabeling) for relabeling in endpoint.get("relabelings", [])]
    return {
        "job_name": f"serviceMonitor/{service_monitor['metadata']['namespace']}/{service_monitor['metadata']['name']}/0",
        "scrape_interval": endpoint["interval"],
        "scrape_timeout": endpoint["scrapeTimeout"],
        "metrics_path": endpoint.get("path", "/metrics"),
        "scheme": endpoint.get("scheme", "http"),
        "static_configs": [{"targets": [address], "labels": meta}],
        "relabel_configs": standard + own,
    }


def _relabel_config(relabeling: Mapping) -> dict:
    """A ServiceMonitor RelabelConfig (camelCase) as Prometheus's relabel_config (snake_case)."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label", "separator": "separator", "regex": "regex",
            "modulus": "modulus", "replacement": "replacement", "action": "action"}
    unknown = set(relabeling) - set(keys)
    if unknown:
        raise ValueError(f"relabeling {dict(relabeling)} has fields {sorted(unknown)} this translation does not know")
    return {keys[key]: value for key, value in relabeling.items()}
