"""Every documented value is used: changing it changes the render (cert-manager's `helm-tool lint` idea).

For each documented leaf of the server chart and the umbrella, the test renders once with the value changed
(inside a context that switches its feature on) and fails if the objects come out the same: a value that
changes nothing is either dead or wired to the wrong place.
"""

import json

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.schema.test_docs_and_schema_agree import documented_names, generate, strict_leaves, strict_schema

pytestmark = pytest.mark.render

ARN = "arn:aws:iam::123456789012:role/r"
S3 = {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "repositorySize": "10Gi", "workloadIdentity": {"aws": {"roleArn": ARN}}}}
CONFIGMAP_ITEMS = {"type": "configMap", "configMap": {"name": "models", "items": [{"key": "c", "path": "m/config.pbtxt"}]}}

MIG = {"strategy": "mixed", "gpuModel": "H100-80GB", "profile": "1g.10gb"}
WINDOW = {"name": "peak", "days": ["mon"], "start": "08:00", "end": "18:00", "minReplicas": 3}

# Longest matching prefix wins: the values that switch a value's feature on before it is changed.
CONTEXTS = {
    # explicit and poll modes need the repository API behind the header
    "triton.modelControlMode": {"adminApi": {"restricted": True, "existingSecret": "k"}},
    "modelRepository.pvc": {},
    "modelRepository.objectStore": {"modelRepository": S3},
    "modelRepository.objectStore.credentials": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "existingSecret": "keys"}}},
    "modelRepository.type": {"modelRepository": {**S3, "type": "pvc"}},
    "modelRepository.objectStore.existingSecret": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "credentials": "secret", "existingSecret": "keys"}}},
    "modelRepository.objectStore.workloadIdentity.gcp": {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "gs://b/m", "repositorySize": "10Gi", "workloadIdentity": {"gcp": {"serviceAccount": "a@p.iam.gserviceaccount.com"}}}}},
    "modelRepository.objectStore.downloadVolume.storageClassName": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "downloadVolume": {"type": "ephemeral"}}}},
    "modelRepository.configMap": {"modelRepository": CONFIGMAP_ITEMS},
    "modelRepository.configMap.files": {"modelRepository": {"type": "configMap", "configMap": {"files": {"m/config.pbtxt": "name: m"}}}},
    "adminApi": {"adminApi": {"restricted": True, "existingSecret": "admin"}},
    "adminApi.restricted": {"adminApi": {"existingSecret": "admin"}},
    # A load list needs the model-repository API closed behind the header.
    "triton.loadModels": {"adminApi": {"restricted": True, "existingSecret": "admin"}},
    "podDisruptionBudget": {"podDisruptionBudget": {"enabled": True}, "replicaCount": 3},
    "helmTest": {"helmTest": {"model": "m", "input": {"name": "X", "shape": [1]}}},
    "gpu.tolerateGpuTaint": {"gpu": {"count": 1}},
    "gpu.products": {"gpu": {"count": 1}},
    "guardrails.resourceQuota": {"guardrails": {"resourceQuota": {"enabled": True}}},
    "guardrails.limitRange": {"guardrails": {"limitRange": {"enabled": True}}},
    "guardrails.priorityClass": {"guardrails": {"priorityClass": {"create": True}}},
    "updateStrategy.maxUnavailable": {"updateStrategy": {"maxSurge": 1}},
    "service.type": {"networkPolicy": {"inferenceFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}},
    "engineBuild": {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}]}},
    "engineBuild.enabled": {"gpu": {"count": 1}, "engineBuild": {"models": [{"name": "m", "onnx": "m.onnx"}]}},
    "gpu.mig": {"gpu": {"count": 1, "mig": MIG}},
    # The model sets how many slices of the profile the MIG manager layout holds (7 on an H100, 4 on an A100-40GB).
    "gpu.mig.gpuModel": {"gpu": {"count": 1, "mig": {**MIG, "managerConfig": {"create": True}}}},
    "gpu.mig.capacity": {"gpu": {"count": 1, "mig": {**MIG, "capacity": {"nodes": 2, "gpusPerNode": 2, "slicesPerGpu": 2}}}, "replicaCount": 6},
    "autoscaling": {"autoscaling": {"mode": "keda"}},
    "autoscaling.hpa": {"autoscaling": {"mode": "hpa"}},
    "autoscaling.prometheus.authentication": {"autoscaling": {"mode": "keda", "prometheus": {"authentication": {"mode": "bearer", "existingSecret": "prom"}}}},
    "autoscaling.scheduled": {"autoscaling": {"mode": "keda", "scheduled": {"windows": [WINDOW]}}},
    "autoscaling.predictive": {"autoscaling": {"mode": "keda", "predictive": {"enabled": True, "replicaCapacity": 100}}},
    "autoscaling.keda.scaleToZero": {"autoscaling": {"mode": "keda", "scheduled": {"windows": [WINDOW]}}},
    # triton-logging: each output's settings are read when it is the output
    "output.type": {"output": {"elasticsearch": {"host": "es.logging.svc"}}},
    "output.elasticsearch": {"output": {"type": "elasticsearch", "elasticsearch": {"host": "es.logging.svc"}}},
    "output.opensearch": {"output": {"type": "opensearch", "opensearch": {"host": "os.logging.svc"}}},
    "output.loki": {"output": {"type": "loki", "loki": {"url": "http://loki.svc"}}, "image": {"repository": "registry.example.com/fluentd-loki", "tag": "1"}},
    # triton-loadtest: gRPC needs an image with tritonclient (the chart refuses it with the official one)
    "target.protocol": {"image": {"repository": "registry.example.com/locust-tritonclient"}},
}

