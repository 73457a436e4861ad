"""`make mutate`: apply each mutation of ci/mutate/catalogue.yaml alone to a throwaway copy of the repository,
run the offline tiers there, and report the mutations that no test catches.

    .venv/bin/python -m ci.mutate.run [--only ID ...] [--workers 2] [--keep]

The working tree is snapshotted once at the start (tracked files and untracked files git does not ignore,
so uncommitted edits count; later edits to the checkout do not); every copy is made from that snapshot,
with .venv, .tools and node_modules as symlinks to the checkout's, and the render cache is the run's own
(TRITON_STACK_RENDER_CACHE), so neither the checkout nor its cache is touched. The unmutated copy runs
first: the tiers must pass there, or no verdict on a mutation would mean anything. Each mutation then gets
a fresh copy and first its chart's own render tests with the cross-chart render and schema tests (CHART_TESTS),
then, if those pass, `pytest -m "not local and not cluster" -x -q -p no:cacheprovider tests/render tests/lint
...` (less the catalogue's own test and the lock's, which every mutant fails by construction); a failing run
(exit 1, or 2 for an error while collecting) kills the mutation, and only a mutant that passes the whole offline
tiers survived. A mutation whose text to find is not in its file exactly once is stale and not run.

Known killers first: .cache/mutate/killers.json keeps, per mutation, the test that killed it last time (every run adds
to it). A mutation with a known killer first runs that one test alone; if it fails there and passes alone on the
unmutated copy (checked once per test and run), the mutation is killed (one failing test is all a kill needs) in
seconds instead of minutes. Next, every mutation tries all known killers together (they must pass together on the
unmutated copy first): tests that kill one mutation often kill others. Only then the steps above, so "survived"
still means every offline test passed.

Prints one row per mutation (result, the first test that failed, seconds), the figures, and the survival
rate (survivors / mutations run). Writes the same as JSON to .cache/mutate/report.json. Exit status: 0 when
every survivor is an accepted one and nothing is stale or broken, 1 otherwise, 2 when the unmutated copy
fails.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.harness import mutations
from tests.harness.render import CACHE_DIR, REPO_ROOT

SHARED_INSTALLS = (".venv", ".tools", "node_modules")
PYTEST_ARGS = ["-m", "not local and not cluster", "-x", "-q", "-p", "no:cacheprovider"]
# The offline tiers, render first: most mutations are caught there, and -x stops at the first failure. The
# local and cluster directories hold only tests those markers exclude; leaving them out of collection
# saves importing torch and the Triton clients in every run.
FIRST_TIERS = ("render", "lint", "schema")
SKIPPED_TIERS = ("local", "cluster", "harness")
# The catalogue's own test checks each text to find against the unmutated templates: a mutant fails it by
# construction, so it would "catch" every mutation.
# The catalogue's own checks, and Chartfile.lock's: every mutant changes its chart's content digest, so the lock
# test would "catch" each one without saying anything about the behaviour the mutation breaks.
NOT_RUN_ON_MUTANTS = ("tests/lint/test_mutation_catalogue.py", "tests/lint/test_chartfile_lock.py")
# Per mutation: a run that takes longer is stopped and reported as broken, never as caught.
RUN_TIMEOUT_SECONDS = 900
KILLERS = CACHE_DIR / "mutate" / "killers.json"
# pytest's summary line: "FAILED <node id> - <message>"; a parametrize id may hold spaces.
_FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)


@dataclass
class Outcome:
    id: str
    file: str
    result: str  # killed, survived, accepted (a survivor with a reason), stale, broken
    detail: str
    seconds: float


def working_tree_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]


def snapshot(destination: Path) -> Path:
    """The working tree as it is now, under `destination`, with the shared installs linked in."""
    for name in working_tree_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    for install in SHARED_INSTALLS:
        source = REPO_ROOT / install
        if source.exists():
            (destination / install).symlink_to(source.resolve())
    return destination


def make_copy(source: Path, destination: Path) -> Path:
    return Path(shutil.copytree(source, destination, symlinks=True))


# A mutation in one chart is first run against that chart's own render tests and the cross-chart ones (seconds,
# not minutes); only a mutant that survives them gets the whole offline tiers, so a verdict of "survived" always
# means every offline test passed. triton-common feeds every chart: its mutants go straight to the whole tiers.
CHART_TESTS = {"triton-server": "server", "triton-routing": "routing", "triton-batch": "batch", "triton-monitoring": "monitoring",
               "triton-logging": "logging", "triton-loadtest": "loadtest", "triton-stack": "stack"}


def targeted_paths(copy: Path, file: str) -> list[str] | None:
    """The chart's own tests and the cross-chart render and schema tests, or None where there are none."""
    parts = Path(file).parts
    area = CHART_TESTS.get(parts[1]) if len(parts) > 1 and parts[0] == "charts" else None
    if not area or not (copy / "tests" / "render" / area).is_dir():
        return None
    return [f"tests/render/{area}", *sorted(f"tests/render/{p.name}" for p in (copy / "tests" / "render").glob("test_*.py")), "tests/schema"]


