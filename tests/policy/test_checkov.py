"""checkov over every rendered scenario: no failed check beyond the documented skip list."""

import copy

import pytest
import yaml

from tests.harness import policy

pytestmark = [pytest.mark.render, pytest.mark.slow]

UNSAFE = "deliberately-unsafe"


@pytest.fixture(scope="module")
def checkov_report(default_renders) -> dict[str, list[str]]:
    """One checkov run (its start-up is most of its cost) over every render plus one made unsafe on purpose."""
    prod = copy.deepcopy(default_renders["prod"])
    deployment = next(o for o in prod if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True, "runAsUser": 0}
    return policy.checkov_failures({**default_renders, UNSAFE: [deployment]})


def test_checkov_finds_no_failure_in_any_render(checkov_report, default_renders):
    assert {name: checkov_report[name] for name in default_renders} == {name: [] for name in default_renders}


def test_checkov_fails_a_privileged_root_pod(checkov_report):
    # The negative pair: the gate is live. A render made unsafe on purpose fails checks we do not skip.
    assert any(check.startswith("CKV_K8S_16 ") for check in checkov_report[UNSAFE]), checkov_report[UNSAFE]  # privileged


def test_every_skip_has_a_reason():
    skips = yaml.safe_load(policy.CHECKOV_SKIPS_FILE.read_text())["skips"]
    assert skips
    assert [entry["id"] for entry in skips if len(str(entry.get("reason", "")).split()) < 5] == []
    assert len({entry["id"] for entry in skips}) == len(skips)

