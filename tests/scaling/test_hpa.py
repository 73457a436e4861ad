"""The HPA arithmetic module (ci/scaling/hpa.py) against the Kubernetes controller's rules, case by case."""

import pytest

from ci.scaling.hpa import Behavior, HorizontalPodAutoscaler, proposal
from tests.conftest import find


class TestProposal:
    @pytest.mark.parametrize("value, expected", [(109, 4), (91, 4), (111, 5), (89, 4), (200, 8), (50, 2)])
    def test_value_metric_scales_the_count_by_the_ratio_outside_the_tolerance(self, value, expected):
        # 4 replicas, target 100: ratio 1.09 and 0.91 are within the 0.1 tolerance; 1.11 -> ceil(4.44) = 5;
        # 0.89 -> ceil(3.56) = 4. (Exactly 1.1 is outside in float arithmetic, as in the controller's Go code.)
        assert proposal(4, value, 100, "Value") == expected

    @pytest.mark.parametrize("total, expected", [(400, 4), (439, 4), (450, 5), (1000, 10), (0, 0)])
    def test_average_value_metric_divides_the_total_by_the_target(self, total, expected):
        assert proposal(4, total, 100, "AverageValue") == expected

    def test_average_value_from_zero_replicas(self):
        assert proposal(0, 250, 100, "AverageValue") == 3

    @pytest.mark.parametrize("target", [0, -1])
    def test_a_target_that_is_not_positive_is_refused(self, target):
        with pytest.raises(ValueError, match="target must be > 0"):
            proposal(2, 1, target, "Value")


def hpa(minimum=1, maximum=20, behavior=None) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(minimum, maximum, Behavior.from_spec(behavior))


class TestHorizontalPodAutoscaler:
    def test_the_largest_metric_wins_so_a_floor_or_forecast_can_only_raise_the_count(self):
        scaler = hpa()
        reactive_only = scaler.desired_replicas(0, 4, [(50, 100, "Value")])
        scaler = hpa()
        # the same reactive reading plus a cron floor of 6 (AverageValue, target 1) and a low forecast
        with_pre_scaling = scaler.desired_replicas(0, 4, [(50, 100, "Value"), (6, 1, "AverageValue"), (10, 100, "AverageValue")])
        assert reactive_only == 2 and with_pre_scaling == 6
        # and a floor below the reactive ask changes nothing: 12 asked, 8 allowed by the default rate (+100%)
        assert hpa().desired_replicas(0, 4, [(300, 100, "Value"), (2, 1, "AverageValue")]) == 8

    def test_scale_down_waits_out_the_stabilization_window(self):
        scaler = hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}})
        assert scaler.desired_replicas(0, 8, [(100, 100, "Value")]) == 8
        # load gone: the raw recommendation is 1, the highest of the last 300 s (8) holds
        assert scaler.desired_replicas(60, 8, [(0, 100, "Value")]) == 8
        assert scaler.desired_replicas(299, 8, [(0, 100, "Value")]) == 8
        assert scaler.desired_replicas(301, 8, [(0, 100, "Value")]) == 1

    def test_scale_up_is_limited_per_policy_period(self):
        behavior = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}, {"type": "Percent", "value": 50, "periodSeconds": 60}]}}
        scaler = hpa(behavior=behavior)
        # from 4: +2 pods -> 6, +50% -> 6; Max -> 6 although 20 are asked for
        assert scaler.desired_replicas(0, 4, [(500, 100, "Value")]) == 6
        # 30 s later the period still holds the +2 event: the period started at 4, so nothing more
        assert scaler.desired_replicas(30, 6, [(500, 100, "Value")]) == 6
        # after the period: from 6, +2 -> 8, +50% -> 9; Max -> 9
        assert scaler.desired_replicas(61, 6, [(500, 100, "Value")]) == 9

    def test_select_policy_min_and_disabled(self):
        policies = [{"type": "Pods", "value": 1, "periodSeconds": 60}, {"type": "Percent", "value": 100, "periodSeconds": 60}]
        assert hpa(behavior={"scaleUp": {"selectPolicy": "Min", "policies": policies}}).desired_replicas(0, 4, [(500, 100, "Value")]) == 5
        assert hpa(behavior={"scaleUp": {"selectPolicy": "Disabled", "policies": policies}}).desired_replicas(0, 4, [(500, 100, "Value")]) == 4

    def test_bounds_clamp_the_result(self):
        assert hpa(minimum=3, maximum=5).desired_replicas(0, 4, [(1000, 100, "Value")]) == 5
        scaler = hpa(minimum=3, maximum=5, behavior={"scaleDown": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}})
        assert scaler.desired_replicas(0, 4, [(0, 100, "Value")]) == 3

    def test_behavior_read_from_the_rendered_scaled_object(self, default_renders):
        spec = find(default_renders["prod"], "ScaledObject")["spec"]
        behavior = Behavior.from_spec(spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"])
        assert behavior.scale_down.stabilization_window_seconds == 300
        assert [(p.type, p.value, p.period_seconds) for p in behavior.scale_up.policies] == [("Pods", 2, 60), ("Percent", 100, 60)]

    def test_defaults_are_kubernetes_defaults(self):
        behavior = Behavior.from_spec(None)
        assert behavior.scale_down.stabilization_window_seconds == 300 and behavior.scale_up.stabilization_window_seconds == 0
        assert {(p.type, p.value, p.period_seconds) for p in behavior.scale_up.policies} == {("Percent", 100, 15), ("Pods", 4, 15)}
