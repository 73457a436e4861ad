"""The promotion gate as Argo Rollouts runs it: the metrics of a rendered AnalysisTemplate and the verdict a
measurement gets.

The verdict follows argo-rollouts utils/evaluate/evaluate.go EvaluateResult: the failure condition true is
Failed; else the success condition true is Successful; else Inconclusive (both conditions are set in our
templates). Argo evaluates the conditions with expr-lang (Go), which has no Python port; the gate's conditions
use only `len(result)`, `result[0]`, comparisons and the short-circuit `&&` and `||`, which mean the same in
Python once the two operators are spelled `and` / `or`. Any other syntax raises ConditionError rather than being
guessed at. `result` is what the Prometheus provider hands over for an instant vector: the list of its sample
values, empty for no data (metricproviders/prometheus/prometheus.go processResponse).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

SUCCESSFUL, FAILED, INCONCLUSIVE = "Successful", "Failed", "Inconclusive"
# What the gate's conditions may contain: result, len(), indexing, numbers, comparisons, && and ||.
_CONDITION = re.compile(r"^(\s|len\(result\)|result\[0\]|[0-9.]+(e-?[0-9]+)?|<=|>=|==|<|>|&&|\|\|)+$")


class ConditionError(ValueError):
    """A condition uses expr-lang syntax this translation does not cover."""


def gate_metrics(objects: Iterable[Mapping], name_suffix: str = "-gate") -> dict[str, dict]:
    """The metrics of the rendered AnalysisTemplate whose name ends with name_suffix, by metric name:
    {name: {"query", "successCondition", "failureCondition", "interval", ...}} (query from provider.prometheus)."""
    (template,) = [o for o in objects if o["kind"] == "AnalysisTemplate" and o["metadata"]["name"].endswith(name_suffix)]
    return {metric["name"]: {**metric, "query": metric["provider"]["prometheus"]["query"]} for metric in template["spec"]["metrics"]}


def condition_holds(condition: str, result: Sequence[float]) -> bool:
    if not _CONDITION.match(condition):
        raise ConditionError(f"{condition!r} uses syntax outside len(result), result[0], comparisons, && and ||")
    return bool(eval(condition.replace("&&", " and ").replace("||", " or "), {"__builtins__": {"len": len}}, {"result": list(result)}))


def verdict(metric: Mapping, result: Sequence[float]) -> str:
    """Successful, Failed or Inconclusive for one measurement whose query returned `result` (sample values)."""
    if condition_holds(metric["failureCondition"], result):
        return FAILED
    if condition_holds(metric["successCondition"], result):
        return SUCCESSFUL
    return INCONCLUSIVE
