"""docs/install.md against the environment files and their renders: every example value is marked `# REPLACE:`
(ci/docs/placeholders.py), the guide's table lists exactly the marks, and every Secret and namespace a render
needs but does not create is created in the guide, under the name the render uses."""

from __future__ import annotations

import re

import pytest

from ci.docs import placeholders, sync_readme
from tests.harness import render as helm

pytestmark = pytest.mark.render

GUIDE = sync_readme.INSTALL_GUIDE
ENVIRONMENTS = sorted(helm.VALUES_DIR.glob("*.yaml"))
NEEDS_MARKS = ("prod", "staging")  # the cluster environments a user copies; local, dev and ci-kind run as they are


@pytest.mark.parametrize("values_file", ENVIRONMENTS, ids=lambda path: path.stem)
def test_no_example_value_ships_unmarked(values_file):
    assert placeholders.unmarked_examples(values_file.read_text()) == []


@pytest.mark.parametrize("name", NEEDS_MARKS)
def test_cluster_environments_mark_what_every_user_replaces(name):
    marked = placeholders.marked_paths((helm.VALUES_DIR / f"{name}.yaml").read_text())
    # The list: bucket, role, GPU product, NetworkPolicy peers (and prod's image digest).
    expected = {"server.modelRepository.objectStore.uri", "server.modelRepository.objectStore.workloadIdentity.aws.roleArn",
                "server.gpu.products", "server.networkPolicy.inferenceFrom"} | ({"server.image.digest"} if name == "prod" else set())
    assert expected <= set(marked), f"values/{name}.yaml does not mark {sorted(expected - set(marked))}"


def test_an_unmarked_example_is_found():
    text = (helm.VALUES_DIR / "prod.yaml").read_text()
    unmarked = re.sub(r"(roleArn: \S+)\s+# REPLACE:.*", r"\1", text)
    assert unmarked != text
    assert placeholders.unmarked_examples(unmarked) == [
        "server.modelRepository.objectStore.workloadIdentity.aws.roleArn: arn:aws:iam::123456789012:role/triton-models-prod-read"]


def test_a_section_mark_covers_the_values_under_it():
    text = "server:\n  networkPolicy:\n    inferenceFrom:  # REPLACE: your clients\n      - namespaceSelector:\n          matchLabels:\n            team: acme-apps\n"
    assert placeholders.marked_paths(text) == {"server.networkPolicy.inferenceFrom": "your clients"}
    assert placeholders.unmarked_examples(text) == []
    assert placeholders.unmarked_examples(text.replace("  # REPLACE: your clients", "")) == [
        "server.networkPolicy.inferenceFrom[0].namespaceSelector.matchLabels.team: acme-apps"]


def test_a_mark_without_a_key_is_refused():
    with pytest.raises(ValueError, match="line 2: a REPLACE mark on a line without a key"):
        placeholders.marked_paths("server:\n  # REPLACE: something\n  replicaCount: 1\n")


def test_the_guide_lists_exactly_the_marks():
    table = GUIDE.read_text().split("<!-- placeholders:start -->", 1)[1].split("<!-- placeholders:end -->", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))
    marked = {path for values_file in ENVIRONMENTS for path in placeholders.marked_paths(values_file.read_text())}
    assert listed == marked, "docs/install.md is stale: run `make docs`"


def _referenced_secrets(objects: list[dict]) -> set[tuple[str, str]]:
    """(namespace, name) of every Secret the pods read and the release does not create."""
    created = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects if o["kind"] == "Secret"}
    referenced = set()
    for obj in objects:
        template = obj.get("spec", {}).get("template", {}).get("spec") or (obj.get("spec") if obj["kind"] == "Pod" else None)
        if not template:
            continue
        namespace = obj["metadata"].get("namespace")
        for container in [*template.get("initContainers", []), *template.get("containers", [])]:
            for env in container.get("env", []):
                if "secretKeyRef" in env.get("valueFrom", {}):
                    referenced.add((namespace, env["valueFrom"]["secretKeyRef"]["name"]))
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    referenced.add((namespace, source["secretRef"]["name"]))
        for volume in template.get("volumes", []):
            if "secret" in volume:
                referenced.add((namespace, volume["secret"]["secretName"]))
    return referenced - created


@pytest.mark.parametrize("name", NEEDS_MARKS)
def test_the_guide_creates_every_secret_the_render_reads(name):
    objects = helm.render("triton-stack", [helm.VALUES_DIR / f"{name}.yaml"])  # release triton in inference, as the guide
    guide = GUIDE.read_text()
    secrets = _referenced_secrets(objects)
    assert secrets, "the render reads no Secret: the test would check nothing"
    for namespace, secret in sorted(secrets):
        assert re.search(rf"kubectl -n {re.escape(namespace)} create secret generic {re.escape(secret)}\b", guide), (
            f"values/{name}.yaml reads Secret {namespace}/{secret}; docs/install.md does not create it")


def test_the_guide_states_the_declared_kubernetes_range():
    lowest, highest = (version.rsplit(".", 1)[0] for version in helm.declared_kube_versions())  # 1.29.0 -> 1.29
    assert f"| Kubernetes {lowest} to {highest} |" in GUIDE.read_text()
