"""The helm test pod: readiness, then one inference; restricted like everything else."""

import pytest

from tests.conftest import find
from tests.harness import policy
from tests.render.server.conftest import error_of, render_server

pytestmark = pytest.mark.render

REQUEST = '{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}'


def test_pod_checks_readiness_then_infers_when_a_model_is_named():
    pod = find(render_server({"helmTest": {"model": "identity", "request": REQUEST}}), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env == {"TRITON_URL": "http://triton-triton-server:8000", "MODEL": "identity", "REQUEST": REQUEST}
    script = pod["spec"]["containers"][0]["args"][0]
    assert "/v2/health/ready" in script and '/v2/models/$MODEL/infer' in script


def test_pod_is_restricted():
    pod = find(render_server(), "Pod")
    assert policy.restricted_violations(pod["spec"]) == []


def test_no_pod_when_disabled():
    assert not [o for o in render_server({"helmTest": {"enabled": False}}) if o["kind"] == "Pod"]


def test_model_without_a_request_fails():
    assert "helmTest.request: is empty while helmTest.model is \"identity\"" in error_of({"helmTest": {"model": "identity"}})
