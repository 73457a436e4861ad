"""Batching benchmark: the shipped image_classifier (dynamic batching) against image_classifier_nobatch (off).

One tritonserver, started from the `triton` container the chart renders for values/local.yaml (see _server.py),
serves both models from a temp copy of models/. perf_analyzer (from `make perf-analyzer`) drives each model over
gRPC with one image per request (the server forms the batches) at each concurrency of the sweep; the two models
are measured alternately at each step so drift on this noisy machine hits both alike. Each measurement is
bounded: time windows of WINDOW_MS, at most MAX_TRIALS windows (about 2 s a run), and the sweep is repeated
REPEAT times round robin, reporting the median of each cell.

Target: at concurrency >= 16, batching on gives >= 2x the throughput of batching off with a p95 no worse.

Then, unless --no-explore, the config experiments: variants of both models (torch threads, instance count,
batch sizes, queue delay), each a renamed copy in a second temp repository served by a second server, measured
at EXPLORE_CONCURRENCIES against the shipped batching-off model and against a batching-off copy given the same
threads or instances. models/ is never changed. --variants all runs every experiment in VARIANTS.

Prints figures and the exact commands; asserts nothing (exit 0 unless something broke).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _server  # noqa: E402

ON = "image_classifier"
OFF = "image_classifier_nobatch"
CONCURRENCIES = (1, 4, 8, 16, 32)
TARGET_RATIO = 2.0
TARGET_CONCURRENCY = 16
EXPLORE_CONCURRENCIES = (1, 16, 32)
REPEAT = 3
EXPLORE_REPEAT = 2

WINDOW_MS = 500
MAX_TRIALS = 10
STABILITY_PERCENT = 25  # perf_analyzer's default 10% is rarely reached on 2 shared cores
RETRY_STABILITY_PERCENT = 50  # one retry before a cell is reported as unmeasured
PERF_ANALYZER_TIMEOUT = 120

_SERVER_COUNTS = re.compile(r"Inference count: (\d+)\s+Execution count: (\d+)")


@dataclass(frozen=True)
class Measurement:
    model: str
    concurrency: int
    throughput: float  # infer/s
    p50_ms: float
    p95_ms: float
    p99_ms: float
    queue_ms: float  # server queue time per request
    average_batch: float  # inferences per model execution, from the server's statistics
    command: str
    note: str = ""


def perf_analyzer_command(server, model: str, concurrency: int, csv_path: Path, stability: int) -> list[str]:
    return [
        str(_server.perf_analyzer_binary()),
        "-m", model,
        "-u", server.grpc_address,
        "-i", "grpc",
        "--shape", "IMAGE:3,32,32",
        "-b", "1",
        "--concurrency-range", f"{concurrency}:{concurrency}",
        "--measurement-mode", "time_windows",
        "--measurement-interval", str(WINDOW_MS),
        "--max-trials", str(MAX_TRIALS),
        "--stability-percentage", str(stability),
        "-f", str(csv_path),
    ]  # fmt: skip


def measure(server, model: str, concurrency: int, work: Path, echo: bool = True) -> Measurement | None:
    """One perf_analyzer run; a retry with a looser stability criterion; None if neither gave a result."""
    csv_path = work / f"{model}-c{concurrency}.csv"
    for stability in (STABILITY_PERCENT, RETRY_STABILITY_PERCENT):
        csv_path.unlink(missing_ok=True)
        command = perf_analyzer_command(server, model, concurrency, csv_path, stability)
        if echo:
            print(f"  $ {shlex.join(command)}", flush=True)
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=PERF_ANALYZER_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"    no result: perf_analyzer ran past {PERF_ANALYZER_TIMEOUT}s", flush=True)
            continue
        if completed.returncode == 0 and csv_path.exists():
            return _parse(model, concurrency, csv_path, completed.stdout, shlex.join(command),
                          "" if stability == STABILITY_PERCENT else f"stable only within {stability}%")
        reason = (completed.stdout + completed.stderr).strip().splitlines()[-1:] or ["no output"]
        print(f"    no result for {model} at concurrency {concurrency} (exit {completed.returncode}): {reason[0]}", flush=True)
    return None


def _parse(model: str, concurrency: int, csv_path: Path, stdout: str, command: str, note: str) -> Measurement:
    with csv_path.open() as handle:
        row = next(csv.DictReader(handle))
    counts = _SERVER_COUNTS.search(stdout)
    average_batch = int(counts[1]) / int(counts[2]) if counts and int(counts[2]) else float("nan")
    return Measurement(
        model=model,
        concurrency=int(row["Concurrency"]),
        throughput=float(row["Inferences/Second"]),
        p50_ms=float(row["p50 latency"]) / 1000,
        p95_ms=float(row["p95 latency"]) / 1000,
        p99_ms=float(row["p99 latency"]) / 1000,
        queue_ms=float(row["Server Queue"]) / 1000,
        average_batch=average_batch,
        command=command,
        note=note,
    )


def median_of(runs: list[Measurement | None]) -> Measurement | None:
    """The median of repeated runs of one cell, field by field; None when no run gave a result."""
    runs = [run for run in runs if run is not None]
    if len(runs) <= 1:
        return runs[0] if runs else None
    numbers = {name: statistics.median(getattr(run, name) for run in runs)
               for name in ("throughput", "p50_ms", "p95_ms", "p99_ms", "queue_ms", "average_batch")}
    note = "; ".join(sorted({run.note for run in runs if run.note}))
    return Measurement(**{**runs[0].__dict__, **numbers, "note": note})


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def print_comparison(on: dict[int, Measurement | None], off: dict[int, Measurement | None], runs: dict) -> bool:
    print()
    print(f"{'conc':>4} | {'on infer/s':>10} | {'off infer/s':>11} | {'ratio':>5} | {'ratio by round':>16} | {'p95 on ms':>9} | "
          f"{'p95 off ms':>10} | {'batch on':>8} | {'queue on ms':>11} | target")
    print("-" * 125)
    verdicts = []
    for concurrency in sorted(on):
        a, b = on[concurrency], off[concurrency]
        ratio = a.throughput / b.throughput if a and b else None
        if concurrency < TARGET_CONCURRENCY:
            verdict = "(not judged)"
        elif ratio is None:
            verdict = "UNMEASURED"
            verdicts.append(False)
        else:
            throughput_ok, p95_ok = ratio >= TARGET_RATIO, a.p95_ms <= b.p95_ms
            verdict = "met" if throughput_ok and p95_ok else "NOT met (" + ", ".join(
                part for part, bad in ((f"{ratio:.2f}x < {TARGET_RATIO:.0f}x", not throughput_ok), ("p95 worse", not p95_ok)) if bad) + ")"
            verdicts.append(throughput_ok and p95_ok)
        by_round = "/".join(f"{x.throughput / y.throughput:.2f}" if x and y else "-"
                            for x, y in zip(runs[ON, concurrency], runs[OFF, concurrency]))
        print(f"{concurrency:>4} | {_fmt(a and a.throughput, '10.0f')} | {_fmt(b and b.throughput, '11.0f')} | "
              f"{_fmt(ratio, '5.2f')} | {by_round:>16} | {_fmt(a and a.p95_ms, '9.2f')} | {_fmt(b and b.p95_ms, '10.2f')} | "
              f"{_fmt(a and a.average_batch, '8.2f')} | {_fmt(a and a.queue_ms, '11.2f')} | {verdict}")
    met = bool(verdicts) and all(verdicts)
    print("ratio: of the medians; ratio by round: on/off within each round of the sweep (the spread is the noise)")
    print(f"verdict: target (>= {TARGET_RATIO:.0f}x throughput at concurrency >= {TARGET_CONCURRENCY}, p95 no worse) "
          f"{'MET' if met else 'NOT MET'} on this machine ({os.cpu_count()} CPUs, perf_analyzer on the same CPUs)")
    notes = sorted({f"{m.model} c={m.concurrency}: {m.note}" for m in (*on.values(), *off.values()) if m and m.note})
    if notes:
        print("notes: " + "; ".join(notes))
    return met


def torch_call_costs(batch_sizes: tuple[int, ...] = (1, 8, 16), calls: int = 200) -> dict[int, float]:
    """Median ms of one call of the served network, in-process on one torch thread, per batch size: what a model
    instance spends per execution before any server overhead. It is why batching pays (or does not) for this model."""
    import numpy as np
    import torch

    sys.path.insert(0, str(_server.ROOT / "models" / ON / "1"))
    sys.dont_write_bytecode = True  # no __pycache__/ inside models/
    from network import IMAGE_SHAPE, load_classifier

    torch.set_num_threads(1)
    classifier = load_classifier(_server.ROOT / "models" / ON / "1" / "weights.pt")
    costs = {}
    with torch.inference_mode():
        for batch in batch_sizes:
            images = torch.rand(batch, *IMAGE_SHAPE)
            for _ in range(20):
                classifier(images)
            timings = []
            for _ in range(calls):
                started = time.perf_counter()
                classifier(images)
                timings.append((time.perf_counter() - started) * 1000)
            costs[batch] = float(np.median(timings))
    return costs


def print_torch_call_costs() -> None:
    costs = torch_call_costs()
    single = costs[min(costs)]
    print("the network alone, in-process, one torch thread (median of 200 calls): " + ", ".join(
        f"batch {batch} {ms:.2f} ms ({ms / single:.1f}x batch 1)" for batch, ms in costs.items()), flush=True)


# --- config experiments ----------------------------------------------------------------------------------


def _threads(count: int) -> Callable:
    def edit(config) -> None:
        config.parameters["torch_intra_op_threads"].string_value = str(count)
    return edit


def _instances(count: int) -> Callable:
    def edit(config) -> None:
        config.instance_group[0].count = count
    return edit


def _batching(max_batch: int, preferred: list[int], delay_us: int) -> Callable:
    def edit(config) -> None:
        config.max_batch_size = max_batch
        del config.dynamic_batching.preferred_batch_size[:]
        config.dynamic_batching.preferred_batch_size.extend(preferred)
        config.dynamic_batching.max_queue_delay_microseconds = delay_us
        # Triton refuses to load a model whose warm-up sample is bigger than its max_batch_size.
        for sample in config.model_warmup:
            sample.batch_size = min(sample.batch_size, max_batch)
    return edit


def _chain(*edits: Callable) -> Callable:
    def edit(config) -> None:
        for one in edits:
            one(config)
    return edit


# name -> (source model, what changes, edit, the batching-off model with the same resources)
VARIANTS: dict[str, tuple[str, str, Callable, str]] = {
    "v_on_max8": (ON, "on: max_batch_size 8, preferred [4, 8]", _batching(8, [4, 8], 500), OFF),
    "v_on_batch32": (ON, "on: max_batch_size 32, preferred [16, 32], 2 ms", _batching(32, [16, 32], 2000), OFF),
    "v_on_delay2000": (ON, "on: queue delay 2 ms", _batching(16, [8, 16], 2000), OFF),
    "v_on_threads2": (ON, "on: torch threads 2", _threads(2), "v_off_threads2"),
    "v_on_threads2_batch32": (ON, "on: torch threads 2, max 32, preferred [16, 32]", _chain(_threads(2), _batching(32, [16, 32], 2000)), "v_off_threads2"),
    "v_on_instances2": (ON, "on: 2 instances", _instances(2), "v_off_instances2"),
    "v_off_threads2": (OFF, "off: torch threads 2", _threads(2), OFF),
    "v_off_instances2": (OFF, "off: 2 instances", _instances(2), OFF),
}
# What a plain run measures (with their like-for-like batching-off models); --variants all runs every one.
DEFAULT_VARIANTS = ("v_on_max8", "v_on_threads2", "v_on_instances2")
SHIPPED_DESCRIPTIONS = {ON: "on: shipped (threads 1, 1 inst, max 16, [8, 16], 0.5 ms)", OFF: "off: shipped (threads 1, 1 instance)"}


def explore(repeat: int, chosen: list[str] | None = None) -> None:
    print("\n== config experiments: renamed copies of the models in a temp repository (models/ unchanged) ==")
    chosen = list(DEFAULT_VARIANTS) if chosen is None else list(VARIANTS) if chosen == ["all"] else chosen
    variants = {name: variant for name, variant in VARIANTS.items() if name in chosen}
    # a chosen variant brings its like-for-like batching-off model along
    variants.update({variants[name][3]: VARIANTS[variants[name][3]] for name in list(variants) if variants[name][3] in VARIANTS})
    descriptions = {**SHIPPED_DESCRIPTIONS, **{name: variant[1] for name, variant in VARIANTS.items() if name in variants}}
    like_for_like = {ON: OFF, OFF: OFF, **{name: variant[3] for name, variant in variants.items()}}
    with _server.temp_dir("batching-explore") as scratch:
        scratch = Path(scratch)
        repository = _server.model_repository(scratch / "models", only={ON, OFF})
        for name, (source, _, edit, _) in variants.items():
            _server.add_variant(repository.path, source, name, edit)
        started = time.monotonic()
        with _server.serve(repository.path, scratch / "work") as server:
            print(f"server with {len(descriptions)} models ready in {time.monotonic() - started:.1f}s; "
                  f"{len(descriptions) * len(EXPLORE_CONCURRENCIES) * repeat} perf_analyzer runs, same flags as above")
            runs: dict[tuple[str, int], list] = {}
            for _ in range(repeat):  # round robin, so drift spreads over every variant
                for concurrency in EXPLORE_CONCURRENCIES:
                    for model in descriptions:
                        runs.setdefault((model, concurrency), []).append(measure(server, model, concurrency, scratch, echo=False))
    results = {key: median_of(value) for key, value in runs.items()}
    print(f"\n{'concurrency / variant':<54} | {'infer/s':>7} | {'x off':>5} | {'x like':>6} | {'p95 ms':>6} | {'batch':>5} | target vs shipped off")
    print("-" * 120)
    for concurrency in EXPLORE_CONCURRENCIES:
        print(f"c={concurrency}")
        baseline = results[OFF, concurrency]
        for model, description in descriptions.items():
            result, fair = results[model, concurrency], results[like_for_like[model], concurrency]
            ratio = result.throughput / baseline.throughput if result and baseline else None
            fair_ratio = result.throughput / fair.throughput if result and fair else None
            target = ""
            if model.startswith("v_on") or model == ON:
                target = "-" if ratio is None else ("met" if ratio >= TARGET_RATIO and result.p95_ms <= baseline.p95_ms else "not met")
            print(f"  {description:<52} | {_fmt(result and result.throughput, '7.0f')} | {_fmt(ratio, '5.2f')} | "
                  f"{_fmt(fair_ratio, '6.2f')} | {_fmt(result and result.p95_ms, '6.2f')} | {_fmt(result and result.average_batch, '5.2f')} | {target}")
    print("x off: throughput over the shipped batching-off model; x like: over the batching-off model with the same\n"
          "torch threads and instances (what batching itself buys); batch: inferences per execution (server statistics);\n"
          f"{'median of %d rounds' % repeat if repeat > 1 else 'one round'}, all in one server run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"rounds of the sweep; medians are reported (default {REPEAT})")
    parser.add_argument("--explore-repeat", type=int, default=EXPLORE_REPEAT, help=f"rounds of the experiments (default {EXPLORE_REPEAT})")
    parser.add_argument("--no-explore", action="store_true", help="skip the config experiments")
    parser.add_argument("--explore-only", action="store_true", help="only the config experiments")
    parser.add_argument("--variants", help=f"comma-separated experiments, or all (default {','.join(DEFAULT_VARIANTS)}): {', '.join(VARIANTS)}")
    arguments = parser.parse_args()
    chosen = [name.strip() for name in arguments.variants.split(",")] if arguments.variants else None
    unknown = sorted(set(chosen or ()) - set(VARIANTS) - {"all"})
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    return _server.run_benchmark("batching", lambda: sweep_and_explore(arguments, chosen))


def sweep_and_explore(arguments: argparse.Namespace, chosen: list[str] | None) -> None:
    _server.perf_analyzer_binary()
    if arguments.explore_only:
        explore(arguments.explore_repeat, chosen)
        return
    print_torch_call_costs()
    with _server.temp_dir("batching") as scratch:
        scratch = Path(scratch)
        repository = _server.model_repository(scratch / "models", only={ON, OFF})
        container = _server.triton_container()
        with _server.serve(repository.path, scratch / "work", container) as server:
            print(f"tritonserver (rendered from values/local.yaml, ready in {server.ready_seconds:.1f}s):")
            print(f"  $ {shlex.join(server.plan.argv)}")
            print("  changes to the rendered container, by the local launcher:\n    " + _server.local_changes(server).replace("\n", "\n    "))
            print(f"perf_analyzer: gRPC, 1 image per request, time windows of {WINDOW_MS} ms, "
                  f"at most {MAX_TRIALS} windows, stable within {STABILITY_PERCENT}% (retry at {RETRY_STABILITY_PERCENT}%)")
            print(f"{arguments.repeat} rounds of the sweep, round robin; the commands of the first round (later rounds are the same):")
            runs: dict[tuple[str, int], list] = {}
            for round_number in range(arguments.repeat):
                for concurrency in CONCURRENCIES:
                    for model in (ON, OFF):
                        runs.setdefault((model, concurrency), []).append(
                            measure(server, model, concurrency, scratch, echo=round_number == 0))
            on = {concurrency: median_of(runs[ON, concurrency]) for concurrency in CONCURRENCIES}
            off = {concurrency: median_of(runs[OFF, concurrency]) for concurrency in CONCURRENCIES}
    print_comparison(on, off, runs)
    if not arguments.no_explore:
        explore(arguments.explore_repeat, chosen)


if __name__ == "__main__":
    sys.exit(main())