CANARY = {"enabled": True, "image": {"tag": "24.11-py3"}}
ROLLOUT = {"enabled": True, "strategy": "argoRollouts"}
CONTEXTS.update({
    "triton-server:canary": {"canary": CANARY},
    "triton-server:canary.autoscaling": {"canary": {**CANARY, "autoscaling": {"mode": "keda"}}},
    "triton-server:canary.modelRepository.objectStore": {"modelRepository": S3, "canary": CANARY},
    "triton-server:canary.strategy": {"canary": ROLLOUT},
    "triton-server:canary.rollout": {"canary": ROLLOUT},
    "triton-routing:canary": {"canary": {"enabled": True}},
    "triton-routing:canary.mirror": {"canary": {"enabled": True, "mirror": {"enabled": True}}},
    "triton-routing:faultDrill": {"faultDrill": {"enabled": True}},
    "triton-routing:gateway": {"gateway": {"enabled": True, "hosts": ["triton.example.com"]}},
    "triton-routing:fullnameOverride": {"gateway": {"enabled": True, "hosts": ["triton.example.com"]}},
    "triton-routing:authorization": {"authorization": {"enabled": True, "inferenceNamespaces": ["apps"]}},
    "triton-routing:promotion": {"canary": {"enabled": True}, "promotion": {"enabled": True}},
    "triton-routing:sidecarMetrics": {"sidecarMetrics": {"enabled": True}},
    "triton-routing:faultDrill.delay": {"faultDrill": {"enabled": True, "delay": {"percentage": 10}}},
    "triton-routing:global": {"canary": {"enabled": True}, "promotion": {"enabled": True, "loadTest": {"enabled": True, "configMap": "load-triton-loadtest"}}},
    "triton-routing:promotion.loadTest": {"canary": {"enabled": True}, "promotion": {"enabled": True, "loadTest": {"enabled": True, "configMap": "load-triton-loadtest"}}},
    "triton-routing:server.ports.metrics": {"mtls": {"strict": True}},
    "triton-stack:routing": {"routing": {"enabled": True}},
    "triton-stack:routing.canary": {"server": {"canary": CANARY}, "routing": {"enabled": True, "canary": {"enabled": True}}},
})
# Extra values for the changed render only: switching the canary to the tracks strategy needs something to try.
AFTER_EXTRA = {"triton-server:canary.strategy": {"canary": {"image": {"tag": "24.11-py3"}}}}

