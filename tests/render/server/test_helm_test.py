"""The helm test pod: readiness, then one inference; restricted like everything else."""

import pytest

from tests.conftest import find
from tests.harness import policy
from tests.render.server.conftest import error_of, render_server

pytestmark = pytest.mark.render

INPUT = {"name": "INPUT0", "datatype": "FP32", "shape": [1, 4]}


def test_pod_checks_readiness_then_infers_when_a_model_is_named():
    pod = find(render_server({"helmTest": {"model": "identity", "input": INPUT}}), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env == {
        "TRITON_URL": "http://triton-triton-server:8000",
        "MODEL": "identity",
        "INPUT_NAME": "INPUT0",
        "INPUT_DATATYPE": "FP32",
        "INPUT_SHAPE": "1,4",
    }
    script = pod["spec"]["containers"][0]["args"][-1]
    assert "/v2/health/ready" in script and '/v2/models/$MODEL/infer' in script


def test_pod_script_builds_a_zero_request_of_the_declared_shape(tmp_path):
    # Runs the pod's own script with a stand-in curl that records the request body, so the JSON the pod
    # would send is checked for real (sh and awk, as in the curl image's busybox).
    import json
    import os
    import subprocess

    pod = find(render_server({"helmTest": {"model": "identity", "input": INPUT}}), "Pod")
    container = pod["spec"]["containers"][0]
    script = container["args"][-1].replace("/tmp/request.json", str(tmp_path / "request.json"))
    fake_curl = tmp_path / "curl"
    fake_curl.write_text("#!/bin/sh\nexit 0\n")
    fake_curl.chmod(0o755)
    env = {e["name"]: e["value"] for e in container["env"]} | {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-ec", script], env=env, check=True, capture_output=True, timeout=30)
    body = json.loads((tmp_path / "request.json").read_text())
    assert body == {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]}]}


def test_pod_is_restricted():
    pod = find(render_server(), "Pod")
    assert policy.restricted_violations(pod["spec"]) == []


def test_no_pod_when_disabled():
    assert not [o for o in render_server({"helmTest": {"enabled": False}}) if o["kind"] == "Pod"]


def test_model_without_an_input_fails():
    assert "helmTest.input: needs a name and a shape while helmTest.model is \"identity\"" in error_of({"helmTest": {"model": "identity"}})
