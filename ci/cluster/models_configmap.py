"""Writes the ConfigMap that values/ci-kind.yaml mounts as the model repository, from models/.

The chart mounts an existing ConfigMap through `modelRepository.configMap.items` (ConfigMap keys cannot
hold directories, so each item maps a key back to a path). This builds that ConfigMap from the same items,
reading each file from models/: text files as data, binary files (weights) as binaryData. Prints YAML for
`kubectl apply -f -`.

The API server refuses a ConfigMap whose data and binaryData values add up to more than 1 MiB (the
bytes before base64), and `kubectl apply` would then fail half-way through the cluster tier; so the size
is checked here, where the message can name the biggest files.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The API server's limit on a ConfigMap's data plus binaryData (MaxSecretSize in Kubernetes' validation).
MAX_CONFIGMAP_BYTES = 1024 * 1024


class ConfigMapTooLarge(ValueError):
    """The model files listed in the values do not fit in one ConfigMap."""


def configmap_items(values_file: Path) -> tuple[str, list[dict]]:
    configmap = yaml.safe_load(values_file.read_text())["server"]["modelRepository"]["configMap"]
    return configmap["name"], configmap["items"]


def build(values_file: Path, models_dir: Path, namespace: str) -> dict:
    name, items = configmap_items(values_file)
    data, binary = {}, {}
    sizes = {}
    for item in items:
        content = (models_dir / item["path"]).read_bytes()
        sizes[item["path"]] = len(content)
        try:
            data[item["key"]] = content.decode("utf-8")
        except UnicodeDecodeError:
            binary[item["key"]] = base64.b64encode(content).decode()
    total = sum(sizes.values())
    if total > MAX_CONFIGMAP_BYTES:
        biggest = ", ".join(f"{path} ({size} bytes)" for path, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
        raise ConfigMapTooLarge(
            f"{values_file.name}: server.modelRepository.configMap.items add up to {total} bytes, over the "
            f"{MAX_CONFIGMAP_BYTES} a ConfigMap may hold; biggest: {biggest}. Serve big models with "
            "server.modelRepository.type pvc or objectStore instead."
        )
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}
    if binary:
        configmap["binaryData"] = binary
    return configmap


if __name__ == "__main__":
    namespace = sys.argv[1] if len(sys.argv) > 1 else "inference"
    print(yaml.safe_dump(build(ROOT / "values" / "ci-kind.yaml", ROOT / "models", namespace), sort_keys=False))
