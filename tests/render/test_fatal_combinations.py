"""Values that are valid alone but fatal together fail the render, at the exact boundary, naming both paths.

Each pair below passes the schema value by value, yet together gives a pod that is OOM-killed, evicted, never
created or never ready. Every check is rendered at its boundary: the value one step on the safe side renders,
the first value on the fatal side fails, and the failure names both value paths as the user writes them in
the umbrella (`server.` prefix) and says what to do. docs/serving.md lists the same pairs ("Values that fail
together"); test_readme_lists_every_pair keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.errors import error_lines

pytestmark = pytest.mark.render

ARN = "arn:aws:iam::123456789012:role/r"


def object_store(**store) -> dict:
    return {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "workloadIdentity": {"aws": {"roleArn": ARN}}, **store}}


@dataclass(frozen=True)
class Pair:
    """A render-time check between two values: `values(x)` builds the umbrella values for a boundary value x."""

    failing_path: str
    other_path: str
    values: Callable[[Any], dict]
    safe: tuple  # values of x that must render
    fatal: tuple  # values of x that must fail, the boundary first


PAIRS = {
    "shared memory against the memory limit": Pair(
        "server.sharedMemory.sizeLimit", "server.resources.limits.memory",
        lambda x: {"server": {"sharedMemory": {"sizeLimit": x}, "resources": {"limits": {"memory": "4Gi"}}}},
        safe=("4095Mi",), fatal=("4Gi", "4097Mi"),
    ),
    "shared memory as a byte count (a YAML float) against the memory limit": Pair(
        "server.sharedMemory.sizeLimit", "server.resources.limits.memory",
        lambda x: {"server": {"sharedMemory": {"sizeLimit": x}, "resources": {"limits": {"memory": "4Gi"}}}},
        safe=(4294967295, "4.2e09"), fatal=(4294967296, "4295e6"),
    ),
    "download volume against the repository size": Pair(
        "server.modelRepository.objectStore.downloadVolume.size", "server.modelRepository.objectStore.repositorySize",
        lambda x: {"server": {"modelRepository": object_store(repositorySize="10Gi", downloadVolume={"size": x})}},
        safe=("10Gi", "10241Mi"), fatal=("10239Mi",),
    ),
    "ephemeral-storage request against the writable volumes": Pair(
        "server.resources.requests.ephemeral-storage", "server.writableVolumes.tmpSizeLimit",
        lambda x: {"server": {"resources": {"requests": {"ephemeral-storage": x}}}},
        safe=("2Gi", "2049Mi"), fatal=("2047Mi",),
    ),
    "ephemeral-storage limit against the download volume": Pair(
        "server.resources.limits.ephemeral-storage", "server.modelRepository.objectStore.downloadVolume.size",
        lambda x: {"server": {"modelRepository": object_store(repositorySize="8Gi"), "resources": {"limits": {"ephemeral-storage": x}}}},
        safe=("10241Mi",), fatal=("10Gi", "10239Mi"),  # logs count against the limit too: equal is not enough
    ),
    "memory request above its limit": Pair(
        "server.resources.requests.memory", "server.resources.limits.memory",
        lambda x: {"server": {"resources": {"requests": {"memory": x}, "limits": {"memory": "4Gi"}}}},
        safe=("4095Mi", "4Gi"), fatal=("4097Mi",),
    ),
    "cpu request above its limit": Pair(
        "server.resources.requests.cpu", "server.resources.limits.cpu",
        lambda x: {"server": {"resources": {"requests": {"cpu": x}, "limits": {"cpu": "2"}}}},
        safe=("1999m", "2"), fatal=("2001m",),
    ),
    "engine-build request above its limit": Pair(
        "server.engineBuild.resources.requests.memory", "server.engineBuild.resources.limits.memory",
        lambda x: {"server": {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}],
                                                                 "resources": {"requests": {"memory": x}, "limits": {"memory": "8Gi"}}}}},
        safe=("8Gi",), fatal=("8193Mi",),
    ),
    "gRPC on the HTTP port": Pair(
        "server.service.ports.grpc", "server.service.ports.http",
        lambda x: {"server": {"service": {"ports": {"http": 8000, "grpc": x, "metrics": 9002}}}},
        safe=(7999, 8001), fatal=(8000,),
    ),
    "metrics on the gRPC port": Pair(
        "server.service.ports.metrics", "server.service.ports.grpc",
        lambda x: {"server": {"service": {"ports": {"http": 9000, "grpc": 8001, "metrics": x}}}},
        safe=(8000, 8002), fatal=(8001,),
    ),
    "model repository mounted over /tmp": Pair(
        "server.modelRepository.mountPath", "server.writableVolumes.tmpSizeLimit",
        lambda x: {"server": {"modelRepository": {"mountPath": x}}},
        safe=("/tmpx", "/tmp/models"), fatal=("/tmp", "/tmp/"),
    ),
    "engine build from another release than the server": Pair(
        "server.engineBuild.image.tag", "server.image.tag",
        lambda x: {"server": {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "image": {"tag": x}, "models": [{"name": "m", "onnx": "m.onnx"}]}}},
        safe=("24.10-py3",), fatal=("24.09-py3", "24.11-py3"),
    ),
    "quota on GPUs against replicas and the surge pod": Pair(
        "guardrails.resourceQuota.hard.requests.nvidia.com/gpu", "server.replicaCount",
        lambda x: {"server": {"replicaCount": 2, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": x}}}},
        safe=("6", "7"), fatal=("5",),
    ),
    "quota on memory against replicas": Pair(
        "guardrails.resourceQuota.hard.requests.memory", "server.replicaCount",
        lambda x: {"server": {"replicaCount": 3}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.memory": x}}}},
        safe=("8Gi", "8193Mi"), fatal=("8191Mi",),
    ),
    "quota on pods against replicas and the surge or helm test pod": Pair(
        "guardrails.resourceQuota.hard.pods", "server.replicaCount",
        lambda x: {"server": {"replicaCount": 3}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"pods": x}}}},
        safe=("4", "5"), fatal=("3",),
    ),
    "quota on cpu limits the server does not state": Pair(
        "guardrails.resourceQuota.hard.limits.cpu", "server.resources.limits.cpu",
        lambda x: {"server": {"resources": {"limits": x}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"limits.cpu": "100"}}}},
        safe=({"memory": "4Gi", "cpu": "2"},), fatal=({"memory": "4Gi"},),
    ),
    "quota on cpu limits against what the LimitRange fills in": Pair(
        "guardrails.resourceQuota.hard.limits.cpu", "server.replicaCount",
        lambda x: {"guardrails": {"limitRange": {"enabled": True, "max": {"cpu": "8"}}, "resourceQuota": {"enabled": True, "hard": {"limits.cpu": x}}}},
        safe=("16",), fatal=("15",),  # 1 replica + 1 surge pod, each given the max (8) as its default limit
    ),
    "download claims against the storage quota": Pair(
        "guardrails.resourceQuota.hard.requests.storage", "server.replicaCount",
        lambda x: {"server": {"modelRepository": object_store(repositorySize="10Gi", downloadVolume={"type": "ephemeral"})},
                   "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.storage": x}}}},
        safe=("40Gi",), fatal=("40959Mi",),  # 2 pods x twice the repository size
    ),
    "LimitRange max below the server's limit": Pair(
        "guardrails.limitRange.max.memory", "server.resources.limits.memory",
        lambda x: {"guardrails": {"limitRange": {"enabled": True, "max": {"memory": x}}}},
        safe=("4Gi", "4097Mi"), fatal=("4095Mi",),
    ),
    "LimitRange default limit below the server's request": Pair(
        "guardrails.limitRange.default.memory", "server.resources.requests.memory",
        lambda x: {"server": {"resources": {"requests": {"memory": "2Gi"}, "limits": None}}, "guardrails": {"limitRange": {"enabled": True, "default": {"memory": x}}}},
        safe=("2Gi",), fatal=("2047Mi",),
    ),
}


def render(values: dict) -> list[dict]:
    return helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pair_renders_on_the_safe_side_and_fails_from_the_boundary_naming_both_paths(name):
    pair = PAIRS[name]
    for x in pair.safe:
        assert render(pair.values(x)), f"{name}: {x!r} must render"
    for x in pair.fatal:
        error = helm.render_error("triton-stack", values=pair.values(x), kube_version=KUBE_HIGHEST)
        lines = error_lines(error.stderr, "triton-stack")
        messages = [message for path, message in lines if path == pair.failing_path]
        assert messages, f"{name}: {x!r} failed, but not naming {pair.failing_path}: {lines}"
        assert pair.other_path in messages[0], f"{name}: the message must name {pair.other_path} too: {messages[0]}"


def test_docs_list_every_pair():
    guide = (helm.REPO_ROOT / "docs" / "serving.md").read_text()
    section = guide.split("## Values that fail together", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([^`]+)`", section))

    def is_listed(path: str) -> bool:
        return path in listed or any(item.endswith(".*") and path.startswith(item[:-1]) for item in listed)

    assert [pair.failing_path for pair in PAIRS.values() if not is_listed(pair.failing_path)] == []
