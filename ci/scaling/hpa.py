"""The Kubernetes HorizontalPodAutoscaler's replica arithmetic, for the chart's autoscaling tests and the
scaling replay: what replica count an HPA (or the HPA that KEDA creates) asks for, poll after poll.

Follows kubernetes/kubernetes pkg/controller/podautoscaler:
- replica_calculator.go: a metric's proposal. The usage ratio is value / target (for an External AverageValue
  metric, value / (target x current)); within the tolerance (0.1) of 1 the current count stands, else
  ceil(ratio x current) (External AverageValue: ceil(value / target)).
- horizontal.go: the largest proposal over all metrics wins (so a scheduled floor or a forecast can only raise
  the count, never lower it); stabilizeRecommendationWithBehaviors keeps, over the stabilization window, the
  lowest recent recommendation when scaling up and the highest when scaling down;
  convertDesiredReplicasWithBehaviorRate limits the change per policy period (Pods: period start +/- value,
  Percent: ceil(period start x (1 + value/100)) up, floor(period start x (1 - value/100)) down, selectPolicy
  Max/Min/Disabled) and clamps to [minReplicas, maxReplicas].

Time is explicit (`now`, seconds), so the same code runs a live test poll by poll and replays a day of traffic
in milliseconds. Nothing here reads a cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping, Sequence

TOLERANCE = 0.1
# autoscaling/v2 defaults when a behavior leaves a direction out (Kubernetes API reference, HPA behavior).
DEFAULT_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}, {"type": "Pods", "value": 4, "periodSeconds": 15}]}
DEFAULT_SCALE_DOWN = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}

MetricType = Literal["Value", "AverageValue", "PodsAverageValue", "Utilization"]


@dataclass(frozen=True)
class ScalingPolicy:
    type: Literal["Pods", "Percent"]
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: int
    select_policy: Literal["Max", "Min", "Disabled"]
    policies: tuple[ScalingPolicy, ...]

    @classmethod
    def from_spec(cls, spec: Mapping, default: Mapping) -> ScalingRules:
        """From a rendered `behavior.scaleUp`/`scaleDown` (camelCase, as in the HPA spec); omitted fields take
        the Kubernetes defaults for that direction."""
        merged = {**default, **(spec or {})}
        return cls(
            stabilization_window_seconds=int(merged["stabilizationWindowSeconds"]),
            select_policy=merged.get("selectPolicy", "Max"),
            policies=tuple(ScalingPolicy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in merged["policies"]),
        )


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules
    scale_down: ScalingRules

    @classmethod
    def from_spec(cls, behavior: Mapping | None) -> Behavior:
        """From a rendered HPA `spec.behavior` or a ScaledObject's `advanced.horizontalPodAutoscalerConfig.behavior`."""
        behavior = behavior or {}
        return cls(ScalingRules.from_spec(behavior.get("scaleUp"), DEFAULT_SCALE_UP),
                   ScalingRules.from_spec(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN))


def proposal(current: int, value: float, target: float, metric_type: MetricType, tolerance: float = TOLERANCE) -> int:
    """Replicas one metric asks for, given the current count.

    metric_type: "Value" (an External or Object value compared as a whole, e.g. queue time per request),
    "AverageValue" (an External total divided among replicas, e.g. KEDA's AverageValue triggers and the cron
    scaler), "PodsAverageValue" or "Utilization" (the average over pods, e.g. a Pods metric from
    prometheus-adapter, CPU utilisation). Raises ValueError for a target <= 0 or a negative count.
    """
    if target <= 0:
        raise ValueError(f"target must be > 0, not {target}")
    if current < 0:
        raise ValueError(f"current replicas must be >= 0, not {current}")
    if metric_type == "AverageValue":
        if current == 0:
            return math.ceil(value / target)
        ratio = value / (target * current)
        return current if abs(1.0 - ratio) <= tolerance else math.ceil(value / target)
    ratio = value / target
    if abs(1.0 - ratio) <= tolerance:
        return current
    return math.ceil(ratio * current)


@dataclass
class HorizontalPodAutoscaler:
    """One HPA's state between polls: its recommendations and scale events, as the controller keeps them."""

    min_replicas: int
    max_replicas: int
    behavior: Behavior = field(default_factory=lambda: Behavior.from_spec(None))
    tolerance: float = TOLERANCE
    _recommendations: list[tuple[float, int]] = field(default_factory=list)
    _scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    _scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def desired_replicas(self, now: float, current: int, metrics: Iterable[tuple[float, float, MetricType]]) -> int:
        """The replica count the HPA sets at time `now` (seconds), from (value, target, type) per metric.

        The largest proposal wins, then the stabilization window and the rate policies apply, then
        [minReplicas, maxReplicas]. A change is recorded as a scale event for later policy periods.
        """
        proposals = [proposal(current, value, target, metric_type, self.tolerance) for value, target, metric_type in metrics]
        if not proposals:
            raise ValueError("an HPA needs at least one metric")
        recommended = max(proposals)
        stabilized = self._stabilize(now, current, recommended)
        desired = self._limit_rate(now, current, stabilized)
        if desired > current:
            self._scale_up_events.append((now, desired - current))
        elif desired < current:
            self._scale_down_events.append((now, current - desired))
        return desired

    def _stabilize(self, now: float, current: int, recommendation: int) -> int:
        up, down = self.behavior.scale_up, self.behavior.scale_down
        if recommendation >= current:
            window, better = up.stabilization_window_seconds, min
        else:
            window, better = down.stabilization_window_seconds, max
        stabilized = recommendation
        for timestamp, recorded in self._recommendations:
            if timestamp > now - window:
                stabilized = better(stabilized, recorded)
        horizon = max(up.stabilization_window_seconds, down.stabilization_window_seconds)
        self._recommendations = [(t, r) for t, r in self._recommendations if t >= now - horizon] + [(now, recommendation)]
        return stabilized

    @staticmethod
    def _change_in_period(events: Sequence[tuple[float, int]], now: float, period: int) -> int:
        return sum(change for timestamp, change in events if timestamp > now - period)

    def _limit_rate(self, now: float, current: int, desired: int) -> int:
        if desired > current:
            rules = self.behavior.scale_up
            if rules.select_policy == "Disabled":
                limit = current
            else:
                proposals = []
                for policy in rules.policies:
                    start = current - self._change_in_period(self._scale_up_events, now, policy.period_seconds)
                    proposals.append(start + policy.value if policy.type == "Pods" else math.ceil(start * (1 + policy.value / 100)))
                limit = (min if rules.select_policy == "Min" else max)(proposals)
            limit = max(limit, current)
            return min(desired, limit, self.max_replicas)
        if desired < current:
            rules = self.behavior.scale_down
            if rules.select_policy == "Disabled":
                limit = current
            else:
                proposals = []
                for policy in rules.policies:
                    start = current + self._change_in_period(self._scale_down_events, now, policy.period_seconds)
                    proposals.append(start - policy.value if policy.type == "Pods" else int(start * (1 - policy.value / 100)))
                limit = (max if rules.select_policy == "Min" else min)(proposals)
            limit = min(limit, current)
            return max(desired, limit, self.min_replicas)
        return max(self.min_replicas, min(desired, self.max_replicas))