# Values whose type alone does not say what a valid different value is.
NEW_VALUES = {
    "global.imageRegistry": "registry.example.com",
    "global.imagePullSecrets": ["pull"],
    "global.commonLabels": {"team": "ml"},
    "global.server.nameOverride": "triton",
    "global.server.fullnameOverride": "shared-triton",
    "nameOverride": "renamed",
    "fullnameOverride": "renamed",
    "image.repository": "registry.example.com/triton",
    "image.tag": "24.11-py3",
    "image.digest": "sha256:" + "a" * 64,
    "imagePullSecrets": ["pull"],
    "resources": {"requests": {"cpu": "3"}},
    "priorityClassName": "gold",
    "podAnnotations": {"a": "b"},
    "podLabels": {"a": "b"},
    "nodeSelector": {"pool": "gpu"},
    "tolerations": [{"key": "k", "operator": "Exists"}],
    "gpu.products": ["NVIDIA-L4"],
    "topologySpread.topologyKey": "kubernetes.io/hostname",
    "podAntiAffinity.topologyKey": "topology.kubernetes.io/zone",
    "triton.extraArgs": ["--buffer-manager-thread-count=2"],
    "triton.loadModels": ["image_classifier"],
    "triton.env": [{"name": "X", "value": "1"}],
    "adminApi.categories": ["statistics"],
    "adminApi.header": "x-admin",
    "adminApi.existingSecret": "other",
    "adminApi.secretKey": "other",
    "modelRepository.mountPath": "/srv/models",
    "modelRepository.pvc.claimName": "other",
    "modelRepository.pvc.subPath": "triton",
    "modelRepository.objectStore.uri": "s3://other/m",
    "modelRepository.objectStore.repositorySize": "20Gi",
    "modelRepository.objectStore.downloadVolume.size": "30Gi",
    "modelRepository.objectStore.downloadVolume.storageClassName": "fast-ssd",
    "modelRepository.objectStore.existingSecret": "other",
    "modelRepository.objectStore.workloadIdentity.aws.roleArn": "arn:aws:iam::123456789012:role/other",
    "modelRepository.objectStore.workloadIdentity.gcp.serviceAccount": "r@p.iam.gserviceaccount.com",
    "modelRepository.configMap.name": "other",
    "modelRepository.configMap.items": [{"key": "k", "path": "m/1/model.py"}],
    "modelRepository.configMap.files": {"m/config.pbtxt": "x"},
    "sharedMemory.sizeLimit": "2Gi",
    "gpu.mig.gpuModel": "A100-40GB",
    "gpu.mig.profile": "2g.20gb",
    "autoscaling.target": 5000,
    "autoscaling.model": "image_classifier",
    "autoscaling.window": "5m",
    "updateStrategy.maxSurge": "50%",
    "updateStrategy.maxUnavailable": "25%",
    "podDisruptionBudget.maxUnavailable": "34%",
    "autoscaling.behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}]}, "scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}]}},
    "autoscaling.prometheus.serverAddress": "http://prometheus.observability.svc:9090",
    "autoscaling.prometheus.authentication.existingSecret": "other",
    "autoscaling.keda.activationTarget": 5,
    "autoscaling.scheduled.timezone": "Europe/Paris",
    "autoscaling.scheduled.windows": [{**WINDOW, "name": "other"}],
    "autoscaling.predictive.lookback": "20m",
    "autoscaling.predictive.maxFactor": 3,
    "autoscaling.predictive.replicaCapacity": 50,
    "writableVolumes.tmpSizeLimit": "2Gi",
    "writableVolumes.cacheSizeLimit": "2Gi",
    "engineBuild.repositorySizeLimit": "40Gi",
    "engineBuild.image.repository": "registry.example.com/tensorrt",
    # Same NGC release as the server's image (a render-time check), another variant of it.
    "engineBuild.image.tag": "24.10-py3-igpu",
    "engineBuild.image.digest": "sha256:" + "c" * 64,
    "engineBuild.trtexec": "/opt/trtexec",
    "engineBuild.cacheDir": "engines",
    "engineBuild.models": [{"name": "other", "onnx": "o.onnx"}],
    "engineBuild.resources": {"requests": {"cpu": "2"}},
    "drain.preStopMode": "sleepAction",
    "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 1001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False, "capabilities": {"drop": ["ALL"]}},
    "serviceAccount.name": "other",
    "serviceAccount.annotations": {"a": "b"},
    "service.annotations": {"a": "b"},
    "networkPolicy.inferenceFrom": [{"podSelector": {"matchLabels": {"a": "b"}}}],
    "networkPolicy.monitoringNamespace": "observability",
    "service.ports.http": 9000,
    "service.ports.grpc": 9001,
    "helmTest.image.repository": "registry.example.com/curl",
    # triton-server canary
    "canary.image.repository": "registry.example.com/triton",
    "canary.image.tag": "24.12-py3",
    "canary.image.digest": "sha256:" + "d" * 64,
    "canary.modelRepository.pvc.claimName": "other-models",
    "canary.modelRepository.pvc.subPath": "v2",
    "canary.modelRepository.objectStore.uri": "s3://b/m2",
    "canary.rollout.steps": [{"setWeight": 20}],
    # triton-routing
    "canary.header": "x-track",
    "canary.mirror.percentage": 20,
    "connectionPool.connectTimeout": "10s",
    "connectionPool.idleTimeout": "600s",
    "outlierDetection.interval": "20s",
    "outlierDetection.baseEjectionTime": "60s",
    "timeout": "30s",
    "retries.perTryTimeout": "5s",
    "retries.http": "5xx",
    "retries.grpc": "unavailable",
    "faultDrill.header": "x-drill",
    "faultDrill.abort.percentage": 20,
    "faultDrill.delay.percentage": 30,
    "faultDrill.delay.fixedDelay": "5s",
    "gateway.hosts": ["other.example.com"],
    "gateway.selector": {"istio": "gateway-two"},
    "gateway.tls.credentialName": "triton-cert",
    "authorization.inferenceNamespaces": ["other"],
    "authorization.inferencePrincipals": ["cluster.local/ns/apps/sa/client"],
    "authorization.adminPrincipals": ["cluster.local/ns/ops/sa/admin"],
    "promotion.prometheus.address": "http://prometheus.observability.svc:9090",
    "promotion.trackLabel": "pod_track",
    "sidecarMetrics.interval": "30s",
    "sidecarMetrics.labels": {"release": "prometheus"},
    "sidecarMetrics.fromNamespaces": ["observability"],
    "promotion.interval": "5m",
    "promotion.maxFailureRatio": 0.05,
    "promotion.maxLatencyRatio": 1.5,
    "promotion.loadTest.image.repository": "registry.example.com/locust",
    "promotion.loadTest.image.tag": "2.48.0",
    "promotion.loadTest.image.digest": "sha256:" + "e" * 64,
    "promotion.loadTest.configMap": "other-loadtest",
    "promotion.loadTest.model": "image_classifier_nobatch",
    "promotion.loadTest.duration": "2m",
    "promotion.loadTest.sloP95Ms": 200,
    "promotion.loadTest.sloP99Ms": 400,
    "promotion.loadTest.sloFailureRatio": 0.05,
    "helmTest.image.tag": "8.12.0",
    "helmTest.image.digest": "sha256:" + "b" * 64,
    "helmTest.model": "m2",
    "helmTest.input.name": "Y",
    "helmTest.input.shape": [2],
    "server": {"replicaCount": 2},
    "guardrails.resourceQuota.hard": {"pods": "5"},
    "guardrails.limitRange.defaultRequest": {"cpu": "200m"},
    "guardrails.limitRange.default": {"memory": "1Gi"},
    "guardrails.limitRange.max": {"memory": "8Gi"},
    "guardrails.priorityClass.name": "gold",
    "target.host": "http://other-triton:8000",
    "target.grpcAddress": "other-triton:8001",
    "target.model": "other",
    "load.runTime": "5m",
    "load.userRps": 2,
    "load.extraArgs": ["--step-count=8"],
    "slo.p95Ms": 50,
    "slo.p99Ms": 80,
    "slo.failureRatio": 0.05,
    "slo.stallSeconds": 30,
    "master.resources": {"requests": {"cpu": "500m"}},
    "workers.resources": {"requests": {"cpu": "2"}},
    # triton-monitoring (standalone; the umbrella's section is `monitoring`)
    "monitoring": {"enabled": True},
    "serviceMonitor.labels": {"release": "kube-prometheus-stack"},
    "serviceMonitor.interval": "15s",
    "serviceMonitor.scrapeTimeout": "5s",
    "serviceMonitor.seriesLabels": {"cluster": "prod-eu"},
    "prometheusRule.labels": {"release": "kube-prometheus-stack"},
    "prometheusRule.runbookBaseUrl": "https://wiki.example.com/runbooks",
    "prometheusRule.severity.page": "page",
    "prometheusRule.severity.ticket": "ticket",
    "prometheusRule.slo.availability": 0.995,
    "prometheusRule.slo.queueSecondsPerRequest": 0.05,
    "prometheusRule.thresholds.pendingRequests": 16,
    "prometheusRule.thresholds.gpuMemoryUtilization": 0.8,
    "prometheusRule.thresholds.canaryFailureRatioMargin": 0.02,
    "prometheusRule.thresholds.canaryLatencyRatio": 2,
    "prometheusRule.alerts": {"TritonServerDown": {"for": "10m"}},
    "dashboards.namespace": "grafana",
    "dashboards.sidecarLabel": "dashboards.example.com/load",
    "dashboards.sidecarLabelValue": "yes",
    "dashboards.folder": "Inference",
    "dashboards.folderAnnotation": "k8s-sidecar-target-directory",
    # triton-logging (standalone; the umbrella's section is `logging`)
    "logging": {"enabled": True},
    "namespace.name": "node-logs",
    "target.namespace": "inference-b",
    "output.elasticsearch.host": "es-2.logging.svc",
    "output.elasticsearch.port": 9243,
    "output.elasticsearch.indexPrefix": "ml",
    "output.elasticsearch.existingSecret": "es-creds",
    "output.elasticsearch.caSecret": "es-ca",
    "output.opensearch.host": "os-2.logging.svc",
    "output.opensearch.port": 9243,
    "output.opensearch.indexPrefix": "ml",
    "output.opensearch.existingSecret": "os-creds",
    "output.opensearch.caSecret": "os-ca",
    "output.loki.url": "http://loki-gateway.loki.svc",
    "output.loki.tenant": "ml",
    "output.loki.existingSecret": "loki-creds",
    "buffer.totalLimitSize": "8g",
    "buffer.chunkLimitSize": "16m",
    "buffer.flushInterval": "10s",
    "buffer.retryMaxInterval": "5m",
    "hostPaths.logs": "/srv/log",
    "hostPaths.state": "/srv/fluentd",
    "nodeSelector": {"pool": "gpu"},
    "logLevel": "debug",
}
# Values that only feed a render-time check: changing them must move the check's boundary, so a value
# that fails the render proves they are read.
CHECK_ONLY = {"routing.canary.enabled": False, "drain.marginSeconds": 100, "gpu.mig.capacity.nodes": 1, "gpu.mig.capacity.gpusPerNode": 1, "gpu.mig.capacity.slicesPerGpu": 1}
# Reserved sections: setting them is meant to fail the render (tests/render/stack); they change nothing else.
# A subchart's `enabled` is the umbrella's condition (routing.enabled, monitoring.enabled), read by Helm, not by
# its templates.
RESERVED = {"enabled"}


