"""`make up` (ci/local/up.py): the rendered server on the ports asked for, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.triton_local import (
    LOOPBACK,
    LauncherError,
    find_triton_pod,
    fixed_loopback_ports,
    pick_free_loopback_ports,
    probe_budget_seconds,
)

pytestmark = pytest.mark.local

UP = helm.REPO_ROOT / "ci" / "local" / "up.py"
VALUES_FILE = helm.VALUES_DIR / "local.yaml"
READY_PREFIX = "ready in"
# Rendering (cached), copying models/ and preparing the backend come before the startup probe's budget starts.
SETUP_SECONDS = 30
REFUSED_START_SECONDS = 60


class OutputLines:
    """The lines a process prints, read on a thread so that waiting for one is bounded."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float) -> str:
        try:
            while (line := self._queue.get(timeout=timeout)) is not None:
                self.lines.append(line)
                if line.startswith(prefix):
                    return line
        except queue.Empty:
            pass
        raise AssertionError(f"no line starting {prefix!r} within {timeout:.0f}s; output so far:\n" + "\n".join(self.lines[-40:]))

    def rest(self, timeout: float) -> str:
        """Everything still to come, until the process closes its output."""
        try:
            while (line := self._queue.get(timeout=timeout)) is not None:
                self.lines.append(line)
        except queue.Empty:
            pass
        return "\n".join(self.lines)


def start_up(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(UP), *arguments], cwd=helm.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


def up_until_ready_then(signum: int, while_ready=None) -> tuple[int, str, tuple[int, int, int]]:
    """`make up` of values/local.yaml on free ports, ready within its startup budget; `while_ready(ports)` runs, then
    `signum` is sent and the launcher gets its drain grace to exit. (exit code, what it printed, (http, grpc, metrics))."""
    pod = find_triton_pod(helm.render("triton-stack", [VALUES_FILE], kube_version=KUBE_HIGHEST))
    grace = pod.termination_grace_seconds - pod.pre_stop_seconds
    ports = tuple(pick_free_loopback_ports(3))
    http, grpc, metrics = ports
    process = start_up(str(VALUES_FILE.relative_to(helm.REPO_ROOT)), "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics))
    output = OutputLines(process)
    try:
        output.wait_for(READY_PREFIX, SETUP_SECONDS + probe_budget_seconds(pod.container["startupProbe"]))
        if while_ready:
            while_ready(ports)
        process.send_signal(signum)
        exit_code = process.wait(timeout=grace + 5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return exit_code, output.rest(timeout=5), ports


class TestUp:
    def test_server_answers_on_the_requested_ports_and_stops_cleanly_when_interrupted(self, infer, labelled_batch):
        def inference_answers(ports):
            images, labels = labelled_batch
            for protocol, port in (("http", ports[0]), ("grpc", ports[1])):
                assert infer(f"{LOOPBACK}:{port}", protocol, "image_classifier", images)[1] == labels.tolist()

        exit_code, printed, (http, grpc, metrics) = up_until_ready_then(signal.SIGINT, inference_answers)
        print(printed)
        assert exit_code == 0, printed
        assert "stopped cleanly" in printed
        for endpoint in (f"http://{LOOPBACK}:{http}", f"{LOOPBACK}:{grpc}", f"http://{LOOPBACK}:{metrics}/metrics"):
            assert endpoint in printed
        assert "dropped --allow-gpu-metrics=false" in printed, "what was dropped for running here is not printed"
        assert "dropped ENTRYPOINT /opt/nvidia/nvidia_entrypoint.sh: the image's entrypoint is not run here" in printed
        assert all(port_is_closed(port) for port in (http, grpc, metrics))

    def test_a_closed_terminal_stops_the_server_too(self):
        """SIGHUP (the terminal or SSH session went away) stops tritonserver, which runs in a session of its own,
        instead of leaving it holding the ports."""
        exit_code, printed, ports = up_until_ready_then(signal.SIGHUP)
        assert exit_code == 0 and "stopped cleanly" in printed, printed
        assert all(port_is_closed(port) for port in ports)

    def test_start_is_refused_naming_the_port_when_it_is_taken(self):
        with socket.socket() as holder:
            holder.bind((LOOPBACK, 0))
            holder.listen()
            taken = holder.getsockname()[1]
            grpc, metrics = pick_free_loopback_ports(2)
            process = start_up("--http-port", str(taken), "--grpc-port", str(grpc), "--metrics-port", str(metrics))
            printed, _ = process.communicate(timeout=REFUSED_START_SECONDS)
        assert process.returncode == 2, printed
        assert f"{LOOPBACK}:{taken} for http is not free" in printed


# A model of one's own for `make up MODELS=`: numpy only, so it loads wherever the python backend does.
TINY_CONFIG = """name: "doubler"
backend: "python"
max_batch_size: 0
input [ { name: "X", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "Y", data_type: TYPE_FP32, dims: [ 4 ] } ]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""
TINY_MODEL = """import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor("Y", (pb_utils.get_input_tensor_by_name(r, "X").as_numpy() * 2 + 1).astype(np.float32))])
                for r in requests]
