"""Render helpers for the server chart's feature tests: standalone chart, highest declared Kubernetes."""

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import render as helm


def render_server(values: dict | None = None, kube_version: str = KUBE_HIGHEST) -> list[dict]:
    return helm.render("triton-server", values=values or {}, kube_version=kube_version)


def deployment(objects: list[dict]) -> dict:
    return find(objects, "Deployment")


def pod_spec(objects: list[dict]) -> dict:
    return deployment(objects)["spec"]["template"]["spec"]


def triton_container(objects: list[dict]) -> dict:
    return next(c for c in pod_spec(objects)["containers"] if c["name"] == "triton")


def args_of(objects: list[dict]) -> dict[str, str]:
    """tritonserver flags as {flag: value}; a bare flag maps to ''."""
    parsed = {}
    for arg in triton_container(objects)["args"]:
        flag, _, value = arg.partition("=")
        parsed[flag] = value
    return parsed


def error_of(values: dict, kube_version: str = KUBE_HIGHEST) -> str:
    return helm.render_error("triton-server", values=values, kube_version=kube_version).stderr


def rejected_paths(values: dict, kube_version: str = KUBE_HIGHEST) -> set[str]:
    """The value paths helm names when it rejects these values (either Helm error format)."""
    from tests.harness.errors import error_paths

    return error_paths(error_of(values, kube_version), "triton-server")