def nested(path: str, value) -> dict:
    result = value
    for part in reversed(path.split(".")):
        result = {part: result}
    return result


def merged(base: dict, extra: dict) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in extra.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def changed_value(path: str, node: dict, current):
    if path in NEW_VALUES:
        return NEW_VALUES[path]
    if "enum" in node:
        return next(option for option in node["enum"] if option != current)
    if node.get("type") == "boolean":
        return not current
    if node.get("type") == "integer":
        return current + 1 if current + 1 <= node.get("maximum", current + 1) else current - 1
    raise AssertionError(f"{path}: add a new value for it to NEW_VALUES")


def current_value(values: dict, path: str):
    for part in path.split("."):
        values = values.get(part) if isinstance(values, dict) else None
    return values


NEW_VALUES["batch"] = {"enabled": True}

# triton-batch: its own contexts and values where its paths would match another chart's (target.*, ...).
# A sidecar or a schedule needs a deadline (a run that hangs would never end).
BATCH_DEADLINE = {"activeDeadlineSeconds": 86400}
BATCH_SIDECAR = {"target": {"mode": "sidecar"}, "sidecar": {"modelRepository": {"claimName": "models"}}, **BATCH_DEADLINE}
BATCH_S3 = {"output": {"path": "s3://b/out"}, "objectStore": {"workloadIdentity": {"aws": {"roleArn": ARN}}}}
CHART_OVERRIDES = {
    "triton-batch": {
        "contexts": {
            "schedule": BATCH_DEADLINE,
            "timeZone": {"schedule": "0 2 * * *", **BATCH_DEADLINE},
            "cronJob": {"schedule": "0 2 * * *", **BATCH_DEADLINE},
            "sidecar": BATCH_SIDECAR,
            "sidecar.gpu.tolerateGpuTaint": merged(BATCH_SIDECAR, {"sidecar": {"gpu": {"count": 1}}}),
            "sidecar.gpu.products": merged(BATCH_SIDECAR, {"sidecar": {"gpu": {"count": 1}}}),
            "sidecar.gpu.mig": merged(BATCH_SIDECAR, {"sidecar": {"gpu": {"count": 1, "mig": MIG}}}),
            "target.service.grpcPort": {"target": {"protocol": "grpc"}},
            "target.mode": {"sidecar": {"modelRepository": {"claimName": "models"}}, **BATCH_DEADLINE},
            "data.pvc.mountPath": {"input": {"path": "/data/a/in"}, "output": {"path": "/data/a/out"}},
            "objectStore": BATCH_S3,
            "objectStore.credentials": merged(BATCH_S3, {"objectStore": {"existingSecret": "keys"}}),
            "objectStore.existingSecret": merged(BATCH_S3, {"objectStore": {"credentials": "secret", "existingSecret": "keys"}}),
            "objectStore.workloadIdentity.gcp": {"output": {"path": "gs://b/out"}, "objectStore": {"workloadIdentity": {"gcp": {"serviceAccount": "a@p.iam.gserviceaccount.com"}}}},
        },
        "new_values": {
            "target.service.host": "other-triton",
            "target.model": "other",
            "target.modelVersion": "2",
            "sidecar.image.repository": "registry.example.com/tritonserver",
            "sidecar.image.tag": "24.11-py3",
            "sidecar.image.digest": "sha256:" + "d" * 64,
            "sidecar.modelRepository.claimName": "other",
            "sidecar.modelRepository.subPath": "triton",
            "sidecar.gpu.products": ["NVIDIA-L4"],
            "sidecar.gpu.mig.profile": "2g.20gb",
            "sidecar.resources": {"requests": {"cpu": "2"}},
            "sidecar.sharedMemorySizeLimit": "512Mi",
            "sidecar.extraArgs": ["--buffer-manager-thread-count=2"],
            "input.path": "/data/other-input",
            "output.path": "/data/other-output",
            "data.pvc.claimName": "other",
            "data.pvc.mountPath": "/data/a",
            "objectStore.workloadIdentity.aws.roleArn": "arn:aws:iam::123456789012:role/other",
            "objectStore.workloadIdentity.gcp.serviceAccount": "r@p.iam.gserviceaccount.com",
            "objectStore.existingSecret": "other",
            "client.image.repository": "registry.example.com/tritonserver",
            "client.image.tag": "24.11-py3-sdk",
            "client.image.digest": "sha256:" + "e" * 64,
            "client.retryInitialSeconds": 1.5,
            "client.retryMaxSeconds": 10,
            "client.progressIntervalSeconds": 5,
            "client.commitSeconds": 5,
            "client.decodeConcurrency": 1,
            "client.maxImagePixels": 16000000,
            "client.maxLineBytes": 16000000,
            "client.pushgateway": "http://pushgateway.monitoring:9091",
            "client.resources": {"requests": {"cpu": "2"}},
            "client.tmpSizeLimit": "2Gi",
            "client.env": [{"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"}],
            "priorityClass.name": "batch-low",
            "kueue.queueName": "team-a",
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Paris",
        },
        # The GPU model only feeds the MIG profile check (the resource is named by the profile).
        "check_only": {"sidecar.gpu.mig.gpuModel": "A30-24GB"},
    },
}


