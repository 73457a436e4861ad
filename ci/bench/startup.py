"""Startup benchmark: does model warmup take torch's first-call cost off the first client's request?

Cold starts of tritonserver from the `triton` container the chart renders for values/local.yaml (see
_server.py), each from a fresh temp copy of models/, alternating between two repositories:

  shipped      models as committed (image_classifier and image_classifier_nobatch warm up with a zero image,
               then a zero batch of 16)
  no warmup    the same copy with `model_warmup` removed from every config (the baseline)
  full only    an experiment: only the full-batch warmup sample, to show what the batch-1 sample adds

For each start: seconds from process start to /v2/health/ready answering 200 (polled every READY_POLL_SECONDS),
then for each model in turn the latency of the first inference request (one image, HTTP, a client whose
connection is already open) and the p50 of the next STEADY_REQUESTS sequential requests. The ratio
first / steady p50 is judged against the target <= 2x. image_classifier is asked first, so its first request
also meets a cold inference path in the server; image_classifier_nobatch then shows the model's own cost.

Prints figures; asserts nothing (exit 0 unless something broke).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _server  # noqa: E402

import numpy as np  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402

MODELS = ("image_classifier", "image_classifier_nobatch")
STARTS = 5
STEADY_REQUESTS = 200
TARGET_RATIO = 2.0
READY_POLL_SECONDS = 0.01
READY_TIMEOUT_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ModelFigures:
    first_ms: float
    steady_p50_ms: float
    steady_p95_ms: float

    @property
    def ratio(self) -> float:
        return self.first_ms / self.steady_p50_ms


@dataclass(frozen=True)
class Start:
    ready_seconds: float
    models: dict[str, ModelFigures]
    argv: list[str]


def _no_warmup(config) -> None:
    del config.model_warmup[:]


def _full_batch_warmup_only(config) -> None:
    """Keep only the biggest warmup sample: torch warmed for a batch, not for the lone image clients send."""
    biggest = max(config.model_warmup, key=lambda sample: sample.batch_size)
    kept = type(biggest)()
    kept.CopyFrom(biggest)
    del config.model_warmup[:]
    config.model_warmup.append(kept)


# name -> config edits of the temp copy (None: as committed). "full only" is an experiment, not the baseline.
REPOSITORIES = {
    "shipped": None,
    "no warmup": {name: _no_warmup for name in MODELS},
    "full only": {name: _full_batch_warmup_only for name in MODELS},
}


def wait_ready(server) -> float:
    """Seconds from the process start to /v2/health/ready answering 200."""
    url = f"{server.base_url}/v2/health/ready"
    deadline = server.started_at + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - server.started_at
        except (urllib.error.URLError, OSError):
            pass
        if not server.is_running():
            raise _server.BenchError(f"tritonserver exited before it was ready; {server.failure_report()}")
        time.sleep(READY_POLL_SECONDS)
    raise _server.BenchError(f"tritonserver not ready within {READY_TIMEOUT_SECONDS}s; {server.failure_report()}")


def timed_infer(client, model: str, image: np.ndarray) -> float:
    request = httpclient.InferInput("IMAGE", list(image.shape), "FP32")
    request.set_data_from_numpy(image, binary_data=True)
    started = time.perf_counter()
    result = client.infer(model, [request], outputs=[httpclient.InferRequestedOutput("TOP_CLASS", binary_data=True)])
    elapsed = time.perf_counter() - started
    if result.as_numpy("TOP_CLASS") is None:
        raise _server.BenchError(f"{model} returned no TOP_CLASS")
    return elapsed * 1000


def one_start(variant: str, index: int, steady_requests: int, image: np.ndarray, container: dict, scratch: Path) -> Start:
    work = scratch / f"{variant.replace(' ', '-')}-{index}"
    repository = _server.model_repository(work / "models", edits=REPOSITORIES[variant], only=set(MODELS))
    server = _server.launch_triton(container, work_dir=work / "server", path_mapping={"/models": repository.path}, secrets={}, gpu_count=0)
    try:
        ready_seconds = wait_ready(server)
        client = httpclient.InferenceServerClient(server.http_address, connection_timeout=REQUEST_TIMEOUT_SECONDS,
                                                  network_timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            client.is_server_ready()  # opens the connection, so the first request times the server, not TCP setup
            figures = {}
            for model in MODELS:
                first = timed_infer(client, model, image)
                steady = [timed_infer(client, model, image) for _ in range(steady_requests)]
                figures[model] = ModelFigures(first, statistics.median(steady), float(np.percentile(steady, 95)))
        finally:
            client.close()
    finally:
        try:
            server.stop(grace=_server.STOP_GRACE_SECONDS)
        except Exception:  # noqa: BLE001 - never leave a server behind
            server.kill()
    return Start(ready_seconds, figures, server.plan.argv)


def summarize(results: dict[str, list[Start]]) -> None:
    print(f"\n{'repository':<10} | {'model':<24} | {'ready s (median, range)':>23} | {'first ms (median, max)':>22} | "
          f"{'steady p50 ms':>13} | {'first-p50 ms':>12} | {'first/p50 (median, worst)':>25} | target <= {TARGET_RATIO:.0f}x")
    print("-" * 165)
    for variant, starts in results.items():
        ready = [start.ready_seconds for start in starts]
        for model in MODELS:
            figures = [start.models[model] for start in starts]
            firsts, ratios = [f.first_ms for f in figures], [f.ratio for f in figures]
            met = sum(ratio <= TARGET_RATIO for ratio in ratios)
            verdict = f"{'met' if met == len(ratios) else 'NOT met'}: {met}/{len(ratios)} starts within"
            print(f"{variant:<10} | {model:<24} | {statistics.median(ready):6.2f} ({min(ready):.2f}-{max(ready):.2f}){'':>7} | "
                  f"{statistics.median(firsts):8.1f} ({max(firsts):.1f}){'':>5} | {statistics.median(f.steady_p50_ms for f in figures):13.2f} | "
                  f"{statistics.median(f.first_ms - f.steady_p50_ms for f in figures):12.2f} | "
                  f"{statistics.median(ratios):9.1f}x ({max(ratios):.1f}x){'':>7} | {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=STARTS, help=f"cold starts per repository (default {STARTS})")
    parser.add_argument("--requests", type=int, default=STEADY_REQUESTS, help=f"steady-state requests per model (default {STEADY_REQUESTS})")
    arguments = parser.parse_args()
    return _server.run_benchmark("startup", lambda: cold_starts(arguments.starts, arguments.requests))


def cold_starts(starts: int, requests: int) -> None:
    image = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    results: dict[str, list[Start]] = {variant: [] for variant in REPOSITORIES}
    container = _server.triton_container()
    with _server.temp_dir("startup") as scratch:
        for index in range(starts):
            for variant in REPOSITORIES:  # alternate, so drift hits both alike
                start = one_start(variant, index, requests, image, container, Path(scratch))
                if index == 0 and variant == "shipped":
                    print("tritonserver command (rendered from values/local.yaml; ports and temp paths differ per start):")
                    print(f"  $ {shlex.join(start.argv)}")
                results[variant].append(start)
                cells = "  ".join(f"{model}: first {f.first_ms:7.1f} ms, p50 {f.steady_p50_ms:5.2f} ms ({f.ratio:5.1f}x)"
                                  for model, f in start.models.items())
                print(f"start {index + 1} {variant:<10}: ready {start.ready_seconds:5.2f} s  {cells}", flush=True)
    print(f"\nper start: {requests} sequential steady-state requests per model after the first, one image each, "
          f"HTTP (tritonclient), ready polled every {READY_POLL_SECONDS * 1000:.0f} ms")
    summarize(results)
    print("first-p50: what the first request pays over steady state (median over starts). image_classifier's steady p50\n"
          "includes its dynamic-batching queue delay (a lone request waits it out), which hides most of a cold cost\n"
          "in its ratio; image_classifier_nobatch has no such delay and is the sharper test.")


if __name__ == "__main__":
    sys.exit(main())
