"""The one place that runs helm.

Everything else in the harness asks this module for rendered objects, render errors or lint results, so that
the helm binaries, the environment helm runs in, the dependency build and the render cache live in one spot.
Renders are cached by (helm, chart, values content, extra values, kube version, release, namespace, and a
digest of every chart's sources and of this module): in memory per process, and on disk under .cache/renders so that parallel
test workers share them (a per-key file lock makes the first worker render and the others wait and read).
The same render asked for by twenty tests on two workers costs one helm run. A change to any chart file
changes the digest, so a stale render is never served.

Helm runs with its cache, config and data directories inside the checkout (.cache/helm) so that a user's
own repositories and plugins never change what the tests see.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS_DIR = REPO_ROOT / "charts"
VALUES_DIR = REPO_ROOT / "values"
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CACHE_DIR = REPO_ROOT / ".cache"

HELM_MAJORS = ("helm3", "helm4")
DEFAULT_RELEASE = "triton"
DEFAULT_NAMESPACE = "inference"

# Charts in dependency order: a chart's file:// dependencies are built before it.
CHARTS_WITH_DEPENDENCIES = ("triton-server", "triton-routing", "triton-batch", "triton-monitoring", "triton-logging", "triton-stack", "triton-loadtest")


class HelmError(Exception):
    """helm exited non-zero. Carries the command and helm's stderr, which is what a user would see."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str, stdout: str = ""):
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr
        # helm lint reports its findings on stdout and only a summary on stderr
        self.stdout = stdout
        super().__init__(f"{' '.join(command)} exited {returncode}:\n{stdout}{stderr}")


@dataclass(frozen=True)
class RenderStats:
    """What the render cache did in this process; the render benchmark reads it."""

    unique_renders: int
    cache_hits: int
    helm_seconds: float


_cache: dict[tuple, list[dict] | HelmError] = {}
_cache_lock = threading.Lock()
_stats = {"unique": 0, "hits": 0, "seconds": 0.0}
_dependencies_ready: set[str] = set()
_charts_digest: dict[str, str] = {}


