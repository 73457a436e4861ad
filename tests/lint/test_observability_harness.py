"""The harness pieces the observability tests stand on: Triton's exposition read by prometheus_client's parser, the
PromQL metric-name reader, the ServiceMonitor-to-scrape-config translation."""

import math

import pytest

from tests.harness import monitoring
from tests.harness.triton_local import parse_prometheus_text

pytestmark = pytest.mark.render

EXPOSITION = """# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="picky",version="1"} 36
# TYPE nv_inference_request_summary_us summary
nv_inference_request_summary_us{model="burn",version="1",quantile="0.95"} Nan
nv_inference_request_summary_us_count{model="burn",version="1"} 0
# TYPE odd gauge
odd{path="C:\\\\models",note="say \\"hi\\"\\nbye"} 1e3
"""


def test_exposition_keeps_triton_names_nan_and_escaped_labels():
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in parse_prometheus_text(EXPOSITION)}
    assert samples[("nv_inference_request_success", (("model", "picky"), ("version", "1")))] == 36.0
    assert math.isnan(samples[("nv_inference_request_summary_us", (("model", "burn"), ("quantile", "0.95"), ("version", "1")))])
    assert samples[("odd", (("note", 'say "hi"\nbye'), ("path", "C:\\models")))] == 1000.0


def test_a_malformed_exposition_is_refused():
    with pytest.raises(ValueError):
        parse_prometheus_text('nv_inference_count{model="m" 12\n')


def test_metric_names_come_from_the_syntax_tree():
    assert monitoring.metric_names('sum by (model) (rate(a{x="y"}[5m])) / on (job) group_left () b:c + {__name__="d"}') == {"a", "b:c", "d"}
    with pytest.raises(ValueError, match="does not parse"):
        monitoring.metric_names("sum(rate(a[5m])")


def test_a_relabeling_the_translation_does_not_know_is_refused():
    monitor = {"metadata": {"namespace": "n", "name": "m"},
               "spec": {"endpoints": [{"port": "metrics", "interval": "1s", "scrapeTimeout": "1s", "relabelings": [{"targetLabel": "a", "replacement": "b", "unknownField": 1}]}]}}
    with pytest.raises(ValueError, match="unknownField"):
        monitoring.scrape_config_for(monitor, "127.0.0.1:1", monitoring.Pod("p", "n", {}, "s"))
