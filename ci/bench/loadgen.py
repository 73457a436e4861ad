"""Load-generator headroom: Locust (the project's load profiles) against perf_analyzer at the same concurrency.

One tritonserver, started from the `triton` container the chart renders for values/local.yaml (see _server.py),
serves image_classifier (the shipped config, dynamic batching). For each protocol (HTTP with the binary tensor
extension, gRPC), perf_analyzer and Locust each hold CONCURRENCY requests in flight (perf_analyzer
--concurrency-range; Locust users sending back to back with the soak shape), one image per request, alternating
over ROUNDS rounds; medians are reported. Locust's throughput is counted from its per-second history after the
first WARMUP_S seconds; every Locust request is checked for the right class (labelled images), perf_analyzer's
are not checked.

CPUs: by default the server and its python-backend stub are pinned (taskset) to CPU 0, the one CPU
values/local.yaml requests, and the load generator under test, whichever it is, to the other CPUs; --unpinned
lets everything share every CPU. Locust runs with --processes PROCESSES (the default: one per load-generator CPU).

Target: Locust reaches >= 0.8x perf_analyzer's throughput. Prints figures and the exact commands; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _server  # noqa: E402

from tests.harness.triton_local import live_processes_in_group  # noqa: E402

MODEL = "image_classifier"
CONCURRENCY = 16
ROUNDS = 2
LOCUST_SECONDS = 14
WARMUP_S = 3
TARGET_RATIO = 0.8
WINDOW_MS = 1000
MAX_TRIALS = 10
STABILITY_PERCENT = 25
LOCUST = _server.ROOT / ".tools" / "locust" / "bin" / "locust"
LOCUSTFILE = _server.ROOT / "charts" / "triton-loadtest" / "files" / "locustfile.py"
RUN_TIMEOUT_S = 120


def pin_server(server, cpus: list[int]) -> None:
    """Pin every thread of the server's process group (tritonserver and the python-backend stubs) to `cpus`."""
    for pid in live_processes_in_group(server.process.pid):
        _server.run_logged(["taskset", "-a", "-c", "-p", ",".join(map(str, cpus)), str(pid)], timeout=10)


def prefix(cpus: list[int] | None) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []


def perf_analyzer(server, protocol: str, work: Path, cpus: list[int] | None) -> tuple[float, float, str]:
    """(infer/s, p95 ms, command) of one perf_analyzer run at CONCURRENCY."""
    csv_path = work / f"perf-{protocol}.csv"
    csv_path.unlink(missing_ok=True)
    address = server.grpc_address if protocol == "grpc" else server.http_address
    command = prefix(cpus) + [
        str(_server.perf_analyzer_binary()), "-m", MODEL, "-u", address, "-i", protocol, "--shape", "IMAGE:3,32,32", "-b", "1",
        "--concurrency-range", f"{CONCURRENCY}:{CONCURRENCY}", "--measurement-mode", "time_windows",
        "--measurement-interval", str(WINDOW_MS), "--max-trials", str(MAX_TRIALS), "--stability-percentage", str(STABILITY_PERCENT),
        "-f", str(csv_path),
    ]  # fmt: skip
    _server.run_logged(command, timeout=RUN_TIMEOUT_S)
    with csv_path.open() as handle:
        row = next(csv.DictReader(handle))
    return float(row["Inferences/Second"]), float(row["p95 latency"]) / 1000, shlex.join(command)


def locust(server, protocol: str, work: Path, cpus: list[int] | None, processes: int) -> tuple[float, float, int, str]:
    """(infer/s after warm-up, p95 ms, failed requests, command) of one Locust run at CONCURRENCY users."""
    report = work / f"locust-{protocol}"
    shutil.rmtree(report, ignore_errors=True)
    command = prefix(cpus) + [
        str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "-H", server.base_url, "--grpc-address", server.grpc_address,
        "--protocol", protocol, "--model", MODEL, "--shape", "soak", "-u", str(CONCURRENCY), "-t", f"{LOCUST_SECONDS}s",
        "--slo-p95-ms", "0", "--slo-p99-ms", "0", "--slo-failure-ratio", "1", "--csv", str(report / "locust"),
    ] + (["--processes", str(processes)] if processes > 1 else [])  # fmt: skip
    _server.run_logged(command, timeout=RUN_TIMEOUT_S)
    with (report / "locust_stats_history.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated" and int(row["User Count"]) == CONCURRENCY]
    start = next(row for row in rows if int(row["Timestamp"]) >= int(rows[0]["Timestamp"]) + WARMUP_S)
    end = rows[-1]
    seconds = int(end["Timestamp"]) - int(start["Timestamp"])
    if seconds < 3:
        raise _server.BenchError(f"Locust ran only {seconds}s at {CONCURRENCY} users after warm-up; see {report}")
    throughput = (int(end["Total Request Count"]) - int(start["Total Request Count"])) / seconds
    with (report / "locust_stats.csv").open() as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    return throughput, float(total["95%"]), int(total["Failure Count"]), shlex.join(command)