def helm_binary(helm: str = "helm3") -> Path:
    """Path of the helm3 or helm4 binary that `make setup` installed."""
    if helm not in HELM_MAJORS:
        raise ValueError(f"helm must be one of {HELM_MAJORS}, not {helm!r}")
    path = TOOLS_BIN / helm
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup` (it installs Helm 3 and Helm 4 into .tools/bin)")
    return path


def default_helm() -> str:
    """The helm major the suite runs on: $TRITON_STACK_HELM, or helm3."""
    return os.environ.get("TRITON_STACK_HELM", "helm3")


def _helm_env() -> dict[str, str]:
    env = dict(os.environ)
    helm_home = CACHE_DIR / "helm"
    env.update(
        HELM_CACHE_HOME=str(helm_home / "cache"),
        HELM_CONFIG_HOME=str(helm_home / "config"),
        HELM_DATA_HOME=str(helm_home / "data"),
    )
    return env


def _run(helm: str, args: Sequence[str], *, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [str(helm_binary(helm)), *args]
    completed = subprocess.run(command, capture_output=True, text=True, env=_helm_env(), timeout=timeout, cwd=REPO_ROOT)
    if completed.returncode != 0:
        raise HelmError(command, completed.returncode, completed.stderr, completed.stdout)
    return completed


def _tree_digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "charts" not in p.relative_to(root).parts[:1]):
            digest.update(str(path.relative_to(CHARTS_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_dependencies(helm: str = "helm3") -> None:
    """Packages the file:// subcharts into each chart's charts/ folder when their sources changed.

    helm template uses whatever .tgz sits in charts/, however stale: rebuilding on a change of the
    sources is what keeps a render in step with the subchart being edited. Locked, so that parallel
    test workers do not build at the same time.
    """
    if helm in _dependencies_ready:
        return
    CACHE_DIR.mkdir(exist_ok=True)
    with open(CACHE_DIR / "dependencies.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = CACHE_DIR / "dependencies.digest"
        digest = _tree_digest(CHARTS_DIR / name for name in sorted(os.listdir(CHARTS_DIR)))
        _charts_digest["sources"] = digest
        built = all(list((CHARTS_DIR / chart / "charts").glob("*.tgz")) for chart in CHARTS_WITH_DEPENDENCIES)
        if not (built and stamp.exists() and stamp.read_text() == digest):
            for chart in CHARTS_WITH_DEPENDENCIES:
                # Always with Helm 3: both majors read the packaged subcharts it writes.
                _run("helm3", ["dependency", "build", "--skip-refresh", str(CHARTS_DIR / chart)])
            stamp.write_text(digest)
    _dependencies_ready.add(helm)


def chart_path(chart: str) -> Path:
    path = CHARTS_DIR / chart
    if not (path / "Chart.yaml").exists():
        raise FileNotFoundError(f"no chart at {path}")
    return path


def _values_key(values_files: Sequence[Path | str], values: Mapping[str, Any] | None) -> tuple:
    files = tuple((str(Path(f)), hashlib.sha256(Path(f).read_bytes()).hexdigest()) for f in values_files)
    return files, json.dumps(values or {}, sort_keys=True)


def _template(
    chart: str,
    values_files: Sequence[Path | str],
    values: Mapping[str, Any] | None,
    kube_version: str | None,
    helm: str,
    release: str,
    namespace: str,
    show_only: Sequence[str] | None = None,
) -> str:
    ensure_dependencies(helm)
    args = ["template", release, str(chart_path(chart)), "--namespace", namespace]
    if kube_version:
        args += ["--kube-version", kube_version]
    for values_file in values_files:
        args += ["--values", str(values_file)]
    for template in show_only or ():
        args += ["--show-only", template]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=True) as extra:
        if values:
            # A values file, not --set: it keeps types (a string "1" stays a string) the way a user's file would.
            # Written as JSON (which is YAML) so every string is quoted: PyYAML leaves y/n bare, and Helm's
            # YAML 1.1 parser would read them as booleans.
            json.dump(dict(values), extra)
            extra.flush()
            args += ["--values", extra.name]
        return _run(helm, args).stdout


def _disk_cache_dir() -> Path:
    return Path(os.environ.get("TRITON_STACK_RENDER_CACHE", CACHE_DIR / "renders"))


def _render_with_disk_cache(key: tuple, run_helm) -> tuple[list[dict] | HelmError, bool]:
    """(result, rendered_now). Results live in <cache>/<sha256 of key>.json, errors included."""
    ensure_dependencies(key[0])
    # This module's own source is part of the key: a change in how it calls helm invalidates old renders.
    harness = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    digest = hashlib.sha256(json.dumps([*key, _charts_digest["sources"], harness], default=str).encode()).hexdigest()
    directory = _disk_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    entry = directory / f"{digest}.json"
    with open(directory / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if entry.exists():
            stored = json.loads(entry.read_text())
            if "error" in stored:
                return HelmError(**stored["error"]), False
            return stored["objects"], False
        try:
            result: list[dict] | HelmError = run_helm()
            stored = {"objects": result}
        except HelmError as error:
            result = error
            stored = {"error": {"command": error.command, "returncode": error.returncode, "stderr": error.stderr, "stdout": error.stdout}}
        partial = entry.with_suffix(".partial")
        partial.write_text(json.dumps(stored))
        partial.rename(entry)
        return result, True


def render(
    chart: str = "triton-stack",
    values_files: Sequence[Path | str] = (),
    values: Mapping[str, Any] | None = None,
    *,
    kube_version: str | None = None,
    helm: str | None = None,
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
) -> list[dict]:
    """Renders a chart and returns its objects as plain dicts, in helm's order. Raises HelmError."""
    helm = helm or default_helm()
    key = (helm, chart, _values_key(values_files, values), kube_version, release, namespace)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _stats["hits"] += 1
    if cached is None:
        started = time.perf_counter()

        def run_helm() -> list[dict]:
            manifest = _template(chart, values_files, values, kube_version, helm, release, namespace)
            return [doc for doc in yaml.safe_load_all(manifest) if doc]

        cached, rendered_now = _render_with_disk_cache(key, run_helm)
        elapsed = time.perf_counter() - started
        with _cache_lock:
            _cache[key] = cached
            if rendered_now:
                _stats["unique"] += 1
                _stats["seconds"] += elapsed
            else:
                _stats["hits"] += 1
        if rendered_now:
            _log_render(key, elapsed)
    if isinstance(cached, HelmError):
        raise cached
    # Tests may mutate what they get; the cache keeps its own copy.
    return json.loads(json.dumps(cached))


def render_error(chart: str = "triton-stack", values_files: Sequence[Path | str] = (), values: Mapping[str, Any] | None = None, **kwargs) -> HelmError:
    """Renders a chart that must be rejected; returns the HelmError. Fails if helm rendered it."""
    try:
        objects = render(chart, values_files, values, **kwargs)
    except HelmError as error:
        return error
    kinds = sorted({f"{o['kind']}/{o['metadata']['name']}" for o in objects})
    raise AssertionError(f"helm rendered {len(objects)} objects ({', '.join(kinds[:6])}...) for values that must be rejected: {values}")


def lint(chart: str, values_files: Sequence[Path | str] = (), *, helm: str | None = None, strict: bool = True) -> str:
    """helm lint (--strict by default); returns helm's output, raises HelmError on failure."""
    helm = helm or default_helm()
    ensure_dependencies(helm)
    args = ["lint", str(chart_path(chart))]
    if strict:
        args.append("--strict")
    for values_file in values_files:
        args += ["--values", str(values_file)]
    return _run(helm, args).stdout


def helm_version(helm: str) -> str:
    return _run(helm, ["version", "--template", "{{.Version}}"]).stdout.strip()


def declared_kube_versions() -> tuple[str, str]:
    """The lowest and highest Kubernetes minors that the charts' kubeVersion constraints admit.

    Every chart must declare the same range: a release spans all of them.
    """
    ranges = set()
    for chart_yaml in sorted(CHARTS_DIR.glob("*/Chart.yaml")):
        constraint = yaml.safe_load(chart_yaml.read_text()).get("kubeVersion")
        if not constraint:
            raise AssertionError(f"{chart_yaml.relative_to(REPO_ROOT)} declares no kubeVersion")
        ranges.add(constraint)
    if len(ranges) != 1:
        raise AssertionError(f"charts declare different kubeVersion ranges: {sorted(ranges)}")
    match = re.fullmatch(r">=\s*1\.(\d+)\.0(-0)?\s+<\s*1\.(\d+)\.0(-0)?", ranges.pop())
    if not match:
        raise AssertionError("kubeVersion must read '>=1.A.0-0 <1.B.0-0' so the tested range is explicit")
    lowest, below = int(match.group(1)), int(match.group(3))
    return f"1.{lowest}.0", f"1.{below - 1}.0"


def stats() -> RenderStats:
    with _cache_lock:
        return RenderStats(_stats["unique"], _stats["hits"], _stats["seconds"])


def _log_render(key: tuple, elapsed: float) -> None:
    """Appends one line per unique render to $TRITON_STACK_RENDER_LOG (the render benchmark reads it)."""
    log = os.environ.get("TRITON_STACK_RENDER_LOG")
    if not log:
        return
    helm, chart, _, kube_version, _, _ = key
    with open(log, "a") as out:
        out.write(json.dumps({"helm": helm, "chart": chart, "kube": kube_version, "seconds": round(elapsed, 4)}) + "\n")


def install(
    chart: str | Path,
    values_files: Sequence[Path | str],
    *,
    kubeconfig: Path | str,
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
    timeout_seconds: int = 600,
    helm: str | None = None,
) -> str:
    """helm upgrade --install --wait into a real cluster (the cluster tier only).

    `chart` is a chart name under charts/, or the directory of a chart elsewhere (an earlier version of the
    umbrella taken out of git for the upgrade test), whose dependencies must already be built."""
    helm = helm or default_helm()
    ensure_dependencies(helm)
    directory = chart if isinstance(chart, Path) else chart_path(chart)
    args = ["upgrade", "--install", release, str(directory), "--namespace", namespace, "--kubeconfig", str(kubeconfig),
            "--wait", "--timeout", f"{timeout_seconds}s"]
    for values_file in values_files:
        args += ["--values", str(values_file)]
    return _run(helm, args, timeout=timeout_seconds + 60).stdout


def build_dependencies(chart_dir: Path, *, helm: str = "helm3") -> None:
    """helm dependency build for a chart outside charts/ (a copy or an earlier version); raises HelmError."""
    _run(helm, ["dependency", "build", "--skip-refresh", str(chart_dir)])


def package(chart: str | Path, destination: Path, *, helm: str | None = None) -> Path:
    """helm package into `destination`; returns the .tgz path. `chart` is a name under charts/ or a directory.

    The archive's bytes are not reproducible (Helm 3 stamps each entry with the current time, Helm 4 with the
    file's mtime), so compare packages by content (ci/lock/chartfile.py `package_digest`), never by file hash."""
    helm = helm or default_helm()
    ensure_dependencies(helm)
    directory = chart if isinstance(chart, Path) else chart_path(chart)
    destination.mkdir(parents=True, exist_ok=True)
    output = _run(helm, ["package", str(directory), "--destination", str(destination)]).stdout
    match = re.search(r"saved it to: (\S+\.tgz)", output)
    if not match:
        raise HelmError(["helm", "package", str(directory)], 0, f"no package path in helm's output: {output}")
    return Path(match.group(1))


def run_helm_tests(*, kubeconfig: Path | str, release: str = DEFAULT_RELEASE, namespace: str = DEFAULT_NAMESPACE,
                   timeout_seconds: int = 300, helm: str | None = None) -> str:
    """helm test; raises HelmError with the test pod's logs when it fails."""
    args = ["test", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig), "--logs", "--timeout", f"{timeout_seconds}s"]
    return _run(helm or default_helm(), args, timeout=timeout_seconds + 60).stdout


def uninstall(*, kubeconfig: Path | str, release: str = DEFAULT_RELEASE, namespace: str = DEFAULT_NAMESPACE, helm: str | None = None) -> str:
    args = ["uninstall", release, "--namespace", namespace, "--kubeconfig", str(kubeconfig), "--wait"]
    return _run(helm or default_helm(), args, timeout=360).stdout


def render_with_kube_version_floor(chart: str, floor: str, values: Mapping[str, Any] | None = None, *, kube_version: str,
                                   helm: str | None = None) -> list[dict]:
    """Renders a copy of `chart` whose kubeVersion admits `floor` and up, at `kube_version`: for the branches a chart
    keeps for clusters below the range it declares (reachable with `helm template --kube-version`, which the declared
    range refuses). Never cached; raises HelmError."""
    import shutil

    helm = helm or default_helm()
    ensure_dependencies(helm)
    with tempfile.TemporaryDirectory() as workdir:
        copy = Path(workdir) / chart
        shutil.copytree(chart_path(chart), copy)
        chart_yaml = copy / "Chart.yaml"
        chart_yaml.write_text(re.sub(r'(?m)^kubeVersion: .*$', f'kubeVersion: ">={floor}-0"', chart_yaml.read_text()))
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
            json.dump(dict(values or {}), extra)
            extra.flush()
            args = ["template", DEFAULT_RELEASE, str(copy), "--namespace", DEFAULT_NAMESPACE, "--kube-version", kube_version, "--values", extra.name]
            started = time.perf_counter()
            output = _run(helm, args).stdout
        _log_render((helm, f"{chart} (kubeVersion >={floor})", None, kube_version, None, None), time.perf_counter() - started)
        return [doc for doc in yaml.safe_load_all(output) if doc]


def render_notes(chart: str, values_files: Sequence[Path | str] = (), *, kube_version: str | None = None, helm: str | None = None) -> str:
    """The chart's NOTES.txt as `helm install` would print it.

    helm template never renders NOTES.txt and helm install needs a cluster, so a copy of the chart gets a
    template that includes the notes' text in a ConfigMap, which is then rendered like any other template.
    """
    import shutil

    helm = helm or default_helm()
    ensure_dependencies(helm)
    with tempfile.TemporaryDirectory() as workdir:
        copy = Path(workdir) / chart
        shutil.copytree(chart_path(chart), copy)
        notes = (copy / "templates" / "NOTES.txt").read_text()
        (copy / "templates" / "_notes_probe.tpl").write_text('{{- define "notes.probe" -}}\n' + notes + "\n{{- end -}}\n")
        (copy / "templates" / "notes-probe.yaml").write_text(
            'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "notes.probe" . | quote }}\n'
        )
        args = ["template", DEFAULT_RELEASE, str(copy), "--namespace", DEFAULT_NAMESPACE, "--show-only", "templates/notes-probe.yaml"]
        if kube_version:
            args += ["--kube-version", kube_version]
        for values_file in values_files:
            args += ["--values", str(values_file)]
        started = time.perf_counter()
        output = _run(helm, args).stdout
        # A render like any other for the benchmark's count, though never cached (it is cheap and rare).
        _log_render((helm, f"{chart} NOTES.txt", None, kube_version, None, None), time.perf_counter() - started)
        return yaml.safe_load(output)["data"]["notes"]
