"""Model Analyzer benchmark: how far the shipped image_classifier config is from the best config Model Analyzer finds.

Runs `model-analyzer profile` (triton-model-analyzer 1.35.0, the release paired with perf_analyzer 2.41.0) in
local launch mode on a temp copy of image_classifier: it starts the same tritonserver the local tier uses (the
one nvidia-pytriton ships, python backend, on 127.0.0.1 through a small wrapper that adds the address flags
Model Analyzer cannot pass), measures the shipped config ("default") and then its automatic brute search
(instance count 1..MAX_INSTANCES x max_batch_size MIN_BATCH..MAX_BATCH; the shipped dynamic_batching settings
are kept), each at CONCURRENCIES with the real perf_analyzer from `make perf-analyzer`. Target: the shipped
config's throughput within 10% of the best found at each concurrency.

CPU budget: by default the server is pinned (taskset) to as many CPUs as the rendered container requests
(`resources.requests.cpu` of values/local.yaml, rounded up), and perf_analyzer to the other CPUs, so configs
are compared on the CPU the pod is guaranteed, with the load generator off the server's CPUs as it would be
in a cluster. Unpinned, on an idle 2-core machine, a second instance simply takes the second core (and
perf_analyzer's share). `--cpus all` measures that instead.

Model Analyzer pins libraries the test venv also uses, so it lives in its own virtualenv, .tools/model-analyzer,
created here on first use (about 40 s, 580 MB): triton-model-analyzer 1.35.0 needs protobuf < 5 (its config
code reads FieldDescriptor.label) and importlib-metadata, neither of which its wheel declares.

Prints figures; asserts nothing (exit 0 unless something broke). Takes about 3 to 4 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _server  # noqa: E402
import yaml  # noqa: E402

from tests.harness.triton_local import find_triton_installation, pick_free_loopback_ports, prepare_backend_directory  # noqa: E402

MODEL = "image_classifier"
CONCURRENCIES = (16, 32)
MAX_INSTANCES = 2
MIN_BATCH, MAX_BATCH = 16, 64  # below 16 the shipped preferred_batch_size [8, 16] makes a config illegal
TARGET_FRACTION = 0.10
RUN_TIMEOUT_SECONDS = 600

VENV = _server.ROOT / ".tools" / "model-analyzer"
REQUIREMENTS = ("triton-model-analyzer==1.35.0", "tritonclient[all]==2.41.0", "protobuf==4.25.9", "importlib-metadata==10.2.0")
# Longer, steadier windows than Model Analyzer's default 50-request count windows, which on 2 shared cores
# measured the same config 35% apart.
PERF_ANALYZER_FLAGS = {"measurement-mode": "time_windows", "measurement-interval": "1000", "stability-percentage": "25", "max-trials": "10"}


def ensure_model_analyzer() -> Path:
    """The model-analyzer entry point in .tools/model-analyzer, installed once (idempotent: a marker file records the pins)."""
    marker = VENV / ".installed"
    wanted = "\n".join(REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return VENV / "bin" / "model-analyzer"
    print(f"installing {', '.join(REQUIREMENTS)} into {VENV.relative_to(_server.ROOT)} ...", flush=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    _server.run_logged([base_python, "-m", "venv", str(VENV)], timeout=120)
    completed = subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS],
        capture_output=True, text=True, timeout=900,
    )
    output = "\n".join(line for line in (completed.stdout + completed.stderr).splitlines() if not line.startswith("WARNING: Location"))
    if completed.returncode != 0:
        raise _server.BenchError(f"installing model-analyzer failed:\n{output[-3000:]}")
    marker.write_text(wanted)
    return VENV / "bin" / "model-analyzer"


def requested_cpus() -> int:
    """The CPUs the rendered `triton` container requests (values/local.yaml), rounded up to whole CPUs."""
    request = str(_server.triton_container().get("resources", {}).get("requests", {}).get("cpu", ""))
    if not request:
        raise _server.BenchError("the rendered triton container requests no CPU; pass --cpus N or --cpus all")
    try:
        cpus = int(request[:-1]) / 1000 if request.endswith("m") else float(request)
    except ValueError:
        raise _server.BenchError(f"cannot read the rendered CPU request {request!r} (expected like 1, 1.5 or 500m); "
                                 "pass --cpus N or --cpus all") from None
    return max(1, math.ceil(cpus))


def pinned(cpus: list[int] | None) -> str:
    """A taskset prefix for a wrapper script, or nothing when unpinned."""
    return f"taskset -c {','.join(map(str, cpus))} " if cpus else ""


def write_wrapper(destination: Path, line: str) -> Path:
    destination.write_text(f"#!/bin/sh\n{line}\n")
    destination.chmod(destination.stat().st_mode | stat.S_IXUSR)
    return destination


def loopback_server_wrapper(binary: Path, destination: Path, cpus: list[int] | None) -> Path:
    """tritonserver with every listener on 127.0.0.1: Model Analyzer's triton_server_flags reject the address flags."""
    return write_wrapper(destination, f'exec {pinned(cpus)}{shlex.quote(str(binary))} '
                                      '--http-address=127.0.0.1 --grpc-address=127.0.0.1 --metrics-address=127.0.0.1 "$@"')


