"""The Locust load profiles, smoke-run briefly against the real tritonserver started from the rendered values/local.yaml.

Each shape runs for RUN_SECONDS with Locust from .tools/locust (the same locustfile the triton-loadtest chart
mounts), on loopback, and must pass its SLO gates and write its CSV, HTML and slo.json reports. The pairs: an
impossible SLO makes the exit code 1 naming the failed gate; a server whose model answers the wrong class (a test
model under tests/local/wrong_answer_repository) makes requests fail, as do a model that raises and an HTTP error; an
unknown model stops the run with exit 2.
Locust here is a load generator, not a timer: no assertion is on a latency or a rate.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.loopback import StallingProxy
from tests.harness.triton_local import find_triton_pod, launch_triton

pytestmark = [pytest.mark.local, pytest.mark.slow]

LOCUST = helm.REPO_ROOT / ".tools" / "locust" / "bin" / "locust"
LOCUSTFILE = helm.CHARTS_DIR / "triton-loadtest" / "files" / "locustfile.py"
WRONG_ANSWER_REPOSITORY = Path(__file__).parent / "wrong_answer_repository"
RUN_SECONDS = 3
# Locust's own start and stop add a few seconds to a run; this bounds the whole process.
LOCUST_TIMEOUT_SECONDS = 60
_LEVEL = re.compile(r"Shape test updating to (\d+) users")


@pytest.fixture(scope="module")
def local_pod():
    return find_triton_pod(helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], kube_version=KUBE_HIGHEST))


@pytest.fixture(scope="module")
def server(local_pod, launch_rendered, tmp_path_factory):
    """tritonserver as values/local.yaml renders it, serving the local copy of models/."""
    rendered = launch_rendered(local_pod, tmp_path_factory.mktemp("load-triton"))
    with rendered.server as running:
        running.wait_ready()
        yield running


@pytest.fixture(scope="module")
def wrong_answer_server(local_pod, tmp_path_factory):
    """The same rendered container serving a copy of the wrong-answer test repository (a copy: the python backend
    writes __pycache__ beside model.py)."""
    work = tmp_path_factory.mktemp("wrong-answer-triton")
    repository = work / "models"
    shutil.copytree(WRONG_ANSWER_REPOSITORY, repository)
    server = launch_triton(local_pod.container, work_dir=work, path_mapping={"/models": repository})
    with server:
        server.wait_ready()
        yield server


class LocustRun:
    def __init__(self, completed: subprocess.CompletedProcess, report_dir: Path):
        self.returncode = completed.returncode
        self.log = completed.stdout + completed.stderr
        self.report_dir = report_dir

    @property
    def verdict(self) -> dict:
        return json.loads((self.report_dir / "slo.json").read_text())

    @property
    def aggregated(self) -> dict:
        with (self.report_dir / "locust_stats.csv").open() as handle:
            return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")

    @property
    def failures(self) -> list[dict]:
        with (self.report_dir / "locust_failures.csv").open() as handle:
            return list(csv.DictReader(handle))

    @property
    def levels(self) -> list[int]:
        """The user counts the shape asked for, in order."""
        return [int(level) for level in _LEVEL.findall(self.log)]

    def explain(self) -> str:
        return f"exit {self.returncode}\n{self.log[-4000:]}"


def locust_command(host: str, grpc_address: str, report_dir: Path, *args: str, headless: bool = True) -> list[str]:
    if not LOCUST.exists():
        pytest.fail(f"{LOCUST} is missing: run `make locust` (part of `make setup`)")
    return [
        str(LOCUST), "-f", str(LOCUSTFILE), *(["--headless"] if headless else []), "--only-summary",
        "-H", host, "--grpc-address", grpc_address,
        "--csv", str(report_dir / "locust"), "--html", str(report_dir / "report.html"), *args,
    ]  # fmt: skip


# No __pycache__ beside the chart's files: a test never writes into the repository.
LOCUST_ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def run_locust(server, report_dir: Path, *args: str, host: str | None = None, grpc_address: str | None = None) -> LocustRun:
    command = locust_command(host or server.base_url, grpc_address or server.grpc_address, report_dir, *args)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=LOCUST_TIMEOUT_SECONDS, cwd=report_dir.parent, env=LOCUST_ENV)
    return LocustRun(completed, report_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def distributed(processes: int) -> list[str]:
    """--processes N on a master port of its own (parallel tests, other engineers' runs on this machine)."""
    port = str(free_port())
    return ["--processes", str(processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]


# shape -> (its arguments and the user, levels the shape may ask for, the peak it must reach)
SHAPES = {
    "step": (["--shape", "step", "-u", "4", "--step-count", "3"], {2, 3, 4}, 4),
    # A 2.1 s burst: a shorter one can fall between the shape's once-a-second looks, and is refused.
    "spike": (["--shape", "spike", "-u", "6", "--spike-base-fraction", "0.34", "--spike-fraction", "0.7", "--encoding", "json"], {3, 6}, 6),
    "soak": (["--shape", "soak", "-u", "3", "--protocol", "grpc"], {3}, 3),
    "diurnal": (["--shape", "diurnal", "-u", "6", "--batch-size", "4"], {1, 2, 3, 4, 5, 6}, 6),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_runs_against_the_rendered_server_and_writes_its_report(shape, server, tmp_path):
    args, allowed_levels, peak = SHAPES[shape]
    run = run_locust(server, tmp_path / "report", *args, "-t", f"{RUN_SECONDS}s")
    assert run.returncode == 0, run.explain()
    assert {"locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "report.html", "slo.json"} <= {
        path.name for path in run.report_dir.iterdir()}
    assert run.verdict["passed"] and run.verdict["shape"] == shape
    assert "SLO gate p95 passed" in run.log and "SLO gate failure-ratio passed" in run.log and "SLO gate stall passed" in run.log
    assert run.verdict["request_timeout_s"] == 1.0  # 4 x the default p99 limit of 250 ms
    assert int(run.aggregated["Request Count"]) > 0 and int(run.aggregated["Failure Count"]) == 0, run.explain()
    assert set(run.levels) <= allowed_levels and peak in run.levels, run.levels


def test_an_impossible_slo_fails_the_run_naming_the_gate(server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--shape", "soak", "-u", "2", "-t", "2s", "--slo-p95-ms", "0.001")
    assert run.returncode == 1, run.explain()
    assert "SLO gate p95 FAILED" in run.log and "(--slo-p95-ms)" in run.log
    assert not run.verdict["passed"]
    assert [gate["name"] for gate in run.verdict["gates"] if not gate["passed"]] == ["p95"]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_wrong_class_from_the_server_is_a_failed_request(protocol, wrong_answer_server, tmp_path):
    run = run_locust(wrong_answer_server, tmp_path / "report", "--model", "always_horizontal", "--protocol", protocol,
                     "--shape", "soak", "-u", "2", "-t", "2s")
    assert run.returncode == 1, run.explain()
    assert "SLO gate failure-ratio FAILED" in run.log
    requests, failures = int(run.aggregated["Request Count"]), int(run.aggregated["Failure Count"])
    # 2 of the 16 labelled images are horizontal stripes, the one class this model names: the rest must fail.
    assert requests > 0 and 0.75 <= failures / requests <= 0.95, (requests, failures)
    messages = " ".join(row["Error"] for row in run.failures)
    assert "wrong class" in messages and "got horizontal_stripes" in messages and "expected vertical_stripes" in messages


def test_an_http_error_from_the_server_is_a_failed_request_naming_the_status(server, tmp_path):
    # --header replaces the prepared binary-header length (names are matched lower-cased): Triton cannot split the
    # body at 7 bytes, fails to parse the half header as JSON and answers HTTP 500 (Triton's status for it) every time.
    run = run_locust(server, tmp_path / "report", "--header", "inference-header-content-length=7", "--shape", "soak", "-u", "1", "-t", "2s")
    assert run.returncode == 1 and "SLO gate failure-ratio FAILED" in run.log, run.explain()
    requests, failures = int(run.aggregated["Request Count"]), int(run.aggregated["Failure Count"])
    assert requests > 0 and failures == requests, (requests, failures)
    assert [row["Error"].split(" to parse")[0] for row in run.failures] == ["HttpStatusError('HTTP 500: {\"error\":\"failed"], run.failures


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_answers_are_uncompressed_unless_a_header_asks_and_then_they_are_read(encoding, server, tmp_path):
    # Locust's own client would ask for gzip on every request and make Triton compress each answer; the user asks for
    # nothing (as tritonclient and perf_analyzer do) unless --header does, and then reads the compressed answer.
    args = ("--shape", "soak", "-u", "1", "-t", "2s")
    plain = run_locust(server, tmp_path / "plain", *args)
    compressed = run_locust(server, tmp_path / encoding, "--header", f"accept-encoding={encoding}", *args)
    for run in (plain, compressed):
        assert run.returncode == 0 and int(run.aggregated["Failure Count"]) == 0, run.explain()
    # Every answer of one run has the same size on the wire: the binary answer (193 bytes), or its compressed form.
    assert float(plain.aggregated["Average Content Size"]) != float(compressed.aggregated["Average Content Size"])


@pytest.mark.parametrize(("protocol", "kind", "status"), [("http", "HttpStatusError", "HTTP 500: "), ("grpc", "GrpcStatusError", "[StatusCode.INTERNAL] ")])
def test_an_error_from_the_model_is_a_failed_request_with_the_servers_message(protocol, kind, status, wrong_answer_server, tmp_path):
    run = run_locust(wrong_answer_server, tmp_path / "report", "--model", "always_fails", "--payload", "random", "--protocol", protocol,
                     "--shape", "soak", "-u", "2", "-t", "2s")
    assert run.returncode == 1 and "SLO gate failure-ratio FAILED" in run.log, run.explain()
    requests, failures = int(run.aggregated["Request Count"]), int(run.aggregated["Failure Count"])
    assert requests > 0 and failures == requests, (requests, failures)
    errors = [row["Error"] for row in run.failures]
    # Locust keeps repr(exception), whose quotes depend on the message.
    assert errors and all(error[len(kind) + 2 :].startswith(status) and error.startswith(f"{kind}(") for error in errors), errors
    assert all("fails every request on purpose" in error for error in errors), errors


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize(("header", "message"), [
    ("x bad=1", "expected NAME=VALUE, NAME of letters"),
    ("x-trace-bin=abc", "(not ending in -bin)"),
    ("x-name=\u00e9t\u00e9", "the value must be printable ASCII"),
])  # fmt: skip
def test_a_header_that_http_or_grpc_cannot_carry_stops_the_run_saying_why(protocol, header, message, server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--protocol", protocol, "--header", header, "--shape", "soak", "-u", "1", "-t", "2s")
    assert run.returncode == 2 and f"--header {header!r}" in run.log and message in run.log, run.explain()


def test_a_path_prefix_in_the_host_is_kept_on_every_request(server, tmp_path):
    # Triton behind an ingress that serves it under /triton: metadata, config and inference all go under the prefix.
    from tests.harness.loopback import PathPrefixProxy

    with PathPrefixProxy(server.base_url.removeprefix("http://"), "/triton") as proxy:
        run = run_locust(server, tmp_path / "report", "--shape", "soak", "-u", "2", "-t", "2s", host=proxy.url)
        paths = list(proxy.paths)
    assert run.returncode == 0 and int(run.aggregated["Failure Count"]) == 0 and int(run.aggregated["Request Count"]) > 0, run.explain()
    assert "/triton/v2/models/image_classifier/infer" in paths and all(path.startswith("/triton/v2/") for path in paths), set(paths)


def test_an_unknown_model_stops_the_run_saying_why(server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--model", "no_such_model", "--shape", "soak", "-u", "1", "-t", "2s")
    assert run.returncode == 2, run.explain()
    assert "cannot load no_such_model" in run.log and "HTTP 404" in run.log


# --- a server that hangs, what would judge nothing, and the distributed and in-cluster master ---------------------


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_server_that_stops_answering_fails_the_run(protocol, server, tmp_path):
    # The proxy forwards the first ~16 requests, then holds every connection without a byte back. The totals alone
    # would pass (a few fast answers, and the requests left waiting dropped at the stop): the stall gate fails, a
    # request times out after 1.3 s ("no answer: ..."), and what was still waiting when the run stopped counts as
    # failed, with the time it waited, once past the latency limit (--slo-p95-ms 1 here). 1.3 s against the 5 s run:
    # the stall begins 0.1-0.5 s in (setup, then ~16 fast requests), so the request in flight at the stop has waited
    # 0.6-1.0 s, far from both 0 and the timeout (0.8 s once put a timeout within milliseconds of the stop).
    upstream = server.base_url.removeprefix("http://") if protocol == "http" else server.grpc_address
    with StallingProxy(upstream, stall_after_bytes=200_000) as proxy:
        run = run_locust(server, tmp_path / "report", "--protocol", protocol, "--shape", "soak", "-u", "2", "-t", "5s",
                         "--slo-stall-s", "2", "--slo-p95-ms", "1", "--request-timeout-s", "1.3", host=proxy.url, grpc_address=proxy.address)
        stalled = proxy.stalled.is_set()
    assert stalled and run.returncode == 1, run.explain()
    assert re.search(r"SLO gate stall FAILED: measured [0-9.]+ s, under 2 s allowed \(--slo-stall-s\)", run.log), run.explain()
    gates = {gate["name"]: gate for gate in run.verdict["gates"]}
    assert not gates["stall"]["passed"] and gates["stall"]["measured"] >= 2 and not run.verdict["passed"]
    assert run.verdict["request_timeout_s"] == 1.3
    # Locust's own error report, printed after the stop (its CSV files are written once a second, before it).
    report = run.log[run.log.index("Error report"):]
    assert "no answer when the run stopped" in report and ("no answer: " in report or protocol == "grpc"), run.explain()


@pytest.mark.parametrize(("args", "message"), [
    (["-t", "0s"], "--run-time"),
    (["--shape", "spike", "-t", "4s"], "spike bursts would last 0.8 s"),
    (["--slo-p95-ms", "-1"], "--slo-p95-ms -1: 0 or more (0 turns that gate off)"),
    (["--slo-failure-ratio", "-0.5"], "--slo-failure-ratio -0.5: from 0 to 1"),
    (["--slo-stall-s", "-2"], "--slo-stall-s -2: 0 or more"),
])  # fmt: skip
def test_settings_that_would_judge_nothing_are_refused(args, message, server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--shape", "soak", "-u", "1", "-t", "2s", *args)
    assert run.returncode == 2 and message in run.log, run.explain()


@pytest.mark.parametrize("abbreviation", ["--slo-fail", "--run", "--slo-p9"])
def test_options_are_never_abbreviated(abbreviation, server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--shape", "soak", "-u", "1", "-t", "2s", abbreviation, "0.5")
    assert run.returncode != 0 and f"unrecognized arguments: {abbreviation}" in run.log, run.explain()


def test_a_worker_that_cannot_load_the_model_stops_the_distributed_run_with_exit_2(server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--model", "no_such_model", "--shape", "soak", "-u", "2", "-t", "3s", *distributed(2))
    assert run.returncode == 2, run.explain()
    assert run.verdict["runner"] == "master" and not run.verdict["passed"]
    assert any("cannot load no_such_model" in error and "HTTP 404" in error for error in run.verdict["setup_errors"]), run.verdict


def test_an_autostarted_master_gives_its_verdict_when_the_run_ends_and_keeps_its_ui(server, tmp_path):
    # As the chart's master runs: --autostart, no --headless, no --autoquit; the process stays up with its web UI.
    report_dir = tmp_path / "report"
    command = locust_command(server.base_url, server.grpc_address, report_dir, "--autostart", "--web-host", "127.0.0.1",
                             "--web-port", str(free_port()), "--shape", "soak", "-u", "2", "-t", "3s", *distributed(1), headless=False)
    log_path = tmp_path / "master.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=tmp_path, env=LOCUST_ENV, start_new_session=True)
    try:
        deadline = time.monotonic() + LOCUST_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None and not (report_dir / "slo.json").exists():
            time.sleep(0.1)
        still_up = process.poll() is None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    log = log_path.read_text(errors="replace")
    assert (report_dir / "slo.json").exists() and still_up, log[-4000:]
    verdict = json.loads((report_dir / "slo.json").read_text())
    assert verdict["passed"] and verdict["runner"] == "master", verdict
    gate_lines = [line for line in log.splitlines() if "SLO gate" in line]  # what `kubectl logs -f | grep "SLO gate"` shows
    assert {"requests", "failure-ratio", "p95", "p99", "stall"} == {line.split("SLO gate ")[1].split()[0] for line in gate_lines}, log[-4000:]
    assert len(gate_lines) == 5  # judged once: not again when the process is stopped
