"""What the cluster tier installs, as data: the releases' values on top of the kind values file, the client pod, and
where the previous chart version comes from. No cluster is needed to import this module: the render tier renders
and checks every release and manifest here (tests/render/test_cluster_tier.py), so that the kind tier only finds out
what a real API server, scheduler and kubelet add.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness import render as helm
from tests.harness.cluster_versions import pinned_versions

CLUSTER_DIR = Path(__file__).resolve().parent
# The environment file the tier installs: values/ci-kind.yaml, or the kind workflow's matrix entry.
KIND_VALUES = helm.REPO_ROOT / os.environ.get("TRITON_STACK_KIND_VALUES", "values/ci-kind.yaml")
CLIENT_POD = "inference-client"
CLIENT_CONFIGMAP = "inference-client"
CLIENT_FILES = {"inference_client.py": CLUSTER_DIR / "inference_client.py",
                "synthetic_patterns.py": helm.REPO_ROOT / "models" / "synthetic_patterns.py"}
# Bounded load during upgrades, rolling updates and drains: this many in-flight requests per protocol.
LOAD_WORKERS = 2
LOAD_MAX_SECONDS = 900


@dataclass(frozen=True)
class Release:
    """One release the tier installs: the kind values file plus `values`, in its own namespace."""

    name: str
    namespace: str
    values: dict

    @property
    def deployment(self) -> str:
        return f"{self.name}-server"

    @property
    def service_host(self) -> str:
        return f"{self.name}-server.{self.namespace}.svc.cluster.local"

    def render(self, **kwargs) -> list[dict]:
        return helm.render("triton-stack", [KIND_VALUES], self.values, release=self.name, namespace=self.namespace, **kwargs)

    def values_file(self, directory: Path) -> Path:
        path = directory / f"{self.name}-values.yaml"
        path.write_text(yaml.safe_dump(self.values))
        return path


# Two replicas that a rolling update replaces one at a time with a surge pod (maxUnavailable 0 keeps capacity), a
# PDB, soft anti-affinity (two workers and a surge pod: a hard rule would leave the surge pod unschedulable).
ROLLING = Release("rolling", "rolling", {"server": {
    "replicaCount": 2,
    "updateStrategy": {"type": "RollingUpdate", "maxSurge": 1, "maxUnavailable": 0},
    "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
    "podAntiAffinity": {"mode": "soft"},
}})
# What the rolling update changes in the pod template (a new ReplicaSet, same image and model).
ROLLING_CHANGE = {"server": {"podAnnotations": {"triton-stack.io/rollout-test": "2"}}}
# Two replicas pinned to two different workers (hard anti-affinity), the PDB allowing one disruption: after one node
# is drained the evicted pod cannot be placed, so a second drain must wait for the budget.
DRAIN = Release("drain", "drain", {"server": {
    "replicaCount": 2,
    "updateStrategy": {"type": "RollingUpdate", "maxSurge": 0, "maxUnavailable": 1},
    "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
    "podAntiAffinity": {"mode": "hard"},
}})
# KEDA mode against a Prometheus that does not exist: KEDA must still reconcile (its HPA on the Deployment, with the
# chart's bounds), and its fallback must hold the replicas instead of scaling in on missing data.
KEDA_POLLING_SECONDS = 5
KEDA_FAILURE_THRESHOLD = 2
AUTOSCALED = Release("autoscaled", "autoscaled", {"server": {"autoscaling": {
    "mode": "keda", "minReplicas": 2, "maxReplicas": 3,
    "prometheus": {"serverAddress": "http://prometheus-operated.monitoring.svc:9090"},
    "keda": {"pollingInterval": KEDA_POLLING_SECONDS, "fallbackFailureThreshold": KEDA_FAILURE_THRESHOLD},
}}})


def client_pod_manifest(namespace: str) -> dict:
    """A pod of the kind Triton image (tritonclient and numpy inside) that runs inference_client.py; it meets the
    restricted Pod Security Standard, which the install's namespace enforces."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT_POD, "namespace": namespace, "labels": {"app": CLIENT_POD}},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "automountServiceAccountToken": False,
                "containers": [{
                    "name": "client", "image": pinned_versions()["KIND_TRITON_IMAGE"], "imagePullPolicy": "Never",
                    # The image's entrypoint execs its args: no `command`, as for the server.
                    "args": ["sleep", "infinity"],
                    "workingDir": "/client",
                    "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
                    "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                    "volumeMounts": [{"name": "client", "mountPath": "/client", "readOnly": True}],
                }],
                "volumes": [{"name": "client", "configMap": {"name": CLIENT_CONFIGMAP}}],
            }}


def client_configmap_manifest(namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CLIENT_CONFIGMAP, "namespace": namespace},
            "data": {name: path.read_text() for name, path in CLIENT_FILES.items()}}


# --- the previous chart version ----------------------------------------------------------------------------

UMBRELLA_CHART_YAML = "charts/triton-stack/Chart.yaml"
# What an earlier version needs to be installed as it was: its charts, its values files and the models its
# ConfigMap is built from.
PREVIOUS_VERSION_PATHS = ("charts", "values", "models")


@dataclass(frozen=True)
class PreviousVersion:
    commit: str
    version: str


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60).stdout


def previous_chart_version(repo: Path = helm.REPO_ROOT) -> PreviousVersion | None:
    """The newest commit whose umbrella chart has another version than the working tree's: the release a user
    upgrades from. None when every commit carries the current version (the first release) or git has no history."""
    current = str(yaml.safe_load((repo / UMBRELLA_CHART_YAML).read_text())["version"])
    try:
        commits = _git(repo, "log", "--format=%H", "--", UMBRELLA_CHART_YAML).split()
    except (subprocess.CalledProcessError, OSError):
        return None
    for commit in commits:
        version = str(yaml.safe_load(_git(repo, "show", f"{commit}:{UMBRELLA_CHART_YAML}"))["version"])
        if version != current:
            return PreviousVersion(commit, version)
    return None


def check_out_previous_version(previous: PreviousVersion, destination: Path, repo: Path = helm.REPO_ROOT) -> Path:
    """Writes the previous version's charts, values and models under `destination` and builds its dependencies;
    returns the directory of its umbrella chart."""
    archive = subprocess.run(["git", "archive", previous.commit, *PREVIOUS_VERSION_PATHS], cwd=repo, capture_output=True, check=True,
                             timeout=120).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    for chart in helm.CHARTS_WITH_DEPENDENCIES:
        if (destination / "charts" / chart / "Chart.yaml").exists():
            helm.build_dependencies(destination / "charts" / chart)
    return destination / "charts" / "triton-stack"
