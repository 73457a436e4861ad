"""Batch client throughput: the triton-batch client against perf_analyzer at the same concurrency, one server.

One tritonserver, started from the `triton` container the chart renders for values/local.yaml (see _server.py),
serves image_classifier (the shipped config, dynamic batching). The batch client is the `batch` container of the
same umbrella render with batch enabled (tests/harness/batch_local.py: its args, its file from the ConfigMap, one
shard over the whole data set) with CONCURRENCY requests in flight; perf_analyzer holds the same CONCURRENCY over
the same protocol with the same images per request. Two settings: one image per request (client.batchSize 1: the
server's dynamic batcher forms the batches) and the chart's default (client.batchSize 0: the model's
max_batch_size, 16). They alternate over ROUNDS rounds; medians.

The client's figure is the whole shard, end to end: listing the input, decoding each PNG, the requests, one
atomic file per result, and the shard's JSON Lines and manifest at the end (items / the manifest's
elapsed_seconds). perf_analyzer sends random data it never reads back. A fresh output each round, so nothing is
skipped.

CPUs: by default the server (and its python-backend stub) is pinned to CPU 0, the one CPU values/local.yaml
requests, and whichever client runs to the other CPUs; --unpinned lets everything share.

Target: the batch client reaches >= 0.8x perf_analyzer's throughput. Prints figures and the exact commands;
asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _server  # noqa: E402
import loadgen  # noqa: E402

from tests.harness import render as helm  # noqa: E402
from tests.harness.batch_local import find_batch_pod, plan_shard, run_shards  # noqa: E402

MODEL = "image_classifier"
CONCURRENCY = 16
ITEMS = 4000
ROUNDS = 2
TARGET_RATIO = 0.8
WINDOW_MS = 1000
MAX_TRIALS = 10
STABILITY_PERCENT = 25
RUN_TIMEOUT_S = 180


# (client.batchSize, the images per request it means for image_classifier, whose max_batch_size is 16)
SETTINGS = ((1, 1), (0, 16))


def batch_values(protocol: str, batch_size: int) -> dict:
    return {"batch": {"enabled": True, "shards": 1, "parallelism": 1, "target": {"protocol": protocol, "model": MODEL},
                      "input": {"format": "images", "path": "/data/images"}, "output": {"path": "/data/results"},
                      "client": {"concurrency": CONCURRENCY, "batchSize": batch_size, "progressIntervalSeconds": 5}}}  # fmt: skip


def dataset(claim: Path) -> None:
    from PIL import Image

    sys.dont_write_bytecode = True
    sys.path.insert(0, str(_server.ROOT / "models"))
    import numpy as np
    import synthetic_patterns

    images, labels = synthetic_patterns.generate_images(ITEMS, seed=2024)
    for index, (image, label) in enumerate(zip(images, labels)):
        path = claim / "images" / synthetic_patterns.CLASS_NAMES[label] / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(path)


def batch_client(server, protocol: str, batch_size: int, claim: Path, work: Path, cpus: list[int] | None) -> tuple[float, float, str]:
    """(items/s over the whole shard, items/s of the requests alone as the client logged them, command)."""
    shutil.rmtree(claim / "results", ignore_errors=True)
    objects = helm.render("triton-stack", [_server.VALUES], values=batch_values(protocol, batch_size))
    pod = find_batch_pod(objects)
    address = server.grpc_address if protocol == "grpc" else server.http_address
    plan = plan_shard(pod, 0, work_dir=work, path_mapping={"/data": claim}, url=address)
    plan.argv[:0] = loadgen.prefix(cpus)
    (run,) = run_shards({0: plan}, 1, timeout=RUN_TIMEOUT_S).values()
    if run.returncode != 0:
        raise _server.BenchError(f"the batch client exited {run.returncode}:\n{run.log[-3000:]}")
    manifest = json.loads((claim / "results" / "shards" / "shard-00000-of-00001.manifest.json").read_text())
    if manifest["succeeded"] != ITEMS:
        raise _server.BenchError(f"the batch client wrote {manifest['succeeded']} results of {ITEMS}")
    logged = [line for line in run.log.splitlines() if "progress shard-" in line][-1]
    requests_rate = float(logged.split(" failed, ")[1].split(" items/s")[0])
    return ITEMS / manifest["elapsed_seconds"], requests_rate, shlex.join(plan.argv)


def perf_analyzer(server, protocol: str, images: int, work: Path, cpus: list[int] | None) -> tuple[float, str]:
    csv_path = work / f"perf-{protocol}.csv"
    csv_path.unlink(missing_ok=True)
    address = server.grpc_address if protocol == "grpc" else server.http_address
    command = loadgen.prefix(cpus) + [
        str(_server.perf_analyzer_binary()), "-m", MODEL, "-u", address, "-i", protocol, "--shape", "IMAGE:3,32,32", "-b", str(images),
        "--concurrency-range", f"{CONCURRENCY}:{CONCURRENCY}", "--measurement-mode", "time_windows",
        "--measurement-interval", str(WINDOW_MS), "--max-trials", str(MAX_TRIALS), "--stability-percentage", str(STABILITY_PERCENT),
        "-f", str(csv_path),
    ]  # fmt: skip
    _server.run_logged(command, timeout=RUN_TIMEOUT_S)
    with csv_path.open() as handle:
        return float(next(csv.DictReader(handle))["Inferences/Second"]), shlex.join(command)


def bench(arguments: argparse.Namespace) -> None:
    _server.perf_analyzer_binary()
    server_cpus, client_cpus = loadgen.cpu_split(arguments.unpinned)
    with _server.temp_dir("batch") as scratch:  # noqa: SIM117
        scratch = Path(scratch)
        dataset(scratch / "claim")
        repository = _server.model_repository(scratch / "models", only={MODEL})
        with _server.serve(repository.path, scratch / "work") as server:
            if server_cpus:
                loadgen.pin_server(server, server_cpus)
            where = (f"server pinned to CPU {server_cpus[0]}, each client to CPU(s) {','.join(map(str, client_cpus))}"
                     if server_cpus else "unpinned: server and clients share every CPU")
            print(f"tritonserver rendered from values/local.yaml, ready in {server.ready_seconds:.1f}s; {where}")
            print(f"{MODEL}, {arguments.protocol}, concurrency {CONCURRENCY}; the batch client runs one shard of {ITEMS} PNG files "
                  f"end to end; {arguments.rounds} alternating rounds, medians")
            rows: dict[int, list] = {}
            for round_number in range(arguments.rounds):
                for batch_size, images in SETTINGS:
                    pa, pa_command = perf_analyzer(server, arguments.protocol, images, scratch, client_cpus)
                    whole, requests, client_command = batch_client(server, arguments.protocol, batch_size, scratch / "claim", scratch / "batch-work", client_cpus)
                    rows.setdefault(images, []).append((pa, whole, requests))
                    if round_number == 0:
                        print(f"  $ {pa_command}\n  $ {client_command}")
                    print(f"  round {round_number + 1}, {images} image(s) per request: perf_analyzer {pa:.0f} infer/s, batch client "
                          f"{whole:.0f} items/s end to end ({whole / pa:.2f}x), {requests:.0f} items/s while sending", flush=True)
    print()
    print(f"{'images/request':>14} | {'client.batchSize':>16} | {'perf_analyzer infer/s':>21} | {'batch client items/s':>20} | {'ratio':>5} | "
          f"{'while sending':>13} | target")
    print("-" * 120)
    for batch_size, images in SETTINGS:
        pa = statistics.median(r[0] for r in rows[images])
        whole = statistics.median(r[1] for r in rows[images])
        requests = statistics.median(r[2] for r in rows[images])
        verdict = "met" if whole / pa >= TARGET_RATIO else "NOT met"
        print(f"{images:>14} | {batch_size:>16} | {pa:>21.0f} | {whole:>20.0f} | {whole / pa:>5.2f} | {requests:>13.0f} | {verdict} (>= {TARGET_RATIO}x)")
    print(f"{arguments.protocol}, concurrency {CONCURRENCY} for both. batch client items/s: every item read and decoded from PNG, sent, "
          "its result committed atomically, the shard's JSON Lines and manifest written (items / the manifest's elapsed_seconds); "
          "while sending: the client's own last progress rate. perf_analyzer sends random tensors and reads nothing back.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"alternating rounds; medians are reported (default {ROUNDS})")
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http", help="the client's and perf_analyzer's (default http, the chart's target.protocol)")
    parser.add_argument("--unpinned", action="store_true", help="let the server and the clients share every CPU")
    return _server.run_benchmark("batch", lambda: bench(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
