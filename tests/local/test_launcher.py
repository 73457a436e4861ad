"""The real tritonserver, started from a rendered-shape container spec, serves image_classifier correctly.

One server per module (the `triton` fixture) keeps this tier to seconds. Answers are checked against the
same network run in-process with the same weights, and against the known class of each synthetic image.
"""

from __future__ import annotations

import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest
import requests
import torch
import tritonclient.grpc as grpc_client
import tritonclient.http as http_client
from tritonclient.utils import InferenceServerException

from tests.harness.triton_local import LauncherError, launch_triton, live_processes_in_group
from tests.local.sample_spec import ADMIN_HEADER, ADMIN_KEY, ADMIN_SECRET, triton_container
from tests.local.conftest import settled

pytestmark = pytest.mark.local

PROTOCOLS = {"http": http_client, "grpc": grpc_client}
# Same weights, same float32 arithmetic in another process: differences are rounding only.
REFERENCE_TOLERANCE = 1e-5
REQUEST_TIMEOUT_SECONDS = 10
# A concurrent burst large enough that requests queue behind a running batch, small enough to take < 1 s.
BURST_REQUESTS = 48
BURST_CONCURRENCY = 12


@contextmanager
def connected(triton, protocol: str):
    """A tritonclient for the server, closed on exit: an HTTP client left to the garbage collector joins its
    gevent pool from whatever thread collects it, and fails there."""
    address = triton.http_address if protocol == "http" else triton.grpc_address
    client = PROTOCOLS[protocol].InferenceServerClient(address)
    try:
        yield client
    finally:
        client.close()


def infer_images(triton, protocol: str, model: str, images: np.ndarray, **output_options):
    module = PROTOCOLS[protocol]
    image_input = module.InferInput("IMAGE", list(images.shape), "FP32")
    image_input.set_data_from_numpy(images)
    outputs = [module.InferRequestedOutput(name, **output_options.get(name, {})) for name in ("PROBABILITIES", "TOP_CLASS")]
    with connected(triton, protocol) as client:
        return client.infer(model, [image_input], outputs=outputs)


def model_statistics(triton, model: str) -> tuple[int, int]:
    """(inference_count, execution_count) of a model once settled: items inferred and executions that ran them."""

    def read() -> tuple[int, int]:
        with connected(triton, "http") as client:
            stats = client.get_inference_statistics(model)["model_stats"][0]
        return stats["inference_count"], stats["execution_count"]

    return settled(read)


def send_burst(triton, model: str, images: np.ndarray) -> None:
    """BURST_REQUESTS single-image requests from BURST_CONCURRENCY threads at once; bounded in count and time."""

    def one(index: int) -> None:
        result = infer_images(triton, "http", model, images[index % len(images)][None])
        assert result.as_numpy("PROBABILITIES").shape == (1, 8)

    with ThreadPoolExecutor(max_workers=BURST_CONCURRENCY) as pool:
        list(pool.map(one, range(BURST_REQUESTS), timeout=REQUEST_TIMEOUT_SECONDS * 3))


def model_metrics(triton, names: tuple[str, ...], model: str) -> dict[str, float]:
    """The named per-model series of one scrape, once settled (see settled())."""

    def read() -> dict[str, float]:
        samples = [s for s in triton.scrape_metrics() if s.name in names and s.labels.get("model") == model]
        assert sorted(s.name for s in samples) == sorted(names), f"series for {model}: {samples}"
        return {s.name: s.value for s in samples}

    return settled(read)


@pytest.fixture(scope="module")
def labelled_images(patterns):
    return patterns.generate_images(8, seed=11)


@pytest.fixture(scope="module")
def reference_probabilities(network, local_models, labelled_images):
    classifier = network.load_classifier(local_models.path / "image_classifier" / "1" / "weights.pt")
    with torch.inference_mode():
        return classifier(torch.from_numpy(labelled_images[0])).numpy()


