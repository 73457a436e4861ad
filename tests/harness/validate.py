"""Validates rendered objects against real schemas, offline.

Core kinds go through kubernetes-validate's Python API in strict mode (unknown fields are errors). Its CLI
exits 0 on a kind it has no schema for; the API raises SchemaNotFoundError, and so do we: a custom resource
kind passes only against a real CRD schema stored in tests/harness/crd-schemas/ (the openAPIV3Schema of the
CRD as published upstream, one file per group/version/kind, unknown fields forbidden), never silently.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import kubernetes_validate

CRD_SCHEMA_DIR = Path(__file__).with_name("crd-schemas")


class SchemaMissing(Exception):
    """A rendered kind has neither a Kubernetes schema nor a stored CRD schema."""


class ObjectInvalid(Exception):
    """A rendered object does not match its schema."""


def describe(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} ({obj.get('apiVersion')})"


def _closed(schema: dict) -> dict:
    """Forbids unknown fields wherever a CRD schema lists properties and says nothing about extra ones,
    which is what the API server does with structural schemas (it prunes them; we fail instead)."""
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_closed(item) for item in schema]
    return schema


@lru_cache(maxsize=None)
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> closed openAPIV3Schema, from tests/harness/crd-schemas/*.json."""
    schemas = {}
    for path in sorted(CRD_SCHEMA_DIR.glob("*.json")):
        stored = json.loads(path.read_text())
        schemas[(stored["apiVersion"], stored["kind"])] = _closed(stored["openAPIV3Schema"])
    return schemas


def validate_object(obj: dict, kube_version: str) -> None:
    """Raises ObjectInvalid or SchemaMissing; returns None for a valid object."""
    try:
        kubernetes_validate.validate(obj, kube_version, strict=True)
        return
    except kubernetes_validate.SchemaNotFoundError:
        pass
    except kubernetes_validate.ValidationError as error:
        path = "/".join(str(p) for p in error.absolute_path)
        raise ObjectInvalid(f"{describe(obj)} on Kubernetes {kube_version}: at '{path}': {error.message}") from None
    schema = crd_schemas().get((obj.get("apiVersion"), obj.get("kind")))
    if schema is None:
        raise SchemaMissing(
            f"{describe(obj)}: no Kubernetes {kube_version} schema and no CRD schema in {CRD_SCHEMA_DIR.name}/. "
            "Add the CRD's openAPIV3Schema there; a kind is never passed unchecked."
        )
    body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata")}
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path)
        raise ObjectInvalid(f"{describe(obj)}: at '{path}': {first.message}")
    for embedded in _embedded_core_objects(obj):
        validate_object(embedded, kube_version)


def _embedded_core_objects(obj: dict) -> list[dict]:
    """Core objects a custom resource carries whose CRD leaves them unchecked (x-kubernetes-preserve-unknown-fields):
    an Argo Rollout's pod template, checked as a Deployment's, and an AnalysisTemplate's job provider, as a Job."""
    metadata = {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace", "default")}
    if obj.get("kind") == "Rollout" and "template" in obj.get("spec", {}):
        spec = {"selector": obj["spec"]["selector"], "template": obj["spec"]["template"]}
        return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}]
    if obj.get("kind") == "AnalysisTemplate":
        return [
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {**metadata, "name": f"{metadata['name']}-{metric['name']}"}, "spec": metric["provider"]["job"]["spec"]}
            for metric in obj["spec"].get("metrics", [])
            if "job" in (metric.get("provider") or {})
        ]
    return []
