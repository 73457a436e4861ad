"""What each selector in a render selects, worked out over the render's plain dicts.

Kubernetes says nothing when a selector matches nothing: a PodDisruptionBudget that protects no pod, a
Service without endpoints, a NetworkPolicy peer that admits no one, an autoscaler aimed at a workload that
does not exist. This module turns every selector of a render into a Reference (which object, which field,
what kind of target it picks) and matches it against the render's targets, so that a test can assert that
each one selects exactly what it is meant to, and that none selects nothing.

Kinds plug in through SELECTOR_FIELDS, one line per kind naming the function that yields its references.
Target kinds are TARGETS: pod templates (of workloads, and bare Pods such as the helm test pod), Services,
and scalable workloads.

Semantics follow the upstream definitions:
- LabelSelector (k8s.io/apimachinery pkg/apis/meta/v1 LabelSelectorAsSelector): matchLabels AND
  matchExpressions (In, NotIn, Exists, DoesNotExist); an empty selector matches everything.
- Service spec.selector is a plain map; a Service without one manages no endpoints, so it selects no pod.
- NetworkPolicy peers: a podSelector alone selects pods of the policy's namespace; a peer with a
  namespaceSelector or an ipBlock reaches outside any render and is not a reference here.
- Pod affinity terms select in the pod's namespace unless they list namespaces or a namespaceSelector.
- ServiceMonitor / PodMonitor (prometheus-operator): spec.selector over Services / pods, in the monitor's
  namespace unless spec.namespaceSelector says `any: true` or lists `matchNames`.
- Istio DestinationRule: spec.host names a Service; each subset's labels narrow that Service's selector.
- Argo Rollout: its pod template, once per side of a canary strategy with the side's metadata labels added
  (stableMetadata, canaryMetadata), as the controller labels the pods.
- HorizontalPodAutoscaler (autoscaling/v2) and KEDA ScaledObject: spec.scaleTargetRef names a workload by
  kind and name in the same namespace; KEDA's kind defaults to Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping

POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout")
SCALABLE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "Rollout")
# Where a Service host resolves: name, name.namespace, name.namespace.svc, name.namespace.svc.cluster.local
_CLUSTER_DOMAIN = "svc.cluster.local"


@dataclass(frozen=True)
class Target:
    """Something a selector can pick: a pod template ("pods"), a Service ("services"), a workload ("workloads").

    `id` is "<Kind>/<name>" of the object that holds it: a Deployment stands for the pods of its template.
    """

    kind: str
    name: str
    namespace: str
    api_version: str
    labels: tuple[tuple[str, str], ...]

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass
class Reference:
    """One selector of a rendered object.

    source: "<Kind>/<name>" of the object that holds it; field: where, as a path ("spec.selector",
    "spec.ingress[0].from[1].podSelector"); targets: a key of TARGETS; namespaces: where it selects (None:
    every namespace). It picks by label (`selector`, a LabelSelector dict; None selects nothing) or by name
    (`target_ref`: (API group or None for any, kind, name)). owner: the workload whose pod template holds
    the selector, for selectors inside a pod spec. note: why it can select nothing, when known in advance.
    """

    source: str
    field: str
    targets: str
    namespaces: frozenset[str] | None
    selector: dict | None = None
    target_ref: tuple[str | None, str, str] | None = None
    owner: str | None = None
    note: str = ""

    @property
    def kind(self) -> str:
        return self.source.split("/", 1)[0]

    def matches(self, target: Target) -> bool:
        if self.namespaces is not None and target.namespace not in self.namespaces:
            return False
        if self.target_ref is not None:
            group, kind, name = self.target_ref
            return (target.kind, target.name) == (kind, name) and (group is None or _group(target.api_version) == group)
        return matches_label_selector(self.selector, target.label_map)

    def describe(self) -> str:
        return f"{self.source} {self.field}"


@dataclass
class Selection:
    """A reference and the ids ("<Kind>/<name>") of the rendered targets it selects, sorted."""

    reference: Reference
    selected: list[str] = field(default_factory=list)


def matches_label_selector(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector ({matchLabels, matchExpressions}) matches a label map. None matches nothing,
    {} matches everything. Raises ValueError on an operator Kubernetes does not know."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"unknown label selector operator {operator!r} (key {key!r})")
        if not ok:
            return False
    return True


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _namespace(obj: dict) -> str:
    # Helm installs an object without metadata.namespace into the release namespace, like the others.
    return obj.get("metadata", {}).get("namespace") or ""


def _id(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _target(obj: dict, labels: Mapping | None) -> Target:
    return Target(obj["kind"], obj["metadata"]["name"], _namespace(obj), obj.get("apiVersion", ""), tuple(sorted((labels or {}).items())))


# --- targets --------------------------------------------------------------------------------------------


def pod_templates(objects: Iterable[dict]) -> list[Target]:
    """Every pod a render would run, by the labels of its template: workloads, CronJobs and bare Pods."""
    found = []
    for obj in objects:
        kind = obj["kind"]
        if kind == "Rollout" and (obj["spec"].get("strategy") or {}).get("canary"):
            # Argo Rollouts labels the two sides' pods with stableMetadata / canaryMetadata at run time: each side
            # is a target of its own, "Rollout/<name> (stable)" and "(canary)".
            labels = obj["spec"]["template"].get("metadata", {}).get("labels") or {}
            canary = obj["spec"]["strategy"]["canary"]
            for side in ("stable", "canary"):
                extra = (canary.get(f"{side}Metadata") or {}).get("labels") or {}
                target = _target(obj, {**labels, **extra})
                found.append(Target(target.kind, f"{target.name} ({side})", target.namespace, target.api_version, target.labels))
        elif kind in POD_TEMPLATE_KINDS:
            found.append(_target(obj, obj["spec"]["template"].get("metadata", {}).get("labels")))
        elif kind == "CronJob":
            found.append(_target(obj, obj["spec"]["jobTemplate"]["spec"]["template"].get("metadata", {}).get("labels")))
        elif kind == "Pod":
            found.append(_target(obj, obj["metadata"].get("labels")))
    return found


def services(objects: Iterable[dict]) -> list[Target]:
    return [_target(o, o["metadata"].get("labels")) for o in objects if o["kind"] == "Service"]


def workloads(objects: Iterable[dict]) -> list[Target]:
    return [_target(o, o["metadata"].get("labels")) for o in objects if o["kind"] in SCALABLE_KINDS]


TARGETS: dict[str, Callable[[Iterable[dict]], list[Target]]] = {
    "pods": pod_templates,
    "services": services,
    "workloads": workloads,
}


# --- references, per kind -------------------------------------------------------------------------------


def _pod_spec_references(source: str, prefix: str, pod_spec: dict, namespace: str, owner: str | None) -> Iterator[Reference]:
    """Affinity and topology-spread selectors inside a pod spec."""
    affinity = pod_spec.get("affinity") or {}
    for affinity_kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(affinity_kind) or {}
        for index, term in enumerate(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
            yield _affinity_term(source, f"{prefix}.affinity.{affinity_kind}.requiredDuringSchedulingIgnoredDuringExecution[{index}]", term, namespace, owner)
        for index, weighted in enumerate(rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            path = f"{prefix}.affinity.{affinity_kind}.preferredDuringSchedulingIgnoredDuringExecution[{index}].podAffinityTerm"
            yield _affinity_term(source, path, weighted["podAffinityTerm"], namespace, owner)
    for index, constraint in enumerate(pod_spec.get("topologySpreadConstraints") or []):
        selector = constraint.get("labelSelector")
        yield Reference(source, f"{prefix}.topologySpreadConstraints[{index}].labelSelector", "pods", frozenset({namespace}), selector, owner=owner,
                        note="" if selector is not None else "no labelSelector: the constraint counts no pod")


def _affinity_term(source: str, path: str, term: dict, namespace: str, owner: str | None) -> Reference:
    if term.get("namespaceSelector") == {}:
        namespaces = None
    elif term.get("namespaceSelector") is not None:
        # Namespaces chosen by their labels are outside any render: only the listed ones are known.
        namespaces = frozenset(term.get("namespaces") or []) or None
    else:
        namespaces = frozenset(term.get("namespaces") or [namespace])
    return Reference(source, f"{path}.labelSelector", "pods", namespaces, term.get("labelSelector"), owner=owner)


def _workload(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    source, namespace = _id(obj), _namespace(obj)
    if "selector" in obj["spec"]:
        yield Reference(source, "spec.selector", "pods", frozenset({namespace}), obj["spec"]["selector"], owner=source)
    yield from _pod_spec_references(source, "spec.template.spec", obj["spec"]["template"].get("spec") or {}, namespace, source)


def _cron_job(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    spec = obj["spec"]["jobTemplate"]["spec"]["template"].get("spec") or {}
    yield from _pod_spec_references(_id(obj), "spec.jobTemplate.spec.template.spec", spec, _namespace(obj), _id(obj))


def _pod(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    yield from _pod_spec_references(_id(obj), "spec", obj.get("spec") or {}, _namespace(obj), _id(obj))


def _service(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    spec = obj.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return
    selector = spec.get("selector")
    yield Reference(_id(obj), "spec.selector", "pods", frozenset({_namespace(obj)}), {"matchLabels": selector} if selector else None,
                    note="" if selector else "no selector: the Service manages no endpoints")


def _pod_disruption_budget(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    yield Reference(_id(obj), "spec.selector", "pods", frozenset({_namespace(obj)}), obj["spec"].get("selector"),
                    note="" if "selector" in obj["spec"] else "no selector")


def _network_policy(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    source, namespace = _id(obj), frozenset({_namespace(obj)})
    spec = obj["spec"]
    yield Reference(source, "spec.podSelector", "pods", namespace, spec.get("podSelector"))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule_index, rule in enumerate(spec.get(direction) or []):
            for peer_index, peer in enumerate(rule.get(peers_key) or []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    yield Reference(source, f"spec.{direction}[{rule_index}].{peers_key}[{peer_index}].podSelector", "pods", namespace, peer["podSelector"])


def _monitor(targets: str) -> Callable[[dict, list[dict]], Iterator[Reference]]:
    def references(obj: dict, objects: list[dict]) -> Iterator[Reference]:
        chooser = obj["spec"].get("namespaceSelector") or {}
        if chooser.get("any"):
            namespaces = None
        else:
            namespaces = frozenset(chooser.get("matchNames") or [_namespace(obj)])
        yield Reference(_id(obj), "spec.selector", targets, namespaces, obj["spec"].get("selector"))

    return references


def _resolve_host(host: str, namespace: str, objects: list[dict]) -> dict | None:
    """The rendered Service a mesh host names (short, namespaced or fully qualified), or None."""
    parts = host.split(".")
    name = parts[0]
    if len(parts) == 1:
        wanted_namespace = namespace
    elif len(parts) == 2 or ".".join(parts[2:]) in ("svc", _CLUSTER_DOMAIN):
        wanted_namespace = parts[1]
    else:
        return None
    for obj in objects:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == name and _namespace(obj) in (wanted_namespace, ""):
            return obj
    return None


def _destination_rule(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    source, namespace, host = _id(obj), _namespace(obj), obj["spec"]["host"]
    service = _resolve_host(host, namespace, objects)
    service_name = host.split(".")[0]
    yield Reference(source, "spec.host", "services", None, target_ref=("", "Service", service_name),
                    note="" if service else f"host {host} is no rendered Service")
    service_selector = ((service or {}).get("spec") or {}).get("selector")
    for index, subset in enumerate(obj["spec"].get("subsets") or []):
        selector = {"matchLabels": {**service_selector, **(subset.get("labels") or {})}} if service_selector else None
        yield Reference(source, f"spec.subsets[{index}] ({subset.get('name')})", "pods", frozenset({_namespace(service) if service else namespace}), selector,
                        note="" if selector else f"host {host} resolves to no Service with a selector")


def _scale_target(obj: dict, objects: list[dict]) -> Iterator[Reference]:
    ref = obj["spec"]["scaleTargetRef"]
    api_version = ref.get("apiVersion")
    # KEDA's scaleTargetRef.kind defaults to Deployment; the HPA requires it.
    kind = ref.get("kind") or "Deployment"
    yield Reference(_id(obj), "spec.scaleTargetRef", "workloads", frozenset({_namespace(obj)}),
                    target_ref=(_group(api_version) if api_version else None, kind, ref["name"]))


# Kind -> the function that yields its selectors: (object, every object of the render) -> References.
SELECTOR_FIELDS: dict[str, Callable[[dict, list[dict]], Iterator[Reference]]] = {
    **{kind: _workload for kind in POD_TEMPLATE_KINDS},
    "CronJob": _cron_job,
    "Pod": _pod,
    "Service": _service,
    "PodDisruptionBudget": _pod_disruption_budget,
    "NetworkPolicy": _network_policy,
    "ServiceMonitor": _monitor("services"),
    "PodMonitor": _monitor("pods"),
    "DestinationRule": _destination_rule,
    "HorizontalPodAutoscaler": _scale_target,
    "ScaledObject": _scale_target,
}


def references(objects: list[dict]) -> list[Reference]:
    """Every selector in a render, in the order of the objects."""
    found = []
    for obj in objects:
        extract = SELECTOR_FIELDS.get(obj["kind"])
        if extract:
            found.extend(extract(obj, objects))
    return found


def selections(objects: list[dict]) -> list[Selection]:
    """Every selector in a render with the rendered targets it selects."""
    targets = {kind: collect(objects) for kind, collect in TARGETS.items()}
    return [Selection(ref, sorted(t.id for t in targets[ref.targets] if ref.matches(t))) for ref in references(objects)]


def selects_nothing(objects: list[dict]) -> list[str]:
    """One line per selector that selects no rendered target: '<Kind>/<name> <field> selects no <targets>'."""
    return [
        f"{s.reference.describe()} selects no {s.reference.targets}" + (f" ({s.reference.note})" if s.reference.note else "")
        for s in selections(objects)
        if not s.selected
    ]


Intent = Callable[[Reference], "Iterable[str] | None"]


def selection_problems(objects: list[dict], intended: Intent) -> list[str]:
    """Selectors that select nothing, or other than `intended(reference)` says (target ids; None: no
    intent declared, which is itself a problem, so that a new selector cannot go unchecked)."""
    problems = selects_nothing(objects)
    for selection in selections(objects):
        want = intended(selection.reference)
        if want is None:
            problems.append(f"{selection.reference.describe()}: no intended targets declared for it (selects {selection.selected})")
        elif sorted(want) != selection.selected and selection.selected:
            problems.append(f"{selection.reference.describe()} selects {selection.selected}, not exactly {sorted(want)}")
    return problems


def selected(objects: list[dict], reference: Reference) -> list[Target]:
    """The rendered targets one reference selects."""
    return [t for t in TARGETS[reference.targets](objects) if reference.matches(t)]


def label_keys(reference: Reference) -> set[str]:
    """The label keys a reference's selector reads (for the stable-selector rule)."""
    selector = reference.selector or {}
    return set(selector.get("matchLabels") or {}) | {e["key"] for e in selector.get("matchExpressions") or []}
