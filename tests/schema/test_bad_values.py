"""Bad input is rejected by both Helm majors, nothing is rendered, and the message names the value path.

Each case is a values override for the umbrella chart and the value path the error must name. Helm 3 and
Helm 4 must report the same set of (path, message) lines; the order of schema errors differs between them.
"""

import pytest

from tests.conftest import ENVIRONMENT_FILES, KUBE_HIGHEST, SCENARIOS
from tests.harness import render as helm
from tests.harness.errors import error_lines

pytestmark = pytest.mark.render

CANARY_TRACK = {"enabled": True, "image": {"tag": "24.11-py3"}}
ROLLOUT = {"enabled": True, "strategy": "argoRollouts"}
# The promotion gate reads Triton's series through monitoring's ServiceMonitor: a gated release turns it on.
MONITORED = {"monitoring": {"enabled": True}}
WINDOW = {"name": "peak", "days": ["mon", "tue"], "start": "08:00", "end": "18:00", "minReplicas": 3}
MIG = {"strategy": "mixed", "gpuModel": "H100-80GB", "profile": "1g.10gb"}
S3 = {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "repositorySize": "10Gi", "workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}

def batch(**values) -> dict:
    return {"batch": {"enabled": True, **values}}


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
    "a time zone that only looks like one": ({"server": {"autoscaling": {"mode": "keda", "scheduled": {"timezone": "America/NewYork"}}}}, "server.autoscaling.scheduled.timezone"),
    "a batch time zone that only looks like one": ({"batch": {"enabled": True, "schedule": "0 2 * * *", "timeZone": "Europe/Pariss"}}, "batch.timeZone"),
    # IntOrString fields take Kubernetes' two forms, and no more
    "rollout unavailability above 100%": ({"server": {"updateStrategy": {"maxUnavailable": "120%"}}}, "server.updateStrategy.maxUnavailable"),
    "surge as a fraction": ({"server": {"updateStrategy": {"maxSurge": "0.5"}}}, "server.updateStrategy.maxSurge"),
    "budget of 0% blocks every drain": ({"server": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "0%"}}}, "server.podDisruptionBudget.maxUnavailable"),
    # canary tracks and routing
    "canary weight 150": ({"routing": {"enabled": True, "canary": {"enabled": True, "weight": 150}}, "server": {"canary": CANARY_TRACK}}, "routing.canary.weight"),
    "canary weight without a canary track": ({"routing": {"enabled": True, "canary": {"weight": 10}}}, "routing.canary.weight"),
    "mirror percentage out of range": ({"routing": {"enabled": True, "canary": {"enabled": True, "mirror": {"enabled": True, "percentage": 120}}}, "server": {"canary": CANARY_TRACK}}, "routing.canary.mirror.percentage"),
    "mirror without a canary": ({"routing": {"enabled": True, "canary": {"mirror": {"enabled": True}}}}, "routing.canary.mirror.enabled"),
    "track header empty": ({"routing": {"enabled": True, "canary": {"header": ""}}}, "routing.canary.header"),
    "controller and chart both owning the weights": ({"routing": {"enabled": True, "canary": {"enabled": True, "weight": 20}, "promotion": {"enabled": True}}, "server": {"canary": ROLLOUT}, **MONITORED}, "routing.canary.weight"),
    "rollout without its routes": ({"server": {"canary": ROLLOUT}}, "server.canary.strategy"),
    "gate without monitoring's scrape": ({"routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, "server": {"canary": ROLLOUT}}, "routing.promotion.enabled"),
    "gate on a label monitoring does not write": ({"routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True, "trackLabel": "pod_track"}}, "server": {"canary": ROLLOUT}, **MONITORED}, "routing.promotion.trackLabel"),
    "load step without its locustfile": ({"routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True, "loadTest": {"enabled": True}}}, "server": {"canary": ROLLOUT}, **MONITORED}, "routing.promotion.loadTest.configMap"),
    "a step running the load template that is not rendered": ({"routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, **MONITORED,
        "server": {"canary": {**ROLLOUT, "rollout": {"steps": [{"analysis": {"templates": [{"templateName": "triton-server-load"}]}}, {"setWeight": 10}]}}}}, "server.canary.rollout.steps.0"),
    "a retry condition Istio refuses": ({"routing": {"enabled": True, "retries": {"grpc": "unavailable,deadline"}}}, "routing.retries.grpc"),
    "gate without a rollout": ({"routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, "server": {"canary": CANARY_TRACK}, **MONITORED}, "routing.promotion.enabled"),
    "canary route without a canary track": ({"routing": {"enabled": True, "canary": {"enabled": True}}}, "routing.canary.enabled"),
    "routes on another port than the service": ({"routing": {"enabled": True, "server": {"ports": {"grpc": 9001}}}}, "routing.server.ports.grpc"),
    "fault drill on the track header": ({"routing": {"enabled": True, "faultDrill": {"enabled": True, "header": "x-triton-track"}}}, "routing.faultDrill.header"),
    "fault drill injecting nothing": ({"routing": {"enabled": True, "faultDrill": {"enabled": True, "abort": {"percentage": 0}}}}, "routing.faultDrill.enabled"),
    "gateway without hosts": ({"routing": {"enabled": True, "gateway": {"enabled": True}}}, "routing.gateway.hosts"),
    "authorization admitting nobody": ({"routing": {"enabled": True, "authorization": {"enabled": True}}}, "routing.authorization.inferenceNamespaces"),
    "gate failure ratio above 1": ({"routing": {"enabled": True, "promotion": {"maxFailureRatio": 1.5}}}, "routing.promotion.maxFailureRatio"),
    "gate with an unknown no-data policy": ({"routing": {"enabled": True, "promotion": {"noData": "promote"}}}, "routing.promotion.noData"),
    "canary changing nothing": ({"server": {"canary": {"enabled": True}}}, "server.canary.enabled"),
    "canary of another repository type": ({"server": {"canary": {"enabled": True, "modelRepository": {"objectStore": {"uri": "s3://b/v2"}}}}}, "server.canary.modelRepository.objectStore.uri"),
    "canary pvc on a configmap repository": ({"server": {"modelRepository": {"type": "configMap", "configMap": {"files": {"m/config.pbtxt": "x"}}}, "canary": {"enabled": True, "modelRepository": {"pvc": {"subPath": "v2"}}}}}, "server.canary.modelRepository.pvc"),
    "canary autoscaler minimum above maximum": ({"server": {"canary": {**CANARY_TRACK, "autoscaling": {"mode": "keda", "minReplicas": 3, "maxReplicas": 2}}}}, "server.canary.autoscaling.minReplicas"),
    "canary overrides under argo rollouts": ({"server": {"canary": {**ROLLOUT, "image": {"tag": "24.11-py3"}}}, "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, **MONITORED}, "server.canary.strategy"),
    "server names set under server": ({"server": {"fullnameOverride": "x"}}, "server.fullnameOverride"),
    "limit range default request above its default": ({"guardrails": {"limitRange": {"enabled": True, "defaultRequest": {"memory": "1Gi"}}}}, "guardrails.limitRange.defaultRequest.memory"),
    "shm above the limit range default": ({"server": {"resources": None}, "guardrails": {"limitRange": {"enabled": True}}}, "server.sharedMemory.sizeLimit"),
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
    "priority class mismatch": ({"server": {"priorityClassName": "a"}, "guardrails": {"priorityClass": {"create": True, "name": "b"}}}, "guardrails.priorityClass.name"),
    "quota below the server's gpus": ({"server": {"replicaCount": 2, "gpu": {"count": 8}}, "guardrails": {"resourceQuota": {"enabled": True}}}, "guardrails.resourceQuota.hard.requests.nvidia.com/gpu"),
    # batch inference (charts/triton-batch), named with the umbrella's batch. prefix
    "batch parallelism 0": (batch(parallelism=0), "batch.parallelism"),
    "batch parallelism above the shards": (batch(shards=4, parallelism=6), "batch.parallelism"),
    "batch without shards": (batch(shards=0), "batch.shards"),
    "batch schedule malformed": (batch(schedule="every night at 2"), "batch.schedule"),
    "batch schedule with a TZ= prefix": (batch(schedule="CRON_TZ=UTC 0 2 * * *"), "batch.schedule"),
    "batch time zone without a schedule": (batch(timeZone="Europe/Paris"), "batch.timeZone"),
    "batch input format unknown": (batch(input={"format": "csv"}), "batch.input.format"),
    "batch object store without credentials": (batch(output={"path": "s3://bucket/out"}), "batch.objectStore.workloadIdentity.aws.roleArn"),
    "batch secret credentials without a secret": (batch(input={"path": "gs://bucket/in"}, objectStore={"credentials": "secret"}), "batch.objectStore.existingSecret"),
    "batch azure path": (batch(input={"path": "as://account/container/in"}), "batch.input.path"),
    "batch path off the data claim": (batch(output={"path": "/tmp/results"}), "batch.output.path"),
    "batch output inside the input": (batch(input={"path": "/data/in"}, output={"path": "/data/in/results"}), "batch.output.path"),
    "batch claim path without a claim": (batch(data={"pvc": {"claimName": ""}}), "batch.data.pvc.claimName"),
    "batch sidecar without models": (batch(target={"mode": "sidecar"}), "batch.sidecar.modelRepository.claimName"),
    "batch sidecar gpus in service mode": (batch(sidecar={"gpu": {"count": 1}}), "batch.sidecar.gpu.count"),
    "batch sidecar mig profile the gpu lacks": (batch(target={"mode": "sidecar"}, activeDeadlineSeconds=86400, sidecar={"modelRepository": {"claimName": "m"}, "gpu": {"count": 1, "mig": {**MIG, "profile": "1g.5gb"}}}), "batch.sidecar.gpu.mig.profile"),
    "batch client with a gpu": (batch(client={"resources": {"limits": {"nvidia.com/gpu": 1}}}), "batch.client.resources.limits"),
    "batch priority not below serving": (batch(priorityClass={"value": 0}), "batch.priorityClass.value"),
    "batch unknown key": (batch(shard=4), "batch.shard"),
    "batch claim mounted over the client's /tmp": (batch(data={"pvc": {"claimName": "d", "mountPath": "/tmp"}}, input={"path": "/tmp/in"}, output={"path": "/tmp/out"}), "batch.data.pvc.mountPath"),
    "batch claim mounted over the client program": (batch(data={"pvc": {"claimName": "d", "mountPath": "/opt/triton-batch/"}}, input={"path": "/opt/triton-batch/in"}, output={"path": "/opt/triton-batch/out"}), "batch.data.pvc.mountPath"),
    "batch path with ..": (batch(input={"path": "/data/in/../../etc"}), "batch.input.path"),
    "batch object-store prefix with ..": (batch(output={"path": "s3://b/out/../../other"}, objectStore={"workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/b"}}}), "batch.output.path"),
    "batch claim mount path with ..": (batch(data={"pvc": {"claimName": "d", "mountPath": "/data/../tmp"}}, input={"path": "/data/../tmp/in"}, output={"path": "/data/../tmp/out"}), "batch.data.pvc.mountPath"),
    "batch schedule without a deadline": (batch(schedule="0 2 * * *"), "batch.activeDeadlineSeconds"),
    "batch sidecar without a deadline": (batch(target={"mode": "sidecar"}, sidecar={"modelRepository": {"claimName": "m"}}), "batch.activeDeadlineSeconds"),
    "batch deadline shorter than the sidecar's model load": (batch(target={"mode": "sidecar"}, sidecar={"modelRepository": {"claimName": "m"}}, activeDeadlineSeconds=300), "batch.activeDeadlineSeconds"),
    "batch image decodes above half the client's memory": (batch(client={"maxImagePixels": 100000000}), "batch.client.maxImagePixels"),
    "batch json line decodes above half the client's memory": (batch(input={"format": "jsonl", "path": "/data/tensors"}, client={"maxLineBytes": 100000000}), "batch.client.maxLineBytes"),
}


def rejection(values: dict, helm_major: str):
    return helm.render_error("triton-stack", values=values, helm=helm_major, kube_version=KUBE_HIGHEST)


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


def test_time_zone_values_are_exactly_the_iana_names_of_the_pinned_tzdata():
    import json

    from ci.docs import timezones

    for chart, path, extra in timezones.TIMEZONE_VALUES:
        schema = json.loads((helm.CHARTS_DIR / chart / "values.schema.json").read_text())
        assert timezones.schema_node(schema, path)["enum"] == [*extra, *timezones.zones()], f"{chart}: run python -m ci.docs.timezones"
