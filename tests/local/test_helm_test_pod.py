"""The helm test pod's script against the real tritonserver started from the same render.

values/ci-kind.yaml is what `make test-cluster` installs and `helm test`s; here its Deployment's Triton
container runs on 127.0.0.1 (tests/harness/triton_local) and its test pod's argv runs with the pod's env
and the real curl, TRITON_URL pointing at that server. The script must pass on Triton's real answer, and
fail on Triton's real refusals (a wrong shape, an unknown model). The scripted failures (hangs, 5xx,
malformed answers) are in tests/render/server/test_helm_test.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import render as helm
from tests.harness.triton_local import find_triton_pod

pytestmark = pytest.mark.local

VALUES = helm.VALUES_DIR / "ci-kind.yaml"
RUN_LIMIT_SECONDS = 60


@pytest.fixture(scope="module")
def release(tmp_path_factory, launch_rendered):
    """(the helm test pod, the running server) of one render of values/ci-kind.yaml."""
    objects = helm.render("triton-stack", [VALUES], kube_version=KUBE_HIGHEST)
    launched = launch_rendered(find_triton_pod(objects), tmp_path_factory.mktemp("helm-test-pod"))
    with launched.server:
        launched.server.wait_ready()
        yield find(objects, "Pod"), launched.server
        launched.stop_after_pre_stop()


def run_pod(pod: dict, server, **env_overrides) -> subprocess.CompletedProcess:
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]} | {"TRITON_URL": server.base_url, "PATH": os.environ["PATH"]} | env_overrides
    argv = [*container.get("command", []), *container["args"]]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_SECONDS)


def test_script_passes_on_the_real_servers_answer(release):
    pod, server = release
    completed = run_pod(pod, server)
    assert completed.returncode == 0, completed.stderr
    assert f"ready: {server.base_url}" in completed.stdout
    assert "inference on image_classifier succeeded: {\"model_name\":\"image_classifier\"" in completed.stdout


def test_script_fails_on_the_real_servers_refusal_of_a_wrong_shape(release):
    pod, server = release
    completed = run_pod(pod, server, INPUT_SHAPE="1,3,32,31")
    assert completed.returncode == 1, completed.stdout
    assert "returned error: 400" in completed.stderr
    assert "helm test: inference on image_classifier failed: {\"error\":" in completed.stderr


def test_script_fails_when_the_real_server_does_not_serve_the_model(release):
    pod, server = release
    completed = run_pod(pod, server, MODEL="absent_model")
    assert completed.returncode == 1, completed.stdout
    assert "returned error: 404" in completed.stderr
    assert "helm test: inference on absent_model failed: {\"error\":\"Request for unknown model: 'absent_model' is not found\"}" in completed.stderr
