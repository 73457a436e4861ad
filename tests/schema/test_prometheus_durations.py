"""Every value that Prometheus parses as a duration accepts exactly what Prometheus parses, from one definition.

Prometheus reads durations with prometheus/common model.ParseDuration (model/time.go): "0", or digits and a unit,
units among y w d h m s ms, each at most once and largest first ("1h30m", never "30m1h" or "1m5m"); the empty
string is refused. prometheus-operator's CRDs validate the same with one pattern (its Duration type), which the
pinned CRD schemas hold (tests/harness/crd-schemas); that pattern, plus a minimum length for the empty string, is
the definition `prometheusDuration` that each chart's self-contained schema repeats (Helm fetches no remote $ref),
and `positivePrometheusDuration` leaves out the zero durations where a zero means nothing (a rate window, a
scrape interval). This test holds the copies equal to the CRD's pattern, lists the values that must use them, and
compares the definitions with a port of ParseDuration over a set of spellings. promotion.interval is also Argo
Rollouts' analysis interval, which Argo parses with Go's time.ParseDuration (argo-rollouts
pkg/apis/rollouts/v1alpha1 DurationString), without d, w or y: it takes the positive definition in h, m, s, ms.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from tests.harness import render as helm
from tests.harness.errors import error_lines
from tests.schema.test_bad_values import rejection

pytestmark = pytest.mark.render

CRD_SCHEMAS = helm.REPO_ROOT / "tests" / "harness" / "crd-schemas"
# (chart, dotted path in its values, definition): every value the charts hand to Prometheus as a duration.
PROMETHEUS_DURATIONS = [
    ("triton-monitoring", "serviceMonitor.interval", "positivePrometheusDuration"),
    ("triton-monitoring", "serviceMonitor.scrapeTimeout", "positivePrometheusDuration"),
    ("triton-monitoring", "prometheusRule.alerts.*.for", "prometheusDuration"),
    ("triton-server", "autoscaling.window", "positivePrometheusDuration"),
    ("triton-server", "autoscaling.predictive.lookback", "positivePrometheusDuration"),
    ("triton-routing", "sidecarMetrics.interval", "positivePrometheusDuration"),
    ("triton-routing", "promotion.interval", "positivePrometheusDuration"),
]
CHARTS = sorted({chart for chart, _, _ in PROMETHEUS_DURATIONS})
UNITS = {"y": 31536000000, "w": 604800000, "d": 86400000, "h": 3600000, "m": 60000, "s": 1000, "ms": 1}
SPELLINGS = ["0", "", "0s", "0m0s", "1s", "30s", "500ms", "1m30s", "1h30m", "2h", "1d", "1w", "1y", "1y2w3d4h5m6s7ms",
             "1m5m", "30s1m", "1s1ms1s", "5m0s", "010s", "1.5m", "-1m", "1M", "1 m", " 1m", "m", "1", "1mm", "1ms1s", "1h1d"]


def parse_duration(text: str) -> int | None:
    """prometheus/common model.ParseDuration, ported: milliseconds, or None where Prometheus returns an error."""
    if text == "0":
        return 0
    if text == "":
        return None
    total, last_unit, rest = 0, -1, text
    order = list(UNITS)
    while rest:
        number = re.match(r"[0-9]+", rest)
        if not number:
            return None
        rest = rest[number.end():]
        unit = re.match(r"[^0-9]+", rest)
        if not unit or unit.group() not in UNITS:
            return None
        rest = rest[unit.end():]
        position = order.index(unit.group())
        if position <= last_unit:
            return None  # units must go from the largest to the smallest, each once
        last_unit = position
        total += int(number.group()) * UNITS[unit.group()]
    return total


def operator_pattern() -> str:
    """prometheus-operator's Duration pattern, as its ServiceMonitor CRD validates `interval`."""
    crd = json.loads((CRD_SCHEMAS / "monitoring.coreos.com_v1_ServiceMonitor.json").read_text())
    return crd["openAPIV3Schema"]["properties"]["spec"]["properties"]["endpoints"]["items"]["properties"]["interval"]["pattern"]


def schema(chart: str) -> dict:
    return json.loads((helm.CHARTS_DIR / chart / "values.schema.json").read_text())


def node(chart: str, path: str) -> dict:
    current = schema(chart)
    for part in path.split("."):
        if part == "*":
            (current,) = current["patternProperties"].values()
        else:
            current = current["properties"][part]
    return current


def accepts(definition: dict, text: str, definitions: dict) -> bool:
    return jsonschema.Draft7Validator({**definition, "definitions": definitions}).is_valid(text)


@pytest.mark.parametrize("chart", CHARTS)
def test_each_chart_repeats_the_one_definition(chart):
    definitions = schema(chart)["definitions"]
    expected = {"type": "string", "minLength": 1, "pattern": operator_pattern()}
    assert {k: v for k, v in definitions["prometheusDuration"].items() if k != "description"} == expected
    assert {k: v for k, v in definitions["positivePrometheusDuration"].items() if k != "description"} == {**expected, "not": {"pattern": "^[0ywdhms]*$"}}


