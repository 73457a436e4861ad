"""`make calibrate`: one replica's capacity at the latency SLO, and the autoscaling target that keeps it there.

    .venv/bin/python ci/loadtest/calibrate.py [--slo-p95-ms 100] [--signal queue-time|pending] [--margin 0.8]

Starts tritonserver from the `triton` container the chart renders for values/local.yaml (ci/bench/_server.py:
one replica, as the pod runs it, serving image_classifier), then a step ramp: Locust (the project's load profiles,
HTTP binary, labelled images, back to back) at each user level of LEVELS for STEP_S seconds, one Locust run per
step. At each step it reads from Locust the p95 latency (ms) and the throughput (requests/s), and from Triton's
metrics port (core src/metrics.cc) the two scaling signals:

- queue-time: the average queue time per request in µs over the step,
  delta(nv_inference_queue_duration_us) / delta(nv_inference_request_success), the value of the PromQL
  `rate(nv_inference_queue_duration_us[1m]) / rate(nv_inference_request_success[1m])` an autoscaler would read;
- pending: nv_inference_pending_request_count (a gauge), averaged over samples every SAMPLE_S during the step.

The ramp stops at the first step whose p95 crosses the SLO. Capacity is the highest throughput of a step that
held it; the target is the chosen signal's value there times --margin (scaling out before the SLO is lost). Printed
as a server.autoscaling values snippet: signal and target (the reactive trigger), and the capacity as
predictive.replicaCapacity (what the forecast divides by). Exit 1 when even the first step misses the SLO or
something broke.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci" / "bench"))

import _server  # noqa: E402

MODEL = "image_classifier"
LEVELS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128)
STEP_S = 8
SAMPLE_S = 0.5
LOCUST = ROOT / ".tools" / "locust" / "bin" / "locust"
LOCUSTFILE = ROOT / "charts" / "triton-loadtest" / "files" / "locustfile.py"
SIGNALS = {
    # --signal -> (server.autoscaling.signal, the query it stands for, unit)
    "queue-time": ("queueTimePerRequest", "rate(nv_inference_queue_duration_us[1m]) / rate(nv_inference_request_success[1m])", "µs"),
    "pending": ("pendingRequestsPerReplica", "avg(nv_inference_pending_request_count)", "requests"),
}


@dataclass(frozen=True)
class Step:
    users: int
    throughput: float  # requests/s, Locust
    p95_ms: float  # Locust
    failures: int
    queue_time_us: float  # average queue time per request over the step
    pending: float  # mean of the pending-request gauge over the step


def counters(server) -> dict[str, float]:
    """Triton's counters and gauge for MODEL, summed over versions."""
    wanted = {"nv_inference_queue_duration_us", "nv_inference_request_success", "nv_inference_pending_request_count"}
    totals = dict.fromkeys(wanted, 0.0)
    for sample in server.scrape_metrics():
        if sample.name in wanted and sample.labels.get("model") == MODEL:
            totals[sample.name] += sample.value
    return totals


