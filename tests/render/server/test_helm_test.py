"""The helm test pod: readiness, then one inference whose answer is checked; restricted like everything else.

The pod's script runs here exactly as rendered: its argv (the image's entrypoint execs it, see below) with
the pod's env, the real curl and sh of this machine, against a scripted peer on 127.0.0.1 that answers the
way Triton does, or fails each way a server can (HTTP 4xx and 5xx, a hang, a 200 that is no answer). Only
the env's address and timing values change: TRITON_URL points at the peer, and the retry and timeout
figures shrink so that a failure takes a second, not a minute. tests/local runs it against the real server.
"""

import json
import os
import subprocess
import time

import pytest

from tests.conftest import find
from tests.harness import policy
from tests.harness.loopback import Answer, ScriptedPeer, refusing_address
from tests.render.server.conftest import error_of, render_server

pytestmark = pytest.mark.render

INPUT = {"name": "INPUT0", "datatype": "FP32", "shape": [1, 4]}
WITH_MODEL = {"helmTest": {"model": "identity", "input": INPUT}}
READY = ("GET", "/v2/health/ready")
INFER = ("POST", "/v2/models/identity/infer")
# What Triton 2.51 answers for the identity model of charts/triton-server/ci/configmap-repository-values.yaml.
ANSWER = '{"model_name":"identity","model_version":"1","outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[1,4],"data":[0.0,0.0,0.0,0.0]}]}'
FAST = {"CONNECT_TIMEOUT_SECONDS": "1", "REQUEST_TIMEOUT_SECONDS": "0.5", "READY_RETRIES": "0", "RETRY_DELAY_SECONDS": "1"}
# Longer than any run of the script with FAST timing; a script that ignores its timeouts hits this instead.
RUN_LIMIT_SECONDS = 8


def helm_test_container(values: dict | None = None) -> dict:
    return find(render_server(values if values is not None else WITH_MODEL), "Pod")["spec"]["containers"][0]


def run_script(url: str, values: dict | None = None, shell: str | None = None, **env_overrides) -> subprocess.CompletedProcess:
    """Runs the rendered container's argv with its rendered env (the address and timing overridden); `shell`
    replaces the program (argv[0]) to show the script is plain POSIX sh."""
    container = helm_test_container(values)
    env = {e["name"]: e["value"] for e in container["env"]} | FAST | {"TRITON_URL": url} | env_overrides
    env["PATH"] = os.environ["PATH"]
    argv = [*container.get("command", []), *container["args"]]
    if shell:
        argv[0:1] = shell.split()
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_SECONDS)


class TestPod:
    def test_pod_keeps_the_image_entrypoint_and_runs_sh(self):
        # curlimages/curl's /entrypoint.sh (curl/curl-container etc/entrypoint.sh) execs its arguments when the
        # first is a program and not an option; otherwise it would run `curl sh -ec ...`.
        container = helm_test_container()
        assert "command" not in container
        assert container["args"][:2] == ["sh", "-ec"] and len(container["args"]) == 3

    def test_env_names_the_service_the_model_and_bounded_timing(self):
        env = {e["name"]: e["value"] for e in helm_test_container()["env"]}
        assert env == {
            "TRITON_URL": "http://triton-triton-server:8000",
            "MODEL": "identity",
            "INPUT_NAME": "INPUT0",
            "INPUT_DATATYPE": "FP32",
            "INPUT_SHAPE": "1,4",
            "CONNECT_TIMEOUT_SECONDS": "5",
            "REQUEST_TIMEOUT_SECONDS": "60",
            "READY_RETRIES": "10",
            "RETRY_DELAY_SECONDS": "3",
        }

    def test_pod_is_a_test_hook_that_is_restricted_and_has_no_token(self):
        pod = find(render_server(), "Pod")
        assert pod["metadata"]["annotations"] == {"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert pod["spec"]["restartPolicy"] == "Never"
        assert policy.restricted_violations(pod["spec"]) == []

    def test_no_pod_when_disabled(self):
        assert not [o for o in render_server({"helmTest": {"enabled": False}}) if o["kind"] == "Pod"]

    def test_model_without_an_input_fails(self):
        assert "helmTest.input: needs a name and a shape while helmTest.model is \"identity\"" in error_of({"helmTest": {"model": "identity"}})


class TestScriptSucceeds:
    # sh is dash here and busybox ash in the curl image; bash --posix is a third reading of the same script.
    @pytest.mark.parametrize("shell", [None, "bash --posix"], ids=["sh", "bash"])
    def test_infers_with_a_zero_request_of_the_declared_shape_when_ready(self, shell):
        with ScriptedPeer({READY: [Answer(200)], INFER: [Answer(200, ANSWER)]}) as peer:
            completed = run_script(peer.url, shell=shell)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.splitlines()[0] == f"ready: {peer.url}"
        assert completed.stdout.splitlines()[-1] == f"inference on identity succeeded: {ANSWER}"
        assert [(r.method, r.path) for r in peer.requests] == [READY, INFER]
        infer = peer.requests[1]
        assert infer.headers["Content-Type"] == "application/json"
        assert json.loads(infer.body) == {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]}]}

    def test_brackets_and_escaped_quotes_inside_strings_are_not_structure(self):
        answer = ANSWER.replace('"name":"OUTPUT0"', r'"name":"OUT]}\"[{"')
        assert json.loads(answer)["outputs"][0]["name"] == 'OUT]}"[{'
        with ScriptedPeer({READY: [Answer(200)], INFER: [Answer(200, answer)]}) as peer:
            completed = run_script(peer.url)
        assert completed.returncode == 0, completed.stderr

    def test_checks_readiness_only_when_no_model_is_named(self):
        with ScriptedPeer({READY: [Answer(200)]}) as peer:
            completed = run_script(peer.url, {})
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout == f"ready: {peer.url}\n"
        assert [(r.method, r.path) for r in peer.requests] == [READY]

    def test_waits_for_a_server_that_becomes_ready(self):
        # Triton answers 400 on /v2/health/ready until its models are loaded; curl retries 4xx only with --retry-all-errors.
        with ScriptedPeer({READY: [Answer(400), Answer(200)], INFER: [Answer(200, ANSWER)]}) as peer:
            completed = run_script(peer.url, READY_RETRIES="1")
        assert completed.returncode == 0, completed.stderr
        assert [(r.method, r.path) for r in peer.requests] == [READY, READY, INFER]


