"""`make dashboards`: one picture per Grafana dashboard of charts/triton-monitoring, drawn from real data here.

No Grafana installs on these machines (Debian has none; PyPI and npm carry only API clients), so every panel's
query is run, Grafana's variables filled in as Grafana would, against a real Prometheus and plotted with
matplotlib in the dashboard's own layout (gridPos), units and legends:

- two real tritonservers started from the rendered values/local.yaml pod, one as the stable track and one as a
  canary (the pod label triton-stack.io/track, carried onto the series by the rendered ServiceMonitor's
  relabeling), serving models/ and the test model that raises on bad input;
- a loopback Prometheus (Debian's) scraping both every second with the rendered rules loaded;
- about two minutes of traffic: a gRPC ramp on image_classifier, good and bad requests to picky, more of the
  bad ones to the canary.

The autoscaling dashboard's replica panel reads kube-state-metrics, which has nothing to report without a cluster:
there the desired replicas are computed from the signal's own series by ci/scaling/hpa.py (the HPA arithmetic the
tests use) with the rendered KEDA behavior, and the plot says so.

    .venv/bin/python -m ci.monitoring.screenshots [--out docs/images]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tritonclient.grpc as grpc_client  # noqa: E402
import tritonclient.http as http_client  # noqa: E402

from ci.scaling.hpa import Behavior, HorizontalPodAutoscaler  # noqa: E402
from tests.harness import monitoring, prometheus_local  # noqa: E402
from tests.harness import render as helm  # noqa: E402
from tests.harness.triton_local import find_triton_pod, launch_triton, prepare_local_model_repository  # noqa: E402

ROOT = helm.REPO_ROOT
FAILING_MODEL = ROOT / "tests" / "local" / "failing_repository" / "picky"
SCALING = {"mode": "keda", "minReplicas": 1, "maxReplicas": 6, "model": "image_classifier", "target": 1000, "window": "4s",
           "keda": {"pollingInterval": 4}}
VALUES = {
    "server": {"autoscaling": SCALING},
    "monitoring": {"enabled": True, "serviceMonitor": {"interval": "1s", "scrapeTimeout": "1s"}},
}
# Grafana's $__rate_interval for a 1 s scrape interval: max(interval + scrape, 4 x scrape).
RATE_INTERVAL = "4s"
RAMP = ((0, 12, 0), (12, 30, 1), (30, 48, 4), (48, 66, 16), (66, 84, 32), (84, 96, 4), (96, 110, 0))  # (from s, to s, concurrency)
PICKY_BAD = {"stable": (40, 60), "canary": (30, 90)}  # seconds during which a share of picky's requests are bad
MAX_REQUESTS = 200000
COLOURS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a", "#37872d", "#c4162a"]


def launch(pod, work: Path, repository: Path):
    server = launch_triton(pod.container, work_dir=work, path_mapping={"/models": repository})
    server.wait_ready()
    return server


def traffic(servers: dict, started: float, stop: threading.Event) -> list[threading.Thread]:
    """The ramp on image_classifier (gRPC, one image per request) against both tracks, and picky's requests."""
    image = np.zeros((1, 3, 32, 32), dtype=np.float32)

    def classifier(address: str, index: int):
        client = grpc_client.InferenceServerClient(address)
        request = grpc_client.InferInput("IMAGE", list(image.shape), "FP32")
        request.set_data_from_numpy(image)
        try:
            for _ in range(MAX_REQUESTS):
                now = time.monotonic() - started
                if stop.is_set() or now > RAMP[-1][1]:
                    return
                active = next((c for lo, hi, c in RAMP if lo <= now < hi), 0)
                if index < active:
                    client.infer("image_classifier", [request], client_timeout=10)
                else:
                    time.sleep(0.2)
        finally:
            client.close()

    def picky(address: str, track: str):
        client = http_client.InferenceServerClient(address)
        good = http_client.InferInput("X", [1, 4], "FP32")
        good.set_data_from_numpy(np.ones((1, 4), dtype=np.float32))
        bad = http_client.InferInput("X", [1, 4], "FP32")
        bad.set_data_from_numpy(-np.ones((1, 4), dtype=np.float32))
        lo, hi = PICKY_BAD[track]
        try:
            for count in range(MAX_REQUESTS):
                now = time.monotonic() - started
                if stop.is_set() or now > RAMP[-1][1]:
                    return
                inputs = [bad] if lo <= now < hi and count % (2 if track == "canary" else 5) == 0 else [good]
                try:
                    client.infer("picky", inputs)
                except Exception:  # the raise comes back as an HTTP 500: that is the point
                    pass
                time.sleep(0.05)
        finally:
            client.close()

    threads = []
    for track, server in servers.items():
        share = 32 if track == "stable" else 4  # the canary takes a small share of the ramp
        threads += [threading.Thread(target=classifier, args=(server.grpc_address, i), daemon=True) for i in range(share)]
        threads.append(threading.Thread(target=picky, args=(server.http_address, track), daemon=True))
    for thread in threads:
        thread.start()
    return threads


def legend(template: str, labels: dict) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template) or "value"


UNITS = {"s": (1e3, "ms"), "percentunit": (100, "%"), "reqps": (1, "req/s"), "none": (1, "")}


