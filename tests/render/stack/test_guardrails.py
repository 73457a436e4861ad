"""Umbrella: namespace guardrails, counted against every server pod (canary tracks and rollouts included)."""

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import render as helm

pytestmark = pytest.mark.render


def render_stack(values=None):
    return helm.render("triton-stack", values=values or {}, kube_version=KUBE_HIGHEST)


def stack_error(values):
    return helm.render_error("triton-stack", values=values, kube_version=KUBE_HIGHEST).stderr


def test_no_guardrails_by_default():
    assert not {"ResourceQuota", "LimitRange", "PriorityClass"} & {o["kind"] for o in render_stack()}


def test_quota_caps_gpus_when_enabled():
    quota = find(render_stack({"guardrails": {"resourceQuota": {"enabled": True}}}), "ResourceQuota")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "8"


def test_limit_range_when_enabled():
    limits = find(render_stack({"guardrails": {"limitRange": {"enabled": True}}}), "LimitRange")["spec"]["limits"]
    assert limits == [{"type": "Container", "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "default": {"memory": "512Mi"}, "max": {"memory": "256Gi"}}]


def test_priority_class_is_an_integer_never_the_default_and_the_one_the_server_uses():
    objects = render_stack({"server": {"priorityClassName": "gold"}, "guardrails": {"priorityClass": {"create": True, "name": "gold", "value": 1000000}}})
    priority_class = find(objects, "PriorityClass")
    # 1000000, not 1e+06: Helm reads numbers as floats and the API server refuses a float here.
    assert priority_class["value"] == 1000000 and isinstance(priority_class["value"], int)
    assert priority_class["globalDefault"] is False
    assert priority_class["preemptionPolicy"] == "PreemptLowerPriority"
    assert priority_class["metadata"]["name"] == find(objects, "Deployment")["spec"]["template"]["spec"]["priorityClassName"]


def test_priority_class_not_matching_the_server_fails():
    message = stack_error({"server": {"priorityClassName": "silver"}, "guardrails": {"priorityClass": {"create": True, "name": "gold"}}})
    assert 'guardrails.priorityClass.name: "gold" differs from server.priorityClassName "silver"' in message


def test_quota_smaller_than_the_server_needs_fails():
    values = {"server": {"replicaCount": 3, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "4"}}}}
    # 3 replicas + 1 surge pod, 2 GPUs each
    assert "guardrails.resourceQuota.hard.requests.nvidia.com/gpu: 4 is less than the 8 that 3 server pods (server.replicaCount, 2 each) and the larger of the surge pods" in stack_error(values)


CANARY_TRACK = {"enabled": True, "image": {"tag": "24.11-py3"}, "replicaCount": 2}


def test_quota_counts_the_canary_track_and_its_surge():
    # stable 2 + canary 2, and a rolling update surges one pod per track: 6 pods of one GPU; 5 is refused, 6 is not.
    server = {"replicaCount": 2, "gpu": {"count": 1}, "canary": CANARY_TRACK}
    refused = stack_error({"server": server, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "5"}}}})
    assert ("guardrails.resourceQuota.hard.requests.nvidia.com/gpu: 5 is less than the 6 that 4 server pods "
            "(server.replicaCount + server.canary.replicaCount, 1 each)") in refused
    assert find(render_stack({"server": server, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "6"}}}}), "ResourceQuota")


def test_quota_counts_an_argo_rollout_twice():
    # Under argoRollouts the new ReplicaSet comes up beside the old: 2 x 3 pods, and the larger of surge and test pod.
    server = {"replicaCount": 3, "canary": {"enabled": True, "strategy": "argoRollouts"}}
    values = {"server": server, "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, "monitoring": {"enabled": True},
              "guardrails": {"resourceQuota": {"enabled": True, "hard": {"pods": "6"}}}}
    assert "guardrails.resourceQuota.hard.pods: 6 is less than the 7 that twice server.replicaCount (an Argo rollout" in stack_error(values)


def test_quota_counts_a_percentage_surge_rounded_up():
    # maxSurge 50% of 3 replicas is 2 pods (the Deployment controller rounds a surge up): 5 pods of one GPU.
    server = {"replicaCount": 3, "gpu": {"count": 1}, "updateStrategy": {"maxSurge": "50%"}}
    refused = stack_error({"server": server, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "4"}}}})
    assert "guardrails.resourceQuota.hard.requests.nvidia.com/gpu: 4 is less than the 5 that 3 server pods" in refused
    assert find(render_stack({"server": server, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "5"}}}}), "ResourceQuota")


def test_server_failures_name_the_umbrella_path():
    # Inside the umbrella, a server check names the path as the user writes it there: server.<path>.
    assert "server.drain.terminationGracePeriodSeconds: 10 is shorter" in stack_error({"server": {"drain": {"terminationGracePeriodSeconds": 10}}})


@pytest.mark.parametrize("release", [helm.DEFAULT_RELEASE, "a" * 53])
def test_guardrails_are_named_after_the_release_within_63_characters(release):
    values = {"guardrails": {"resourceQuota": {"enabled": True}, "limitRange": {"enabled": True}}}
    objects = helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST, release=release)
    names = {o["kind"]: o["metadata"]["name"] for o in objects if o["kind"] in ("ResourceQuota", "LimitRange")}
    # 53 characters is the longest release name Helm accepts: the names still fit a Kubernetes name.
    assert names == {"ResourceQuota": f"{release}-quota", "LimitRange": f"{release}-limits"}
    assert all(len(name) <= 63 for name in names.values())
