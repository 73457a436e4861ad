"""Bad input is rejected by both Helm majors, nothing is rendered, and the message names the value path.

Each case is a values override for the umbrella chart and the value path the error must name. Helm 3 and
Helm 4 must report the same set of (path, message) lines; the order of schema errors differs between them.
"""

import pytest

from tests.conftest import ENVIRONMENT_FILES, KUBE_HIGHEST, SCENARIOS
from tests.harness import render as helm
from tests.harness.errors import error_lines

pytestmark = pytest.mark.render

WINDOW = {"name": "peak", "days": ["mon", "tue"], "start": "08:00", "end": "18:00", "minReplicas": 3}
MIG = {"strategy": "mixed", "gpuModel": "H100-80GB", "profile": "1g.10gb"}
S3 = {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "repositorySize": "10Gi", "workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}

BAD_VALUES = {
    # wrong types
    "replicas as a string": ({"server": {"replicaCount": "3"}}, "server.replicaCount"),
    "gpu count as a float": ({"server": {"gpu": {"count": 1.5}}}, "server.gpu.count"),
    "boolean as a string": ({"server": {"triton": {"strictReadiness": "yes"}}}, "server.triton.strictReadiness"),
    "extra args not a list": ({"server": {"triton": {"extraArgs": "--foo=1"}}}, "server.triton.extraArgs"),
    "reserved section not a boolean": ({"routing": {"enabled": "no"}}, "routing.enabled"),
    # misspelt or unknown keys
    "misspelt server key": ({"server": {"replicas": 3}}, "server.replicas"),
    "misspelt nested key": ({"server": {"gpu": {"cout": 1}}}, "server.gpu.cout"),
    "unknown top-level section": ({"autoscale": {"enabled": True}}, "autoscale"),
    "unknown guardrail": ({"guardrails": {"networkQuota": {}}}, "guardrails.networkQuota"),
    # out of range
    "negative replicas": ({"server": {"replicaCount": -1}}, "server.replicaCount"),
    "too many gpus": ({"server": {"gpu": {"count": 17}}}, "server.gpu.count"),
    "port out of range": ({"server": {"service": {"ports": {"http": 70000}}}}, "server.service.ports.http"),
    "zero model load time": ({"server": {"probes": {"maxModelLoadSeconds": 0}}}, "server.probes.maxModelLoadSeconds"),
    "log verbosity too high": ({"server": {"triton": {"logVerbose": 99}}}, "server.triton.logVerbose"),
    # bad enums
    "model control mode": ({"server": {"triton": {"modelControlMode": "dynamic"}}}, "server.triton.modelControlMode"),
    "log format json": ({"server": {"triton": {"logFormat": "json"}}}, "server.triton.logFormat"),
    "repository type": ({"server": {"modelRepository": {"type": "nfs"}}}, "server.modelRepository.type"),
    "admin category": ({"server": {"adminApi": {"categories": ["everything"]}}}, "server.adminApi.categories.0"),
    "update strategy": ({"server": {"updateStrategy": {"type": "BlueGreen"}}}, "server.updateStrategy.type"),
    # bad formats: quantities, tags, digests, URIs
    "shm size": ({"server": {"sharedMemory": {"sizeLimit": "1 gig"}}}, "server.sharedMemory.sizeLimit"),
    "memory request": ({"server": {"resources": {"requests": {"memory": "lots"}}}}, "server.resources.requests.memory"),
    "image tag with a space": ({"server": {"image": {"tag": "24.10 py3"}}}, "server.image.tag"),
    "digest without algorithm": ({"server": {"image": {"digest": "abc123"}}}, "server.image.digest"),
    "object store scheme": ({"server": {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "ftp://x/y"}}}}, "server.modelRepository.objectStore.uri"),
    "quota quantity": ({"guardrails": {"resourceQuota": {"hard": {"requests.cpu": "many"}}}}, "guardrails.resourceQuota.hard.requests.cpu"),
    # inconsistent combinations (template checks)
    "grace period shorter than the drain": ({"server": {"drain": {"terminationGracePeriodSeconds": 20}}}, "server.drain.terminationGracePeriodSeconds"),
    "restricted admin without a secret": ({"server": {"adminApi": {"restricted": True}}}, "server.adminApi.existingSecret"),
    "health behind the header": ({"server": {"adminApi": {"restricted": True, "existingSecret": "k", "categories": ["health"]}}}, "server.adminApi.categories"),
    "gpu products without gpus": ({"server": {"gpu": {"products": ["NVIDIA-L4"]}}}, "server.gpu.products"),
    "gpus through resources": ({"server": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}, "server.resources.limits"),
    "mig slices through resources": ({"server": {"resources": {"requests": {"nvidia.com/mig-1g.10gb": 1}}}}, "server.resources.requests"),
    "another vendor's gpus through the engine build": ({"server": {"engineBuild": {"resources": {"limits": {"amd.com/gpu": 1}}}}}, "server.engineBuild.resources.limits"),
    "null replica count": ({"server": {"replicaCount": None}}, "server.replicaCount"),
    "object store without a declared size": ({"server": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "repositorySize": ""}}}}, "server.modelRepository.objectStore.repositorySize"),
    "download volume smaller than the repository": ({"server": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "downloadVolume": {"size": "1Gi"}}}}}, "server.modelRepository.objectStore.downloadVolume.size"),
    "download volume type": ({"server": {"modelRepository": {"objectStore": {"downloadVolume": {"type": "hostPath"}}}}}, "server.modelRepository.objectStore.downloadVolume.type"),
    "writable volume size": ({"server": {"writableVolumes": {"tmpSizeLimit": "1 GB"}}}, "server.writableVolumes.tmpSizeLimit"),
    "shm as large as the memory limit": ({"server": {"sharedMemory": {"sizeLimit": "4Gi"}}}, "server.sharedMemory.sizeLimit"),
    "request above the limit": ({"server": {"resources": {"requests": {"memory": "8Gi"}}}}, "server.resources.requests.memory"),
    "ephemeral storage below the volumes": ({"server": {"resources": {"requests": {"ephemeral-storage": "1Gi"}}}}, "server.resources.requests.ephemeral-storage"),
    "two listeners on one port": ({"server": {"service": {"ports": {"grpc": 8000}}}}, "server.service.ports.grpc"),
    "repository mounted over a chart volume": ({"server": {"modelRepository": {"mountPath": "/dev/shm"}}}, "server.modelRepository.mountPath"),
    "engine built by another release": ({"server": {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "image": {"tag": "24.08-py3"}, "models": [{"name": "m", "onnx": "m.onnx"}]}}}, "server.engineBuild.image.tag"),
    "env the chart manages": ({"server": {"adminApi": {"restricted": True, "existingSecret": "k"}, "triton": {"env": [{"name": "TRITON_ADMIN_KEY", "value": "k"}]}}}, "server.triton.env"),
    "headless switch not a boolean": ({"server": {"service": {"grpcHeadless": {"enabled": "yes"}}}}, "server.service.grpcHeadless.enabled"),
    "quota on cpu limits nobody states": ({"guardrails": {"resourceQuota": {"enabled": True, "hard": {"limits.cpu": "64"}}}}, "guardrails.resourceQuota.hard.limits.cpu"),
    "quota below the pods": ({"guardrails": {"resourceQuota": {"enabled": True, "hard": {"pods": "1"}}}}, "guardrails.resourceQuota.hard.pods"),
    "zero-sized scratch volume": ({"server": {"writableVolumes": {"tmpSizeLimit": 0}}}, "server.writableVolumes.tmpSizeLimit"),
    "repository mounted over a chart mount's parent": ({"server": {"modelRepository": {"mountPath": "/home/triton-server"}}}, "server.modelRepository.mountPath"),
    "storage class on a node-disk download volume": ({"server": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "downloadVolume": {"storageClassName": "gp3"}}}}}, "server.modelRepository.objectStore.downloadVolume.storageClassName"),
    "quota on a gpu without requests.": ({"guardrails": {"resourceQuota": {"enabled": True, "hard": {"nvidia.com/gpu": "4"}}}}, "guardrails.resourceQuota.hard.nvidia.com/gpu"),
    "limit range default above its max": ({"guardrails": {"limitRange": {"enabled": True, "default": {"memory": "300Gi"}}}}, "guardrails.limitRange.default.memory"),
    "gpu in a limit range": ({"guardrails": {"limitRange": {"enabled": True, "max": {"nvidia.com/gpu": "1"}}}}, "guardrails.limitRange.max.nvidia.com/gpu"),
    "download claims beyond the quota": ({"server": {"modelRepository": {**S3, "objectStore": {**S3["objectStore"], "downloadVolume": {"type": "ephemeral"}}}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"persistentvolumeclaims": "1"}}}}, "guardrails.resourceQuota.hard.persistentvolumeclaims"),
    # autoscaling and MIG
    "two autoscalers at once": ({"server": {"autoscaling": {"mode": "hpa+keda"}}}, "server.autoscaling.mode"),
    "autoscaler minimum above maximum": ({"server": {"autoscaling": {"mode": "keda", "minReplicas": 7, "maxReplicas": 3}}}, "server.autoscaling.minReplicas"),
    "zero scaling target": ({"server": {"autoscaling": {"mode": "keda", "target": 0}}}, "server.autoscaling.target"),
    "negative scaling target": ({"server": {"autoscaling": {"mode": "hpa", "target": -5}}}, "server.autoscaling.target"),
    "scale to zero without opting in": ({"server": {"autoscaling": {"mode": "keda", "minReplicas": 0}}}, "server.autoscaling.minReplicas"),
    "malformed window time": ({"server": {"autoscaling": {"mode": "keda", "scheduled": {"windows": [{**WINDOW, "start": "8am"}]}}}}, "server.autoscaling.scheduled.windows.0.start"),
    "window ending before it starts": ({"server": {"autoscaling": {"mode": "keda", "scheduled": {"windows": [{**WINDOW, "start": "20:00", "end": "07:00"}]}}}}, "server.autoscaling.scheduled.windows.0.end"),
    "overlapping windows": ({"server": {"autoscaling": {"mode": "keda", "scheduled": {"windows": [WINDOW, {**WINDOW, "name": "again", "start": "09:00"}]}}}}, "server.autoscaling.scheduled.windows.1"),
    "unknown day": ({"server": {"autoscaling": {"mode": "keda", "scheduled": {"windows": [{**WINDOW, "days": ["monday"]}]}}}}, "server.autoscaling.scheduled.windows.0.days.0"),
    "time zone that is not IANA": ({"server": {"autoscaling": {"scheduled": {"timezone": "Paris"}}}}, "server.autoscaling.scheduled.timezone"),
    "schedule in hpa mode": ({"server": {"autoscaling": {"mode": "hpa", "scheduled": {"windows": [WINDOW]}}}}, "server.autoscaling.scheduled.windows"),
    "forecast horizon of 0": ({"server": {"autoscaling": {"predictive": {"horizonSeconds": 0}}}}, "server.autoscaling.predictive.horizonSeconds"),
    "forecast without replica capacity": ({"server": {"autoscaling": {"mode": "keda", "predictive": {"enabled": True}}}}, "server.autoscaling.predictive.replicaCapacity"),
    "rate window that is not a duration": ({"server": {"autoscaling": {"window": "1 minute"}}}, "server.autoscaling.window"),
    "prometheus address without scheme": ({"server": {"autoscaling": {"prometheus": {"serverAddress": "prometheus:9090"}}}}, "server.autoscaling.prometheus.serverAddress"),
    "mig profile the gpu lacks": ({"server": {"gpu": {"count": 1, "mig": {**MIG, "profile": "1g.5gb"}}}}, "server.gpu.mig.profile"),
    "mig with several gpus": ({"server": {"gpu": {"count": 2, "mig": MIG}}}, "server.gpu.count"),
    "unknown mig strategy": ({"server": {"gpu": {"mig": {"strategy": "all"}}}}, "server.gpu.mig.strategy"),
    "gpu utilisation under mig": ({"server": {"gpu": {"count": 1, "mig": MIG}, "autoscaling": {"mode": "keda", "signal": "gpuUtilization", "target": 0.5}}}, "server.autoscaling.signal"),
    "more pods than mig slices": ({"server": {"gpu": {"count": 1, "mig": {**MIG, "profile": "7g.80gb", "capacity": {"nodes": 1, "gpusPerNode": 2}}}, "autoscaling": {"mode": "keda", "maxReplicas": 4}}}, "server.autoscaling.maxReplicas"),
    "limit range below the server": ({"guardrails": {"limitRange": {"enabled": True, "max": {"memory": "1Gi"}}}}, "guardrails.limitRange.max.memory"),
    "rollout that cannot progress": ({"server": {"updateStrategy": {"maxSurge": 0, "maxUnavailable": 0}}}, "server.updateStrategy"),
    "pdb evicting everything": ({"server": {"replicaCount": 2, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}}}, "server.podDisruptionBudget.maxUnavailable"),
    "extra arg repeating a managed flag": ({"server": {"triton": {"extraArgs": ["--exit-timeout-secs=5"]}}}, "server.triton.extraArgs"),
    "pvc without a claim": ({"server": {"modelRepository": {"pvc": {"claimName": ""}}}}, "server.modelRepository.pvc.claimName"),
    "object store without identity": ({"server": {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "s3://b/m"}}}}, "server.modelRepository.objectStore.workloadIdentity.aws.roleArn"),
    "configmap with nothing in it": ({"server": {"modelRepository": {"type": "configMap"}}}, "server.modelRepository.configMap.files"),
    "helm test model without an input": ({"server": {"helmTest": {"model": "m"}}}, "server.helmTest.input"),
    "helm test input datatype": ({"server": {"helmTest": {"input": {"datatype": "FLOAT"}}}}, "server.helmTest.input.datatype"),
    "reserved section enabled": ({"routing": {"enabled": True}}, "routing.enabled"),
    "priority class mismatch": ({"server": {"priorityClassName": "a"}, "guardrails": {"priorityClass": {"create": True, "name": "b"}}}, "guardrails.priorityClass.name"),
    "quota below the server's gpus": ({"server": {"replicaCount": 2, "gpu": {"count": 8}}, "guardrails": {"resourceQuota": {"enabled": True}}}, "guardrails.resourceQuota.hard.requests.nvidia.com/gpu"),
}


def rejection(values: dict, helm_major: str):
    return helm.render_error("triton-stack", values=values, helm=helm_major, kube_version=KUBE_HIGHEST)


def test_there_are_at_least_25_distinct_bad_values():
    assert len({path for _, path in BAD_VALUES.values()}) >= 25


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_by_both_helms_naming_the_path(case):
    values, path = BAD_VALUES[case]
    by_helm3 = error_lines(rejection(values, "helm3").stderr, "triton-stack")
    by_helm4 = error_lines(rejection(values, "helm4").stderr, "triton-stack")
    assert by_helm3 == by_helm4
    assert path in {found for found, _ in by_helm3}, by_helm3


@pytest.mark.parametrize("values_file", ENVIRONMENT_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("helm_major", helm.HELM_MAJORS)
def test_shipped_environment_files_are_accepted(values_file, helm_major):
    assert helm.render("triton-stack", [values_file], helm=helm_major, kube_version=KUBE_HIGHEST)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_chart_ci_scenarios_are_accepted_by_helm4(scenario):
    assert scenario.render(helm="helm4", kube_version=KUBE_HIGHEST)