@pytest.mark.parametrize(("chart", "path", "definition"), PROMETHEUS_DURATIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_every_prometheus_duration_uses_it(chart, path, definition):
    value = node(chart, path)
    refs = [value.get("$ref")] + [item.get("$ref") for item in value.get("allOf", [])]
    assert f"#/definitions/{definition}" in refs, (chart, path, value)


@pytest.mark.parametrize("text", SPELLINGS, ids=lambda s: repr(s))
def test_the_definitions_accept_exactly_what_prometheus_parses(text):
    definitions = schema("triton-monitoring")["definitions"]
    parsed = parse_duration(text)
    assert accepts(definitions["prometheusDuration"], text, definitions) == (parsed is not None)
    assert accepts(definitions["positivePrometheusDuration"], text, definitions) == bool(parsed)


def test_the_old_pattern_accepted_what_prometheus_refuses():
    # The negative pair: the pattern the charts had, ^([0-9]+(ms|s|m|h|d|w|y))+$, took units in any order.
    old = {"type": "string", "pattern": "^([0-9]+(ms|s|m|h|d|w|y))+$"}
    wrong = [text for text in SPELLINGS if accepts(old, text, {}) != (parse_duration(text) is not None)]
    assert {"1m5m", "30s1m", "1s1ms1s", "1ms1s", "1h1d"} <= set(wrong), wrong


@pytest.mark.parametrize("text", ["1h30m", "90s", "500ms", "2m"])
def test_the_promotion_interval_is_a_duration_go_parses_too(text):
    # Argo's analysis interval goes through time.ParseDuration; the gate's queries use it as a rate window.
    routing = schema("triton-routing")
    assert jsonschema.Draft7Validator({**node("triton-routing", "promotion.interval"), "definitions": routing["definitions"]}).is_valid(text)


@pytest.mark.parametrize("text", ["1d", "1w", "0s", "1m1h"])
def test_the_promotion_interval_refuses_what_go_or_prometheus_cannot_use(text):
    routing = schema("triton-routing")
    assert not jsonschema.Draft7Validator({**node("triton-routing", "promotion.interval"), "definitions": routing["definitions"]}).is_valid(text)


MONITORED = {"monitoring": {"enabled": True}}
GATED = {"server": {"canary": {"enabled": True, "strategy": "argoRollouts"}}, **MONITORED,
         "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}}
BAD_DURATIONS = {
    "scrape interval with two minute parts": ({"monitoring": {"enabled": True, "serviceMonitor": {"interval": "1m5m"}}}, "monitoring.serviceMonitor.interval"),
    "zero scrape interval": ({"monitoring": {"enabled": True, "serviceMonitor": {"interval": "0s"}}}, "monitoring.serviceMonitor.interval"),
    "alert for with seconds before minutes": ({"monitoring": {"enabled": True, "prometheusRule": {"alerts": {"TritonServerDown": {"for": "30s1m"}}}}},
                                              "monitoring.prometheusRule.alerts.TritonServerDown.for"),
    "rate window with units out of order": ({"server": {"autoscaling": {"mode": "keda", "window": "30s2m"}}}, "server.autoscaling.window"),
    "forecast lookback of zero": ({"server": {"autoscaling": {"mode": "keda", "predictive": {"lookback": "0m"}}}}, "server.autoscaling.predictive.lookback"),
    "sidecar scrape interval with two second parts": ({"routing": {"enabled": True, "sidecarMetrics": {"interval": "15s15s"}}}, "routing.sidecarMetrics.interval"),
    "gate interval in days (Argo cannot parse it)": ({**GATED, "routing": {**GATED["routing"], "promotion": {"enabled": True, "interval": "1d"}}}, "routing.promotion.interval"),
}


@pytest.mark.parametrize("case", sorted(BAD_DURATIONS))
def test_a_duration_prometheus_refuses_is_rejected_by_both_helms_naming_the_path(case):
    values, path = BAD_DURATIONS[case]
    by_helm3 = error_lines(rejection(values, "helm3").stderr, "triton-stack")
    by_helm4 = error_lines(rejection(values, "helm4").stderr, "triton-stack")
    assert by_helm3 == by_helm4
    assert path in {found for found, _ in by_helm3}, by_helm3


@pytest.mark.parametrize("values", [
    {"monitoring": {"enabled": True, "serviceMonitor": {"interval": "1m30s", "scrapeTimeout": "1m"}, "prometheusRule": {"alerts": {"TritonServerDown": {"for": "0"}}}}},
    {"server": {"autoscaling": {"mode": "keda", "window": "2m30s", "predictive": {"lookback": "1h30m"}}}},
], ids=["monitoring", "server"])
def test_multi_unit_durations_in_order_render(values):
    # The pair of the bad cases: units in order, several of them, and a bare 0 for `for`, render.
    assert helm.render("triton-stack", values=values, kube_version=helm.declared_kube_versions()[1])
