"""promtool cases for every alert the chart ships: one where it fires exactly at its `for` boundary, one where it
must not fire. Each case is input series (promtool's expanding notation, one sample a minute) and, for the
boundary case, the first evaluation at which the expression holds (`starts`). From the `for` the rendered rule
has, the test builds the promtool checks:

- at starts - 1m no ALERTS series (nothing pending before), at starts the alert is pending;
- at starts + for - 1m it does not fire yet, at starts + for it fires with exactly these labels and annotations.

A must-not case sits just on the quiet side of the threshold (or shows a series the alert must ignore) and checks
that neither ALERTS nor the alert appears over `quiet_until`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NS, JOB, WORKLOAD = "inference", "triton-server-metrics", "triton-server"
RUNBOOKS = "https://github.com/triton-stack/triton-stack/blob/main/charts/triton-monitoring/runbooks"
POD = "triton-server-7d9f8c6b5-x2x4z"
OTHER_POD = "triton-server-7d9f8c6b5-q8w7e"
KSM = 'job="kube-state-metrics", instance="10.0.9.9:8080"'


def target(pod: str = POD, track: str = "stable", job: str = JOB) -> str:
    """The labels a Triton series gets through the ServiceMonitor (prometheus-operator's target labels, `track`)."""
    return (f'namespace="{NS}", job="{job}", service="{job}", endpoint="metrics", container="triton", pod="{pod}", '
            f'instance="10.0.0.{1 if pod == POD else 2}:8002", track="{track}"')


def series(name: str, labels: str, values: str) -> dict:
    return {"series": f"{name}{{{labels}}}", "values": values}


def up(values: str, pod: str = POD, job: str = JOB) -> dict:
    return series("up", target(pod, job=job), values)


def model_requests(model: str, success: str, failures: dict[str, str], pod: str = POD, track: str = "stable") -> list[dict]:
    """Triton's request counters for one model on one pod: success, and failure by reason (all four exist)."""
    labels = f'{target(pod, track)}, model="{model}", version="1"'
    out = [series("nv_inference_request_success", labels, success)]
    for reason in ("BACKEND", "REJECTED", "CANCELED", "OTHER"):
        out.append(series("nv_inference_request_failure", f'{labels}, reason="{reason}"', failures.get(reason, "0+0x200")))
    return out


def mesh(response_code: str, values: str, reporter: str = "destination", workload: str = WORKLOAD) -> dict:
    labels = (f'namespace="{NS}", pod="{POD}", job="istio-envoy", reporter="{reporter}", destination_workload="{workload}", '
              f'destination_workload_namespace="{NS}", destination_service_name="{WORKLOAD}", response_code="{response_code}"')
    return series("istio_requests_total", labels, values)


def queue(model: str, queue_us: str, success: str) -> list[dict]:
    labels = f'{target()}, model="{model}", version="1"'
    return [series("nv_inference_queue_duration_us", labels, queue_us), *model_requests(model, success, {})]


def hpa(current: str, maximum: str = "8x200") -> list[dict]:
    name = f"keda-hpa-{WORKLOAD}"
    labels = f'{KSM}, namespace="{NS}", horizontalpodautoscaler="{name}"'
    return [
        series("kube_horizontalpodautoscaler_info", f'{labels}, scaletargetref_api_version="apps/v1", scaletargetref_kind="Deployment", scaletargetref_name="{WORKLOAD}"', "1x200"),
        series("kube_horizontalpodautoscaler_status_current_replicas", labels, current),
        series("kube_horizontalpodautoscaler_status_desired_replicas", labels, current),
        series("kube_horizontalpodautoscaler_spec_max_replicas", labels, maximum),
        series("kube_horizontalpodautoscaler_spec_min_replicas", labels, "3x200"),
    ]


@dataclass(frozen=True)
class Boundary:
    """Fires: the expression first holds at `starts` (minutes); `labels` and `annotations` of the firing alert
    (alertname, severity and tier are added)."""

    input_series: list[dict]
    starts: int
    labels: dict[str, str]
    annotations: dict[str, str]
    tier: str


@dataclass(frozen=True)
class Quiet:
    """Must not fire: no ALERTS series and no alert at any evaluation up to `quiet_until` minutes."""

    input_series: list[dict]
    quiet_until: int
    why: str


@dataclass(frozen=True)
class AlertCases:
    boundary: Boundary
    quiet: Quiet
    extra: list[Boundary] = field(default_factory=list)


def runbook(alert: str) -> str:
    return f"{RUNBOOKS}/{alert}.md"


CASES: dict[str, AlertCases] = {
    "TritonServerDown": AlertCases(
        Boundary([up("1x3 0x60")], 4, {"namespace": NS, "job": JOB, "workload": WORKLOAD}, {
            "summary": f"No Triton pod of {JOB} in {NS} is scraped successfully.",
            "description": f"For 5 minutes Prometheus has had no successful scrape of any Triton pod behind the metrics Service {JOB} in {NS}: no pod runs, every pod is down, or Prometheus no longer discovers them. Inference on {WORKLOAD} is most likely down.",
        }, "page"),
        Quiet([up("1x3 0x60"), up("1x60", pod=OTHER_POD)], 30, "one pod down while another is up is TritonScrapeTargetDown, not a down server"),
    ),
    "TritonScrapeTargetDown": AlertCases(
        Boundary([up("1x3 0x60"), up("1x60", pod=OTHER_POD)], 4,
                 {"namespace": NS, "job": JOB, "service": JOB, "endpoint": "metrics", "container": "triton", "pod": POD, "instance": "10.0.0.1:8002", "track": "stable"}, {
            "summary": f"Triton pod {POD} in {NS} fails its metrics scrape.",
            "description": f"Prometheus has failed to scrape 10.0.0.1:8002 (pod {POD}, {JOB}) for 10 minutes while other pods of the release answer. The pod may be hung, restarting or unreachable from the monitoring namespace.",
        }, "ticket"),
        Quiet([up("1x60"), up("0x60", job="other-metrics")], 30, "a target of another job is down: not a Triton release's"),
    ),
    "TritonRestartLoop": AlertCases(
        Boundary([up("1x60"), series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{POD}", container="triton"', "0x5 4x60")], 6,
                 {"namespace": NS, "job": JOB, "pod": POD}, {
            "summary": f"The triton container of {POD} keeps restarting.",
            "description": f"The triton container of pod {POD} ({NS}/{JOB}) restarted 4 times in the last 15 minutes (kube-state-metrics), above the release's threshold.",
        }, "ticket"),
        Quiet([up("1x60"), series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{POD}", container="triton"', "0x5 3x60"),
               series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{POD}", container="istio-proxy"', "0x5 9x60")], 30,
              "3 restarts in 15 minutes is the threshold itself, and the sidecar's restarts are not Triton's"),
    ),
    "TritonReadinessFlapping": AlertCases(
        Boundary([up("1x60"),
                  series("kube_pod_status_ready", f'{KSM}, namespace="{NS}", pod="{POD}", condition="true"', "1x5 0 1 0 1 0 1 0 1x60"),
                  series("kube_pod_status_ready", f'{KSM}, namespace="{NS}", pod="{POD}", condition="false"', "0x5 1 0 1 0 1 0 1 0x60")], 10,
                 {"namespace": NS, "job": JOB, "pod": POD}, {
            "summary": f"Triton pod {POD} keeps going in and out of readiness.",
            "description": f"The Ready condition of pod {POD} ({NS}/{JOB}) changed 8 times in the last 15 minutes (kube-state-metrics): the pod drops out of the Service and comes back, and clients see connection errors each time.",
        }, "ticket"),
        Quiet([up("1x60"), series("kube_pod_status_ready", f'{KSM}, namespace="{NS}", pod="{POD}", condition="true"', "1x5 0 1 0 1 1x60")], 30,
              "4 changes in 15 minutes is the threshold itself"),
    ),
    # 100 requests a minute; from minute 11 also 20 BACKEND failures a minute (about 17%, far above 14.4 x 0.1%).
    "TritonModelErrorBudgetBurnFast": AlertCases(
        Boundary(model_requests("m", "0+100x200", {"BACKEND": "0x10 20+20x200"}), 11, {"namespace": NS, "job": JOB, "model": "m"}, {
            "summary": "Model m burns its error budget fast (4.412% of requests fail).",
            "description": f"Triton counts 4.412% of the requests to m ({NS}/{JOB}) as failed, at least 6 times the rate the availability objective allows, over a long and a short window. Triton's counters miss errors clients see: see TritonMeshErrorBudgetBurnFast when the mesh is on.",
        }, "page"),
        # 0.5% fails: above the slow tiers (0.1%, 0.3%), below both fast ones (0.6%, 1.44%).
        Quiet(model_requests("m", "0+199x200", {"BACKEND": "0+1x200"}), 90, "0.5% of requests fail, under 6 x the 0.1% budget"),
    ),
    "TritonModelErrorBudgetBurnSlow": AlertCases(
        Boundary(model_requests("m", "0+249x200", {"REJECTED": "0+1x200"}), 1, {"namespace": NS, "job": JOB, "model": "m"}, {
            "summary": "Model m burns its error budget (0.4% of requests fail).",
            "description": f"Triton counts 0.4% of the requests to m ({NS}/{JOB}) as failed over a day or three: at this rate the 30-day error budget of the availability objective runs out before the month does.",
        }, "ticket"),
        Quiet(model_requests("m", "0+1249x200", {"BACKEND": "0+1x200"}), 90, "0.08% of requests fail, within the 0.1% budget"),
    ),
    "TritonMeshErrorBudgetBurnFast": AlertCases(
        Boundary([mesh("200", "0+100x200"), mesh("503", "0x10 20+20x200"), mesh("503", "0+500x200", reporter="source", workload="other")], 11,
                 {"namespace": NS, "job": JOB, "workload": WORKLOAD}, {
            "summary": f"Clients of {WORKLOAD} get 5xx answers (4.412%) through the mesh.",
            "description": f"The mesh (istio_requests_total, reported by the pods' sidecars) answers 4.412% of the requests to {WORKLOAD} in {NS} with a 5xx, at least 6 times the rate the availability objective allows. This counts errors Triton's own counters miss (an error response from a python model, a request that never reached Triton).",
        }, "page"),
        Quiet([mesh("200", "0+80x200"), mesh("400", "0+20x200")], 90, "20% of the requests are 4xx: the client's, not the server's"),
    ),
    "TritonMeshErrorBudgetBurnSlow": AlertCases(
        Boundary([mesh("200", "0+249x200"), mesh("500", "0+1x200")], 1, {"namespace": NS, "job": JOB, "workload": WORKLOAD}, {
            "summary": f"Clients of {WORKLOAD} get 5xx answers (0.4%) through the mesh.",
            "description": f"The mesh answers 0.4% of the requests to {WORKLOAD} in {NS} with a 5xx over a day or three: at this rate the 30-day error budget of the availability objective runs out before the month does.",
        }, "ticket"),
        Quiet([mesh("200", "0+1249x200"), mesh("500", "0+1x200")], 90, "0.08% 5xx, within the 0.1% budget"),
    ),
    # 60 requests a minute waiting 30 ms each (1.8 s of queue a minute) against the 20 ms objective.
    "TritonQueueLatencySLOBreach": AlertCases(
        Boundary(queue("m", "0+1800000x200", "0+60x200"), 1, {"namespace": NS, "job": JOB, "model": "m"}, {
            "summary": "Requests to m wait 30ms in Triton's queue.",
            "description": f"The average queue time per request of m ({NS}/{JOB}) has been above the latency objective for 15 minutes: the replicas cannot keep up with the load.",
        }, "ticket"),
        Quiet(queue("m", "0+1080000x200", "0+60x200"), 60, "18 ms per request, under the 20 ms objective"),
    ),
    "TritonAutoscalerMaxedOutWithSLOBreach": AlertCases(
        Boundary([up("1x60"), *hpa("4x5 8x60"), *queue("m", "0+1800000x200", "0+60x200")], 6,
                 {"namespace": NS, "job": JOB, "workload": WORKLOAD, "horizontalpodautoscaler": f"keda-hpa-{WORKLOAD}"}, {
            "summary": f"The autoscaler of {WORKLOAD} is at its maximum and the latency objective is breached.",
            "description": f"keda-hpa-{WORKLOAD} runs 8 replicas of {WORKLOAD} ({NS}), its maximum, while the queue time per request of a model is above the latency objective: nothing automatic will bring it back.",
        }, "page"),
        Quiet([up("1x60"), *hpa("8x60"), *queue("m", "0+600000x200", "0+60x200")], 30, "at its maximum, but within the objective (10 ms per request)"),
    ),
    # Instantaneous pending counts jump to 40 at minute 5; the 5-minute average crosses 32 at minute 9.
    "TritonPendingRequestsSaturated": AlertCases(
        Boundary([series("nv_inference_pending_request_count", f'{target()}, model="m", version="1"', "0x4 40x60")], 9,
                 {"namespace": NS, "job": JOB, "pod": POD, "model": "m"}, {
            "summary": f"Pod {POD} holds 40 pending requests for m on average.",
            "description": f"Over 5 minutes pod {POD} ({NS}/{JOB}) held on average 40 requests for m waiting for an instance, above the release's threshold, for 10 minutes.",
        }, "ticket"),
        Quiet([series("nv_inference_pending_request_count", f'{target()}, model="m", version="1"', "0x4 32x60")], 40, "32 pending on average is the threshold itself"),
    ),
    "TritonGPUMemoryPressure": AlertCases(
        Boundary([series("nv_gpu_memory_used_bytes", f'{target()}, gpu_uuid="GPU-1"', "50e9x4 80e9x60"),
                  series("nv_gpu_memory_total_bytes", f'{target()}, gpu_uuid="GPU-1"', "85.5e9x64")], 5,
                 {"namespace": NS, "job": JOB, "pod": POD, "gpu_uuid": "GPU-1"}, {
            "summary": f"GPU GPU-1 of {POD} is 93.57% full.",
            "description": f"Triton reports 93.57% of the memory of GPU GPU-1 in use (pod {POD}, {NS}/{JOB}) for 10 minutes, above the release's threshold: a larger batch, another model instance or a model load can fail with out-of-memory.",
        }, "ticket"),
        Quiet([series("nv_gpu_memory_used_bytes", f'{target()}, gpu_uuid="GPU-1"', "76.9e9x60"),
               series("nv_gpu_memory_total_bytes", f'{target()}, gpu_uuid="GPU-1"', "85.5e9x60")], 40, "89.9% in use, under 90%"),
    ),
    # Stable fails nothing; the canary fails 10% of its requests from the start.
    "TritonCanaryWorseThanStable": AlertCases(
        Boundary([*model_requests("m", "0+100x200", {}), *model_requests("m", "0+9x200", {"BACKEND": "0+1x200"}, pod=OTHER_POD, track="canary")], 1,
                 {"namespace": NS, "job": JOB, "model": "m", "track": "canary"}, {
            "summary": "The canary of m does worse than stable.",
            "description": f"For 10 minutes the canary track of m ({NS}/{JOB}) has failed more requests than the stable track plus the allowed margin, or its p95 latency has been above the stable track's times the allowed ratio. Stop the rollout.",
        }, "ticket"),
        Quiet([*model_requests("m", "0+100x200", {"BACKEND": "0+1x200"}), *model_requests("m", "0+99x200", {"BACKEND": "0+1.5x200"}, pod=OTHER_POD, track="canary"),
               series("nv_inference_request_summary_us", f'{target()}, model="m", version="1", quantile="0.95"', "1000x60"),
               series("nv_inference_request_summary_us", f'{target(OTHER_POD, "canary")}, model="m", version="1", quantile="0.95"', "1400x60")], 40,
              "the canary fails 1.5% against stable's 1% (margin 1%) and its p95 is 1.4x stable's (allowed 1.5x)"),
        extra=[Boundary([*model_requests("m", "0+100x200", {}), *model_requests("m", "0+100x200", {}, pod=OTHER_POD, track="canary"),
                         series("nv_inference_request_summary_us", f'{target()}, model="m", version="1", quantile="0.95"', "1000x60"),
                         series("nv_inference_request_summary_us", f'{target(OTHER_POD, "canary")}, model="m", version="1", quantile="0.95"', "1000x4 2000x60")], 5,
                        {"namespace": NS, "job": JOB, "model": "m", "track": "canary"}, {
            "summary": "The canary of m does worse than stable.",
            "description": f"For 10 minutes the canary track of m ({NS}/{JOB}) has failed more requests than the stable track plus the allowed margin, or its p95 latency has been above the stable track's times the allowed ratio. Stop the rollout.",
        }, "ticket")],
    ),
}