def cpu_split(unpinned: bool) -> tuple[list[int] | None, list[int] | None]:
    available = sorted(os.sched_getaffinity(0))
    if unpinned or len(available) < 2:
        return None, None
    if shutil.which("taskset") is None:
        raise _server.BenchError("taskset (Debian package util-linux) is missing; install it or pass --unpinned")
    return available[:1], available[1:]


def bench(arguments: argparse.Namespace) -> None:
    _server.perf_analyzer_binary()
    if not LOCUST.exists():
        raise _server.BenchError(f"{LOCUST.relative_to(_server.ROOT)} is missing; run `make locust` (or `make setup`)")
    server_cpus, client_cpus = cpu_split(arguments.unpinned)
    processes = arguments.processes or (len(client_cpus) if client_cpus else os.cpu_count() or 1)
    with _server.temp_dir("loadgen") as scratch:
        scratch = Path(scratch)
        repository = _server.model_repository(scratch / "models", only={MODEL})
        with _server.serve(repository.path, scratch / "work") as server:
            if server_cpus:
                pin_server(server, server_cpus)
            where = (f"server pinned to CPU {server_cpus[0]}, each load generator to CPU(s) {','.join(map(str, client_cpus))}"
                     if server_cpus else f"unpinned: server and load generator share all {os.cpu_count()} CPUs")
            print(f"tritonserver rendered from values/local.yaml, ready in {server.ready_seconds:.1f}s; {where}")
            print(f"{MODEL}, 1 image per request, concurrency {CONCURRENCY}; Locust {LOCUST_SECONDS}s soak with "
                  f"--processes {processes} (throughput after the first {WARMUP_S}s); {arguments.rounds} alternating rounds, medians")
            results: dict[tuple[str, str], list] = {}
            for round_number in range(arguments.rounds):
                for protocol in ("http", "grpc"):
                    pa = perf_analyzer(server, protocol, scratch, client_cpus)
                    lo = locust(server, protocol, scratch, client_cpus, processes)
                    results.setdefault((protocol, "perf_analyzer"), []).append(pa)
                    results.setdefault((protocol, "locust"), []).append(lo)
                    if round_number == 0:
                        print(f"  $ {pa[-1]}\n  $ {lo[-1]}")
                    print(f"  round {round_number + 1} {protocol}: perf_analyzer {pa[0]:.0f} infer/s, Locust {lo[0]:.0f} infer/s "
                          f"({lo[0] / pa[0]:.2f}x), Locust failures {lo[2]}", flush=True)
    print()
    print(f"{'protocol':<8} | {'perf_analyzer infer/s':>21} | {'Locust infer/s':>14} | {'ratio':>5} | {'p95 PA ms':>9} | {'p95 Locust ms':>13} | target")
    print("-" * 100)
    for protocol in ("http", "grpc"):
        pa = statistics.median(r[0] for r in results[protocol, "perf_analyzer"])
        lo = statistics.median(r[0] for r in results[protocol, "locust"])
        pa95 = statistics.median(r[1] for r in results[protocol, "perf_analyzer"])
        lo95 = statistics.median(r[1] for r in results[protocol, "locust"])
        verdict = "met" if lo / pa >= TARGET_RATIO else "NOT met"
        print(f"{protocol:<8} | {pa:>21.0f} | {lo:>14.0f} | {lo / pa:>5.2f} | {pa95:>9.2f} | {lo95:>13.0f} | {verdict} (>= {TARGET_RATIO}x)")
    print("Locust's p95 is its own (rounded to whole ms); every Locust request was checked for the right class.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"alternating rounds; medians are reported (default {ROUNDS})")
    parser.add_argument("--processes", type=int, default=0, help="Locust --processes (default: one per load-generator CPU)")
    parser.add_argument("--unpinned", action="store_true", help="let the server and the load generators share every CPU")
    return _server.run_benchmark("loadgen", lambda: bench(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