def run_step(server, users: int, work: Path, slo_p95_ms: float) -> Step:
    report = work / f"step-{users}"
    shutil.rmtree(report, ignore_errors=True)
    command = [
        str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "-H", server.base_url, "--model", MODEL,
        "--shape", "soak", "-u", str(users), "-t", f"{STEP_S}s", "--slo-p95-ms", str(slo_p95_ms), "--slo-p99-ms", "0",
        "--slo-failure-ratio", "1", "--csv", str(report / "locust"),
    ]  # fmt: skip
    before = counters(server)
    pending: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_S):
            pending.append(counters(server)["nv_inference_pending_request_count"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=STEP_S + 60)
    finally:
        done.set()
        sampler.join()
    after = counters(server)
    stats = report / "locust_stats.csv"
    if not stats.exists():
        raise _server.BenchError(f"Locust at {users} users wrote no statistics (exit {completed.returncode}):\n{completed.stderr[-2000:]}")
    with stats.open() as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    successes = after["nv_inference_request_success"] - before["nv_inference_request_success"]
    queue_us = after["nv_inference_queue_duration_us"] - before["nv_inference_queue_duration_us"]
    return Step(
        users=users,
        throughput=float(total["Requests/s"]),
        p95_ms=float(total["95%"]),
        failures=int(total["Failure Count"]),
        queue_time_us=queue_us / successes if successes else float("nan"),
        pending=statistics.fmean(pending) if pending else float("nan"),
    )


def calibrate(arguments: argparse.Namespace) -> None:
    if not LOCUST.exists():
        raise _server.BenchError(f"{LOCUST.relative_to(ROOT)} is missing; run `make locust` (or `make setup`)")
    key, promql, unit = SIGNALS[arguments.signal]
    steps: list[Step] = []
    with _server.temp_dir("calibrate") as scratch:
        scratch = Path(scratch)
        repository = _server.model_repository(scratch / "models", only={MODEL})
        with _server.serve(repository.path, scratch / "work") as server:
            print(f"one replica: tritonserver rendered from values/local.yaml (requests 1 CPU; unpinned here), ready in {server.ready_seconds:.1f}s")
            print(f"step ramp: Locust HTTP binary, labelled images, {STEP_S}s per step, until p95 > {arguments.slo_p95_ms:g} ms")
            print(f"{'users':>5} | {'req/s':>7} | {'p95 ms':>6} | {'fails':>5} | {'queue µs/req':>12} | {'pending':>7} | SLO")
            for users in LEVELS:
                step = run_step(server, users, scratch, arguments.slo_p95_ms)
                held = step.p95_ms <= arguments.slo_p95_ms and step.failures == 0
                print(f"{step.users:>5} | {step.throughput:>7.0f} | {step.p95_ms:>6.0f} | {step.failures:>5} | {step.queue_time_us:>12.0f} | "
                      f"{step.pending:>7.2f} | {'held' if held else 'CROSSED'}", flush=True)
                steps.append(step)
                if not held:
                    break
    held_steps = [s for s in steps if s.p95_ms <= arguments.slo_p95_ms and s.failures == 0]
    if not held_steps:
        raise _server.BenchError(f"even {steps[0].users} user(s) missed p95 <= {arguments.slo_p95_ms:g} ms: no capacity at this SLO")
    # The most requests/s any step served within the SLO. Past that, more users only queue (and on a machine the
    # load generator shares, Locust's own CPU use lowers the server's throughput), so the load that counts is
    # the throughput, not the user count.
    best = max(held_steps, key=lambda step: step.throughput)
    crossed = len(held_steps) < len(steps)
    value = best.queue_time_us if arguments.signal == "queue-time" else best.pending
    target = value * arguments.margin
    print()
    print(f"capacity of one replica at p95 <= {arguments.slo_p95_ms:g} ms: {best.throughput:.0f} requests/s ({best.users} concurrent users)"
          + ("" if crossed else f"; the SLO held at every level up to {LEVELS[-1]} users, so this is a lower bound"))
    print(f"scaling signal {arguments.signal} ({promql}) there: {value:.2f} {unit}; target with margin {arguments.margin:g}: {target:.2f} {unit}")
    print("values snippet:\n")
    print("server:\n  autoscaling:")
    print(f"    # {promql}\n    # measured {value:.2f} {unit} at {best.users} users, {best.throughput:.0f} req/s, p95 {best.p95_ms:.0f} ms "
          f"(SLO {arguments.slo_p95_ms:g} ms), x {arguments.margin:g}")
    print(f"    signal: {key}")
    print(f"    target: {target:.0f}" if arguments.signal == "queue-time" else f"    target: {target:.1f}")
    print("    predictive:")
    print(f"      replicaCapacity: {best.throughput:.0f}  # requests/s one replica served within the SLO"
          + ("" if crossed else " (a lower bound: the SLO was never crossed)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slo-p95-ms", type=float, default=100.0, help="the latency SLO the replica must hold (default 100, as loadtests/locust.conf)")
    parser.add_argument("--signal", choices=sorted(SIGNALS), default="queue-time", help="the Triton signal the autoscaler scales on")
    parser.add_argument("--margin", type=float, default=0.8, help="target = signal at the last step that held the SLO x margin (default 0.8)")
    arguments = parser.parse_args()
    if not 0 < arguments.margin <= 1:
        parser.error("--margin must be in (0, 1]")
    return _server.run_benchmark("calibration", lambda: calibrate(arguments))


if __name__ == "__main__":
    sys.exit(main())
