"""Invariants checked once over every environment file and every chart ci/ scenario.

Every object is validated against the real Kubernetes schema of the lowest and the highest Kubernetes minor
that the charts declare, both Helm majors must produce the same objects, and labels and selectors follow the
recommended-label rules.
"""

import pytest

from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST, SCENARIOS, Scenario
from tests.harness import policy, validate
from tests.harness import render as helm

pytestmark = pytest.mark.render

# Charts that render no pod of their own: configuration for other controllers (Prometheus, Grafana; Istio, and
# the promotion gate whose Job Argo Rollouts creates).
CHARTS_WITHOUT_PODS = {"triton-monitoring", "triton-routing"}


@pytest.mark.parametrize("kube_version", [KUBE_LOWEST, KUBE_HIGHEST])
def test_every_object_matches_the_kubernetes_schema(scenario: Scenario, kube_version: str):
    objects = scenario.render(kube_version=kube_version)
    assert objects, f"{scenario.name} rendered nothing"
    problems = []
    for obj in objects:
        try:
            validate.validate_object(obj, kube_version)
        except (validate.ObjectInvalid, validate.SchemaMissing) as error:
            problems.append(str(error))
    assert problems == []


def test_helm3_and_helm4_render_identical_objects(scenario: Scenario):
    by_helm3 = scenario.render(helm="helm3", kube_version=KUBE_HIGHEST)
    by_helm4 = scenario.render(helm="helm4", kube_version=KUBE_HIGHEST)
    assert by_helm3 == by_helm4


def test_every_object_carries_the_recommended_labels_and_stable_selectors(scenario: Scenario):
    objects = scenario.render(kube_version=KUBE_HIGHEST)
    problems = {f"{o['kind']}/{o['metadata']['name']}": policy.label_violations(o) for o in objects}
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_pod_meets_the_restricted_pod_security_standard(scenario: Scenario):
    pods = list(policy.pod_specs(scenario.render(kube_version=KUBE_HIGHEST)))
    assert bool(pods) != (scenario.chart in CHARTS_WITHOUT_PODS), f"{scenario.name} renders {len(pods)} pods"
    # A pod with a declared exception (tests/harness/policy.py RESTRICTED_EXCEPTIONS) may break exactly its controls.
    violations = {name: policy.restricted_violations_beyond_exceptions(name, spec) for name, spec in pods}
    assert {name: found for name, found in violations.items() if found} == {}


def test_every_object_is_namespaced_to_the_release_or_cluster_scoped(scenario: Scenario):
    # Except Fluentd's node agent: it and what it alone uses live in the logging namespace (its Pod Security
    # exemption), never the release's; its Role stays with the pods it reads.
    cluster_scoped = {"PriorityClass", "ClusterRole", "ClusterRoleBinding", "Namespace"}
    objects = scenario.render(kube_version=KUBE_HIGHEST)
    agent_namespaces = {o["metadata"]["namespace"] for o in objects if o["kind"] == "DaemonSet" and policy.restricted_exception(f"DaemonSet/{o['metadata']['name']}")}
    assert helm.DEFAULT_NAMESPACE not in agent_namespaces

    def expected(o: dict) -> str:
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "logging" and o["kind"] not in ("Role", "RoleBinding"):
            (namespace,) = agent_namespaces
            return namespace
        return helm.DEFAULT_NAMESPACE

    wrong = [
        f"{o['kind']}/{o['metadata']['name']}: {o['metadata'].get('namespace')}"
        for o in objects
        if (o["kind"] in cluster_scoped) == ("namespace" in o["metadata"]) or (o["kind"] not in cluster_scoped and o["metadata"]["namespace"] != expected(o))
    ]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(s.name for s in SCENARIOS if s.name in {"staging", "prod"}))
def test_production_like_environments_meet_the_availability_rules(name: str, default_renders):
    assert policy.availability_violations(default_renders[name]) == []


@pytest.mark.parametrize("name", ["dev", "ci-kind"])
def test_availability_rules_flag_single_replica_environments(name: str, default_renders):
    # The negative pair: the same rules do catch a one-replica render, and nothing else in it.
    assert policy.availability_violations(default_renders[name]) == ["Deployment/triton-server: 1 replica(s); staging and production need at least 2"]


def test_kind_configmap_items_are_exactly_the_served_model_files():
    # values/ci-kind.yaml mounts a ConfigMap that ci/cluster/models_configmap.py builds from models/:
    # a file missing from the list would be missing in the cluster, a listed file that is gone breaks it.
    import yaml

    items = yaml.safe_load((helm.VALUES_DIR / "ci-kind.yaml").read_text())["server"]["modelRepository"]["configMap"]["items"]
    listed = {item["path"] for item in items}
    models = helm.REPO_ROOT / "models"
    served = {item["path"].split("/")[0] for item in items}
    on_disk = {
        str(path.relative_to(models))
        for model in served
        for path in (models / model).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert listed == on_disk
    assert all(item["key"] == item["path"].replace("/", "__") for item in items)


def _kind_configmap_builder():
    """ci/cluster/models_configmap.py, loaded from its path (ci/ is scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("models_configmap", helm.REPO_ROOT / "ci" / "cluster" / "models_configmap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kind_configmap_fits_the_api_server_limit_when_built_from_models():
    builder = _kind_configmap_builder()
    configmap = builder.build(helm.VALUES_DIR / "ci-kind.yaml", helm.REPO_ROOT / "models", "inference")
    assert {key.split("__")[0] for key in {**configmap["data"], **configmap["binaryData"]}} == {"image_classifier"}


def test_kind_configmap_is_refused_naming_the_biggest_file_when_models_outgrow_it(tmp_path):
    # The negative pair: weights over 1 MiB would be refused by the API server half-way through `make test-cluster`.
    import shutil

    builder = _kind_configmap_builder()
    models = tmp_path / "models"
    shutil.copytree(helm.REPO_ROOT / "models" / "image_classifier", models / "image_classifier")
    (models / "image_classifier" / "1" / "weights.pt").write_bytes(b"\0" * builder.MAX_CONFIGMAP_BYTES)
    with pytest.raises(builder.ConfigMapTooLarge, match=r"configMap\.items add up to .* image_classifier/1/weights\.pt \(1048576 bytes\)"):
        builder.build(helm.VALUES_DIR / "ci-kind.yaml", models, "inference")


def test_every_emptydir_is_bounded(scenario: Scenario):
    # A node-disk emptyDir without a sizeLimit can fill the node and evict its neighbours; memory-backed ones
    # count against the memory limit but are bounded too.
    unbounded = [
        f"{name}: {volume['name']}"
        for name, spec in policy.pod_specs(scenario.render(kube_version=KUBE_HIGHEST))
        for volume in spec.get("volumes") or []
        if "emptyDir" in volume and not volume["emptyDir"].get("sizeLimit")
    ]
    assert unbounded == []