def plot_dashboard(dashboard: dict, prometheus, start: float, end: float, variables: dict, path: Path, computed: dict) -> int:
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) // 8
    figure, axes = plt.subplots(rows, 2, figsize=(13, 3.1 * rows), squeeze=False, facecolor="#111217")
    plotted = 0
    for panel in panels:
        axis = axes[panel["gridPos"]["y"] // 8][panel["gridPos"]["x"] // 12]
        axis.set_facecolor("#181b1f")
        axis.tick_params(colors="#ccccdc", labelsize=7)
        for spine in axis.spines.values():
            spine.set_color("#2c3235")
        axis.grid(color="#2c3235", linewidth=0.5)
        scale, unit = UNITS.get(panel["fieldConfig"]["defaults"]["unit"], (1, ""))
        axis.set_title(panel["title"] + (f" ({unit})" if unit else ""), color="#ccccdc", fontsize=9, loc="left")
        colour = 0
        for target in panel["targets"]:
            query = monitoring.substitute_grafana_variables(target["expr"], variables, {"$__rate_interval": RATE_INTERVAL})
            for labels, points in prometheus.query_range(query, start, end, 1):
                times = [t - start for t, _ in points]
                values = [v * scale for _, v in points]
                axis.plot(times, values, color=COLOURS[colour % len(COLOURS)], linewidth=1.3, label=legend(target["legendFormat"], labels))
                colour += 1
                plotted += 1
        for name, (times, values) in computed.get(panel["title"], {}).items():
            axis.plot(times, values, color=COLOURS[colour % len(COLOURS)], linewidth=1.3, drawstyle="steps-post", label=name)
            colour += 1
        if colour:
            axis.legend(fontsize=6, facecolor="#181b1f", edgecolor="#2c3235", labelcolor="#ccccdc", loc="upper left")
        else:
            axis.text(0.5, 0.5, "no data", color="#8e8e8e", ha="center", va="center", transform=axis.transAxes)
        axis.set_xlim(0, end - start)
    figure.suptitle(f"{dashboard['title']}  (namespace {variables['namespace']}, {variables['job']}; seconds since start; "
                    "drawn from the live Prometheus on local Triton, matplotlib)", color="#ccccdc", fontsize=10, x=0.01, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(path, dpi=72, facecolor=figure.get_facecolor())
    plt.close(figure)
    return plotted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    objects = helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], VALUES, kube_version=helm.declared_kube_versions()[1])
    pod = find_triton_pod(objects)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"].endswith("-metrics"))
    monitor = next(o for o in objects if o["kind"] == "ServiceMonitor")
    scaled_object = next(o for o in objects if o["kind"] == "ScaledObject")
    signal = scaled_object["spec"]["triggers"][0]["metadata"]["query"]
    work = Path(tempfile.mkdtemp(prefix="dashboards-"))
    repository = work / "models"
    prepare_local_model_repository(repository)
    shutil.copytree(FAILING_MODEL, repository / "picky")
    servers, scrape_configs = {}, []
    try:
        for track in ("stable", "canary"):
            servers[track] = launch(pod, work / track, repository)
            labels = {**deployment["spec"]["template"]["metadata"]["labels"], "triton-stack.io/track": track}
            name = deployment["metadata"]["name"] + ("-7d9f8c6b5-x2x4z" if track == "stable" else "-canary-5c4b3a2f1-a1b2c")
            config = monitoring.scrape_config_for(monitor, f"127.0.0.1:{servers[track].metrics_port}",
                                                  monitoring.Pod(name, helm.DEFAULT_NAMESPACE, labels, service["metadata"]["name"]))
            scrape_configs.append({**config, "job_name": f"{config['job_name']}-{track}"})
        rules = monitoring.write_rule_file(objects, work / "rules.yaml")
        with prometheus_local.PrometheusServer(work / "prometheus", rule_files=[rules], scrape_configs=scrape_configs) as prometheus:
            prometheus.wait_for_samples(f'up{{job="{service["metadata"]["name"]}"}} == 1', count=2)
            start = time.time()
            stop = threading.Event()
            threads = traffic(servers, time.monotonic(), stop)
            print(f"traffic for {RAMP[-1][1]} s (ramp {[c for _, _, c in RAMP]} on image_classifier, bad inputs to picky) ...", flush=True)
            for thread in threads:
                thread.join(timeout=RAMP[-1][1] + 60)
            stop.set()
            time.sleep(3)
            end = time.time()
            # The replicas the KEDA HPA would ask for, poll by poll, from the signal's own series.
            scaler = HorizontalPodAutoscaler(SCALING["minReplicas"], SCALING["maxReplicas"],
                                             Behavior.from_spec(scaled_object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]))
            (_, points), = prometheus.query_range(signal, start, end, SCALING["keda"]["pollingInterval"]) or [({}, [])]
            current, times, desired = SCALING["minReplicas"], [], []
            for at, value in points:
                current = scaler.desired_replicas(at, current, [(value, SCALING["target"], "Value")])
                times.append(at - start)
                desired.append(current)
            computed = {"Replicas: desired vs current": {
                "desired (computed by ci/scaling/hpa.py; no kube-state-metrics here)": (times, desired),
                "max": ([0, end - start], [SCALING["maxReplicas"]] * 2), "min": ([0, end - start], [SCALING["minReplicas"]] * 2)}}
            variables = {"datasource": "prometheus", "namespace": helm.DEFAULT_NAMESPACE, "job": service["metadata"]["name"], "model": ".*"}
            args.out.mkdir(parents=True, exist_ok=True)
            for config_map in (o for o in objects if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]):
                ((key, text),) = config_map["data"].items()
                path = args.out / f"dashboard-{key.removeprefix('triton-').removesuffix('.json')}.png"
                count = plot_dashboard(json.loads(text), prometheus, start, end, variables, path, computed)
                print(f"{path.relative_to(ROOT)}: {count} series, {path.stat().st_size // 1024} KiB")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