def perf_analyzer_wrapper(destination: Path, cpus: list[int] | None) -> Path:
    return write_wrapper(destination, f'exec {pinned(cpus)}{shlex.quote(str(_server.perf_analyzer_binary()))} "$@"')


def analyzer_config(scratch: Path, repository: Path, server_cpus: list[int] | None, client_cpus: list[int] | None) -> dict:
    installation = find_triton_installation()
    backends = prepare_backend_directory(installation, scratch / "backends")
    http, grpc, metrics = pick_free_loopback_ports(3)
    return {
        "model_repository": str(repository),
        "output_model_repository_path": str(scratch / "output_models"),
        "override_output_model_repository": True,
        "export_path": str(scratch / "results"),
        "checkpoint_directory": str(scratch / "checkpoints"),
        "triton_launch_mode": "local",
        "triton_server_path": str(loopback_server_wrapper(installation.binary, scratch / "tritonserver", server_cpus)),
        "triton_output_path": str(scratch / "tritonserver.log"),
        "triton_http_endpoint": f"127.0.0.1:{http}",
        "triton_grpc_endpoint": f"127.0.0.1:{grpc}",
        "triton_metrics_url": f"http://127.0.0.1:{metrics}/metrics",
        "triton_server_flags": {"backend-directory": str(backends), "http-port": str(http), "grpc-port": str(grpc),
                                "metrics-port": str(metrics)},
        "triton_server_environment": installation.runtime_environment(),
        "perf_analyzer_path": str(perf_analyzer_wrapper(scratch / "perf_analyzer", client_cpus)),
        "perf_analyzer_flags": PERF_ANALYZER_FLAGS,
        "perf_output": True,
        "perf_output_path": str(scratch / "perf_analyzer.log"),
        "client_protocol": "grpc",
        "run_config_search_max_instance_count": MAX_INSTANCES,
        "run_config_search_min_model_batch_size": MIN_BATCH,
        "run_config_search_max_model_batch_size": MAX_BATCH,
        "skip_summary_reports": True,
        "profile_models": {MODEL: {"cpu_only": True, "parameters": {"concurrency": list(CONCURRENCIES)}}},
    }


def read_checkpoint(checkpoint: Path) -> list[dict]:
    """Rows {variant, instances, max_batch, concurrency, throughput, p95_ms} from Model Analyzer's checkpoint file."""
    data = json.loads(checkpoint.read_text())
    rows = []
    for variant, (run_config, measurements) in data["ResultManager.results"]["_results"][MODEL].items():
        model_config = run_config["_model_run_configs"][0]["_model_config_variant"]["model_config"]
        for command, measurement in measurements.items():
            model_measurement = measurement["_model_config_measurements"][0]
            values = {name: entry["_value"] for name, entry in model_measurement["_non_gpu_data"]}
            rows.append({
                "variant": variant.removeprefix(f"{MODEL}_config_"),
                "instances": sum(group.get("count", 1) for group in model_config.get("instanceGroup", [])),
                "max_batch": model_config.get("maxBatchSize"),
                "preferred": model_config.get("dynamicBatching", {}).get("preferredBatchSize", []),
                "delay_us": int(model_config.get("dynamicBatching", {}).get("maxQueueDelayMicroseconds", 0)),
                "concurrency": model_measurement["_model_specific_pa_params"]["concurrency-range"],
                "throughput": values["perf_throughput"],
                "p95_ms": values["perf_latency_p95"],
                "command": command,
            })
    return rows


