"""PodDisruptionBudget and replicas."""

import pytest

from tests.conftest import find
from tests.render.server.conftest import deployment, error_of, rejected_paths, render_server

pytestmark = pytest.mark.render


def test_pdb_allows_drains_when_enabled():
    pdb = find(render_server({"replicaCount": 3, "podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert "triton-stack.io/track" not in pdb["spec"]["selector"]["matchLabels"]


def test_no_pdb_by_default():
    assert not [o for o in render_server() if o["kind"] == "PodDisruptionBudget"]


def test_pdb_that_allows_evicting_every_replica_fails():
    message = error_of({"replicaCount": 2, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2}})
    assert "podDisruptionBudget.maxUnavailable: 2 allows every one of the 2 replicas" in message


def test_pdb_that_blocks_every_drain_is_rejected():
    assert rejected_paths({"podDisruptionBudget": {"enabled": True, "maxUnavailable": 0}}) == {"podDisruptionBudget.maxUnavailable"}


def test_replicas_follow_replica_count():
    assert deployment(render_server({"replicaCount": 4}))["spec"]["replicas"] == 4
