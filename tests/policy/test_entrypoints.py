"""Vendor images keep their entrypoint: no chart container sets `command` without a reason next to it.

The NGC images (tritonserver, tensorrt) start with /opt/nvidia/nvidia_entrypoint.sh, which sets up the CUDA
forward-compatibility libraries on nodes whose driver is older than the image's CUDA and then execs the
container's args. A `command` replaces it, and GPU pods break on some node pools only. The rule covers every
container the charts run, in every scenario and with every feature that adds a container.
"""

import copy

import pytest

from tests.conftest import KUBE_HIGHEST, SCENARIOS
from tests.harness import policy
from tests.harness import render as helm

pytestmark = pytest.mark.render

# Renders that add containers no scenario has: the TensorRT engine-build init container (GPU only).
FEATURE_RENDERS = {
    "engine build": {"server": {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}]}}},
}


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS] + sorted(FEATURE_RENDERS))
def test_no_container_replaces_its_image_entrypoint(name, default_renders):
    objects = default_renders.get(name) or helm.render("triton-stack", values=FEATURE_RENDERS[name], kube_version=KUBE_HIGHEST)
    assert policy.entrypoint_overrides(objects) == []


def test_engine_build_and_triton_run_through_the_ngc_entrypoint():
    objects = helm.render("triton-stack", values=FEATURE_RENDERS["engine build"], kube_version=KUBE_HIGHEST)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    (build,) = spec["initContainers"]
    (triton,) = spec["containers"]
    assert build["image"].startswith("nvcr.io/nvidia/tensorrt:") and build["args"][:2] == ["bash", "-c"]
    assert triton["image"].startswith("nvcr.io/nvidia/tritonserver:") and triton["args"][0] == "tritonserver"


def test_a_container_that_sets_command_is_reported(default_renders):
    # The negative pair: the chart's own Deployment with `command` put back is caught, naming the container.
    objects = copy.deepcopy(default_renders["prod"])
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["command"] = ["tritonserver"]
    (found,) = policy.entrypoint_overrides(objects)
    assert "container triton (nvcr.io/nvidia/tritonserver:24.10-py3) sets command ['tritonserver']" in found
