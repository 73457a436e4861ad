"""Umbrella: namespace guardrails and the reserved component sections."""

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
    limits = find(render_stack({"guardrails": {"limitRange": {"enabled": True}}}), "LimitRange")["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["defaultRequest"]["cpu"] == "100m"


def test_priority_class_is_an_integer_and_used_by_the_server():
    objects = render_stack({"server": {"priorityClassName": "gold"}, "guardrails": {"priorityClass": {"create": True, "name": "gold", "value": 1000000}}})
    assert find(objects, "PriorityClass")["value"] == 1000000
    assert find(objects, "Deployment")["spec"]["template"]["spec"]["priorityClassName"] == "gold"


def test_priority_class_not_matching_the_server_fails():
    message = stack_error({"server": {"priorityClassName": "silver"}, "guardrails": {"priorityClass": {"create": True, "name": "gold"}}})
    assert 'guardrails.priorityClass.name: "gold" differs from server.priorityClassName "silver"' in message


def test_quota_smaller_than_the_server_needs_fails():
    values = {"server": {"replicaCount": 3, "gpu": {"count": 2}}, "guardrails": {"resourceQuota": {"enabled": True, "hard": {"requests.nvidia.com/gpu": "4"}}}}
    # 3 replicas + 1 surge pod, 2 GPUs each
    assert "guardrails.resourceQuota.hard.requests.nvidia.com/gpu: 4 is less than the 8 that 3 server pods (server.replicaCount, 2 each) and the larger of the surge pods" in stack_error(values)


@pytest.mark.parametrize("section", ["routing"])
def test_reserved_sections_fail_until_their_charts_ship(section):
    assert f"{section}.enabled: the triton-{section} subchart is not shipped" in stack_error({section: {"enabled": True}})


def test_server_failures_name_the_umbrella_path():
    # Inside the umbrella, a server check names the path as the user writes it there: server.<path>.
    assert "server.drain.terminationGracePeriodSeconds: 10 is shorter" in stack_error({"server": {"drain": {"terminationGracePeriodSeconds": 10}}})