def run_tiers(copy: Path, render_cache: Path, workers: int, paths: list[str] | None = None) -> tuple[int, str, float]:
    """(exit code, output, seconds) of the offline tiers in a copy (or of `paths` only); -1 on timeout."""
    tiers = sorted((p.name for p in (copy / "tests").iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name not in SKIPPED_TIERS),
                   key=lambda name: (FIRST_TIERS.index(name) if name in FIRST_TIERS else len(FIRST_TIERS), name))
    command = [str(copy / ".venv" / "bin" / "python"), "-m", "pytest", *PYTEST_ARGS, *(paths or [f"tests/{tier}" for tier in tiers])]
    command += [f"--ignore={path}" for path in NOT_RUN_ON_MUTANTS]
    if workers > 1:
        command += ["-n", str(workers), "--dist", "loadscope"]
    env = {**os.environ, "TRITON_STACK_RENDER_CACHE": str(render_cache), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TRITON_STACK_RENDER_LOG", None)
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        return -1, output, time.perf_counter() - started
    return completed.returncode, completed.stdout + completed.stderr, time.perf_counter() - started


def collected_node_ids(copy: Path) -> set[str]:
    """The node ids the offline tiers collect in a copy (what a known killer must still be)."""
    command = [str(copy / ".venv" / "bin" / "python"), "-m", "pytest", "--collect-only", *PYTEST_ARGS, "tests"]  # PYTEST_ARGS has -q: one id a line
    command += [f"--ignore={path}" for path in NOT_RUN_ON_MUTANTS] + [f"--ignore=tests/{tier}" for tier in SKIPPED_TIERS]
    completed = subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    return {line for line in completed.stdout.splitlines() if is_node_id(line)}


def is_node_id(text: str) -> bool:
    """A test's node id (tests/<file>.py::<test>[<params>]), whole: not a file, not cut inside its brackets."""
    brackets_close = text.count("[") == text.count("]") and ("[" not in text or text.endswith("]"))
    return text.startswith("tests/") and "::" in text and brackets_close


def load_killers() -> dict[str, str]:
    """{mutation id: node id of the test that killed it last}, empty when there is no readable record."""
    try:
        killers = json.loads(KILLERS.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in killers.items() if isinstance(k, str) and isinstance(v, str) and is_node_id(v)} if isinstance(killers, dict) else {}


def save_killers(killers: dict[str, str]) -> None:
    """Written to a temp file and renamed, so that a run stopped mid-write leaves the last record whole."""
    KILLERS.parent.mkdir(parents=True, exist_ok=True)
    temp = KILLERS.with_suffix(".tmp")
    temp.write_text(json.dumps(dict(sorted(killers.items())), indent=2) + "\n")
    os.replace(temp, KILLERS)


def killer_of(outcome: "Outcome") -> str | None:
    """The node id a killed outcome names (a test that failed), or None (a collection error, a crash)."""
    return outcome.detail if outcome.result == "killed" and is_node_id(outcome.detail) else None


def run_steps(run, workers: int, killer: str | None, targeted: list[str] | None, passes_unmutated=lambda killer: True,
              group: list[str] | None = None) -> tuple[int, str, float]:
    """(exit code, output, seconds) of the steps one mutant goes through, each only while the ones before passed:
    its known killer alone (no workers), every known killer together (`group`: the tests that killed any mutation,
    which passed together on the unmutated copy), its chart's tests (`targeted`), the whole offline tiers.
    `run(workers, paths)` is run_tiers on the mutant's copy (paths None: the whole tiers). A known killer decides
    only when it fails on the mutant and `passes_unmutated(killer)` (run alone on the unmutated copy: a test that
    fails alone, say one that needs another to run first, proves nothing); one that passes, no longer exists
    (pytest exit 4 or 5) or times out decides nothing either."""
    code, output, seconds = 0, "", 0.0
    if killer:
        code, output, seconds = run(1, [killer])
        if not is_kill(code, output) or not passes_unmutated(killer):
            code = 0
    for paths in ([group] if group else []) + ([targeted] if targeted else []) + [None]:
        if code == 0:
            code, output, more = run(workers, paths)
            seconds += more
    return code, output, seconds


def is_kill(code: int, output: str) -> bool:
    """Pytest failed tests (exit 1), or could not collect some (exit 2 naming an ERROR or FAILED test). An exit 2
    without one, or after a KeyboardInterrupt, is an interrupted run: it proves nothing about the mutation."""
    if code == 1:
        return True
    return code == 2 and bool(_FAILED_TEST.search(output)) and "KeyboardInterrupt" not in output


def judge(mutation: mutations.Mutation, code: int, output: str, seconds: float) -> Outcome:
    if is_kill(code, output):
        failed = _FAILED_TEST.findall(output)
        detail = failed[0] if failed else (output.strip().splitlines() or ["(no output)"])[-1][:160]
        return Outcome(mutation.id, mutation.file, "killed", detail, seconds)
    if code == 0:
        if mutation.accepted_survivor:
            return Outcome(mutation.id, mutation.file, "accepted", mutation.accepted_survivor, seconds)
        return Outcome(mutation.id, mutation.file, "survived", mutation.why, seconds)
    reason = "timed out" if code == -1 else f"pytest exited {code}"
    return Outcome(mutation.id, mutation.file, "broken", f"{reason}: {(output.strip().splitlines() or [''])[-1][:160]}", seconds)


def print_table(outcomes: list[Outcome]) -> None:
    width = max([len(o.id) for o in outcomes] + [8])
    print(f"\n{'mutation':<{width}}  {'result':<8}  {'secs':>5}  caught by / why it matters")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 5}  {'-' * 40}")
    for outcome in outcomes:
        print(f"{outcome.id:<{width}}  {outcome.result:<8}  {outcome.seconds:5.0f}  {outcome.detail}")


