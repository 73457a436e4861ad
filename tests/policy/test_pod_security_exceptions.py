"""The one declared exception to the restricted profile (Fluentd's node agent) is exactly as wide as it must be."""

import copy

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import policy
from tests.harness import render as helm

pytestmark = pytest.mark.render

FLUENTD = {
    "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "fluentd", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
    "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}, {"name": "state", "hostPath": {"path": "/var/lib/x"}}],
}


def test_every_exception_says_why():
    assert all(len(e.reason.split()) >= 20 and e.violations for e in policy.RESTRICTED_EXCEPTIONS)


def test_the_agent_breaking_exactly_its_controls_passes():
    assert policy.restricted_violations_beyond_exceptions("DaemonSet/triton-logging", FLUENTD) == []


def test_one_more_broken_control_is_reported():
    spec = copy.deepcopy(FLUENTD)
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    assert policy.restricted_violations_beyond_exceptions("DaemonSet/triton-logging", spec) == ["fluentd: adds capabilities ['SYS_ADMIN']"]


def test_an_exception_wider_than_needed_is_reported():
    spec = copy.deepcopy(FLUENTD)
    spec["volumes"] = spec["volumes"][:1]
    assert policy.restricted_violations_beyond_exceptions("DaemonSet/triton-logging", spec) == ["declared exception not needed any more: volume state uses ['hostPath']"]


def test_the_same_pod_under_another_name_gets_no_exception():
    assert policy.restricted_violations_beyond_exceptions("Deployment/triton-server", FLUENTD) != []


@pytest.mark.slow
def test_checkov_skips_scoped_to_fluentd_cover_it_and_nothing_else():
    # The same DaemonSet under a name the scoped skips (ci/checkov-skips.yaml `resources:`) do not match fails
    # exactly the two checks skipped for Fluentd: root, and a mounted service account token.
    agent = find(helm.render("triton-stack", values={"logging": {"enabled": True}}, kube_version=KUBE_HIGHEST), "DaemonSet")
    renamed = copy.deepcopy(agent)
    renamed["metadata"]["name"] = "triton-node-agent"
    report = policy.checkov_failures({"agent": [agent], "renamed": [renamed]})
    assert report["agent"] == []
    assert sorted(check.split(" ")[0] for check in report["renamed"]) == ["CKV_K8S_23", "CKV_K8S_38"]
