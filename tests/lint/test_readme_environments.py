"""The README's environment table is read off each values file's render (ci/docs/sync_readme.py), so it cannot
claim what the files do not do: the root README test checks it is current; these check that it reads the render."""

import copy

import pytest

from ci.docs import sync_readme

pytestmark = pytest.mark.render


def deployment_spec(objects):
    return next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]


def test_prod_is_described_as_it_renders(default_renders):
    phrases = sync_readme.describe(default_renders["prod"])
    assert "soft anti-affinity" in phrases and "hard anti-affinity" not in phrases
    assert "KEDA 3-16 replicas on triton-queue-time-per-request-us + a forecast + scheduled floors, one MIG 3g.40gb slice each" in phrases
    assert "PDB" in phrases


def test_description_follows_the_render_when_it_changes(default_renders):
    # The negative pair: the same render with hard anti-affinity is described as hard (the drift issue 7 found).
    objects = copy.deepcopy(default_renders["prod"])
    anti = deployment_spec(objects)["affinity"]["podAntiAffinity"]
    anti["requiredDuringSchedulingIgnoredDuringExecution"] = [anti.pop("preferredDuringSchedulingIgnoredDuringExecution")[0]["podAffinityTerm"]]
    phrases = sync_readme.describe(objects)
    assert "hard anti-affinity" in phrases and "soft anti-affinity" not in phrases


def test_a_hand_edited_table_is_put_back():
    readme = (sync_readme.ROOT / "README.md").read_text()
    tampered = readme.replace("soft anti-affinity", "hard anti-affinity")
    assert tampered != readme
    assert sync_readme.synced(tampered) == readme
