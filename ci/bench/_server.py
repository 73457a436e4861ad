"""Shared by the Triton benchmarks: the server exactly as the chart runs it, model-repository variants, perf_analyzer.

The server comes from the chart: values/local.yaml is rendered with the project's render module and the
Deployment's `triton` container (command, args, probes) is started by the local launcher
(tests/harness/triton_local.py), on 127.0.0.1, with `/models` mapped to a temp copy of the servable models.
A variant of the repository (warmup removed, more instances, ...) is a temp copy whose config.pbtxt is
rewritten from the parsed ModelConfig; models/ itself is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from google.protobuf import text_format  # noqa: E402

from tests.harness import render as helm  # noqa: E402
from tests.harness.model_config import CONFIG_FILE, parse_model_config  # noqa: E402
from tests.harness.triton_local import (  # noqa: E402
    LauncherError,
    LocalModelRepository,
    TritonServer,
    describe_changes,
    find_triton_pod,
    launch_triton,
    prepare_local_model_repository,
)

VALUES = ROOT / "values" / "local.yaml"
PERF_ANALYZER = ROOT / ".tools" / "perf_analyzer" / "perf_analyzer"
CONTAINER_NAME = "triton"
READY_TIMEOUT_SECONDS = 120
STOP_GRACE_SECONDS = 30

# Model name -> function that edits its parsed ModelConfig in place.
ConfigEdits = Mapping[str, Callable[[object], None]]


class BenchError(RuntimeError):
    """Something the benchmark needs is missing or broke; the message says what to do."""


def triton_container(values: Path = VALUES) -> dict:
    """The `triton` container of the Deployment rendered from `values` (umbrella chart triton-stack)."""
    try:
        objects = helm.render("triton-stack", [values])
    except helm.HelmError as error:
        raise BenchError(f"rendering triton-stack with {values.relative_to(ROOT)} failed:\n{error.stderr}") from None
    try:
        return find_triton_pod(objects, CONTAINER_NAME).container
    except LauncherError as error:
        raise BenchError(f"{error} (render of {values})") from None


def model_repository(destination: Path, edits: ConfigEdits | None = None, only: set[str] | None = None) -> LocalModelRepository:
    """A temp copy of the servable models (python backend); `only` keeps just those models, `edits` rewrites configs."""
    repository = prepare_local_model_repository(destination)
    for name in repository.served:
        if only is not None and name not in only:
            shutil.rmtree(destination / name)
    for name, edit in (edits or {}).items():
        edit_config(destination / name, edit)
    served = tuple(name for name in repository.served if only is None or name in only)
    return LocalModelRepository(destination, served, repository.skipped)


def edit_config(model_dir: Path, edit: Callable[[object], None]) -> None:
    """Rewrite `model_dir`/config.pbtxt after `edit` changed the parsed ModelConfig in place (comments are lost)."""
    config_path = model_dir / CONFIG_FILE
    config = parse_model_config(config_path)
    edit(config)
    config_path.write_text(text_format.MessageToString(config))


def add_variant(repository: Path, source: str, name: str, edit: Callable[[object], None]) -> str:
    """Copy model `source` of `repository` to `name` (same files, config renamed), then apply `edit`; return `name`."""
    shutil.copytree(repository / source, repository / name)

    def rename_and_edit(config) -> None:
        config.name = name
        edit(config)

    edit_config(repository / name, rename_and_edit)
    return name


@contextlib.contextmanager
def serve(repository: Path, work_dir: Path, container: dict | None = None) -> Iterator[TritonServer]:
    """tritonserver from the rendered container, serving `repository`, ready; stopped with SIGTERM afterwards."""
    server = launch_triton(
        container or triton_container(),
        work_dir=work_dir,
        path_mapping={"/models": repository},
        secrets={},
        gpu_count=0,
    )
    try:
        server.wait_ready(timeout=READY_TIMEOUT_SECONDS)
        yield server
    finally:
        try:
            server.stop(grace=STOP_GRACE_SECONDS)
        except Exception:  # noqa: BLE001 - a benchmark must never leave a server behind
            server.kill()


def local_changes(server: TritonServer) -> str:
    return describe_changes(server.plan.changes)


def perf_analyzer_binary() -> Path:
    if not PERF_ANALYZER.exists():
        raise BenchError(f"{PERF_ANALYZER.relative_to(ROOT)} is missing; run `make perf-analyzer` (or `make setup`)")
    return PERF_ANALYZER


def run_logged(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run a command, bounded in time; raise BenchError with its output when it fails."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"timed out after {timeout:.0f}s: {shlex.join(command)}\n{error.stdout or ''}{error.stderr or ''}") from None
    if completed.returncode != 0:
        raise BenchError(f"exit {completed.returncode}: {shlex.join(command)}\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}")
    return completed


def machine_note(at_start: bool = True) -> str:
    """Load average and other tritonserver processes right now: other work on these few cores skews every figure.
    At the end of a benchmark the load average includes the benchmark itself, so only other servers count there."""
    load = os.getloadavg()[0]
    others = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv0 = cmdline.read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        others += argv0.endswith(b"/tritonserver")
    note = f"machine: {os.cpu_count()} CPUs, 1-minute load average {load:.2f}, other tritonserver processes running: {others}"
    if not at_start:
        note = note.replace("1-minute load average", "1-minute load average (this benchmark included)")
    if others or (at_start and load > 0.5 * (os.cpu_count() or 1)):
        note += " (other work is running on these CPUs: expect noisier figures)"
    return note


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temp dir outside the repository (the launcher's work dir and the repository copies must be)."""
    return tempfile.TemporaryDirectory(prefix=f"triton-bench-{prefix}-")


def run_benchmark(name: str, body: Callable[[], None]) -> int:
    """The frame every Triton benchmark shares: the machine note, `body`, then the machine note again and the wall
    time; a BenchError or LauncherError from `body` is one line on stderr and exit 1."""
    began = time.monotonic()
    print(f"at start: {machine_note()}", flush=True)
    try:
        body()
    except (BenchError, LauncherError) as error:
        print(f"{name} benchmark broke: {error}", file=sys.stderr)
        return 1
    print(f"at end: {machine_note(at_start=False)}")
    print(f"\nbenchmark wall time: {time.monotonic() - began:.0f}s")
    return 0
