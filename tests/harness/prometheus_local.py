"""A real Prometheus on loopback: the Debian `prometheus` server, started with a generated configuration, and
`promtool` for backfilling captured series.

Used by the autoscaling tests (the KEDA trigger and prometheus-adapter queries the chart renders, run against a
Prometheus scraping the real local Triton, and against the H100 capture) and by the monitoring tests. Queries
go through Prometheus's HTTP API (`/api/v1/query`, documented and stable); the exposition format is parsed with
prometheus_client's text parser.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.triton_local import LOOPBACK, pick_free_loopback_ports

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
READY_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.1


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or a query failed; carries the reason and the log's end."""


def find_binary(name: str) -> Path:
    """The Debian prometheus package's binary (`make setup` installs it as root)."""
    found = shutil.which(name)
    if not found:
        raise PrometheusError(f"{name} is not on PATH: install the Debian package `prometheus` (make setup does, as root)")
    return Path(found)


@dataclass(frozen=True)
class Sample:
    """One element of an instant-query result: labels and value (NaN and ±Inf kept as floats)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class ScrapeTarget:
    """A target Prometheus scrapes, with the labels Kubernetes service discovery would give it."""

    address: str  # host:port
    labels: Mapping[str, str]
    path: str = "/metrics"


class PrometheusServer:
    """A prometheus process on 127.0.0.1; a context manager that stops it (SIGTERM, bounded wait)."""

    def __init__(self, work_dir: Path, *, targets: Sequence[ScrapeTarget] = (), rule_files: Sequence[Path] = (),
                 scrape_interval: str = "1s", evaluation_interval: str = "1s", storage: Path | None = None,
                 scrape_configs: Sequence[Mapping] = ()):
        self.work_dir = work_dir
        self.targets = list(targets)
        # Whole scrape configs (e.g. the one a ServiceMonitor stands for, tests/harness/monitoring.py), after the targets'.
        self.scrape_configs = [dict(config) for config in scrape_configs]
        self.rule_files = list(rule_files)
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.storage = storage or work_dir / "data"
        self.port = pick_free_loopback_ports(1)[0]
        self.log_path = work_dir / "prometheus.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def config(self) -> dict:
        scrape_configs = []
        for index, target in enumerate(self.targets):
            scrape_configs.append({
                "job_name": f"target-{index}",
                "metrics_path": target.path,
                "static_configs": [{"targets": [target.address], "labels": dict(target.labels)}],
            })
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval,
                       "scrape_timeout": self.scrape_interval},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": scrape_configs + self.scrape_configs,
        }

    def start(self) -> PrometheusServer:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.work_dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        argv = [
            str(find_binary(PROMETHEUS)),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.storage}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # Backfilled captures carry their own (past) timestamps: keep them whatever their age.
            "--storage.tsdb.retention.time=100y",
            "--web.enable-lifecycle",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(POLL_SECONDS)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {READY_TIMEOUT_SECONDS}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> PrometheusServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, characters: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:] if self.log_path.exists() else ""

    def _api(self, path: str, params: Mapping[str, str]) -> dict:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {dict(params)}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expression: str, at: float | None = None) -> list[Sample]:
        """An instant query (at `at`, Unix seconds, or now): every sample of the vector, or the one scalar."""
        params = {"query": expression}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._api("query", params)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expression}: a {data['resultType']}, not an instant vector")
        return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]

    def query_range(self, expression: str, start: float, end: float, step: float) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query: (labels, [(time, value), ...]) for every series of the matrix."""
        data = self._api("query_range", {"query": expression, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        return [(item["metric"], [(float(at), float(value)) for at, value in item["values"]]) for item in data["result"]]

    def scalar(self, expression: str, at: float | None = None) -> float:
        """The one value an expression returns; PrometheusError when it returns none or several."""
        samples = self.query(expression, at)
        if len(samples) != 1:
            raise PrometheusError(f"{expression}: expected one sample, got {len(samples)}: {samples}")
        return samples[0].value

    def wait_for_samples(self, expression: str, count: int = 1, timeout: float = 20) -> list[Sample]:
        """Poll until the expression returns at least `count` samples (a scrape landed); bounded."""
        deadline = time.monotonic() + timeout
        samples: list[Sample] = []
        while time.monotonic() < deadline:
            samples = self.query(expression)
            if len(samples) >= count:
                return samples
            time.sleep(POLL_SECONDS * 5)
        raise PrometheusError(f"{expression}: {len(samples)} samples after {timeout}s; {self.targets_health()}")

    def targets_health(self) -> list[dict]:
        return [{"scrapeUrl": t["scrapeUrl"], "health": t["health"], "lastError": t["lastError"]}
                for t in self._api("targets", {})["activeTargets"]]

    def rules(self) -> list[dict]:
        """Every loaded rule with its state and health (alerts: inactive, pending, firing)."""
        return [rule for group in self._api("rules", {})["groups"] for rule in group["rules"]]


def is_number(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


# --- captured series (scrapes with timestamps) -> a TSDB block --------------------------------------------


@dataclass(frozen=True)
class CapturedSample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int


def read_capture(path: Path) -> list[CapturedSample]:
    """Samples of a capture made of scrapes, each preceded by a `# scrape_unix_ms <epoch ms>` line (the format of
    tests/fixtures/triton-h100/metrics-series-2s.prom), parsed with prometheus_client's text parser."""
    samples: list[CapturedSample] = []
    scrape: list[str] = []
    timestamp: int | None = None

    def flush() -> None:
        if timestamp is None:
            return
        # Without its TYPE lines every family parses as untyped, so each sample keeps the name it was exported
        # under (the parser would otherwise add _total to Triton's counters, which have none).
        untyped = [line for line in scrape if not line.startswith("# TYPE ")]
        for family in text_string_to_metric_families("\n".join(untyped) + "\n"):
            for sample in family.samples:
                samples.append(CapturedSample(sample.name, dict(sample.labels), float(sample.value), timestamp))

    for line in path.read_text().splitlines():
        if line.startswith("# scrape_unix_ms "):
            flush()
            timestamp, scrape = int(line.split()[-1]), []
        else:
            scrape.append(line)
    flush()
    return samples


def to_openmetrics(samples: Iterable[CapturedSample], extra_labels: Mapping[str, str]) -> str:
    """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`: every family as `unknown` (so
    counters keep their names without OpenMetrics' _total rule), samples grouped by family and ordered by time,
    timestamps in seconds, `extra_labels` added to every sample (the labels service discovery would add)."""
    by_name: dict[str, list[CapturedSample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    lines = []
    for name in sorted(by_name):
        lines.append(f"# TYPE {name} unknown")
        for sample in sorted(by_name[name], key=lambda s: (s.timestamp_ms, sorted(s.labels.items()))):
            labels = {**sample.labels, **extra_labels}
            rendered = ",".join(f'{key}={json.dumps(value)}' for key, value in sorted(labels.items()))
            lines.append(f"{name}{{{rendered}}} {sample.value!r} {sample.timestamp_ms / 1000:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(openmetrics: str, work_dir: Path) -> Path:
    """Write the series into TSDB blocks with promtool; returns the storage directory to start Prometheus on."""
    work_dir.mkdir(parents=True, exist_ok=True)
    source = work_dir / "capture.om"
    source.write_text(openmetrics)
    storage = work_dir / "data"
    completed = subprocess.run([str(find_binary(PROMTOOL)), "tsdb", "create-blocks-from", "openmetrics", str(source), str(storage)],
                               capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        raise PrometheusError(f"promtool backfill failed: {completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return storage