def assert_fails(completed: subprocess.CompletedProcess, *messages: str) -> None:
    assert completed.returncode == 1, (completed.returncode, completed.stdout, completed.stderr)
    assert "succeeded" not in completed.stdout
    for message in messages:
        assert message in completed.stderr, completed.stderr


class TestScriptFailsWhenNotReady:
    @pytest.mark.parametrize("status", [400, 503])
    def test_fails_naming_the_status_when_never_ready(self, status):
        with ScriptedPeer({READY: [Answer(status)], INFER: [Answer(200, ANSWER)]}) as peer:
            completed = run_script(peer.url)
        assert_fails(completed, f"returned error: {status}", f"helm test: {peer.url} is not ready (GET /v2/health/ready)")
        assert [(r.method, r.path) for r in peer.requests] == [READY], "inferred on a server that is not ready"

    def test_fails_when_readiness_hangs(self):
        with ScriptedPeer({READY: [Answer(hang=True)]}) as peer:
            started = time.monotonic()
            completed = run_script(peer.url)
            elapsed = time.monotonic() - started
        assert_fails(completed, "timed out", f"{peer.url} is not ready")
        assert elapsed < 3, f"the readiness call ran {elapsed:.1f}s; REQUEST_TIMEOUT_SECONDS is 0.5"

    def test_fails_when_nothing_listens(self):
        url, sock = refusing_address()
        try:
            completed = run_script(url)
        finally:
            sock.close()
        assert_fails(completed, "Failed to connect", f"{url} is not ready")


class TestScriptFailsWhenInferenceFails:
    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (400, '{"error":"unexpected shape for input \'INPUT0\' for model \'identity\'. Expected [-1,4], got [1,3]"}'),
            (404, '{"error":"Request for unknown model: \'identity\' is not found"}'),
            (500, '{"error":"Failed to process the request(s) for model \'identity\', message: TypeError"}'),
            (503, '{"error":"Server not ready"}'),
        ],
    )
    def test_fails_naming_the_status_and_tritons_error(self, status, body):
        with ScriptedPeer({READY: [Answer(200)], INFER: [Answer(status, body)]}) as peer:
            completed = run_script(peer.url)
        assert_fails(completed, f"returned error: {status}", f"helm test: inference on identity failed: {body}")

    def test_fails_when_inference_hangs(self):
        with ScriptedPeer({READY: [Answer(200)], INFER: [Answer(hang=True)]}) as peer:
            started = time.monotonic()
            completed = run_script(peer.url)
            elapsed = time.monotonic() - started
        assert_fails(completed, "timed out", "helm test: inference on identity failed")
        assert elapsed < 3, f"the inference call ran {elapsed:.1f}s; REQUEST_TIMEOUT_SECONDS is 0.5"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("", "the answer of identity is not JSON (empty)"),
            (ANSWER[:-3], "the answer of identity is not JSON (truncated)"),
            (ANSWER.replace("]}]}", "}]}"), "the answer of identity is not JSON (mismatched brackets)"),
            ("<html>ok</html>", "the answer of identity is not JSON (not one JSON object)"),
            (ANSWER + ANSWER, "the answer of identity is not JSON (not one JSON object)"),
            ('{"error":"Server not ready"}', "the answer does not come from identity"),
            (ANSWER.replace('"identity"', '"identity_v2"'), "the answer does not come from identity"),
            ('{"model_name":"identity","model_version":"1","outputs":[]}', "the answer of identity carries no output data"),
            ('{"model_name":"identity","model_version":"1"}', "the answer of identity carries no output data"),
            (ANSWER.replace("[0.0,0.0,0.0,0.0]", "[]"), "the answer of identity carries no output data"),
        ],
        ids=["empty", "truncated", "mismatched", "html", "two-objects", "error-with-200", "other-model", "no-outputs", "outputs-missing", "empty-data"],
    )
    @pytest.mark.parametrize("shell", [None, "bash --posix"], ids=["sh", "bash"])
    def test_fails_when_a_200_is_no_answer(self, body, message, shell):
        with ScriptedPeer({READY: [Answer(200)], INFER: [Answer(200, body)]}) as peer:
            completed = run_script(peer.url, shell=shell)
        assert_fails(completed, f"helm test: {message}")
