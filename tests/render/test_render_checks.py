"""Every render-time check (`fail` in the charts' _validate.tpl) at its boundary: the value exactly at the
limit, one below and one above, or for a condition the failing case beside its nearest passing neighbours.
A rejection must name exactly one value path, the right one, with the figures that explain it; an
acceptance must render. A last test reads the _validate.tpl files and fails on a check that has no
rejecting case here, so that a new check cannot land untested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST
from tests.harness import render as helm
from tests.harness.errors import error_lines

pytestmark = pytest.mark.render

S3_ROLE = {"aws": {"roleArn": "arn:aws:iam::123456789012:role/read"}}
PEER = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}}]
ENGINE = {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}]}


@dataclass(frozen=True)
class Case:
    """Values for one chart; `path` and `message` when the render must fail, None when it must render."""

    chart: str
    values: dict
    path: str | None = None
    message: str = ""
    kube: str = KUBE_HIGHEST


def server(values, path=None, message="", kube=KUBE_HIGHEST) -> Case:
    return Case("triton-server", values, path, message, kube)


LISTED = {"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["image_classifier"]}}
LISTED_SERVER = {"server": LISTED}


def LOAD_STEP(model: str) -> dict:  # noqa: N802 - a values builder, named like the constants beside it
    """A gated Argo rollout whose load step sends to `model`, on a server with a load list."""
    return {"server": {**LISTED, "canary": {"enabled": True, "strategy": "argoRollouts"}},
            "routing": {"enabled": True, "canary": {"enabled": True},
                        "promotion": {"enabled": True, "loadTest": {"enabled": True, "configMap": "load-triton-loadtest", "model": model}}},
            "monitoring": {"enabled": True}}


BATCH_SIDECAR = {"enabled": True, "target": {"mode": "sidecar"}, "sidecar": {"modelRepository": {"claimName": "models"}, "maxModelLoadSeconds": 600}}


def stack(values, path=None, message="") -> Case:
    return Case("triton-stack", values, path, message)


def object_store(uri, **store) -> dict:
    return {"modelRepository": {"type": "objectStore", "objectStore": {"uri": uri, "repositorySize": "1Gi", **store}}}


# Chart defaults the figures below rest on: drain.preStopSeconds 15, triton.exitTimeoutSeconds 30,
# drain.marginSeconds 10 (grace needed 55); updateStrategy RollingUpdate, maxSurge 1, maxUnavailable 0.
CASES = {
    # drain.terminationGracePeriodSeconds >= preStop + exit timeout + margin
    "grace-equal": server({"drain": {"terminationGracePeriodSeconds": 55}}),
    "grace-one-below": server({"drain": {"terminationGracePeriodSeconds": 54}}, "drain.terminationGracePeriodSeconds",
                              "54 is shorter than drain.preStopSeconds + triton.exitTimeoutSeconds + drain.marginSeconds = 55; in-flight requests would be killed. Raise it to at least 55"),
    "grace-one-above": server({"drain": {"terminationGracePeriodSeconds": 56}}),
    "grace-counts-the-margin": server({"drain": {"terminationGracePeriodSeconds": 55, "marginSeconds": 11}}, "drain.terminationGracePeriodSeconds", "= 56"),
    # drain.preStopMode sleepAction needs Kubernetes >= 1.30
    "sleep-action-1.29": server({"drain": {"preStopMode": "sleepAction"}}, "drain.preStopMode", "sleepAction needs Kubernetes >= 1.30 (this render targets v1.29.0)", kube="1.29.0"),
    "sleep-action-1.30": server({"drain": {"preStopMode": "sleepAction"}}, kube="1.30.0"),
    "sleep-action-1.31": server({"drain": {"preStopMode": "sleepAction"}}, kube="1.31.0"),
    # adminApi
    "restricted-without-secret": server({"adminApi": {"restricted": True}}, "adminApi.existingSecret", "is required when adminApi.restricted is true"),
    "restricted-with-secret": server({"adminApi": {"restricted": True, "existingSecret": "k"}}),
    "open-without-secret": server({"adminApi": {"restricted": False, "existingSecret": ""}}),
    "restricted-health": server({"adminApi": {"restricted": True, "existingSecret": "k", "categories": ["health", "statistics"]}}, "adminApi.categories", "must not contain health"),
    "restricted-one-category": server({"adminApi": {"restricted": True, "existingSecret": "k", "categories": ["statistics"]}}),
    "open-health": server({"adminApi": {"categories": ["health"]}}),
    "restricted-no-category": server({"adminApi": {"restricted": True, "existingSecret": "k", "categories": []}}, "adminApi.categories", "is empty while adminApi.restricted is true"),
    # triton.loadModels: model directory names, once each, explicit mode, the repository API behind the header
    "load-list-restricted": server({"adminApi": {"restricted": True, "existingSecret": "k", "categories": ["model-repository"]}, "triton": {"loadModels": ["a", "b.v2"]}}),
    "load-list-bad-name": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a", "../b"]}}, "triton.loadModels.1", "is not a Triton model directory name"),
    "load-list-twice": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a", "a"]}}, "triton.loadModels", "lists a model twice"),
    "load-list-open-api": server({"triton": {"loadModels": ["a"]}}, "triton.loadModels", "needs the model-repository API restricted"),
    "load-list-repository-api-left-open": server({"adminApi": {"restricted": True, "existingSecret": "k", "categories": ["statistics"]}, "triton": {"loadModels": ["a"]}}, "triton.loadModels", "needs the model-repository API restricted"),
    "load-list-poll": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"], "modelControlMode": "poll"}}, "triton.modelControlMode", "is poll, but triton.loadModels needs explicit mode"),
    "load-list-explicit": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"], "modelControlMode": "explicit"}}),
    "load-list-helm-test-unlisted": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"]}, "helmTest": {"model": "m", "input": {"name": "X", "shape": [1]}}}, "helmTest.model", '"m" is not in triton.loadModels [a]'),
    "load-list-autoscaler-unlisted": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"]}, "autoscaling": {"mode": "keda", "model": "m"}}, "autoscaling.model", '"m" is not in triton.loadModels [a]'),
    "load-list-autoscaler-listed": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"]}, "autoscaling": {"mode": "keda", "model": "a"}}),
    "load-list-autoscaler-every-model": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"]}, "autoscaling": {"mode": "keda", "model": ""}}),
    "explicit-open-api": server({"triton": {"modelControlMode": "explicit"}}, "triton.modelControlMode", "is explicit with the model-repository API open"),
    "explicit-restricted": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"modelControlMode": "explicit"}}),
    "load-list-helm-test-disabled": server({"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"loadModels": ["a"]}, "helmTest": {"enabled": False, "model": "m"}}),
    # modelRepository
    "pvc-without-claim": server({"modelRepository": {"pvc": {"claimName": ""}}}, "modelRepository.pvc.claimName", "is required when modelRepository.type is pvc"),
    "pvc-with-claim": server({"modelRepository": {"pvc": {"claimName": "c"}}}),
    "uri-bucket-only": server(object_store("s3://b", credentials="none")),
    "uri-without-bucket": server(object_store("s3:///b", credentials="none"), "modelRepository.objectStore.uri", '"s3:///b" is not an object-store URI'),
    "uri-empty": server(object_store("", credentials="none"), "modelRepository.objectStore.uri", '"" is not an object-store URI'),
    "secret-credentials-without-secret": server(object_store("s3://b/m", credentials="secret"), "modelRepository.objectStore.existingSecret", "is required when modelRepository.objectStore.credentials is secret"),
    "secret-credentials-with-secret": server(object_store("s3://b/m", credentials="secret", existingSecret="keys")),
    "azure-workload-identity": server(object_store("as://a/c/m", workloadIdentity=S3_ROLE), "modelRepository.objectStore.credentials", "workloadIdentity does not reach as:// repositories"),
    "azure-secret": server(object_store("as://a/c/m", credentials="secret", existingSecret="keys")),
    "s3-workload-identity-with-role": server(object_store("s3://b/m", workloadIdentity=S3_ROLE)),
    "s3-workload-identity-without-role": server(object_store("s3://b/m"), "modelRepository.objectStore.workloadIdentity.aws.roleArn", "is required for a s3:// repository"),
    "gs-workload-identity-with-aws-role": server(object_store("gs://b/m", workloadIdentity=S3_ROLE), "modelRepository.objectStore.workloadIdentity.gcp.serviceAccount", "is required for a gs:// repository"),
    "s3-workload-identity-self-annotated": server({**object_store("s3://b/m"), "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"}}}),
    "configmap-name-and-files": server({"modelRepository": {"type": "configMap", "configMap": {"name": "m", "items": [{"key": "k", "path": "m/config.pbtxt"}], "files": {"m/config.pbtxt": "x"}}}},
                                       "modelRepository.configMap", "sets both name and files"),
    "configmap-files": server({"modelRepository": {"type": "configMap", "configMap": {"files": {"m/config.pbtxt": "x"}}}}),
    "configmap-name-and-items": server({"modelRepository": {"type": "configMap", "configMap": {"name": "m", "items": [{"key": "k", "path": "m/config.pbtxt"}]}}}),
    "configmap-nothing": server({"modelRepository": {"type": "configMap"}}, "modelRepository.configMap.files", "is empty and no modelRepository.configMap.name is given"),
    "configmap-name-without-items": server({"modelRepository": {"type": "configMap", "configMap": {"name": "m"}}}, "modelRepository.configMap.items", "is required with modelRepository.configMap.name"),
    # GPUs
    "gpu-in-resource-limits": server({"resources": {"limits": {"nvidia.com/gpu": 1}}}, "resources.limits", "sets nvidia.com/gpu, a GPU resource. Set gpu.count"),
    "gpu-in-resource-requests": server({"resources": {"requests": {"nvidia.com/gpu": 1}}}, "resources.requests", "sets nvidia.com/gpu, a GPU resource. Set gpu.count"),
    "gpu-products-count-0": server({"gpu": {"count": 0, "products": ["NVIDIA-L4"]}}, "gpu.products", "pins pods to GPU nodes while gpu.count is 0"),
    "gpu-products-count-1": server({"gpu": {"count": 1, "products": ["NVIDIA-L4"]}}),
    # engineBuild
    "engine-build-count-0": server({"gpu": {"count": 0}, "engineBuild": ENGINE}, "engineBuild.enabled", "needs gpu.count > 0"),
    "engine-build-count-1": server({"gpu": {"count": 1}, "engineBuild": ENGINE}),
    "engine-build-object-store": server({"gpu": {"count": 1}, "engineBuild": ENGINE, **object_store("s3://b/m", workloadIdentity=S3_ROLE)}, "engineBuild.enabled", "needs modelRepository.type pvc (not objectStore)"),
    "engine-build-no-models": server({"gpu": {"count": 1}, "engineBuild": {"enabled": True}}, "engineBuild.models", "is empty while engineBuild.enabled is true"),
    # updateStrategy: a rolling update must be able to add or remove a pod
    "rollout-surge-0-unavailable-0": server({"updateStrategy": {"maxSurge": 0, "maxUnavailable": 0}}, "updateStrategy", "has maxSurge 0 and maxUnavailable 0, so a rollout can never progress"),
    "rollout-surge-1-unavailable-0": server({"updateStrategy": {"maxSurge": 1, "maxUnavailable": 0}}),
    "rollout-surge-0-unavailable-1": server({"updateStrategy": {"maxSurge": 0, "maxUnavailable": 1}}),
    "recreate-0-0": server({"updateStrategy": {"type": "Recreate", "maxSurge": 0, "maxUnavailable": 0}}),
    # podDisruptionBudget.maxUnavailable < replicaCount (a single replica is exempt: it must stay drainable)
    "pdb-unavailable-equal": server({"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 3}}, "podDisruptionBudget.maxUnavailable", "3 allows every one of the 3 replicas (replicaCount) to be evicted at once"),
    "pdb-unavailable-one-below": server({"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}}),
    "pdb-unavailable-one-above": server({"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 4}}, "podDisruptionBudget.maxUnavailable", "4 allows every one of the 3 replicas"),
    # autoscaling finds pods by <workload>-<hash>-<id>: a workload name of 46 characters keeps that form, 47 not
    "autoscaled-name-46": server({"fullnameOverride": "w" * 46, "autoscaling": {"mode": "keda"}}),
    "autoscaled-name-47": server({"fullnameOverride": "w" * 47, "autoscaling": {"mode": "keda"}}, "autoscaling.mode", "and the stable track's is"),
    "unscaled-name-47": server({"fullnameOverride": "w" * 47}),
    "autoscaled-canary-name-47": server({"fullnameOverride": "w" * 40, "canary": {"enabled": True, "image": {"tag": "x"}, "autoscaling": {"mode": "hpa"}}},
                                        "autoscaling.mode", "and the canary track's is"),
    # IntOrString: a percentage of the pods there are, rounded up by the disruption controller (66% of 3 is 2).
    "pdb-percent-below": server({"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": "66%"}}),
    "pdb-percent-every-pod": server({"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": "67%"}}, "podDisruptionBudget.maxUnavailable",
                                    "67% allows every one of the 3 replicas"),
    "rollout-percent-zero-both": server({"updateStrategy": {"maxSurge": "0%", "maxUnavailable": 0}}, "updateStrategy", "has maxSurge 0% and maxUnavailable 0"),
    "rollout-percent-surge": server({"updateStrategy": {"maxSurge": "10%", "maxUnavailable": 0}}),
    "pdb-one-replica": server({"replicaCount": 1, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}}),
    "pdb-two-replicas": server({"replicaCount": 2, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}}, "podDisruptionBudget.maxUnavailable", "2 allows every one of the 2 replicas"),
    "pdb-disabled": server({"replicaCount": 3, "podDisruptionBudget": {"enabled": False, "maxUnavailable": 3}}),
    # networkPolicy.inferenceFrom must list sources for an exposed Service
    "load-balancer-no-sources": server({"service": {"type": "LoadBalancer"}}, "networkPolicy.inferenceFrom", "is empty while service.type is LoadBalancer"),
    "node-port-no-sources": server({"service": {"type": "NodePort"}}, "networkPolicy.inferenceFrom", "is empty while service.type is NodePort"),
    "load-balancer-with-sources": server({"service": {"type": "LoadBalancer"}, "networkPolicy": {"inferenceFrom": PEER}}),
    "cluster-ip-no-sources": server({"service": {"type": "ClusterIP"}}),
    "load-balancer-no-policy": server({"service": {"type": "LoadBalancer"}, "networkPolicy": {"enabled": False}}),
    # triton.extraArgs may not repeat a managed flag (flags are compared whole, before any "=")
    "extra-arg-managed": server({"triton": {"extraArgs": ["--exit-timeout-secs=5"]}}, "triton.extraArgs", "repeats --exit-timeout-secs, which the chart sets from triton.exitTimeoutSeconds"),
    "extra-arg-managed-bare": server({"triton": {"extraArgs": ["--disable-auto-complete-config"]}}, "triton.extraArgs", "repeats --disable-auto-complete-config"),
    "extra-arg-longer-name": server({"triton": {"extraArgs": ["--exit-timeout-secs-extra=5"]}}),
    # helmTest.input is needed with a model
    "helm-test-model-no-input": server({"helmTest": {"model": "m"}}, "helmTest.input", 'needs a name and a shape while helmTest.model is "m"'),
    "helm-test-model-no-shape": server({"helmTest": {"model": "m", "input": {"name": "X"}}}, "helmTest.input", "needs a name and a shape"),
    "helm-test-model-no-name": server({"helmTest": {"model": "m", "input": {"shape": [1]}}}, "helmTest.input", "needs a name and a shape"),
    "helm-test-model-with-input": server({"helmTest": {"model": "m", "input": {"name": "X", "shape": [1]}}}),
    "helm-test-disabled-model-no-input": server({"helmTest": {"enabled": False, "model": "m"}}),
    # umbrella: monitoring reads the server's metrics and latency summaries
    "monitoring-without-server-metrics": stack({"monitoring": {"enabled": True}, "server": {"triton": {"metrics": {"enabled": False}}}}, "monitoring.enabled",
                                               "the server's metrics are off"),
    "monitoring-without-summaries": stack({"monitoring": {"enabled": True}, "server": {"triton": {"metrics": {"summaryLatencies": False}}}},
                                          "server.triton.metrics.summaryLatencies", "removes the latency summaries"),
    "monitoring-with-server-metrics": stack({"monitoring": {"enabled": True}}),
    # server.triton.loadModels against the models the components send to
    "batch-model-unlisted": stack({**LISTED_SERVER, "batch": {"enabled": True, "target": {"model": "other"}}}, "batch.target.model", '"other" is not in server.triton.loadModels [image_classifier]'),
    "batch-model-listed": stack({**LISTED_SERVER, "batch": {"enabled": True, "target": {"model": "image_classifier"}}}),
    "batch-elsewhere-unlisted": stack({**LISTED_SERVER, "batch": {"enabled": True, "target": {"model": "other", "service": {"host": "triton.other"}}}}),
    "load-step-model-unlisted": stack(LOAD_STEP("other"), "routing.promotion.loadTest.model", '"other" is not in server.triton.loadModels'),
    "load-step-model-listed": stack(LOAD_STEP("image_classifier")),
    # rate windows of at least four scrapes (30 s by default): 120 s passes, 119 s not
    "autoscaling-window-four-scrapes": stack({"monitoring": {"enabled": True}, "server": {"autoscaling": {"mode": "keda", "window": "120s"}}}),
    "autoscaling-window-below-four-scrapes": stack({"monitoring": {"enabled": True}, "server": {"autoscaling": {"mode": "keda", "window": "119s"}}},
                                                   "server.autoscaling.window", "119s is shorter than four scrapes"),
    "autoscaling-window-unmonitored": stack({"server": {"autoscaling": {"mode": "keda", "window": "30s"}}}),
    "gate-window-below-four-scrapes": stack({"monitoring": {"enabled": True}, "server": {"canary": {"enabled": True, "strategy": "argoRollouts"}},
                                             "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True, "interval": "1m"}}},
                                            "routing.promotion.interval", "1m is shorter than four scrapes"),
    # TritonScrapeTargetDown's `for` (10m, the rule file's) covers the startup budget: 600 s passes, 601 s (61 probes
    # of 10 s) not, unless `for` is raised
    "scrape-alert-covers-the-startup-budget": stack({"monitoring": {"enabled": True}, "server": {"probes": {"maxModelLoadSeconds": 600}}}),
    "scrape-alert-below-the-startup-budget": stack({"monitoring": {"enabled": True}, "server": {"probes": {"maxModelLoadSeconds": 601}}},
                                                   "monitoring.prometheusRule.alerts.TritonScrapeTargetDown.for",
                                                   "10m is shorter than the server's startup budget, 610s"),
    "scrape-alert-raised-to-the-startup-budget": stack({"monitoring": {"enabled": True, "prometheusRule": {"alerts": {"TritonScrapeTargetDown": {"for": "610s"}}}},
                                                        "server": {"probes": {"maxModelLoadSeconds": 601}}}),
    # the log path spells pod names out: the tracks canary's workload name at most 46 characters (<server>-canary)
    "logging-canary-name-46": stack({"logging": {"enabled": True}, "global": {"server": {"fullnameOverride": "s" * 39}},
                                     "server": {"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}}),
    "logging-canary-name-47": stack({"logging": {"enabled": True}, "global": {"server": {"fullnameOverride": "s" * 40}},
                                     "server": {"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}},
                                    "logging.enabled", "and the canary's is \"" + "s" * 40 + "-canary\" (47)"),
    # batch: a sidecar run's deadline is above the time its sidecar may take to load the models (600 s here)
    "batch-deadline-equal-to-the-model-load": stack({"batch": {**BATCH_SIDECAR, "activeDeadlineSeconds": 600}}, "batch.activeDeadlineSeconds",
                                                    "600 is not above batch.sidecar.maxModelLoadSeconds 600"),
    "batch-deadline-one-above-the-model-load": stack({"batch": {**BATCH_SIDECAR, "activeDeadlineSeconds": 601}}),
    # umbrella: the PriorityClass the chart creates is the one the server uses
    "priority-class-differs": stack({"server": {"priorityClassName": "silver"}, "guardrails": {"priorityClass": {"create": True, "name": "gold"}}},
                                    "guardrails.priorityClass.name", '"gold" differs from server.priorityClassName "silver"'),
    "priority-class-same": stack({"server": {"priorityClassName": "gold"}, "guardrails": {"priorityClass": {"create": True, "name": "gold"}}}),
    "priority-class-not-created": stack({"server": {"priorityClassName": "silver"}, "guardrails": {"priorityClass": {"create": False, "name": "gold"}}}),
    "priority-class-server-unset": stack({"guardrails": {"priorityClass": {"create": True, "name": "gold"}}}),
    # umbrella: the GPU quota admits (replicas + surge) x gpu.count: 3 replicas + 1 surge, 2 GPUs each = 8
    "gpu-quota-equal": stack({"server": {"replicaCount": 3, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "8"}}}}),
    "gpu-quota-one-below": stack({"server": {"replicaCount": 3, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "7"}}}},
                                 "guardrails.resourceQuota.hard.requests.nvidia.com/gpu", "7 is less than the 8 that 3 server pods"),
    "gpu-quota-one-above": stack({"server": {"replicaCount": 3, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "9"}}}}),
    "gpu-quota-recreate-has-no-surge": stack({"server": {"replicaCount": 3, "gpu": {"count": 2}, "updateStrategy": {"type": "Recreate"}},
                                              "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "6"}}}}),
    "gpu-quota-disabled": stack({"server": {"replicaCount": 3, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": False, "hard": {"requests.nvidia.com/gpu": "1"}}}}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_check_at_its_boundary(name):
    case = CASES[name]
    if case.path is None:
        assert helm.render(case.chart, values=case.values, kube_version=case.kube)
        return
    problems = dict(error_lines(helm.render_error(case.chart, values=case.values, kube_version=case.kube).stderr, case.chart))
    assert set(problems) == {case.path}, problems
    assert case.message in problems[case.path]


@pytest.mark.parametrize(("floor", "pre_stop"), [("1.29.0", {"exec": {"command": ["sleep", "15"]}}), ("1.30.0", {"sleep": {"seconds": 15}})])
def test_pre_stop_auto_switches_to_the_sleep_action_when_the_declared_floor_reaches_1_30(floor, pre_stop):
    # drain.preStopMode auto reads the boundary of the sleepAction check above, on the charts' declared floor.
    objects = helm.render_with_kube_version_floor("triton-server", floor, kube_version="1.30.0")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"] == pre_stop


def test_declared_kubernetes_range_is_what_the_checks_assume():
    # The 1.29/1.30 cases above are inside the range the charts declare.
    assert (KUBE_LOWEST, KUBE_HIGHEST) == ("1.29.0", "1.36.0")


_SERVER_PATH = re.compile(r'validate\.fail" \(merge \(dict "path" (?:"([^"]+)"|\(printf "([^"]+)")')
_STACK_PATH = re.compile(r'fail \(printf "\\n([A-Za-z%][A-Za-z0-9_.%/-]*):')


def declared_check_paths() -> dict[str, re.Pattern]:
    """Value path of each `fail` in the _validate.tpl files, as a pattern (a %s in a path matches a segment)."""
    paths = {}
    for chart, pattern in (("triton-server", _SERVER_PATH), ("triton-stack", _STACK_PATH)):
        text = (helm.CHARTS_DIR / chart / "templates" / "_validate.tpl").read_text()
        for match in pattern.finditer(text):
            path = next(group for group in match.groups() if group)
            paths[f"{chart}:{path}"] = re.compile(re.escape(path).replace("%s", "[A-Za-z0-9./-]+").replace("%d", "[0-9]+") + "$")
    return paths


def rejections_elsewhere() -> set[tuple[str, str]]:
    """(chart, value path) of the rejecting cases other modules keep: the bad-values table and the fatal pairs
    (umbrella paths: server.* is the server chart's check, the rest the umbrella's), and the autoscaling and
    canary refusals (server chart paths, from their messages)."""
    from tests.render.server import test_autoscaling, test_canary
    from tests.render.test_fatal_combinations import PAIRS
    from tests.schema.test_bad_values import BAD_VALUES

    def split(path: str) -> tuple[str, str]:
        return ("triton-server", path.removeprefix("server.")) if path.startswith("server.") else ("triton-stack", path)

    umbrella_paths = [path for _, path in BAD_VALUES.values()] + [pair.failing_path for pair in PAIRS.values()]
    # An umbrella check may name a server.* path too (overrides, shared memory against the LimitRange).
    found = {split(path) for path in umbrella_paths} | {("triton-stack", path) for path in umbrella_paths}
    for module in (test_autoscaling, test_canary):
        found |= {("triton-server", message.split(":", 1)[0]) for message in module.REFUSAL_MESSAGES}
    return found


def test_every_check_in_the_templates_has_a_rejecting_case():
    declared = declared_check_paths()
    assert len(declared) >= 20, f"the _validate.tpl reader found only {sorted(declared)}"
    rejected = {(case.chart, case.path) for case in CASES.values() if case.path} | rejections_elsewhere()
    untested = [key for key, pattern in declared.items() if not any(chart == key.split(":")[0] and pattern.match(path) for chart, path in rejected)]
    assert untested == []
