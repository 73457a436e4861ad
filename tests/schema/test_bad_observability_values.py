"""Bad values of the monitoring and logging sections, rejected by both Helm majors naming the value path (the same
contract as tests/schema/test_bad_values.py, kept beside it for the two observability subcharts)."""

import pytest

from tests.harness.errors import error_lines
from tests.schema.test_bad_values import rejection

pytestmark = pytest.mark.render

MONITORING = {"enabled": True}
LOGGING = {"enabled": True}

BAD_VALUES = {
    # monitoring: the SLO, thresholds, durations, URLs, names (schema) and combinations (templates)
    "availability SLO of 1": ({"monitoring": {**MONITORING, "prometheusRule": {"slo": {"availability": 1}}}}, "monitoring.prometheusRule.slo.availability"),
    "availability SLO of 0": ({"monitoring": {**MONITORING, "prometheusRule": {"slo": {"availability": 0}}}}, "monitoring.prometheusRule.slo.availability"),
    "availability SLO as a percentage": ({"monitoring": {**MONITORING, "prometheusRule": {"slo": {"availability": 99.9}}}}, "monitoring.prometheusRule.slo.availability"),
    # 6 x (1 - 5/6) = 1: the fast-burn page would need a failure ratio above 1 (the pair that renders, just above, is in
    # tests/render/monitoring/test_rules.py)
    "availability SLO at 1 - 1/6": ({"monitoring": {**MONITORING, "prometheusRule": {"slo": {"availability": 0.8333333333333333}}}}, "monitoring.prometheusRule.slo.availability"),
    "availability SLO of 0.8": ({"monitoring": {**MONITORING, "prometheusRule": {"slo": {"availability": 0.8}}}}, "monitoring.prometheusRule.slo.availability"),
    "negative queue-time objective": ({"monitoring": {**MONITORING, "prometheusRule": {"slo": {"queueSecondsPerRequest": -0.02}}}}, "monitoring.prometheusRule.slo.queueSecondsPerRequest"),
    "negative pending-requests threshold": ({"monitoring": {**MONITORING, "prometheusRule": {"thresholds": {"pendingRequests": -1}}}}, "monitoring.prometheusRule.thresholds.pendingRequests"),
    "gpu memory threshold above 1": ({"monitoring": {**MONITORING, "prometheusRule": {"thresholds": {"gpuMemoryUtilization": 1.5}}}}, "monitoring.prometheusRule.thresholds.gpuMemoryUtilization"),
    "negative restart threshold": ({"monitoring": {**MONITORING, "prometheusRule": {"thresholds": {"restarts": -3}}}}, "monitoring.prometheusRule.thresholds.restarts"),
    "canary allowed to be faster only": ({"monitoring": {**MONITORING, "prometheusRule": {"thresholds": {"canaryLatencyRatio": 0.5}}}}, "monitoring.prometheusRule.thresholds.canaryLatencyRatio"),
    "runbook base url that is not a url": ({"monitoring": {**MONITORING, "prometheusRule": {"runbookBaseUrl": "wiki/runbooks"}}}, "monitoring.prometheusRule.runbookBaseUrl"),
    "runbook base url with a space": ({"monitoring": {**MONITORING, "prometheusRule": {"runbookBaseUrl": "https://wiki.example.com/run books"}}}, "monitoring.prometheusRule.runbookBaseUrl"),
    "override of an alert that does not exist": ({"monitoring": {**MONITORING, "prometheusRule": {"alerts": {"TritonServerGone": {"for": "5m"}}}}}, "monitoring.prometheusRule.alerts.TritonServerGone"),
    "alert tier that is not page or ticket": ({"monitoring": {**MONITORING, "prometheusRule": {"alerts": {"TritonServerDown": {"tier": "sms"}}}}}, "monitoring.prometheusRule.alerts.TritonServerDown.tier"),
    "alert for that is not a duration": ({"monitoring": {**MONITORING, "prometheusRule": {"alerts": {"TritonServerDown": {"for": "5 minutes"}}}}}, "monitoring.prometheusRule.alerts.TritonServerDown.for"),
    "empty severity": ({"monitoring": {**MONITORING, "prometheusRule": {"severity": {"page": ""}}}}, "monitoring.prometheusRule.severity.page"),
    "scrape interval that is not a duration": ({"monitoring": {**MONITORING, "serviceMonitor": {"interval": "30 seconds"}}}, "monitoring.serviceMonitor.interval"),
    "scrape timeout longer than the interval": ({"monitoring": {**MONITORING, "serviceMonitor": {"scrapeTimeout": "1m"}}}, "monitoring.serviceMonitor.scrapeTimeout"),
    "series label that overwrites a target label": ({"monitoring": {**MONITORING, "serviceMonitor": {"seriesLabels": {"job": "triton"}}}}, "monitoring.serviceMonitor.seriesLabels.job"),
    "series label name Prometheus refuses": ({"monitoring": {**MONITORING, "serviceMonitor": {"seriesLabels": {"cluster-name": "eu"}}}}, "monitoring.serviceMonitor.seriesLabels.cluster-name"),
    "series label Prometheus keeps to itself": ({"monitoring": {**MONITORING, "serviceMonitor": {"seriesLabels": {"__cluster": "eu"}}}}, "monitoring.serviceMonitor.seriesLabels.__cluster"),
    "series label that would change the scraped address": ({"monitoring": {**MONITORING, "serviceMonitor": {"seriesLabels": {"__address__": "10.0.0.1:9"}}}}, "monitoring.serviceMonitor.seriesLabels.__address__"),
    # a pod serves no metrics while it loads its models: the scrape alert must wait out the startup budget
    "scrape alert shorter than the startup budget": ({"monitoring": MONITORING, "server": {"probes": {"maxModelLoadSeconds": 900}}},
                                                     "monitoring.prometheusRule.alerts.TritonScrapeTargetDown.for"),
    "alert settings where the alerts are not rendered": ({"monitoring": {**MONITORING, "prometheusRule": {"sharedRules": False, "alerts": {"TritonServerDown": {"for": "1m"}}}}}, "monitoring.prometheusRule.alerts"),
    "misspelt monitoring key": ({"monitoring": {**MONITORING, "serviceMonitors": {}}}, "monitoring.serviceMonitors"),
    "monitoring without the server's metrics": ({"monitoring": MONITORING, "server": {"triton": {"metrics": {"enabled": False}}}}, "monitoring.enabled"),
    "monitoring without the latency summaries": ({"monitoring": MONITORING, "server": {"triton": {"metrics": {"summaryLatencies": False}}}}, "server.triton.metrics.summaryLatencies"),
    "monitoring switch not a boolean": ({"monitoring": {"enabled": "yes"}}, "monitoring.enabled"),
    # logging: outputs, hosts, sizes, paths (schema) and what an output needs (templates)
    "unknown log output type": ({"logging": {**LOGGING, "output": {"type": "splunk"}}}, "logging.output.type"),
    "empty elasticsearch host": ({"logging": {**LOGGING, "output": {"type": "elasticsearch", "elasticsearch": {"host": ""}}}}, "logging.output.elasticsearch.host"),
    "elasticsearch host with a scheme": ({"logging": {**LOGGING, "output": {"type": "elasticsearch", "elasticsearch": {"host": "https://es:9200"}}}}, "logging.output.elasticsearch.host"),
    "empty opensearch host": ({"logging": {**LOGGING, "output": {"type": "opensearch"}}}, "logging.output.opensearch.host"),
    "search port out of range": ({"logging": {**LOGGING, "output": {"opensearch": {"port": 0}}}}, "logging.output.opensearch.port"),
    "loki without a url": ({"logging": {**LOGGING, "output": {"type": "loki"}, "image": {"repository": "registry.example.com/fluentd-loki", "tag": "1"}}}, "logging.output.loki.url"),
    "loki url that is not a url": ({"logging": {**LOGGING, "output": {"loki": {"url": "loki:3100"}}}}, "logging.output.loki.url"),
    "loki with an image that lacks its plugin": ({"logging": {**LOGGING, "output": {"type": "loki", "loki": {"url": "http://loki.svc"}}}}, "logging.image.repository"),
    "buffer size in kubernetes units": ({"logging": {**LOGGING, "buffer": {"totalLimitSize": "2Gi"}}}, "logging.buffer.totalLimitSize"),
    "negative multi-line flush": ({"logging": {**LOGGING, "multilineFlushSeconds": -5}}, "logging.multilineFlushSeconds"),
    "relative node log path": ({"logging": {**LOGGING, "hostPaths": {"logs": "var/log"}}}, "logging.hostPaths.logs"),
    "fluentd in the server's namespace": ({"logging": {**LOGGING, "namespace": {"name": "inference"}}}, "logging.namespace.name"),
    "unknown fluentd log level": ({"logging": {**LOGGING, "logLevel": "verbose"}}, "logging.logLevel"),
    "misspelt logging key": ({"logging": {**LOGGING, "outputs": {}}}, "logging.outputs"),
    "private CA for a search over http": ({"logging": {**LOGGING, "output": {"type": "elasticsearch", "elasticsearch": {"host": "es.logging.svc", "scheme": "http", "caSecret": "es-ca"}}}},
                                          "logging.output.elasticsearch.caSecret"),
    "CA secret name with a slash": ({"logging": {**LOGGING, "output": {"opensearch": {"caSecret": "certs/ca"}}}}, "logging.output.opensearch.caSecret"),
    "certificate check not a boolean": ({"logging": {**LOGGING, "output": {"elasticsearch": {"sslVerify": "no"}}}}, "logging.output.elasticsearch.sslVerify"),
    # the log path spells the pods' names out: Kubernetes cuts them past 46-character workload names
    "server name too long for its pods' log files": ({"logging": LOGGING, "global": {"server": {"fullnameOverride": "s" * 47}}}, "logging.enabled"),
    "canary name too long for its pods' log files": ({"logging": LOGGING, "global": {"server": {"fullnameOverride": "s" * 40}},
                                                      "server": {"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}}, "logging.enabled"),
}


def test_there_are_at_least_10_distinct_bad_observability_values():
    assert len({path for _, path in BAD_VALUES.values()}) >= 10


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_by_both_helms_naming_the_path(case):
    values, path = BAD_VALUES[case]
    by_helm3 = error_lines(rejection(values, "helm3").stderr, "triton-stack")
    by_helm4 = error_lines(rejection(values, "helm4").stderr, "triton-stack")
    assert by_helm3 == by_helm4
    assert path in {found for found, _ in by_helm3}, by_helm3
