"""Writes the ConfigMap that values/ci-kind.yaml mounts as the model repository, from models/.

The chart mounts an existing ConfigMap through `modelRepository.configMap.items` (ConfigMap keys cannot
hold directories, so each item maps a key back to a path). This builds that ConfigMap from the same items,
reading each file from models/: text files as data, binary files (weights) as binaryData. Prints YAML for
`kubectl apply -f -`.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def configmap_items(values_file: Path) -> tuple[str, list[dict]]:
    configmap = yaml.safe_load(values_file.read_text())["server"]["modelRepository"]["configMap"]
    return configmap["name"], configmap["items"]


def build(values_file: Path, models_dir: Path, namespace: str) -> dict:
    name, items = configmap_items(values_file)
    data, binary = {}, {}
    for item in items:
        content = (models_dir / item["path"]).read_bytes()
        try:
            data[item["key"]] = content.decode("utf-8")
        except UnicodeDecodeError:
            binary[item["key"]] = base64.b64encode(content).decode()
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}
    if binary:
        configmap["binaryData"] = binary
    return configmap


if __name__ == "__main__":
    namespace = sys.argv[1] if len(sys.argv) > 1 else "inference"
    print(yaml.safe_dump(build(ROOT / "values" / "ci-kind.yaml", ROOT / "models", namespace), sort_keys=False))
