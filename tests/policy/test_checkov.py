"""checkov over every rendered scenario: no failed check beyond the documented skip list."""

import pytest
import yaml

from tests.conftest import KUBE_HIGHEST, SCENARIOS
from tests.harness import policy

pytestmark = [pytest.mark.render, pytest.mark.slow]


def test_checkov_finds_no_failure_in_any_render(default_renders):
    assert policy.checkov_failures(default_renders) == {name: [] for name in default_renders}


def test_checkov_fails_a_privileged_root_pod():
    # The negative pair: the gate is live. A render made unsafe on purpose must fail checks we do not skip.
    objects = SCENARIOS[0].render(kube_version=KUBE_HIGHEST)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True, "runAsUser": 0}
    failed = policy.checkov_failures({"unsafe": [deployment]})["unsafe"]
    assert any(check.startswith("CKV_K8S_16 ") for check in failed), failed  # privileged containers


def test_every_skip_has_a_reason():
    skips = yaml.safe_load(policy.CHECKOV_SKIPS_FILE.read_text())["skips"]
    assert skips
    assert [entry["id"] for entry in skips if len(str(entry.get("reason", "")).split()) < 5] == []
    assert len({entry["id"] for entry in skips}) == len(skips)