def report(rows: list[dict]) -> None:
    if rows:
        # Model Analyzer keys each measurement by the variant name and the perf_analyzer arguments it used.
        print(f"\nperf_analyzer arguments as Model Analyzer ran them (first measurement): {rows[0]['command']}")
    print(f"\n{'config':<8} | {'instances':>9} | {'max batch':>9} | {'preferred':>9} | {'delay us':>8} | " +
          " | ".join(f"c={c}: infer/s  p95 ms" for c in CONCURRENCIES))
    print("-" * (60 + 23 * len(CONCURRENCIES)))
    by_variant: dict[str, dict] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], {"row": row, "by_concurrency": {}})["by_concurrency"][row["concurrency"]] = row
    for variant, entry in by_variant.items():
        row = entry["row"]
        cells = " | ".join(
            f"{entry['by_concurrency'][c]['throughput']:13.0f} {entry['by_concurrency'][c]['p95_ms']:7.2f}" if c in entry["by_concurrency"] else f"{'-':>21}"
            for c in CONCURRENCIES
        )
        print(f"{variant:<8} | {row['instances']:>9} | {row['max_batch']:>9} | {str(row['preferred']):>9} | {row['delay_us']:>8} | {cells}")
    print("(default: the shipped config; the search keeps its dynamic_batching settings and varies instances and max batch size)")
    print()
    for concurrency in CONCURRENCIES:
        at = [row for row in rows if row["concurrency"] == concurrency]
        shipped = next((row for row in at if row["variant"] == "default"), None)
        if not at or shipped is None:
            print(f"c={concurrency}: not measured")
            continue
        best = max(at, key=lambda row: row["throughput"])
        gap = 1 - shipped["throughput"] / best["throughput"]
        verdict = "met" if gap <= TARGET_FRACTION else "NOT met"
        print(f"c={concurrency}: shipped {shipped['throughput']:.0f} infer/s, best {best['throughput']:.0f} infer/s "
              f"({best['variant']}: {best['instances']} instance(s), max batch {best['max_batch']}); shipped is "
              f"{gap * 100:.0f}% below the best: target (within {TARGET_FRACTION * 100:.0f}%) {verdict}")


def cpu_split(wanted: str) -> tuple[list[int] | None, list[int] | None, str]:
    """(server CPUs, perf_analyzer CPUs, description) for --cpus; None is unpinned."""
    available = sorted(os.sched_getaffinity(0))
    if wanted != "all" and shutil.which("taskset") is None:
        raise _server.BenchError("taskset (Debian package util-linux) is missing, so the server cannot be pinned; "
                                 "install it or pass --cpus all")
    if wanted == "all":
        return None, None, f"unpinned: server and perf_analyzer share all {len(available)} CPUs"
    count = requested_cpus() if wanted == "request" else int(wanted)
    if count >= len(available):
        raise _server.BenchError(f"--cpus {count} leaves no CPU for perf_analyzer on this {len(available)}-CPU machine; use --cpus all")
    server, client = available[:count], available[count:]
    source = "the rendered container's CPU request" if wanted == "request" else "--cpus"
    return server, client, f"server pinned to CPUs {server} ({source}), perf_analyzer to CPUs {client}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", default="request",
                        help="CPUs for the server: request (default: what values/local.yaml requests), a number, or all (unpinned)")
    arguments = parser.parse_args()
    if arguments.cpus not in ("request", "all") and not (arguments.cpus.isdigit() and int(arguments.cpus) >= 1):
        parser.error(f"--cpus must be request, a number of CPUs (1 or more) or all, not {arguments.cpus!r}")
    return _server.run_benchmark("model analyzer", lambda: profile(arguments.cpus))


def profile(cpus: str) -> None:
    server_cpus, client_cpus, cpu_note = cpu_split(cpus)
    print(f"CPU budget: {cpu_note}", flush=True)
    model_analyzer = ensure_model_analyzer()
    with _server.temp_dir("model-analyzer") as scratch:
        scratch = Path(scratch)
        repository = _server.model_repository(scratch / "models", only={MODEL})
        config_path = scratch / "config.yaml"
        config_path.write_text(yaml.safe_dump(analyzer_config(scratch, repository.path, server_cpus, client_cpus), sort_keys=False))
        command = [str(model_analyzer), "profile", "-f", str(config_path)]
        print(f"$ {shlex.join(command)}\nwith {config_path}:\n{config_path.read_text()}", flush=True)
        started = time.monotonic()
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, cwd=scratch,
                                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except subprocess.TimeoutExpired:
            raise _server.BenchError(f"model-analyzer ran past {RUN_TIMEOUT_SECONDS}s") from None
        log = "\n".join(line for line in completed.stdout.splitlines() + completed.stderr.splitlines()
                        if line.strip() not in ("", "[Model Analyzer]"))
        print(log[-6000:])
        checkpoint = scratch / "checkpoints" / "0.ckpt"
        if completed.returncode != 0 or not checkpoint.exists():
            raise _server.BenchError(f"model-analyzer exited {completed.returncode} with no results; "
                                     f"server log tail:\n{(scratch / 'tritonserver.log').read_text(errors='replace')[-3000:] if (scratch / 'tritonserver.log').exists() else '(none)'}")
        print(f"model-analyzer profile took {time.monotonic() - started:.0f}s")
        report(read_checkpoint(checkpoint))
        print(f"CPU budget: {cpu_note}")


if __name__ == "__main__":
    sys.exit(main())