def summary(outcomes: list[Outcome], wall_seconds: float) -> dict:
    count = {result: sum(1 for o in outcomes if o.result == result) for result in ("killed", "survived", "accepted", "stale", "broken")}
    run = count["killed"] + count["survived"] + count["accepted"]
    survivors = count["survived"] + count["accepted"]
    return {
        "entries": len(outcomes),
        "run": run,
        **count,
        "survival_rate": round(survivors / run, 4) if run else None,
        "wall_seconds": round(wall_seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutations only")
    parser.add_argument("--workers", type=int, default=2, help="pytest workers per run (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the copies (printed) instead of deleting them")
    parser.add_argument("--no-known-killers", action="store_true",
                        help=f"every mutation takes the long way ({KILLERS.relative_to(REPO_ROOT)} is still added to)")
    args = parser.parse_args(argv)

    # SIGTERM unwinds like Ctrl-C: the running pytest is killed and the copies are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    catalogue = mutations.load()
    if args.only:
        unknown = set(args.only) - {m.id for m in catalogue}
        if unknown:
            parser.error(f"no such mutation: {', '.join(sorted(unknown))}")
        catalogue = [m for m in catalogue if m.id in args.only]

    # A stale entry (its text gone, or there twice) is reported now, not after the minutes of the unmutated run.
    outcomes: list[Outcome] = []
    for mutation in catalogue:
        stale = mutation.staleness(REPO_ROOT)
        if stale:
            outcomes.append(Outcome(mutation.id, mutation.file, "stale", stale, 0.0))
            print(f"{mutation.id}: stale, {stale}", flush=True)
    catalogue = [m for m in catalogue if m.id not in {o.id for o in outcomes}]
    if not catalogue:
        return report(outcomes, started)

    record = load_killers()  # every run adds to it; --no-known-killers only leaves it unused
    killers = {} if args.no_known_killers else dict(record)
    workspace = Path(tempfile.mkdtemp(prefix="triton-stack-mutate-"))
    render_cache = workspace / "renders"
    try:
        source = snapshot(workspace / "snapshot")
        print(f"unmutated copy: running the offline tiers in {workspace / 'unmutated'} ...", flush=True)
        code, output, seconds = run_tiers(make_copy(source, workspace / "unmutated"), render_cache, args.workers)
        if code != 0:
            print(output[-4000:])
            print(f"the offline tiers fail without any mutation (exit {code}); fix that first (the copies use this checkout's "
                  ".venv, .tools and node_modules: run `make setup` if an install is out of date)", file=sys.stderr)
            return 2
        print(f"unmutated copy: passed in {seconds:.0f}s ({(output.strip().splitlines() or [''])[-1]})", flush=True)
        verified: dict[str, bool] = {}
        # Every known killer together, a quick first try for any mutation: most tests that kill one mutation kill
        # others. Used only if it passes together on the unmutated copy, so a failure on a mutant is the mutation's.
        group = sorted(set(killers.values()) & collected_node_ids(workspace / "unmutated"))
        if group:
            code, output, seconds = run_tiers(workspace / "unmutated", render_cache, args.workers, group)
            if code == 0:
                print(f"{len(group)} known killers pass together on the unmutated copy in {seconds:.0f}s: each mutation tries them first", flush=True)
            else:
                print(f"the known killers do not pass together on the unmutated copy (exit {code}): not tried together", flush=True)
                group = []

        def passes_unmutated(killer: str) -> bool:
            if killer not in verified:
                verified[killer] = run_tiers(workspace / "unmutated", render_cache, 1, [killer])[0] == 0
                if not verified[killer]:
                    print(f"known killer {killer} fails alone on the unmutated copy: not used", flush=True)
                    for mutation_id in [m for m, k in record.items() if k == killer]:
                        del record[mutation_id]
                    save_killers(record)
            return verified[killer]

        for index, mutation in enumerate(catalogue, 1):
            copy = make_copy(source, workspace / mutation.id)
            try:
                mutation.apply(copy)
            except mutations.CatalogueError as stale:
                outcomes.append(Outcome(mutation.id, mutation.file, "stale", str(stale), 0.0))
            else:
                run = functools.partial(run_tiers, copy, render_cache)
                code, output, seconds = run_steps(run, args.workers, killers.get(mutation.id), targeted_paths(copy, mutation.file), passes_unmutated, group)
                outcomes.append(judge(mutation, code, output, seconds))
            last = outcomes[-1]
            if killer_of(last):
                record[mutation.id] = killer_of(last)
                save_killers(record)
            print(f"[{index}/{len(catalogue)}] {mutation.id}: {last.result} ({last.seconds:.0f}s) {last.detail}", flush=True)
            if not args.keep:
                shutil.rmtree(copy, ignore_errors=True)
    finally:
        if args.keep:
            print(f"copies kept in {workspace}")
        else:
            shutil.rmtree(workspace, ignore_errors=True)

    return report(outcomes, started)


def report(outcomes: list[Outcome], started: float) -> int:
    """Prints the table and the figures, writes .cache/mutate/report.json; the run's exit code."""
    figures = summary(outcomes, time.perf_counter() - started)
    print_table(outcomes)
    rate = figures["survival_rate"]
    print(
        f"\n{figures['entries']} mutations: {figures['killed']} killed, {figures['survived']} survived unexplained, "
        f"{figures['accepted']} accepted survivors, {figures['stale']} stale, {figures['broken']} broken; "
        f"survival rate {'n/a' if rate is None else f'{rate:.1%}'} ({figures['survived'] + figures['accepted']}/{figures['run']}); "
        f"{figures['wall_seconds']}s"
    )
    path = CACHE_DIR / "mutate" / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"figures": figures, "mutations": [asdict(o) for o in outcomes]}, indent=2) + "\n")
    print(f"report: {path}")
    return 0 if figures["survived"] == figures["stale"] == figures["broken"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
