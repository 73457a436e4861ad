"""The Locust load profiles, smoke-run briefly against the real tritonserver started from the rendered values/local.yaml.

Each shape runs for RUN_SECONDS with Locust from .tools/locust (the same locustfile the triton-loadtest chart
mounts), on loopback, and must pass its SLO gates and write its CSV, HTML and slo.json reports. The pairs: an
impossible SLO makes the exit code 1 naming the failed gate; a server whose model answers the wrong class (a test
model under tests/local/wrong_answer_repository) makes requests fail; an unknown model stops the run with exit 2.
Locust here is a load generator, not a timer: no assertion is on a latency or a rate.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
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


def run_locust(server, report_dir: Path, *args: str) -> LocustRun:
    if not LOCUST.exists():
        pytest.fail(f"{LOCUST} is missing: run `make locust` (part of `make setup`)")
    command = [
        str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "-H", server.base_url, "--grpc-address", server.grpc_address,
        "--csv", str(report_dir / "locust"), "--html", str(report_dir / "report.html"), *args,
    ]  # fmt: skip
    # No __pycache__ beside the chart's files: a test never writes into the repository.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=LOCUST_TIMEOUT_SECONDS, cwd=report_dir.parent, env=env)
    return LocustRun(completed, report_dir)


# shape -> (its arguments and the user, levels the shape may ask for, the peak it must reach)
SHAPES = {
    "step": (["--shape", "step", "-u", "4", "--step-count", "3"], {2, 3, 4}, 4),
    "spike": (["--shape", "spike", "-u", "6", "--spike-base-fraction", "0.34", "--spike-fraction", "0.5", "--encoding", "json"], {3, 6}, 6),
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
    assert "SLO gate p95 passed" in run.log and "SLO gate failure-ratio passed" in run.log
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


def test_an_unknown_model_stops_the_run_saying_why(server, tmp_path):
    run = run_locust(server, tmp_path / "report", "--model", "no_such_model", "--shape", "soak", "-u", "1", "-t", "2s")
    assert run.returncode == 2, run.explain()
    assert "cannot load no_such_model" in run.log and "HTTP 404" in run.log
