"""Render benchmark: unique renders, wall time of the offline tiers, and the raw helm floor.

Runs the offline tiers (everything but the local and cluster tiers) once with the render log on, then
times plain `helm template` of the umbrella chart with values/prod.yaml a few times. The floor is
unique renders x median helm time: what the suite would cost if it did nothing but call helm once per
distinct render. The ratio says how much the harness adds on top (pytest, validation, checkov, lint).
Prints figures; asserts nothing (these machines are noisy).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.harness import render as helm  # noqa: E402

HELM_SAMPLES = 15
TARGET_RATIO = 1.5
TARGET_SECONDS = 60


def time_offline_tiers(log: Path) -> tuple[float, int]:
    # A cold render cache: the figure is what a fresh clone pays.
    env = {**os.environ, "TRITON_STACK_RENDER_LOG": str(log), "TRITON_STACK_RENDER_CACHE": str(log.parent / "renders")}
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "-m", "not local and not cluster"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"offline tiers failed:\n{completed.stdout[-3000:]}")
    return elapsed, completed.stdout.strip().splitlines()[-1]


def median_helm_template() -> float:
    helm.ensure_dependencies()
    command = [str(helm.helm_binary("helm3")), "template", "triton", str(ROOT / "charts/triton-stack"), "-f", str(ROOT / "values/prod.yaml")]
    samples = []
    for _ in range(HELM_SAMPLES):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        log = Path(workdir, "renders.jsonl")
        wall, summary = time_offline_tiers(log)
        renders = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    median = median_helm_template()
    unique = len(renders)
    floor = unique * median
    ratio = wall / floor if floor else float("nan")
    print(f"offline tiers: {summary}")
    print(f"unique renders:                  {unique}")
    print(f"median helm template (prod):     {median * 1000:.0f} ms over {HELM_SAMPLES} runs")
    print(f"raw helm floor (unique x median): {floor:.1f} s")
    print(f"offline tiers wall time:          {wall:.1f} s   (target < {TARGET_SECONDS} s)")
    print(f"harness overhead ratio:           {ratio:.2f}x the floor   (target <= {TARGET_RATIO}x)")
    print(f"helm time inside the suite:       {sum(r['seconds'] for r in renders):.1f} s across {unique} renders")


if __name__ == "__main__":
    main()
