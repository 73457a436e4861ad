"""promtool cases for every alert the chart ships: one where it fires exactly at its `for` boundary, one where it
must not fire. Each case is input series (promtool's expanding notation, one sample a minute) and, for the
boundary case, the first evaluation at which the expression holds (`starts`). From the `for` the rendered rule
has, the test builds the promtool checks:

- at starts - 1m no ALERTS series (nothing pending before), at starts the alert is pending;
- at starts + for - 1m it does not fire yet, at starts + for it fires with exactly these labels and annotations.

A must-not case sits just on the quiet side of the threshold (or shows a series the alert must ignore) and checks
that neither ALERTS nor the alert appears over `quiet_until`. An alert may have more of each (`extra`,
`extra_quiet`); a boundary case may also say the alert still fires at later minutes (`still_firing_at`).

The crash-loop cases follow the kubelet's real restart backoff (`crash_loop`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NS, JOB, WORKLOAD = "inference", "triton-server-metrics", "triton-server"
CANARY_WORKLOAD = f"{WORKLOAD}-canary"  # the tracks strategy's canary Deployment
# Another release in the namespace whose server's name starts like this one's (a release named "triton-server-server"
# has a server of that name): its workloads are not this release's.
LOOKALIKE_WORKLOAD = f"{WORKLOAD}-server"
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


def mesh(response_code: str, values: str, reporter: str = "destination", workload: str = WORKLOAD, grpc_status: str | None = None) -> dict:
    """istio_requests_total as a sidecar reports it. A gRPC call is answered HTTP 200 with its status in
    grpc_response_status and request_protocol "grpc"; for HTTP that label is empty, so Prometheus has none."""
    protocol = "http" if grpc_status is None else "grpc"
    labels = (f'namespace="{NS}", pod="{POD}", job="istio-envoy", reporter="{reporter}", destination_workload="{workload}", '
              f'destination_workload_namespace="{NS}", destination_service_name="{WORKLOAD}", request_protocol="{protocol}", '
              f'response_code="{response_code}"' + ("" if grpc_status is None else f', grpc_response_status="{grpc_status}"'))
    return series("istio_requests_total", labels, values)


def queue(model: str, queue_us: str, success: str) -> list[dict]:
    labels = f'{target()}, model="{model}", version="1"'
    return [series("nv_inference_queue_duration_us", labels, queue_us), *model_requests(model, success, {})]


# The autoscaler's scale target: the Deployment, or under server.canary.strategy argoRollouts the Rollout.
SCALE_TARGETS = {"Deployment": "apps/v1", "Rollout": "argoproj.io/v1alpha1"}


def hpa(current: str, maximum: str = "8x200", kind: str = "Deployment", desired: str | None = None, minimum: str = "3x200") -> list[dict]:
    """kube-state-metrics' series of the HPA KEDA creates for the workload (keda-hpa-<ScaledObject>)."""
    name = f"keda-hpa-{WORKLOAD}"
    labels = f'{KSM}, namespace="{NS}", horizontalpodautoscaler="{name}"'
    api_version = SCALE_TARGETS.get(kind, "apps/v1")
    return [
        series("kube_horizontalpodautoscaler_info", f'{labels}, scaletargetref_api_version="{api_version}", scaletargetref_kind="{kind}", scaletargetref_name="{WORKLOAD}"', "1x200"),
        series("kube_horizontalpodautoscaler_status_current_replicas", labels, current),
        series("kube_horizontalpodautoscaler_status_desired_replicas", labels, desired or current),
        series("kube_horizontalpodautoscaler_spec_max_replicas", labels, maximum),
        series("kube_horizontalpodautoscaler_spec_min_replicas", labels, minimum),
    ]


def deployment_replicas(values: str, deployment: str = WORKLOAD) -> dict:
    """kube-state-metrics' spec.replicas of a Deployment (KEDA sets it to 0 when it scales to zero)."""
    return series("kube_deployment_spec_replicas", f'{KSM}, namespace="{NS}", deployment="{deployment}"', values)


