"""Bad input is rejected by both Helm majors, nothing is rendered, and the message names the value path.

Each case is a values override for the umbrella chart and the value path the error must name. Helm 3 and
Helm 4 must report the same set of (path, message) lines; the order of schema errors differs between them.
"""

import pytest

from tests.conftest import ENVIRONMENT_FILES, KUBE_HIGHEST, SCENARIOS
from tests.harness import render as helm
from tests.harness.errors import error_lines

pytestmark = pytest.mark.render

S3 = {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}

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
    "gpus through resources": ({"server": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}, "server.resources"),
    "rollout that cannot progress": ({"server": {"updateStrategy": {"maxSurge": 0, "maxUnavailable": 0}}}, "server.updateStrategy"),
    "pdb evicting everything": ({"server": {"replicaCount": 2, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}}}, "server.podDisruptionBudget.maxUnavailable"),
    "extra arg repeating a managed flag": ({"server": {"triton": {"extraArgs": ["--exit-timeout-secs=5"]}}}, "server.triton.extraArgs"),
    "pvc without a claim": ({"server": {"modelRepository": {"pvc": {"claimName": ""}}}}, "server.modelRepository.pvc.claimName"),
    "object store without identity": ({"server": {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "s3://b/m"}}}}, "server.modelRepository.objectStore.workloadIdentity.aws.roleArn"),
    "configmap with nothing in it": ({"server": {"modelRepository": {"type": "configMap"}}}, "server.modelRepository.configMap.files"),
    "helm test model without an input": ({"server": {"helmTest": {"model": "m"}}}, "server.helmTest.input"),
    "helm test input datatype": ({"server": {"helmTest": {"input": {"datatype": "FLOAT"}}}}, "server.helmTest.input.datatype"),
    "reserved section enabled": ({"monitoring": {"enabled": True}}, "monitoring.enabled"),
    "priority class mismatch": ({"server": {"priorityClassName": "a"}, "guardrails": {"priorityClass": {"create": True, "name": "b"}}}, "guardrails.priorityClass.name"),
    "quota below the server's gpus": ({"server": {"replicaCount": 2, "gpu": {"count": 8}}, "guardrails": {"resourceQuota": {"enabled": True}}}, "guardrails.resourceQuota.hard.requests.nvidia.com/gpu"),
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
