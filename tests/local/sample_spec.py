"""A hand-made Triton container spec in the shape the chart renders, until the chart's own render is used.

No command (the image's entrypoint runs), `args: [tritonserver, --flag=value, ...]`, the admin key from a Secret through
`$(TRITON_ADMIN_KEY)`, named ports and the three probes. GPU settings are included on purpose: the launcher
must drop them on a machine without a GPU and say so.
"""

from __future__ import annotations

import copy

ADMIN_SECRET = {"triton-admin": {"admin-key": "local-test-admin-key"}}
ADMIN_HEADER = "admin-key"
ADMIN_KEY = ADMIN_SECRET["triton-admin"]["admin-key"]
RESTRICTED = "model-repository,shared-memory"

_TRITON_CONTAINER = {
    "name": "triton",
    "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
    "args": [
        "tritonserver",
        "--model-repository=/models",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--allow-metrics=true",
        "--allow-gpu-metrics=true",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--disable-auto-complete-config",
        "--allow-sagemaker=false",
        "--allow-vertex-ai=false",
        "--exit-timeout-secs=30",
        "--log-format=default",
        "--pinned-memory-pool-byte-size=268435456",
        "--cuda-memory-pool-byte-size=0:67108864",
        f"--http-restricted-api={RESTRICTED}:{ADMIN_HEADER}=$(TRITON_ADMIN_KEY)",
        f"--grpc-restricted-protocol={RESTRICTED}:{ADMIN_HEADER}=$(TRITON_ADMIN_KEY)",
    ],
    "env": [
        {"name": "TRITON_ADMIN_KEY", "valueFrom": {"secretKeyRef": {"name": "triton-admin", "key": "admin-key"}}},
        {"name": "OMP_NUM_THREADS", "value": "1"},
    ],
    "ports": [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8001, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8002, "protocol": "TCP"},
    ],
    "startupProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 2, "failureThreshold": 30},
    "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
    "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": 8000}, "periodSeconds": 10, "failureThreshold": 3},
}


def triton_container() -> dict:
    """A fresh copy, so that a test may change it without affecting others."""
    return copy.deepcopy(_TRITON_CONTAINER)