def container_ready(values: str, pod: str = POD) -> dict:
    """kube-state-metrics' readiness of the pod's triton container (0 while it loads its models)."""
    return series("kube_pod_container_status_ready", f'{KSM}, namespace="{NS}", pod="{pod}", container="triton", uid="u-{pod[-5:]}"', values)


# The kubelet restarts a crashed container at once the first time, then after a backoff that starts at 10 s and
# doubles up to 300 s, measured from the crash (kubernetes pkg/kubelet/kuberuntime/kuberuntime_manager.go
# doBackOff, client-go util/flowcontrol/backoff.go; MaxContainerBackOff 300 s). The backoff is forgotten when the
# container ran longer than twice the cap (hasExpired), so a loop whose container runs under 10 minutes waits
# 300 s between runs for as long as it lasts. While it waits, the container is Waiting with reason
# CrashLoopBackOff; restartCount counts the restarts.
BACKOFF_INITIAL_SECONDS, BACKOFF_CAP_SECONDS = 10, 300


@dataclass(frozen=True)
class CrashLoop:
    """kube-state-metrics' view, one sample a minute, of a triton container that crashes `run_seconds` after every
    start: restarts_total and the CrashLoopBackOff waiting reason (present only while waiting, as kube-state-metrics
    2.x exports it: the series goes stale when the wait ends)."""

    run_seconds: int
    first_start_seconds: int = 5 * 60 + 7
    minutes: int = 240

    def timeline(self) -> tuple[list[float], list[tuple[float, float]]]:
        """(restart times, waiting intervals) in seconds."""
        restarts, waits = [], []
        started, backoff = float(self.first_start_seconds), None
        end = self.minutes * 60.0
        while started < end:
            crashed = started + self.run_seconds
            if backoff is not None and self.run_seconds > 2 * BACKOFF_CAP_SECONDS:
                backoff = None  # ran long enough: the kubelet forgets the backoff
            wait = 0.0 if backoff is None else backoff
            if wait:
                waits.append((crashed, crashed + wait))
            started = crashed + wait
            restarts.append(started)
            backoff = BACKOFF_INITIAL_SECONDS if backoff is None else min(2 * backoff, BACKOFF_CAP_SECONDS)
        return restarts, waits

    def restarts_at(self, minute: int) -> int:
        restarts, _ = self.timeline()
        return sum(1 for r in restarts if r <= minute * 60)

    def waiting_at(self, minute: int) -> bool:
        _, waits = self.timeline()
        return any(start <= minute * 60 < end for start, end in waits)

    def restart_series(self, pod: str = POD, container: str = "triton") -> dict:
        values = " ".join(str(self.restarts_at(m)) for m in range(self.minutes + 1))
        return series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{pod}", container="{container}", uid="u-{pod[-5:]}"', values)

    def waiting_series(self, pod: str = POD, container: str = "triton") -> dict:
        values, was_waiting = [], False
        for minute in range(self.minutes + 1):
            waiting = self.waiting_at(minute)
            values.append("1" if waiting else ("stale" if was_waiting else "_"))
            was_waiting = waiting
        return series("kube_pod_container_status_waiting_reason", f'{KSM}, namespace="{NS}", pod="{pod}", container="{container}", reason="CrashLoopBackOff", uid="u-{pod[-5:]}"', " ".join(values))

    def first_wait_sampled(self) -> int:
        """The first minute whose sample sees the container waiting: TritonRestartLoop's expression holds from then."""
        return next(m for m in range(self.minutes + 1) if self.waiting_at(m))

    def restarts_in_the_last_hour(self, minute: int) -> int:
        """increase(restarts_total[1h]) at `minute`: exact here (the counter starts at 0 and is sampled at both ends)."""
        return self.restarts_at(minute) - self.restarts_at(max(0, minute - 60))


