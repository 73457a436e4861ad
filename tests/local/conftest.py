"""Fixtures for the real-Triton tier: the servable model repository, the reference network, servers started from
the sample spec or from a rendered pod, and the clients that check what they answer."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpc_client
import tritonclient.http as http_client

from tests.harness.model_config import MODELS_DIR, load_python_source
from tests.harness.triton_local import (
    LocalModelRepository,
    TritonPod,
    TritonServer,
    describe_changes,
    launch_triton,
    prepare_local_model_repository,
)
from tests.local.sample_spec import ADMIN_SECRET, triton_container

PROTOCOLS = {"http": http_client, "grpc": grpc_client}
# Two images of each pattern class, a full batch; at this seed the reference network gets every one right (p > 0.9).
LABELLED_SEED = 11
LABELLED_COUNT = 16
# Same weights, same float32 arithmetic in another process: differences are rounding only.
REFERENCE_TOLERANCE = 1e-5
REQUEST_TIMEOUT_SECONDS = 10
SETTLE_ATTEMPTS = 40
SETTLE_INTERVAL_SECONDS = 0.05


@pytest.fixture(scope="session")
def local_models(tmp_path_factory) -> LocalModelRepository:
    """A copy of the models/ that this python-only tritonserver can load."""
    return prepare_local_model_repository(tmp_path_factory.mktemp("repository") / "models")




@pytest.fixture(scope="module")
def triton(tmp_path_factory, local_models):
    """tritonserver started from the sample container spec, ready, stopped with SIGTERM after the module."""
    server = launch_triton(
        triton_container(),
        work_dir=tmp_path_factory.mktemp("triton"),
        path_mapping={"/models": local_models.path},
        secrets=ADMIN_SECRET,
    )
    with server:
        ready_seconds = server.wait_ready()
        print(f"\ntritonserver ready in {ready_seconds:.2f}s; changes to the rendered spec:\n{describe_changes(server.plan.changes)}")
        yield server


# --- servers started from a rendered pod ---------------------------------------------------------------


@dataclass
class RenderedTriton:
    """A tritonserver started from a rendered pod, and the models that pod's repository volume holds."""

    pod: TritonPod
    server: TritonServer
    repository: LocalModelRepository

    def stop_after_pre_stop(self) -> int:
        """SIGTERM, then wait as long as the kubelet would once the preStop has run (grace minus preStop); returns
        the exit code. The preStop sleep itself is skipped: with nothing sending, it would only add its seconds."""
        return self.server.stop(grace=self.pod.termination_grace_seconds - self.pod.pre_stop_seconds)


@pytest.fixture(scope="session")
def launch_rendered(local_models):
    """Factory: start tritonserver from a rendered pod as its Deployment runs it (see triton_local); the volume
    behind --model-repository is stood in for by a local view holding what that volume would (`models`, else
    the servable models of models/). A --load-model of a model this server cannot load is dropped, named."""

    def launch(pod: TritonPod, work_dir: Path, secrets=None, ports=None, models: LocalModelRepository | None = None) -> RenderedTriton:
        path_mapping, repository = pod.mount_model_repository(models or local_models, work_dir / "model-repository")
        server = launch_triton(pod.container, work_dir=work_dir, path_mapping=path_mapping, secrets=secrets, ports=ports,
                               unservable_models=repository.skipped)
        return RenderedTriton(pod, server, repository)

    return launch


# --- what the models must answer ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def labelled_batch(patterns) -> tuple[np.ndarray, np.ndarray]:
    """A full batch (16 images, two per class) and the class drawn in each."""
    return patterns.generate_images(LABELLED_COUNT, seed=LABELLED_SEED)


@pytest.fixture(scope="session")
def reference_outputs(network):
    """Factory: the probabilities a served model's own weights give in-process for some images."""
    classifiers = {}

    def probabilities(model_dir: Path, images: np.ndarray) -> np.ndarray:
        weights = Path(model_dir) / "1" / "weights.pt"
        if weights not in classifiers:
            classifiers[weights] = network.load_classifier(weights)
        with torch.inference_mode():
            return classifiers[weights](torch.from_numpy(images)).numpy()

    return probabilities


def open_client(address: str, protocol: str):
    """A tritonclient for host:port, to use in `with`: an HTTP client left to the garbage collector joins its
    gevent pool from whatever thread collects it, and a connection left open makes Triton wait out its
    exit timeout at shutdown."""
    return closing(PROTOCOLS[protocol].InferenceServerClient(address))


@pytest.fixture(scope="session")
def infer():
    """Factory: send images to a model over http or grpc; returns (PROBABILITIES, TOP_CLASS as a flat list)."""

    def send(address: str, protocol: str, model: str, images: np.ndarray, headers=None) -> tuple[np.ndarray, list[int]]:
        module = PROTOCOLS[protocol]
        image_input = module.InferInput("IMAGE", list(images.shape), "FP32")
        image_input.set_data_from_numpy(images)
        outputs = [module.InferRequestedOutput(name) for name in ("PROBABILITIES", "TOP_CLASS")]
        with open_client(address, protocol) as client:
            result = client.infer(model, [image_input], outputs=outputs, headers=headers)
        return result.as_numpy("PROBABILITIES"), result.as_numpy("TOP_CLASS").ravel().tolist()

    return send


def settled(read):
    """read() once two reads in a row agree: Triton records a request's statistics and metrics just after it
    sends the response, so a client can see its answer before the counters move. Bounded to about two seconds."""
    previous = read()
    for _ in range(SETTLE_ATTEMPTS):
        time.sleep(SETTLE_INTERVAL_SECONDS)
        current = read()
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"still changing after {SETTLE_ATTEMPTS * SETTLE_INTERVAL_SECONDS:.1f}s: {current}")
