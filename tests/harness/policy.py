"""Policy checks over rendered objects: Pod Security Standards (restricted), availability and labels.

Why our own PSS check and not only checkov: the restricted profile is defined by the Kubernetes
pod-security-admission code (policy/check_*.go), and checkov's Kubernetes checks cover only part of it (no
volume-type allow list, no per-container runAsNonRoot inheritance from the pod). The controls below follow
those files one by one; checkov runs as well, over the same renders (see checkov_failures).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import yaml

from tests.harness import selectors
from tests.harness.render import REPO_ROOT

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
# A selector with these breaks on upgrade: they change with every chart or app version.
FORBIDDEN_SELECTOR_LABELS = ("app.kubernetes.io/version", "helm.sh/chart")

RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"}

CHECKOV_SKIPS_FILE = REPO_ROOT / "ci" / "checkov-skips.yaml"
CHECKOV_BIN = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"


def pod_specs(objects: Iterable[dict]) -> Iterator[tuple[str, dict]]:
    """(description, pod spec) for every pod a set of objects would run, helm test pods included."""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Pod":
            yield f"Pod/{name}", obj["spec"]
        elif kind in WORKLOAD_KINDS:
            yield f"{kind}/{name}", obj["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield f"CronJob/{name}", obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "AnalysisTemplate":
            # Argo Rollouts runs a job provider's Job as written: its pod is one of ours too.
            for metric in obj["spec"].get("metrics", []):
                job = (metric.get("provider") or {}).get("job")
                if job:
                    yield f"AnalysisTemplate/{name}/{metric['name']}", job["spec"]["template"]["spec"]


def restricted_violations(pod_spec: dict) -> list[str]:
    """Every way a pod spec breaks the restricted Pod Security Standard; empty when it complies."""
    problems = []
    pod_context = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"{flag} is true")
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds - RESTRICTED_VOLUME_TYPES)}")
    if pod_context.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    containers = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or []), *(pod_spec.get("ephemeralContainers") or [])]
    for container in containers:
        name = container["name"]
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        run_as_non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true (pod or container)")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile.type is {seccomp!r}, not RuntimeDefault or Localhost")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities.drop does not contain ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{name}: adds capabilities {sorted(added)}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


@dataclass(frozen=True)
class RestrictedException:
    """A pod allowed to break the restricted profile: exactly these controls (restricted_violations' words), for
    this reason, in a namespace of its own whose Pod Security label admits it."""

    pod: str  # fnmatch pattern over "<Kind>/<name>" (pod_specs' description)
    violations: frozenset[str]
    reason: str


RESTRICTED_EXCEPTIONS = (
    RestrictedException(
        "DaemonSet/*logging",
        frozenset({
            "volume logs uses ['hostPath']",
            "volume state uses ['hostPath']",
            "pod runAsUser is 0",
            "fluentd: runAsNonRoot is not true (pod or container)",
            "fluentd: runAsUser is 0",
        }),
        "Fluentd (charts/triton-logging) reads the kubelet's container log files, root's with mode 0640, through "
        "hostPath, and keeps its read positions and file buffer on the node. It runs in a namespace of its own "
        "(logging.namespace.name) labelled pod-security.kubernetes.io/enforce=privileged, never the server's (the "
        "chart refuses that); every other control of the restricted profile holds (no capability, no escalation, "
        "RuntimeDefault seccomp, read-only root filesystem).",
    ),
)


def restricted_exception(pod: str) -> RestrictedException | None:
    """The declared exception for a pod ("<Kind>/<name>"), if any."""
    return next((e for e in RESTRICTED_EXCEPTIONS if fnmatch.fnmatchcase(pod, e.pod)), None)


def restricted_violations_beyond_exceptions(pod: str, pod_spec: dict) -> list[str]:
    """restricted_violations, less what the pod's declared exception allows; an exception that allows more than the
    pod breaks is reported too (it must stay exactly as wide as needed)."""
    found = restricted_violations(pod_spec)
    exception = restricted_exception(pod)
    if exception is None:
        return found
    unused = exception.violations - set(found)
    return [v for v in found if v not in exception.violations] + [f"declared exception not needed any more: {v}" for v in sorted(unused)]


# Containers allowed to set `command` (replacing their image's ENTRYPOINT), each with the reason. Empty: every
# container the charts run keeps its image's entrypoint. NGC images' entrypoint
# (/opt/nvidia/nvidia_entrypoint.sh) sets up CUDA forward compatibility before it execs the args, so
# overriding it breaks GPU pods on nodes whose driver is older than the image's CUDA.
ENTRYPOINT_OVERRIDES: dict[str, str] = {}


def entrypoint_overrides(objects: Iterable[dict]) -> list[str]:
    """Every container (init containers included) that sets `command` without a reason in ENTRYPOINT_OVERRIDES,
    as "<pod>: container <name> (<image>) sets command [...]"."""
    found = []
    for pod, spec in pod_specs(objects):
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if container.get("command") and container["name"] not in ENTRYPOINT_OVERRIDES:
                found.append(f"{pod}: container {container['name']} ({container.get('image')}) sets command {container['command']}")
    return found


def label_violations(obj: dict) -> list[str]:
    """Missing recommended labels on the object (and its pod template), and unstable selectors."""
    problems = []
    labels = obj["metadata"].get("labels") or {}
    problems += [f"missing label {label}" for label in RECOMMENDED_LABELS if label not in labels]
    template_labels = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
    if template_labels is not None:
        problems += [f"pod template missing label {label}" for label in RECOMMENDED_LABELS if label not in template_labels]
    for reference in selectors.references([obj]):
        problems += [f"{reference.field} selects by {label}" for label in FORBIDDEN_SELECTOR_LABELS if label in selectors.label_keys(reference)]
    return problems


def admitted_peers(network_policy: dict) -> dict[str, list[dict]]:
    """Port -> every peer that any ingress rule of a NetworkPolicy admits on it, across all rules: a second
    rule on a port adds its peers (Kubernetes ORs the rules). A rule without ports admits on "<every port>",
    one without `from` admits "<every source>"."""
    admitted: dict[str, list[dict]] = {}
    for rule in network_policy["spec"].get("ingress") or []:
        for port in rule.get("ports") or [{"port": "<every port>"}]:
            admitted.setdefault(port["port"], []).extend(rule.get("from") or [{"<every source>": True}])
    return admitted


def autoscaled_targets(objects: Iterable[dict]) -> set[tuple[str, str]]:
    """(kind, name) of workloads that an HPA or a KEDA ScaledObject owns."""
    objects = list(objects)
    return {
        (target.kind, target.name)
        for reference in selectors.references(objects)
        if reference.field == "spec.scaleTargetRef"
        for target in selectors.selected(objects, reference)
    }


def availability_violations(objects: list[dict]) -> list[str]:
    """The availability rules for staging and production renders, as one line per problem.

    At least two replicas (or an autoscaler minimum of two); a PDB that selects some workload's pods and still
    lets a drain evict a pod; an autoscaler whose scaleTargetRef is a rendered workload; RollingUpdate with
    maxUnavailable 0, or an explicit Recreate; no replicas field on an autoscaled workload. Selection follows
    tests/harness/selectors.py (matchExpressions included).
    """
    problems = []
    minimums = {}
    autoscaled = set()
    for reference in selectors.references(objects):
        if reference.field != "spec.scaleTargetRef":
            continue
        autoscaler = next(o for o in objects if f"{o['kind']}/{o['metadata']['name']}" == reference.source)
        targets = selectors.selected(objects, reference)
        if not targets:
            _, kind, name = reference.target_ref
            problems.append(f"{reference.source}: scaleTargetRef {kind}/{name} is no rendered workload; it scales nothing")
        for target in targets:
            autoscaled.add((target.kind, target.name))
            spec = autoscaler["spec"]
            minimums[target.name] = spec.get("minReplicas", 1) if autoscaler["kind"] == "HorizontalPodAutoscaler" else spec.get("minReplicaCount", 0)
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        if ("Deployment", name) in autoscaled:
            if "replicas" in spec:
                problems.append(f"Deployment/{name}: sets replicas although an autoscaler owns it")
            replicas = minimums.get(name, 1)
        else:
            replicas = spec.get("replicas", 1)
        # A canary track is small on purpose (it serves a weighted share beside stable, for a while); the rule is
        # for the stable track, which must survive a drain.
        canary = spec["template"]["metadata"].get("labels", {}).get("triton-stack.io/track") == "canary"
        if replicas < 2 and not canary:
            problems.append(f"Deployment/{name}: {replicas} replica(s); staging and production need at least 2")
        strategy = spec.get("strategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            if (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%") not in (0, "0%"):
                problems.append(f"Deployment/{name}: RollingUpdate with maxUnavailable other than 0")
        elif strategy.get("type") != "Recreate":
            problems.append(f"Deployment/{name}: unknown strategy {strategy.get('type')}")
    workload_kinds = set(selectors.POD_TEMPLATE_KINDS)
    for reference in selectors.references(objects):
        if reference.kind != "PodDisruptionBudget":
            continue
        pdb = next(o for o in objects if f"{o['kind']}/{o['metadata']['name']}" == reference.source)
        spec = pdb["spec"]
        protected = [t for t in selectors.selected(objects, reference) if t.kind in workload_kinds]
        if not protected:
            problems.append(f"{reference.source}: selects no workload's pods; it protects nothing and a drain may evict every replica")
        for target in protected:
            replicas = minimums.get(target.name, deployments.get(target.name, {}).get("spec", {}).get("replicas", 1))
            if "maxUnavailable" in spec and spec["maxUnavailable"] in (0, "0%"):
                problems.append(f"{reference.source}: maxUnavailable 0 blocks every drain")
            if "minAvailable" in spec and isinstance(spec["minAvailable"], int) and spec["minAvailable"] >= replicas:
                problems.append(f"{reference.source}: minAvailable {spec['minAvailable']} >= {replicas} replicas blocks drains")
    return problems


def checkov_skips() -> dict[str, str]:
    """Check ID -> reason, from ci/checkov-skips.yaml, for the skips that hold for every resource. Every skip must
    say why."""
    skips = yaml.safe_load(CHECKOV_SKIPS_FILE.read_text())["skips"]
    return {entry["id"]: entry["reason"] for entry in skips if "resources" not in entry}


def checkov_scoped_skips() -> list[tuple[str, re.Pattern, str]]:
    """(check ID, resource pattern, reason) for the skips that hold for some resources only (`resources:` in
    ci/checkov-skips.yaml, regular expressions over checkov's resource name, Kind.namespace.name)."""
    skips = yaml.safe_load(CHECKOV_SKIPS_FILE.read_text())["skips"]
    return [(entry["id"], re.compile(pattern), entry["reason"]) for entry in skips for pattern in entry.get("resources", [])]


def checkov_failures(renders: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Runs checkov once over every render (one file each); returns render name -> failed checks.

    One run for all renders because checkov's start-up dominates its cost. --skip-download keeps it offline.
    """
    if not CHECKOV_BIN.exists():
        raise FileNotFoundError(f"{CHECKOV_BIN} is missing: run `make setup`")
    with tempfile.TemporaryDirectory() as workdir:
        for name, objects in renders.items():
            Path(workdir, f"{name}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        completed = subprocess.run(
            [
                str(CHECKOV_BIN), "--directory", workdir, "--framework", "kubernetes", "--skip-download",
                "--output", "json", "--quiet", "--compact", "--skip-check", ",".join(checkov_skips()),
            ],
            capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        )
        if completed.returncode not in (0, 1):
            raise RuntimeError(f"checkov exited {completed.returncode}:\n{completed.stderr[-4000:]}")
        report = json.loads(completed.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failures: dict[str, list[str]] = {name: [] for name in renders}
    scoped = checkov_scoped_skips()
    for item in reports:
        for check in (item.get("results") or {}).get("failed_checks", []):
            if any(check["check_id"] == check_id and pattern.fullmatch(check["resource"]) for check_id, pattern, _ in scoped):
                continue
            render_name = Path(check["file_path"]).stem
            failures.setdefault(render_name, []).append(f"{check['check_id']} {check['check_name']} ({check['resource']})")
    return failures