class TestStartup:
    def test_server_is_ready_within_probe_budget_when_started_from_spec(self, triton):
        assert triton.ready_seconds < triton.ready_budget_seconds()
        assert triton.probe("livenessProbe") and triton.probe("readinessProbe")

    def test_server_exits_and_startup_fails_when_a_model_cannot_load(self, tmp_path, local_models):
        # The pair of the readiness test: with --exit-on-error a broken model stops the server, and
        # wait_ready reports it at once with the log, instead of waiting out the probe budget.
        broken = tmp_path / "models"
        shutil.copytree(local_models.path / "image_classifier", broken / "image_classifier")
        (broken / "image_classifier" / "1" / "model.py").write_text("raise ImportError('deliberately broken')\n")
        server = launch_triton(triton_container(), work_dir=tmp_path / "run", path_mapping={"/models": broken}, secrets=ADMIN_SECRET)
        with server, pytest.raises(LauncherError, match="exited with 1 before it was ready") as error:
            server.wait_ready(timeout=60)
        assert "deliberately broken" in str(error.value)

    def test_server_exits_cleanly_when_sent_sigterm(self, tmp_path, local_models):
        server = launch_triton(triton_container(), work_dir=tmp_path, path_mapping={"/models": local_models.path}, secrets=ADMIN_SECRET)
        with server:
            server.wait_ready()
            started = time.monotonic()
            assert server.stop(grace=30) == 0
        # Nothing is in flight, so shutdown should take the model unload only, far below --exit-timeout-secs=30.
        assert time.monotonic() - started < 15

    def test_server_and_its_stubs_die_at_once_when_killed(self, tmp_path, local_models):
        # The pair of the graceful stop: SIGKILL gives Triton no chance to unload, and the python backend's
        # stub processes, in the same process group, go with it.
        server = launch_triton(triton_container(), work_dir=tmp_path, path_mapping={"/models": local_models.path}, secrets=ADMIN_SECRET)
        with server:
            server.wait_ready()
            # tritonserver and one python stub per model instance (two models, one instance each).
            assert len(live_processes_in_group(server.process.pid)) >= 3
            assert server.kill() == -signal.SIGKILL
            assert live_processes_in_group(server.process.pid) == []


class TestInference:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_probabilities_match_reference_when_batch_is_sent(self, triton, protocol, labelled_images, reference_probabilities):
        result = infer_images(triton, protocol, "image_classifier", labelled_images[0])
        probabilities = result.as_numpy("PROBABILITIES")
        assert np.abs(probabilities - reference_probabilities).max() < REFERENCE_TOLERANCE
        assert result.as_numpy("TOP_CLASS").ravel().tolist() == reference_probabilities.argmax(axis=1).tolist()

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_top_class_is_the_drawn_pattern_when_images_are_labelled(self, triton, protocol, labelled_images):
        images, labels = labelled_images
        top = infer_images(triton, protocol, "image_classifier_nobatch", images).as_numpy("TOP_CLASS").ravel()
        assert (top == labels).mean() >= 0.75, f"predicted {top.tolist()}, drawn {labels.tolist()}"

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_request_is_rejected_when_image_shape_is_wrong(self, triton, protocol):
        wrong = np.zeros((1, 3, 16, 16), dtype=np.float32)
        with pytest.raises(InferenceServerException, match="unexpected shape"):
            infer_images(triton, protocol, "image_classifier", wrong)

    def test_request_is_rejected_when_batch_exceeds_max_batch_size(self, triton):
        with pytest.raises(InferenceServerException, match="batch-size must be <= 16"):
            infer_images(triton, "http", "image_classifier", np.zeros((17, 3, 32, 32), dtype=np.float32))

    def test_labels_are_returned_when_client_asks_for_classification(self, triton, patterns, labelled_images):
        images, labels = labelled_images
        result = infer_images(triton, "http", "image_classifier", images, PROBABILITIES={"class_count": 1})
        returned = [entry[0].decode().split(":")[2] for entry in result.as_numpy("PROBABILITIES")]
        assert sum(name == patterns.CLASS_NAMES[label] for name, label in zip(returned, labels)) >= 6

    def test_classification_has_no_label_when_output_has_no_label_file(self, triton, labelled_images):
        result = infer_images(triton, "http", "image_classifier", labelled_images[0], TOP_CLASS={"class_count": 1})
        assert all(entry[0].decode().count(":") == 1 for entry in result.as_numpy("TOP_CLASS"))


