"""Fixtures shared by every tier: the catalogue of values files and the renders of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import render as helm
from tests.harness.model_config import MODELS_DIR, load_python_source

ENVIRONMENT_FILES = sorted(helm.VALUES_DIR.glob("*.yaml"))
# Environments whose renders must meet the availability rules (two replicas, drains possible, ...).
PRODUCTION_LIKE = {"staging", "prod"}


@dataclass(frozen=True)
class Scenario:
    """One values file and the chart it is for: an environment file, or a chart's ci/ scenario."""

    chart: str
    values_file: Path

    @property
    def name(self) -> str:
        if self.values_file.parent == helm.VALUES_DIR:
            return self.values_file.stem
        return f"{self.chart}-{self.values_file.stem.removesuffix('-values')}"

    def render(self, **kwargs) -> list[dict]:
        return helm.render(self.chart, [self.values_file], **kwargs)


def all_scenarios() -> list[Scenario]:
    scenarios = [Scenario("triton-stack", path) for path in ENVIRONMENT_FILES]
    for path in sorted(helm.CHARTS_DIR.glob("*/ci/*-values.yaml")):
        scenarios.append(Scenario(path.parent.parent.name, path))
    return scenarios


SCENARIOS = all_scenarios()
KUBE_LOWEST, KUBE_HIGHEST = helm.declared_kube_versions()


@pytest.fixture(params=SCENARIOS, ids=lambda s: s.name)
def scenario(request) -> Scenario:
    return request.param


@pytest.fixture(scope="session")
def default_renders() -> dict[str, list[dict]]:
    """Every scenario rendered at the highest declared Kubernetes minor, by name."""
    return {s.name: s.render(kube_version=KUBE_HIGHEST) for s in SCENARIOS}


def find(objects: list[dict], kind: str, name_suffix: str = "") -> dict:
    """The one object of a kind (whose name ends with name_suffix); fails if there is not exactly one."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]
    assert len(matches) == 1, f"expected one {kind}*{name_suffix}, found {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def kinds(objects: list[dict]) -> list[str]:
    return sorted(o["kind"] for o in objects)


@pytest.fixture(scope="session")
def patterns():
    """models/synthetic_patterns.py: labelled images whose right answer is known."""
    return load_python_source(MODELS_DIR / "synthetic_patterns.py", "models_synthetic_patterns")


@pytest.fixture(scope="session")
def network():
    """models/image_classifier/1/network.py: the network every image_classifier* model serves, run in-process
    as the reference for what the server returns."""
    return load_python_source(MODELS_DIR / "image_classifier" / "1" / "network.py", "models_image_classifier_network")