def cases(chart: str):
    readme, _ = generate(chart)
    leaves = strict_leaves(strict_schema(chart))
    return [(chart, path, leaves[path]) for path in sorted(documented_names(readme)) if path not in RESERVED]


CASES = (cases("triton-server") + cases("triton-stack") + cases("triton-routing") + cases("triton-loadtest") + cases("triton-batch")
         + cases("triton-monitoring") + cases("triton-logging"))


@pytest.mark.parametrize(("chart", "path", "node"), CASES, ids=[f"{c}:{p}" for c, p, _ in CASES])
def test_changing_the_value_changes_the_render(chart, path, node):
    import yaml

    # A "<chart>:<prefix>" context wins over a plain "<prefix>" one (two charts may share a value path); a chart
    # with its own CHART_OVERRIDES uses only those contexts.
    overrides = CHART_OVERRIDES.get(chart)
    if overrides:
        candidates = (overrides["contexts"],)
    else:
        scoped = {key.split(":", 1)[1]: value for key, value in CONTEXTS.items() if key.startswith(f"{chart}:")}
        plain = {key: value for key, value in CONTEXTS.items() if ":" not in key}
        candidates = (scoped, plain)
    check_only = {**CHECK_ONLY, **overrides["check_only"]} if overrides else CHECK_ONLY
    context = next((contexts[prefix] for contexts in candidates for prefix in sorted(contexts, key=len, reverse=True)
                    if path == prefix or path.startswith(prefix + ".")), {})
    defaults = yaml.safe_load((helm.CHARTS_DIR / chart / "values.yaml").read_text())
    current = current_value(merged(defaults, context), path)
    if path in check_only:
        error = helm.render_error(chart, values=merged(context, nested(path, check_only[path])), kube_version=KUBE_HIGHEST)
        assert path in error.stderr
        return
    new_value = overrides["new_values"][path] if overrides and path in overrides["new_values"] else changed_value(path, node, current)
    before = helm.render(chart, values=context, kube_version=KUBE_HIGHEST)
    after_values = merged(merged(context, AFTER_EXTRA.get(f"{chart}:{path}", {})), nested(path, new_value))
    after = helm.render(chart, values=after_values, kube_version=KUBE_HIGHEST)
    assert before != after, f"{chart}: changing {path} changed nothing in the render"


def test_a_dead_value_is_caught():
    # The negative pair: a key that templates never read leaves the render unchanged.
    before = helm.render("triton-server", kube_version=KUBE_HIGHEST)
    after = helm.render("triton-server", values={"global": {"unreadByAnyTemplate": "x"}}, kube_version=KUBE_HIGHEST)
    assert before == after
