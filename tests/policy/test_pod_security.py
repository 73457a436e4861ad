"""The restricted Pod Security Standard check itself, on pod specs that break one control each."""

import copy

import pytest

from tests.harness import policy

COMPLIANT = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{
        "name": "c",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }],
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}

BREAKS = {
    "privileged": ("containers", 0, "securityContext", "privileged", True),
    "escalation": ("containers", 0, "securityContext", "allowPrivilegeEscalation", True),
    "root user": ("containers", 0, "securityContext", "runAsUser", 0),
    "root allowed": ("securityContext", "runAsNonRoot", False),
    "unconfined seccomp": ("containers", 0, "securityContext", "seccompProfile", {"type": "Unconfined"}),
    "capability added": ("containers", 0, "securityContext", "capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
    "host network": ("hostNetwork", True),
    "host port": ("containers", 0, "ports", [{"containerPort": 80, "hostPort": 80}]),
    "hostPath volume": ("volumes", [{"name": "host", "hostPath": {"path": "/"}}]),
}


def test_compliant_pod_passes():
    assert policy.restricted_violations(COMPLIANT) == []


@pytest.mark.parametrize("control", sorted(BREAKS))
def test_each_broken_control_is_reported(control):
    spec = copy.deepcopy(COMPLIANT)
    *path, key, value = BREAKS[control]
    target = spec
    for step in path:
        target = target[step]
    target[key] = value
    assert policy.restricted_violations(spec) != []
