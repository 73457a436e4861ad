"""Autoscaling: one autoscaler per workload (HPA or KEDA), on Triton's own queue signals, with scheduled and
predictive pre-scaling that can only raise the count; every rendered query and rule checked by value."""

import pytest
import yaml

from tests.conftest import find
from tests.render.server.conftest import deployment, error_of, render_server

pytestmark = pytest.mark.render

KEDA = {"autoscaling": {"mode": "keda"}}
HPA = {"autoscaling": {"mode": "hpa"}}
SELECTOR = 'namespace="inference",pod=~"triton-triton-server-[a-z0-9]+-[a-z0-9]+"'


def autoscaling(**values) -> dict:
    return {"autoscaling": values}


def scaled_object(objects):
    return find(objects, "ScaledObject")


def triggers(objects) -> dict[str, dict]:
    return {trigger.get("name", trigger["type"]): trigger for trigger in scaled_object(objects)["spec"]["triggers"]}


class TestOwnership:
    @pytest.mark.parametrize("mode, kind", [("hpa", "HorizontalPodAutoscaler"), ("keda", "ScaledObject")])
    def test_the_autoscaler_targets_the_deployment_which_has_no_replicas(self, mode, kind):
        objects = render_server({"replicaCount": 5, **autoscaling(mode=mode)})
        autoscaler = find(objects, kind)
        target = autoscaler["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment(objects)["metadata"]["name"]}
        assert "replicas" not in deployment(objects)["spec"]
        other = {"HorizontalPodAutoscaler", "ScaledObject"} - {kind}
        assert not [o for o in objects if o["kind"] in other], "one autoscaler per workload"

    def test_no_autoscaler_and_a_replica_count_by_default(self):
        objects = render_server({"replicaCount": 5})
        assert deployment(objects)["spec"]["replicas"] == 5
        assert not [o for o in objects if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication")]

    @pytest.mark.parametrize("mode", ["hpa", "keda"])
    def test_min_and_max_are_shared_by_both_modes(self, mode):
        objects = render_server(autoscaling(mode=mode, minReplicas=3, maxReplicas=9))
        spec = find(objects, {"hpa": "HorizontalPodAutoscaler", "keda": "ScaledObject"}[mode])["spec"]
        bounds = (spec["minReplicas"], spec["maxReplicas"]) if mode == "hpa" else (spec["minReplicaCount"], spec["maxReplicaCount"])
        assert bounds == (3, 9)

    @pytest.mark.parametrize("mode", ["hpa", "keda"])
    def test_behavior_is_rendered_in_full_from_values(self, mode):
        behavior = {
            "scaleUp": {"stabilizationWindowSeconds": 30, "selectPolicy": "Min", "policies": [{"type": "Pods", "value": 3, "periodSeconds": 45}]},
            "scaleDown": {"stabilizationWindowSeconds": 600, "selectPolicy": "Disabled", "policies": []},
        }
        objects = render_server(autoscaling(mode=mode, behavior=behavior))
        if mode == "hpa":
            rendered = find(objects, "HorizontalPodAutoscaler")["spec"]["behavior"]
        else:
            rendered = scaled_object(objects)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        # Disabled with no policies: the empty list is left out, since the API server refuses `policies: []`
        # (pkg/apis/autoscaling/validation validateScalingRules) whatever selectPolicy says.
        assert rendered == {**behavior, "scaleDown": {"stabilizationWindowSeconds": 600, "selectPolicy": "Disabled"}}


class TestKeda:
    def test_reactive_trigger_reads_queue_time_per_request_of_this_workload(self):
        trigger = triggers(render_server(KEDA))["triton-queue-time-per-request-us"]
        assert trigger["type"] == "prometheus" and trigger["metricType"] == "Value"
        assert trigger["metadata"] == {
            "serverAddress": "http://prometheus-operated.monitoring.svc:9090",
            "query": f"sum(rate(nv_inference_queue_duration_us{{{SELECTOR}}}[2m])) / "
                     f"clamp_min(sum(rate(nv_inference_request_success{{{SELECTOR}}}[2m])), 1e-9)",
            "threshold": "20000",
            "activationThreshold": "0",
            "ignoreNullValues": "false",
        }

    @pytest.mark.parametrize("signal, metric_type, query", [
        ("pendingRequestsPerReplica", "AverageValue", f"sum(nv_inference_pending_request_count{{{SELECTOR}}})"),
        ("queueComputeRatio", "Value", f"sum(rate(nv_inference_queue_duration_us{{{SELECTOR}}}[2m])) / "
                                       f"clamp_min(sum(rate(nv_inference_compute_infer_duration_us{{{SELECTOR}}}[2m])), 1e-9)"),
    ])
    def test_each_signal_has_its_query_and_metric_type(self, signal, metric_type, query):
        (trigger,) = scaled_object(render_server(autoscaling(mode="keda", signal=signal, target=4)))["spec"]["triggers"]
        assert (trigger["metricType"], trigger["metadata"]["query"], trigger["metadata"]["threshold"]) == (metric_type, query, "4")

    def test_signal_can_be_restricted_to_one_model(self):
        (trigger,) = scaled_object(render_server(autoscaling(mode="keda", model="image_classifier")))["spec"]["triggers"]
        assert f'{SELECTOR},model="image_classifier"' in trigger["metadata"]["query"]

    OFFICE = [{"name": "office", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00", "minReplicas": 1}]

    def test_fallback_holds_at_least_the_current_count_when_prometheus_is_unreachable(self):
        spec = scaled_object(render_server(autoscaling(mode="keda", minReplicas=3)))["spec"]
        assert spec["fallback"] == {"failureThreshold": 3, "replicas": 3, "behavior": "currentReplicasIfHigher"}

    def test_minimum_is_kept_unless_scale_to_zero_is_chosen(self):
        assert scaled_object(render_server(KEDA))["spec"]["minReplicaCount"] == 2
        # Scale to zero only between scheduled windows (they are what wakes zero pods), and without a fallback:
        # KEDA's fallback needs a ready pod, and with AverageValue triggers it would start one with no traffic.
        spec = scaled_object(render_server(autoscaling(mode="keda", minReplicas=2, keda={"scaleToZero": True}, scheduled={"windows": self.OFFICE})))["spec"]
        assert spec["minReplicaCount"] == 0 and "fallback" not in spec
        assert [t["type"] for t in spec["triggers"]] == ["prometheus", "cron"]

    def test_scale_to_zero_without_a_window_to_wake_it_is_refused(self):
        message = error_of(autoscaling(mode="keda", minReplicas=2, keda={"scaleToZero": True}))
        assert "autoscaling.keda.scaleToZero: is true with no autoscaling.scheduled.windows" in message and "nothing would ever bring a pod back" in message

    def test_scale_to_zero_at_minimum_zero_needs_the_opt_in(self):
        message = error_of(autoscaling(mode="keda", minReplicas=0))
        assert "autoscaling.minReplicas: is 0, which scales Triton to zero" in message and "autoscaling.keda.scaleToZero true" in message

    def test_secured_prometheus_gets_a_trigger_authentication_from_an_existing_secret(self):
        objects = render_server(autoscaling(mode="keda", prometheus={"authentication": {"mode": "basic", "existingSecret": "prom-creds"}}))
        auth = find(objects, "TriggerAuthentication")
        assert auth["spec"]["secretTargetRef"] == [
            {"parameter": "username", "name": "prom-creds", "key": "username"},
            {"parameter": "password", "name": "prom-creds", "key": "password"},
        ]
        (trigger,) = scaled_object(objects)["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        assert trigger["metadata"]["authModes"] == "basic"

    def test_a_bearer_token_is_read_from_the_documented_key_of_the_secret(self):
        # The key the values document (`bearerToken`), and KEDA's parameter of the same name (prometheus scaler).
        objects = render_server(autoscaling(mode="keda", prometheus={"authentication": {"mode": "bearer", "existingSecret": "prom-token"}}))
        assert find(objects, "TriggerAuthentication")["spec"]["secretTargetRef"] == [
            {"parameter": "bearerToken", "name": "prom-token", "key": "bearerToken"}]
        (trigger,) = scaled_object(objects)["spec"]["triggers"]
        assert trigger["metadata"]["authModes"] == "bearer"

    def test_no_trigger_authentication_without_authentication(self):
        assert not [o for o in render_server(KEDA) if o["kind"] == "TriggerAuthentication"]


class TestPreScaling:
    WINDOWS = [
        {"name": "weekday-peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:30", "end": "20:00", "minReplicas": 5},
        {"name": "weekend", "days": ["sun", "sat"], "start": "10:00", "end": "16:00", "minReplicas": 3},
    ]

    def test_scheduled_windows_become_cron_triggers_with_a_replica_floor(self):
        values = autoscaling(mode="keda", scheduled={"timezone": "Europe/Paris", "windows": self.WINDOWS})
        rendered = triggers(render_server(values))
        assert rendered["scheduled-weekday-peak"] == {"type": "cron", "name": "scheduled-weekday-peak", "metadata": {
            "timezone": "Europe/Paris", "start": "30 7 * * 1,2,3,4,5", "end": "0 20 * * 1,2,3,4,5", "desiredReplicas": "5"}}
        assert rendered["scheduled-weekend"]["metadata"]["start"] == "0 10 * * 0,6"

    def test_forecast_trigger_reads_the_request_rate_ahead_clamped_to_a_multiple_of_now(self):
        values = autoscaling(mode="keda", predictive={"enabled": True, "horizonSeconds": 300, "lookback": "15m", "maxFactor": 2, "replicaCapacity": 150})
        trigger = triggers(render_server(values))["predicted-request-rate"]
        rate = f"sum(rate(nv_inference_request_success{{{SELECTOR}}}[2m]))"
        assert trigger["metricType"] == "AverageValue" and trigger["metadata"]["threshold"] == "150"
        assert trigger["metadata"]["query"] == f"clamp_min(clamp_max(predict_linear(({rate})[15m:2m], 300), scalar({rate}) * 2), 0)"
        assert trigger["metadata"]["ignoreNullValues"] == "false"

    def test_no_pre_scaling_triggers_unless_asked(self):
        assert list(triggers(render_server(KEDA))) == ["triton-queue-time-per-request-us"]

    def test_hpa_offers_the_forecast_through_prometheus_adapter_but_no_schedule(self):
        values = autoscaling(mode="hpa", predictive={"enabled": True, "replicaCapacity": 100})
        metrics = find(render_server(values), "HorizontalPodAutoscaler")["spec"]["metrics"]
        assert [m["type"] for m in metrics] == ["Pods", "External"]
        assert metrics[1]["external"]["target"] == {"type": "AverageValue", "averageValue": "100"}
        message = error_of(autoscaling(mode="hpa", scheduled={"windows": self.WINDOWS[:1]}))
        assert "autoscaling.scheduled.windows: needs" in message and "autoscaling.mode keda" in message


class TestHpa:
    def adapter_rules(self, objects) -> dict:
        configmap = find(objects, "ConfigMap", "-prometheus-adapter")
        return yaml.safe_load(configmap["data"]["values.yaml"])["rules"]

    def test_pods_metric_and_cpu_are_rendered(self):
        spec = find(render_server(autoscaling(mode="hpa", cpuUtilization=80, target=15000)), "HorizontalPodAutoscaler")["spec"]
        assert spec["metrics"] == [
            {"type": "Pods", "pods": {"metric": {"name": "triton_queue_time_per_request_us_triton_triton_server"},
                                      "target": {"type": "AverageValue", "averageValue": "15000"}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
        ]

    def test_adapter_rule_serves_the_metric_the_hpa_reads_from_the_keda_query_text(self):
        hpa_objects = render_server(HPA)
        rules = self.adapter_rules(hpa_objects)
        (rule,) = rules["custom"]
        metric = find(hpa_objects, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["pods"]["metric"]["name"]
        assert rule["name"]["as"] == metric
        assert rule["resources"] == {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}
        assert rules["default"] is False
        # The same text as KEDA's trigger, with the adapter's matchers and grouping in place of this workload's.
        keda_query = scaled_object(render_server(KEDA))["spec"]["triggers"][0]["metadata"]["query"]
        assert rule["metricsQuery"] == keda_query.replace(SELECTOR, "<<.LabelMatchers>>").replace(")) / clamp_min(", ")) by (<<.GroupBy>>) / clamp_min(").replace(")), 1e-9)", ")) by (<<.GroupBy>>), 1e-9)")

    def test_forecast_rule_is_the_keda_forecast_query(self):
        predictive = {"predictive": {"enabled": True, "replicaCapacity": 100}}
        (rule,) = self.adapter_rules(render_server(autoscaling(mode="hpa", **predictive)))["external"]
        keda = triggers(render_server(autoscaling(mode="keda", **predictive)))["predicted-request-rate"]["metadata"]["query"]
        assert rule["metricsQuery"] == keda

    def test_no_adapter_rules_when_the_adapter_is_configured_elsewhere(self):
        objects = render_server(autoscaling(mode="hpa", hpa={"adapterRules": {"create": False}}))
        assert not [o for o in objects if o["metadata"]["name"].endswith("-prometheus-adapter")]

    def test_hpa_cannot_scale_to_zero(self):
        assert "autoscaling.keda.scaleToZero: needs autoscaling.mode keda" in error_of(autoscaling(mode="hpa", keda={"scaleToZero": True}))


REFUSALS = [
        (autoscaling(mode="keda", minReplicas=5, maxReplicas=4), "autoscaling.minReplicas: 5 is above autoscaling.maxReplicas 4"),
        (autoscaling(mode="keda", predictive={"enabled": True}), "autoscaling.predictive.replicaCapacity: is 0 while autoscaling.predictive.enabled"),
        (autoscaling(mode="keda", signal="gpuUtilization", target=0.7), "autoscaling.signal: gpuUtilization needs GPUs"),
        ({"gpu": {"count": 1}, **autoscaling(mode="keda", signal="gpuUtilization", target=70)}, "autoscaling.target: 70 is above 1"),
        (autoscaling(mode="hpa", prometheus={"authentication": {"mode": "bearer", "existingSecret": "s"}}), "autoscaling.prometheus.authentication.mode: bearer is KEDA's"),
        (autoscaling(mode="keda", prometheus={"authentication": {"mode": "bearer"}}), "autoscaling.prometheus.authentication.existingSecret: is required"),
        (autoscaling(mode="keda", behavior={"scaleUp": {"policies": []}}), "autoscaling.behavior.scaleUp.policies: is empty"),
        (autoscaling(mode="keda", scheduled={"windows": [{"name": "night", "days": ["mon"], "start": "22:00", "end": "06:00", "minReplicas": 2}]}),
         "autoscaling.scheduled.windows.0.end: 06:00 is not after start 22:00"),
        (autoscaling(mode="keda", scheduled={"windows": [{"name": "big", "days": ["mon"], "start": "08:00", "end": "09:00", "minReplicas": 7}]}),
         "autoscaling.scheduled.windows.0.minReplicas: 7 is above autoscaling.maxReplicas 6"),
        (autoscaling(mode="keda", scheduled={"windows": [
            {"name": "a", "days": ["mon", "tue"], "start": "08:00", "end": "12:00", "minReplicas": 2},
            {"name": "b", "days": ["tue"], "start": "11:59", "end": "13:00", "minReplicas": 3}]}),
         'autoscaling.scheduled.windows.1: "b" (11:59-13:00) overlaps "a" (08:00-12:00) on tue'),
        (autoscaling(mode="keda", scheduled={"windows": [
            {"name": "a", "days": ["mon"], "start": "08:00", "end": "12:00", "minReplicas": 2},
            {"name": "a", "days": ["fri"], "start": "08:00", "end": "12:00", "minReplicas": 2}]}),
         'autoscaling.scheduled.windows.1.name: "a" is used by two windows'),
        ({"podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}, **autoscaling(mode="hpa", minReplicas=2)},
         "podDisruptionBudget.maxUnavailable: 2 allows every one of the 2 replicas (autoscaling.minReplicas)"),
    (autoscaling(mode="keda", minReplicas=0), "autoscaling.minReplicas: is 0, which scales Triton to zero"),
    (autoscaling(mode="hpa", keda={"scaleToZero": True}), "autoscaling.keda.scaleToZero: needs autoscaling.mode keda"),
    ({"gpu": {"count": 1, "mig": {"strategy": "mixed", "gpuModel": "H100-80GB", "profile": "1g.10gb"}}, **autoscaling(mode="keda", signal="gpuUtilization", target=0.5)},
     "autoscaling.signal: gpuUtilization cannot be read per MIG slice"),
    (autoscaling(mode="hpa", scheduled={"windows": [{"name": "a", "days": ["mon"], "start": "08:00", "end": "09:00", "minReplicas": 2}]}),
     "autoscaling.scheduled.windows: needs autoscaling.mode keda"),
    ({"replicaCount": None}, "replicaCount: is null or missing"),
]
# The refusals as "path: message" lines, for the guard that every render-time check has a rejecting case.
REFUSAL_MESSAGES = [message for _, message in REFUSALS]


class TestRefusals:
    @pytest.mark.parametrize("values, message", REFUSALS)
    def test_bad_combination_fails_naming_the_value(self, values, message):
        assert message in error_of(values)

    def test_windows_that_meet_end_to_start_or_share_no_day_are_accepted(self):
        # The negative pair of the overlap check, at its boundary: 12:00 end, 12:00 start.
        windows = [{"name": "a", "days": ["mon"], "start": "08:00", "end": "12:00", "minReplicas": 2},
                   {"name": "b", "days": ["mon"], "start": "12:00", "end": "13:00", "minReplicas": 3},
                   {"name": "c", "days": ["tue"], "start": "08:00", "end": "13:00", "minReplicas": 3}]
        assert len(scaled_object(render_server(autoscaling(mode="keda", scheduled={"windows": windows})))["spec"]["triggers"]) == 4