"""


def tiny_repository(root) -> None:
    (root / "doubler" / "1").mkdir(parents=True)
    (root / "doubler" / "config.pbtxt").write_text(TINY_CONFIG)
    (root / "doubler" / "1" / "model.py").write_text(TINY_MODEL)


def printed_grpc_example(printed: str) -> str:
    """The python program of the gRPC example `make up` printed (between <<'EOF' and EOF), unindented."""
    lines = printed.splitlines()
    start = next(index for index, line in enumerate(lines) if line.rstrip().endswith("<<'EOF'"))
    end = next(index for index in range(start + 1, len(lines)) if lines[index].strip() == "EOF")
    return "\n".join(line[2:] for line in lines[start + 1 : end])


class TestOwnRepository:
    def test_every_model_of_the_directory_is_served_and_the_grpc_example_runs_when_models_is_given(self, tmp_path):
        tiny_repository(tmp_path / "mine")
        http, grpc, metrics = pick_free_loopback_ports(3)
        # values/dev.yaml lists models of models/: with a directory of one's own the list is cleared.
        process = start_up("values/dev.yaml", "--models", str(tmp_path / "mine"), "--http-port", str(http), "--grpc-port", str(grpc),
                           "--metrics-port", str(metrics))
        output = OutputLines(process)
        try:
            output.wait_for(READY_PREFIX, SETUP_SECONDS + 120)
            output.wait_for("Ctrl-C stops it", 10)
            printed = "\n".join(output.lines)
            example = subprocess.run([sys.executable, "-"], input=printed_grpc_example(printed), capture_output=True, text=True, timeout=60)
            process.send_signal(signal.SIGINT)
            exit_code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        printed = output.rest(timeout=5)
        print(printed)
        assert f"serving doubler: what the pod's repository volume holds, from a copy of {tmp_path / 'mine'}" in printed
        assert "--model-control-mode=explicit" not in printed and "load-model" not in printed
        assert example.returncode == 0, example.stderr
        # One line per output: its name and the answer as numbers, not the raw protobuf.
        assert re.fullmatch(r"Y \[[-0-9., ]+\]\n", example.stdout), example.stdout
        assert "warm-up" in printed and "TOP_CLASS should be" not in printed
        assert exit_code == 0, printed

    @pytest.mark.parametrize("contents", ["empty", "not-a-directory"])
    def test_start_is_refused_when_models_is_not_a_repository(self, tmp_path, contents):
        target = tmp_path / "mine"
        target.mkdir() if contents == "empty" else target.write_text("")
        process = start_up("--models", str(target))
        printed, _ = process.communicate(timeout=REFUSED_START_SECONDS)
        assert process.returncode == 2, printed
        assert f"--models {target}: not a model repository" in printed


class TestFixedPorts:
    def test_ports_are_the_ones_asked_for_and_the_rest_free_when_some_are_fixed(self):
        wanted = pick_free_loopback_ports(1)[0]
        http, grpc, metrics = fixed_loopback_ports({"http": wanted})(3)
        assert http == wanted and len({http, grpc, metrics}) == 3

    def test_ports_are_refused_naming_the_listener_when_one_is_taken(self):
        with socket.socket() as holder:
            holder.bind((LOOPBACK, 0))
            holder.listen()
            taken = holder.getsockname()[1]
            with pytest.raises(LauncherError, match=f"{LOOPBACK}:{taken} for grpc is not free"):
                fixed_loopback_ports({"grpc": taken})(3)

    def test_one_port_for_two_listeners_is_refused(self):
        (free,) = pick_free_loopback_ports(1)  # a free port, so the refusal can only be for sharing it
        with pytest.raises(LauncherError, match="listeners need distinct ports"):
            fixed_loopback_ports({"http": free, "grpc": free})(3)

    def test_an_unknown_listener_is_refused(self):
        with pytest.raises(LauncherError, match=r"unknown listeners \['sagemaker'\]"):
            fixed_loopback_ports({"sagemaker": 8080})(3)
