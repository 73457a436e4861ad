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

# Each break and the one problem it must be reported as (and no other).
BREAKS = {
    "privileged": (("containers", 0, "securityContext", "privileged", True), "c: privileged"),
    "escalation": (("containers", 0, "securityContext", "allowPrivilegeEscalation", True), "c: allowPrivilegeEscalation is not false"),
    "root user": (("containers", 0, "securityContext", "runAsUser", 0), "c: runAsUser is 0"),
    "root allowed": (("securityContext", "runAsNonRoot", False), "c: runAsNonRoot is not true (pod or container)"),
    "unconfined seccomp": (("containers", 0, "securityContext", "seccompProfile", {"type": "Unconfined"}), "c: seccompProfile.type is 'Unconfined', not RuntimeDefault or Localhost"),
    "capability added": (("containers", 0, "securityContext", "capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "c: adds capabilities ['SYS_ADMIN']"),
    "capabilities kept": (("containers", 0, "securityContext", "capabilities", {"drop": ["NET_RAW"]}), "c: capabilities.drop does not contain ALL"),
    "host network": (("hostNetwork", True), "hostNetwork is true"),
    "host port": (("containers", 0, "ports", [{"containerPort": 80, "hostPort": 80}]), "c: hostPort 80"),
    "hostPath volume": (("volumes", [{"name": "host", "hostPath": {"path": "/"}}]), "volume host uses ['hostPath']"),
}


def test_compliant_pod_passes():
    assert policy.restricted_violations(COMPLIANT) == []


@pytest.mark.parametrize("control", sorted(BREAKS))
def test_each_broken_control_is_reported(control):
    spec = copy.deepcopy(COMPLIANT)
    (*path, key, value), problem = BREAKS[control]
    target = spec
    for step in path:
        target = target[step]
    target[key] = value
    assert policy.restricted_violations(spec) == [problem]