class TestDynamicBatching:
    def test_requests_share_executions_when_batching_is_on(self, triton, labelled_images):
        before = model_statistics(triton, "image_classifier")
        send_burst(triton, "image_classifier", labelled_images[0])
        inferences, executions = (after - earlier for after, earlier in zip(model_statistics(triton, "image_classifier"), before))
        assert inferences == BURST_REQUESTS
        assert executions < inferences, "no request was batched with another"

    def test_every_request_executes_alone_when_batching_is_off(self, triton, labelled_images):
        before = model_statistics(triton, "image_classifier_nobatch")
        send_burst(triton, "image_classifier_nobatch", labelled_images[0])
        inferences, executions = (after - earlier for after, earlier in zip(model_statistics(triton, "image_classifier_nobatch"), before))
        assert inferences == executions == BURST_REQUESTS


class TestMetrics:
    COUNTERS = ("nv_inference_request_success", "nv_inference_count", "nv_inference_exec_count", "nv_inference_queue_duration_us")

    def test_counters_grow_by_the_requests_sent_when_model_is_used(self, triton, labelled_images):
        before = model_metrics(triton, self.COUNTERS, "image_classifier")
        for image in labelled_images[0][:4]:
            infer_images(triton, "http", "image_classifier", image[None])
        after = model_metrics(triton, self.COUNTERS, "image_classifier")
        growth = {name: after[name] - before[name] for name in self.COUNTERS}
        assert growth["nv_inference_request_success"] == growth["nv_inference_count"] == 4
        assert 1 <= growth["nv_inference_exec_count"] <= 4
        assert growth["nv_inference_queue_duration_us"] > 0

    def test_counters_stay_still_when_model_gets_no_requests(self, triton, labelled_images):
        before = model_metrics(triton, self.COUNTERS, "image_classifier_nobatch")
        infer_images(triton, "http", "image_classifier", labelled_images[0][:1])
        assert model_metrics(triton, self.COUNTERS, "image_classifier_nobatch") == before

    def test_pending_request_gauge_is_exported_when_model_is_loaded(self, triton):
        gauge = "nv_inference_pending_request_count"
        assert model_metrics(triton, (gauge,), "image_classifier")[gauge] >= 0

    def test_no_series_is_exported_when_model_is_not_served(self, triton):
        assert not [s for s in triton.scrape_metrics() if s.labels.get("model") == "image_classifier_libtorch"]


class TestRepositoryApi:
    """--model-control-mode=none and --http-restricted-api with the admin key expanded from the Secret."""

    def repository_post(self, triton, path: str, key: str | None):
        headers = {ADMIN_HEADER: key} if key is not None else {}
        return requests.post(f"{triton.base_url}/v2/repository{path}", headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)

    def test_index_is_listed_when_admin_key_from_secret_is_sent(self, triton):
        response = self.repository_post(triton, "/index", ADMIN_KEY)
        assert response.status_code == 200
        assert {entry["name"] for entry in response.json()} == {"image_classifier", "image_classifier_nobatch"}

    @pytest.mark.parametrize("key", [None, "wrong-key", "$(TRITON_ADMIN_KEY)"])
    def test_repository_api_is_forbidden_when_admin_key_is_missing_or_wrong(self, triton, key):
        response = self.repository_post(triton, "/index", key)
        assert response.status_code == 403
        assert "This API is restricted" in response.json()["error"]

    def test_model_load_is_refused_when_model_control_mode_is_none(self, triton):
        response = self.repository_post(triton, "/models/image_classifier/load", ADMIN_KEY)
        assert response.status_code == 503
        assert "explicit model load / unload is not allowed" in response.json()["error"]

    def test_grpc_index_is_listed_when_admin_key_is_sent(self, triton):
        # Triton 2.51 prefixes the configured key on gRPC: clients send triton-grpc-protocol-<key>.
        headers = {f"triton-grpc-protocol-{ADMIN_HEADER}": ADMIN_KEY}
        with connected(triton, "grpc") as client:
            index = client.get_model_repository_index(headers=headers, as_json=True)
        assert {model["name"] for model in index["models"]} == {"image_classifier", "image_classifier_nobatch"}

    def test_grpc_index_is_refused_when_admin_key_is_missing(self, triton):
        with pytest.raises(InferenceServerException, match="restricted"):
            with connected(triton, "grpc") as client:
                client.get_model_repository_index()
