"""The harness itself: the render module's cache and errors, and the schema validator's refusals."""

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness import validate

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


def test_errors_carry_helms_stderr():
    error = helm.render_error("triton-stack", values={"server": {"replicaCount": "x"}}, kube_version=KUBE_HIGHEST)
    assert "values don't meet the specifications of the schema" in error.stderr
    assert error.stderr in str(error)


def test_render_error_fails_when_helm_renders():
    with pytest.raises(AssertionError, match="must be rejected"):
        helm.render_error("triton-stack", kube_version=KUBE_HIGHEST)


def test_kube_versions_come_from_the_charts():
    lowest, highest = helm.declared_kube_versions()
    assert lowest < highest and lowest.startswith("1.") and highest.startswith("1.")


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
