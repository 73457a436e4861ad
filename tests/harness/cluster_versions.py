"""What the kind tier installs, as pinned in ci/cluster/versions.env (the file the cluster scripts source).

One reader for the render and lint tiers (which check the pins) and the cluster tier (which names the images
and CRDs it expects).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from tests.harness.render import REPO_ROOT

VERSIONS_FILE = REPO_ROOT / "ci" / "cluster" / "versions.env"
# API group of a custom kind the charts render -> the versions.env key of the release that installs its CRD
# (ci/cluster/prerequisites.sh and istio.sh) and whose CRD schema tests/harness/crd-schemas holds.
CRD_PROVIDERS = {
    "keda.sh": "KEDA_VERSION",
    "monitoring.coreos.com": "PROMETHEUS_OPERATOR_VERSION",
    "networking.istio.io": "ISTIO_VERSION",
    "security.istio.io": "ISTIO_VERSION",
    "argoproj.io": "ARGO_ROLLOUTS_VERSION",
}


class VersionsFileInvalid(ValueError):
    """ci/cluster/versions.env has a line that bash would not read as KEY=value."""


def parse_versions(text: str, source: str = "versions.env") -> dict[str, str]:
    """KEY=value lines (comments and blank lines skipped) -> {KEY: value}; raises VersionsFileInvalid."""
    versions = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=([^\s'\"$`]+)", line)
        if not match:
            raise VersionsFileInvalid(f"{source}:{number}: expected KEY=value with no quotes, spaces or expansions: {line!r}")
        versions[match.group(1)] = match.group(2)
    return versions


@lru_cache(maxsize=1)
def pinned_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    return parse_versions(path.read_text(), str(path.relative_to(REPO_ROOT)))


def kind_node_image(minor: str) -> str:
    """The pinned kindest/node image (with digest) for a Kubernetes minor such as "1.29"; KeyError when none."""
    return pinned_versions()[f"KIND_NODE_IMAGE_{minor.replace('.', '_')}"]


def pinned_minors() -> list[str]:
    """The Kubernetes minors that have a pinned node image, lowest first ("1.29", ...)."""
    minors = [key.removeprefix("KIND_NODE_IMAGE_").replace("_", ".") for key in pinned_versions() if key.startswith("KIND_NODE_IMAGE_")]
    return sorted(minors, key=lambda minor: tuple(int(part) for part in minor.split(".")))
