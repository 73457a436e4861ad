"""Image references and pull Secrets of every pod: tags, digests, an air-gapped mirror, Secrets merged."""

import pytest

from tests.conftest import find
from tests.render.server.conftest import pod_spec, render_server, triton_container

pytestmark = pytest.mark.render

DIGEST = "sha256:" + "d" * 64
ENGINE_BUILD = {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}]}}


def images(objects) -> dict[str, str]:
    spec = pod_spec(objects)
    found = {c["name"]: c["image"] for c in [*(spec.get("initContainers") or []), *spec["containers"]]}
    found["helm-test"] = find(objects, "Pod")["spec"]["containers"][0]["image"]
    return found


def test_tags_by_default():
    assert images(render_server(ENGINE_BUILD)) == {
        "triton": "nvcr.io/nvidia/tritonserver:24.10-py3",
        "engine-build": "nvcr.io/nvidia/tensorrt:24.10-py3",
        "helm-test": "docker.io/curlimages/curl:8.11.0",
    }


def test_a_digest_pins_the_image_beside_or_instead_of_the_tag():
    objects = render_server({"image": {"digest": DIGEST}, "helmTest": {"image": {"tag": "", "digest": DIGEST}}})
    assert triton_container(objects)["image"] == f"nvcr.io/nvidia/tritonserver:24.10-py3@{DIGEST}"
    assert images(objects)["helm-test"] == f"docker.io/curlimages/curl@{DIGEST}"


def test_a_mirror_replaces_the_registry_part_only():
    values = {
        **ENGINE_BUILD,
        "global": {"imageRegistry": "mirror.example.com:5000"},
        # no registry part: the mirror is prefixed; "localhost:5000/..." has one (a port), so it is replaced
        "helmTest": {"image": {"repository": "curlimages/curl"}},
        "engineBuild": {**ENGINE_BUILD["engineBuild"], "image": {"repository": "localhost:5000/nvidia/tensorrt"}},
    }
    assert images(render_server(values)) == {
        "triton": "mirror.example.com:5000/nvidia/tritonserver:24.10-py3",
        "engine-build": "mirror.example.com:5000/nvidia/tensorrt:24.10-py3",
        "helm-test": "mirror.example.com:5000/curlimages/curl:8.11.0",
    }


def test_pull_secrets_of_the_umbrella_and_the_chart_are_merged_once_on_every_pod():
    objects = render_server({"global": {"imagePullSecrets": ["mirror", "shared"]}, "imagePullSecrets": ["shared", "own"]})
    expected = [{"name": "mirror"}, {"name": "shared"}, {"name": "own"}]
    assert pod_spec(objects)["imagePullSecrets"] == expected
    assert find(objects, "Pod")["spec"]["imagePullSecrets"] == expected


def test_no_pull_secrets_by_default():
    objects = render_server()
    assert "imagePullSecrets" not in pod_spec(objects)
    assert "imagePullSecrets" not in find(objects, "Pod")["spec"]
