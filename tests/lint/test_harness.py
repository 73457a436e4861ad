"""The harness itself: the render module's cache and errors, and the schema validator's refusals."""

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness import validate
from tests.harness.errors import error_paths

pytestmark = pytest.mark.render


def test_a_repeated_render_is_served_from_the_cache():
    values = {"server": {"replicaCount": 7}}
    helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST)
    before = helm.stats()
    again = helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST)
    after = helm.stats()
    assert (after.unique_renders, after.cache_hits) == (before.unique_renders, before.cache_hits + 1)
    assert next(o for o in again if o["kind"] == "Deployment")["spec"]["replicas"] == 7


def test_cached_objects_are_copies():
    first = helm.render("triton-stack", kube_version=KUBE_HIGHEST)
    first[0]["metadata"]["name"] = "changed"
    assert helm.render("triton-stack", kube_version=KUBE_HIGHEST)[0]["metadata"]["name"] != "changed"


def test_errors_carry_helms_stderr_and_command():
    error = helm.render_error("triton-stack", values={"server": {"replicaCount": "x"}}, kube_version=KUBE_HIGHEST)
    assert "values don't meet the specifications of the schema" in error.stderr
    assert error_paths(error.stderr, "triton-stack") == {"server.replicaCount"}
    assert error.returncode == 1
    assert error.command[1:3] == ["template", helm.DEFAULT_RELEASE]


def test_render_error_fails_when_helm_renders():
    with pytest.raises(AssertionError, match="must be rejected"):
        helm.render_error("triton-stack", kube_version=KUBE_HIGHEST)


@pytest.mark.parametrize(("offset", "accepted"), [(-1, False), (0, True)], ids=["below", "lowest"])
def test_lowest_declared_kube_version_is_where_helm_starts_accepting(offset, accepted):
    lowest, _ = helm.declared_kube_versions()
    major, minor, _ = lowest.split(".")
    assert_helm_accepts(f"{major}.{int(minor) + offset}.0", accepted)


@pytest.mark.parametrize(("offset", "accepted"), [(0, True), (1, False)], ids=["highest", "above"])
def test_highest_declared_kube_version_is_where_helm_stops_accepting(offset, accepted):
    _, highest = helm.declared_kube_versions()
    major, minor, _ = highest.split(".")
    assert_helm_accepts(f"{major}.{int(minor) + offset}.0", accepted)


def assert_helm_accepts(kube_version: str, accepted: bool) -> None:
    # Helm itself enforces the charts' kubeVersion: the range the suite tests must be exactly that.
    if accepted:
        assert helm.render("triton-stack", kube_version=kube_version)
    else:
        import yaml

        constraint = yaml.safe_load((helm.CHARTS_DIR / "triton-stack" / "Chart.yaml").read_text())["kubeVersion"]
        error = helm.render_error("triton-stack", kube_version=kube_version)
        assert f"chart requires kubeVersion: {constraint} which is incompatible with Kubernetes v{kube_version}" in error.stderr


def test_a_kind_without_a_schema_fails_instead_of_passing():
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {}}
    with pytest.raises(validate.SchemaMissing, match="Gadget"):
        validate.validate_object(unknown, KUBE_HIGHEST)


def test_unknown_fields_fail_strict_validation():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "colour": "red"}}
    with pytest.raises(validate.ObjectInvalid, match="colour"):
        validate.validate_object(service, KUBE_HIGHEST)


def test_a_crd_kind_is_checked_against_its_stored_schema(tmp_path, monkeypatch):
    (tmp_path / "example.json").write_text(
        '{"apiVersion": "example.com/v1", "kind": "Gadget", "openAPIV3Schema": {"type": "object", "properties":'
        ' {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}'
    )
    monkeypatch.setattr(validate, "CRD_SCHEMA_DIR", tmp_path)
    validate.crd_schemas.cache_clear()
    try:
        gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": 3}}
        validate.validate_object(gadget, KUBE_HIGHEST)
        gadget["spec"]["colour"] = "red"
        with pytest.raises(validate.ObjectInvalid, match="colour"):
            validate.validate_object(gadget, KUBE_HIGHEST)
    finally:
        validate.crd_schemas.cache_clear()
