"""What the kind tier installs is render-checked here, where no cluster runs (tests/cluster/scenarios.py): every
release renders and validates at both declared Kubernetes minors with the shape its test relies on, the client pod
meets the restricted standard the install namespace enforces, and the previous chart version is found in git."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.cluster import scenarios
from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST, find
from tests.harness import policy, validate

pytestmark = pytest.mark.render

RELEASES = [scenarios.ROLLING, scenarios.DRAIN, scenarios.AUTOSCALED]


@pytest.mark.parametrize("kube_version", [KUBE_LOWEST, KUBE_HIGHEST])
@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.name)
def test_every_release_renders_valid_objects_in_its_namespace(release, kube_version):
    objects = release.render(kube_version=kube_version)
    for obj in objects:
        validate.validate_object(obj, kube_version)
        assert obj["metadata"].get("namespace", release.namespace) == release.namespace
    assert find(objects, "Deployment")["metadata"]["name"] == release.deployment
    assert find(objects, "Service", "-server")["metadata"]["name"] == release.service_host.split(".")[0]


def test_the_rolling_release_surges_one_pod_and_keeps_capacity():
    objects = scenarios.ROLLING.render(kube_version=KUBE_HIGHEST)
    deployment = find(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert find(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_the_rolling_change_touches_only_the_pod_template():
    # A rollout and nothing else: the only difference is the pod annotation, which makes a new ReplicaSet.
    before = scenarios.ROLLING.render(kube_version=KUBE_HIGHEST)
    changed = scenarios.Release("rolling", "rolling", {"server": {**scenarios.ROLLING.values["server"], **scenarios.ROLLING_CHANGE["server"]}})
    after = changed.render(kube_version=KUBE_HIGHEST)
    metadata = find(after, "Deployment")["spec"]["template"]["metadata"]
    assert metadata["annotations"].pop("triton-stack.io/rollout-test") == "2"
    if not metadata["annotations"]:
        del metadata["annotations"]
    assert after == before


def test_the_drain_release_pins_its_pods_to_distinct_nodes_under_a_budget():
    objects = scenarios.DRAIN.render(kube_version=KUBE_HIGHEST)
    pod = find(objects, "Deployment")["spec"]["template"]["spec"]
    (rule,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    budget = find(objects, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()


def test_the_autoscaled_release_hands_the_count_to_keda_with_a_fast_fallback():
    objects = scenarios.AUTOSCALED.render(kube_version=KUBE_HIGHEST)
    assert "replicas" not in find(objects, "Deployment")["spec"]
    scaled_object = find(objects, "ScaledObject")
    assert scaled_object["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": scenarios.AUTOSCALED.deployment}
    assert (scaled_object["spec"]["minReplicaCount"], scaled_object["spec"]["maxReplicaCount"]) == (2, 3)
    assert scaled_object["spec"]["pollingInterval"] == scenarios.KEDA_POLLING_SECONDS
    assert scaled_object["spec"]["fallback"]["failureThreshold"] == scenarios.KEDA_FAILURE_THRESHOLD


def test_the_inference_client_pod_meets_the_restricted_standard():
    pod = scenarios.client_pod_manifest("inference")
    validate.validate_object(pod, KUBE_HIGHEST)
    assert policy.restricted_violations(pod["spec"]) == []
    assert policy.entrypoint_overrides([pod]) == []


def test_a_root_client_pod_would_be_refused_by_the_standard():
    pod = scenarios.client_pod_manifest("inference")
    pod["spec"]["securityContext"]["runAsUser"] = 0
    assert policy.restricted_violations(pod["spec"])


def test_the_client_configmap_carries_the_client_and_the_pattern_generator():
    configmap = scenarios.client_configmap_manifest("inference")
    validate.validate_object(configmap, KUBE_HIGHEST)
    assert set(configmap["data"]) == {"inference_client.py", "synthetic_patterns.py"}
    compile(configmap["data"]["inference_client.py"], "inference_client.py", "exec")


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture
def chart_history(tmp_path):
    """A repository whose umbrella chart went 0.1.0 -> 0.2.0, then changed again at 0.2.0."""
    chart_yaml = tmp_path / scenarios.UMBRELLA_CHART_YAML
    chart_yaml.parent.mkdir(parents=True)
    git(tmp_path, "init", "-q")
    commits = []
    for version, note in (("0.1.0", "first"), ("0.2.0", "bump"), ("0.2.0", "more at 0.2.0")):
        chart_yaml.write_text(yaml.safe_dump({"name": "triton-stack", "version": version, "description": note}))
        git(tmp_path, "add", "-A")
        git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", note)
        commits.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip())
    return tmp_path, commits


def test_the_previous_version_is_the_last_commit_before_the_current_one(chart_history):
    repo, commits = chart_history
    assert scenarios.previous_chart_version(repo) == scenarios.PreviousVersion(commits[0], "0.1.0")


def test_there_is_no_previous_version_before_the_first_bump(chart_history):
    repo, commits = chart_history
    git(repo, "reset", "-q", "--hard", commits[0])
    assert scenarios.previous_chart_version(repo) is None


def test_the_dry_run_creates_every_namespace_a_render_names(default_renders):
    from tests.cluster.test_dry_run import namespaces_named

    objects = default_renders["prod"] + [{"kind": "Namespace", "metadata": {"name": "logging"}}]
    assert {"inference", "logging"} <= namespaces_named(objects)