def restart_loop_case(loop: CrashLoop, for_minutes: int = 15) -> "Boundary":
    starts = loop.first_wait_sampled()
    later = (loop.minutes - 60, loop.minutes)
    return Boundary(
        [up("0x240"), up("1x240", pod=OTHER_POD), loop.restart_series(), loop.waiting_series(),
         # the sidecar of the same pod, healthy: its restarts are not Triton's
         series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{POD}", container="istio-proxy", uid="u-x2x4z"', "0x240")],
        starts, {"namespace": NS, "job": JOB, "pod": POD},
        restart_loop_annotations(loop.restarts_in_the_last_hour(starts + for_minutes)), "ticket",
        still_firing_at={minute: restart_loop_annotations(loop.restarts_in_the_last_hour(minute)) for minute in later},
    )


def restart_loop_annotations(restarts: int) -> dict[str, str]:
    return {
        "summary": f"The triton container of {POD} keeps restarting.",
        "description": f"The triton container of pod {POD} ({NS}/{JOB}) restarted {restarts} times in the last hour and is crash looping (kube-state-metrics: it waited in CrashLoopBackOff within the last 10 minutes, or restarted more often than the release's threshold).",
    }


@dataclass(frozen=True)
class Boundary:
    """Fires: the expression first holds at `starts` (minutes); `labels` and `annotations` of the firing alert
    (alertname, severity and tier are added); `still_firing_at`: later minutes at which it still fires, with the
    annotations it has then."""

    input_series: list[dict]
    starts: int
    labels: dict[str, str]
    annotations: dict[str, str]
    tier: str
    still_firing_at: dict[int, dict[str, str]] = field(default_factory=dict)


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
    extra_quiet: list[Quiet] = field(default_factory=list)


def runbook(alert: str) -> str:
    return f"{RUNBOOKS}/{alert}.md"


SERVER_DOWN = {
    "summary": f"No Triton pod of {JOB} in {NS} is scraped successfully.",
    "description": f"For 5 minutes Prometheus has had no successful scrape of any Triton pod behind the metrics Service {JOB} in {NS}, and the release's workloads are not scaled to zero: no pod runs, every pod is down, or Prometheus no longer discovers them. Inference on {WORKLOAD} is most likely down.",
}
SCRAPE_TARGET = {"namespace": NS, "job": JOB, "service": JOB, "endpoint": "metrics", "container": "triton", "pod": POD, "instance": "10.0.0.1:8002", "track": "stable"}
SCRAPE_TARGET_DOWN = {
    "summary": f"Triton pod {POD} in {NS} fails its metrics scrape.",
    "description": f"Prometheus has failed to scrape 10.0.0.1:8002 (pod {POD}, {JOB}) for 10 minutes while another pod of the release answers, and its triton container is not reported unready (so it is not loading its models). The pod may be hung, or unreachable from the monitoring namespace.",
}


def mesh_annotations(percent: str, fast: bool) -> dict[str, str]:
    if fast:
        return {
            "summary": f"Clients of {WORKLOAD} get server errors ({percent}) through the mesh.",
            "description": f"The mesh (istio_requests_total, reported by the pods' sidecars of every track) answers {percent} of the requests to {WORKLOAD} in {NS} with an HTTP 5xx or a failed gRPC status, at least 6 times the rate the availability objective allows. This counts errors Triton's own counters miss (an error response from a python model, a request that never reached Triton).",
        }
    return {
        "summary": f"Clients of {WORKLOAD} get server errors ({percent}) through the mesh.",
        "description": f"The mesh answers {percent} of the requests to {WORKLOAD} in {NS} with an HTTP 5xx or a failed gRPC status over a day or three: at this rate the 30-day error budget of the availability objective runs out before the month does.",
    }


MESH_RELEASE = {"namespace": NS, "job": JOB, "workload": WORKLOAD}
AUTOSCALED = {"namespace": NS, "job": JOB, "workload": WORKLOAD, "horizontalpodautoscaler": f"keda-hpa-{WORKLOAD}"}
AUTOSCALER_MAXED_OUT = {
    "summary": f"The autoscaler of {WORKLOAD} is at its maximum and the latency objective is breached.",
    "description": f"keda-hpa-{WORKLOAD} runs 8 replicas of {WORKLOAD} ({NS}), its maximum, while the queue time per request of a model is above the latency objective: nothing automatic will bring it back.",
}

CASES: dict[str, AlertCases] = {
    "TritonServerDown": AlertCases(
        Boundary([up("1x3 0x60")], 4, {"namespace": NS, "job": JOB, "workload": WORKLOAD}, SERVER_DOWN, "page"),
        # KEDA scaled the Deployment to zero outside its scheduled windows (autoscaling.keda.scaleToZero): no pod,
        # no target, and kube-state-metrics says 0 replicas are wanted.
        Quiet([deployment_replicas("2x3 0x60"), up("1x3 stale")], 60, "the Deployment is scaled to zero on purpose (keda.scaleToZero)"),
        extra=[
            # Woken at minute 10 (a scheduled window starts) and no pod ever answers: the page is back.
            Boundary([deployment_replicas("0x9 2x60")], 10, {"namespace": NS, "job": JOB, "workload": WORKLOAD}, SERVER_DOWN, "page"),
        ],
        extra_quiet=[
            # Under argoRollouts the workload is a Rollout, which kube-state-metrics does not know: KEDA's HPA
            # records the 0 it was scaled to.
            Quiet([*hpa("2x3 0x60", kind="Rollout", minimum="1x200"), up("1x3 stale")], 60, "the Rollout is scaled to zero on purpose (its HPA wants 0)"),
            Quiet([up("1x3 0x60"), up("1x60", pod=OTHER_POD)], 30, "one pod down while another is up is TritonScrapeTargetDown, not a down server"),
        ],
    ),
    "TritonScrapeTargetDown": AlertCases(
        # The pod's container is ready (Kubernetes thinks it serves) but its metrics cannot be scraped: a
        # NetworkPolicy that shuts Prometheus out, or a hung metrics endpoint.
        Boundary([up("1x3 0x60"), up("1x60", pod=OTHER_POD), container_ready("1x60"), container_ready("1x60", pod=OTHER_POD)], 4,
                 SCRAPE_TARGET, SCRAPE_TARGET_DOWN, "ticket"),
        # A new pod loading its models for 30 minutes (within a long probes.maxModelLoadSeconds): Triton serves no
        # metrics until it has loaded them, and its container is not ready yet.
        Quiet([up("0x30 1x10"), up("1x40", pod=OTHER_POD), container_ready("0x30 1x10"), container_ready("1x40", pod=OTHER_POD)], 40,
              "the pod is loading its models (its triton container is not ready yet)"),
        extra=[
            # Without kube-state-metrics nothing is left out.
            Boundary([up("1x3 0x60"), up("1x60", pod=OTHER_POD)], 4, SCRAPE_TARGET, SCRAPE_TARGET_DOWN, "ticket"),
        ],
        extra_quiet=[
            Quiet([up("1x3 0x60"), up("1x3 0x60", pod=OTHER_POD), container_ready("1x60"), container_ready("1x60", pod=OTHER_POD)], 30,
                  "no pod of the release answers: that is TritonServerDown, and no other pod answers"),
            Quiet([up("1x60"), up("0x60", job="other-metrics")], 30, "a target of another job is down: not a Triton release's"),
        ],
    ),
    # The real backoff (CrashLoop): a container that crashes 5 s, 60 s or 180 s (a model that loads for minutes,
    # then crashes) after it starts. Each settles at one restart per 300 s + its run, at most 3 in 15 minutes, and
    # the alert still fires three and four hours in.
    "TritonRestartLoop": AlertCases(
        restart_loop_case(CrashLoop(run_seconds=5)),
        Quiet([up("1x90"),
               # three restarts in the hour, each after a long run (the backoff forgotten, no CrashLoopBackOff)
               series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{POD}", container="triton"', "0x15 1x20 2x20 3x34"),
               # the sidecar crash loops: not Triton's
               CrashLoop(run_seconds=5, minutes=90).restart_series(container="istio-proxy"),
               CrashLoop(run_seconds=5, minutes=90).waiting_series(container="istio-proxy")], 90,
              "3 restarts in an hour is the threshold itself, and the sidecar's crash loop is not Triton's"),
        extra=[
            restart_loop_case(CrashLoop(run_seconds=60)),
            restart_loop_case(CrashLoop(run_seconds=180)),
            # Crashes 12 minutes apart: the kubelet forgets the backoff each time (no CrashLoopBackOff), but the
            # fourth restart within an hour is above the threshold (3).
            # (restarts seen at minutes 12, 25, 38, 51, 64: the fourth at 51, and 5 in the hour before minute 66)
            Boundary([up("1x90"), series("kube_pod_container_status_restarts_total", f'{KSM}, namespace="{NS}", pod="{POD}", container="triton"',
                                         "0x11 1x12 2x12 3x12 4x12 5x12 6x19")], 51,
                     {"namespace": NS, "job": JOB, "pod": POD}, restart_loop_annotations(5), "ticket"),
        ],
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
    # 100 requests a minute; from minute 11 also 20 failures a minute: HTTP 503s, gRPC calls answered HTTP 200
    # with status UNAVAILABLE (14) or INTERNAL (13), or 503s of the canary Deployment of the tracks strategy.
    "TritonMeshErrorBudgetBurnFast": AlertCases(
        Boundary([mesh("200", "0+100x200"), mesh("503", "0x10 20+20x200"), mesh("503", "0+500x200", reporter="source", workload="other")], 11,
                 MESH_RELEASE, mesh_annotations("4.412%", fast=True), "page"),
        Quiet([mesh("200", "0+80x200"), mesh("400", "0+20x200")], 90, "20% of the requests are 4xx: the client's, not the server's"),
        extra=[
            Boundary([mesh("200", "0+100x200", grpc_status="0"), mesh("200", "0x10 10+10x200", grpc_status="14"), mesh("200", "0x10 10+10x200", grpc_status="13")], 11,
                     MESH_RELEASE, mesh_annotations("4.412%", fast=True), "page"),
            Boundary([mesh("200", "0+100x200"), mesh("503", "0x10 20+20x200", workload=CANARY_WORKLOAD)], 11,
                     MESH_RELEASE, mesh_annotations("4.412%", fast=True), "page"),
        ],
        extra_quiet=[
            # gRPC's client-side statuses (the gate's list): CANCELLED, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED
            Quiet([mesh("200", "0+60x200", grpc_status="0"), *[mesh("200", "0+10x200", grpc_status=s) for s in ("1", "5", "7", "16")]], 90,
                  "40% of the gRPC calls end with a status that is the client's doing"),
            # another release whose workload is named like this one's, failing every request
            Quiet([mesh("200", "0+100x200"), mesh("503", "0+100x200", workload=LOOKALIKE_WORKLOAD)], 90,
                  f"{LOOKALIKE_WORKLOAD} is another release's workload"),
        ],
    ),
    "TritonMeshErrorBudgetBurnSlow": AlertCases(
        Boundary([mesh("200", "0+249x200"), mesh("500", "0+1x200")], 1, MESH_RELEASE, mesh_annotations("0.4%", fast=False), "ticket"),
        Quiet([mesh("200", "0+1249x200"), mesh("500", "0+1x200")], 90, "0.08% 5xx, within the 0.1% budget"),
        extra=[
            Boundary([mesh("200", "0+249x200", grpc_status="0"), mesh("200", "0+1x200", grpc_status="4")], 1, MESH_RELEASE, mesh_annotations("0.4%", fast=False), "ticket"),
        ],
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
        Boundary([up("1x60"), *hpa("4x5 8x60"), *queue("m", "0+1800000x200", "0+60x200")], 6, AUTOSCALED, AUTOSCALER_MAXED_OUT, "page"),
        Quiet([up("1x60"), *hpa("8x60"), *queue("m", "0+600000x200", "0+60x200")], 30, "at its maximum, but within the objective (10 ms per request)"),
        # server.canary.strategy argoRollouts: KEDA's HPA scales the Rollout (argoproj.io/v1alpha1).
        extra=[Boundary([up("1x60"), *hpa("4x5 8x60", kind="Rollout"), *queue("m", "0+1800000x200", "0+60x200")], 6, AUTOSCALED, AUTOSCALER_MAXED_OUT, "page")],
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
