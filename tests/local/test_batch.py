"""The batch client on the real local tritonserver, run exactly as the rendered Job's shards run it.

The server is the `triton` container that values/local.yaml renders (launch_rendered); the client is the `batch`
container of the same umbrella render with batch enabled (tests/harness/batch_local.py: its args and env, the file
from its ConfigMap, paths and the Triton address mapped to this machine, JOB_COMPLETION_INDEX per shard). The
data set is generated: labelled pattern images (models/synthetic_patterns.py) written as PNG files.

Proven here: every item lands exactly once across the shards, in the shard its id hashes to, with the answers of
the model's own network; a shard killed with SIGKILL mid-way and run again finishes without re-sending what was
done and without a partial file; items a model refuses land in the failures file with its reason while the rest
complete; bad inputs (unknown model, empty input, shard out of range, unreadable files, an unreachable server, an
object store without a client) give a clear error, an exit code that says which, and write nothing wrong.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.batch_local import find_batch_pod, plan_shard, run_shards, start_shard
from tests.harness.model_config import MODELS_DIR, load_python_source
from tests.harness.triton_local import TritonPod, find_triton_pod, launch_triton

pytestmark = [pytest.mark.local, pytest.mark.slow]

CLIENT_FILE = helm.CHARTS_DIR / "triton-batch" / "files" / "batch_infer.py"
TEST_REPOSITORY = Path(__file__).parent / "batch_test_repository"
DATA_MOUNT = "/data"
DATASET_SIZE = 2400  # 300 images of each of the 8 classes
DATASET_SEED = 1111
# What the rendered client is told, for a test run: quick progress lines, short retries.
BATCH = {
    "enabled": True,
    "shards": 4,
    "parallelism": 2,
    "input": {"format": "images", "path": "/data/images"},
    "output": {"path": "/data/results"},
    "client": {"concurrency": 8, "maxRetries": 2, "retryInitialSeconds": 0.05, "retryMaxSeconds": 0.2,
               "waitReadySeconds": 20, "progressIntervalSeconds": 0.5, "requestTimeoutSeconds": 20},
}  # fmt: skip


def merged(base: dict, extra: dict) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in extra.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def stack(batch: dict | None = None) -> list[dict]:
    return helm.render("triton-stack", [helm.VALUES_DIR / "local.yaml"], values={"batch": merged(BATCH, batch or {})}, kube_version=KUBE_HIGHEST)


@pytest.fixture(scope="module")
def client_module():
    return load_python_source(CLIENT_FILE, "triton_batch_client")


@pytest.fixture(scope="module")
def server(launch_rendered, tmp_path_factory):
    """tritonserver as the stack render's server pod runs it, serving the local copy of models/."""
    rendered = launch_rendered(find_triton_pod(stack()), tmp_path_factory.mktemp("batch-triton"))
    with rendered.server as running:
        running.wait_ready()
        yield running


@pytest.fixture(scope="module")
def picky_server(tmp_path_factory):
    """The same rendered server container serving a copy of the test repository with the picky model."""
    work = tmp_path_factory.mktemp("picky-triton")
    shutil.copytree(TEST_REPOSITORY, work / "models")
    server = launch_triton(find_triton_pod(stack()).container, work_dir=work, path_mapping={"/models": work / "models"})
    with server:
        server.wait_ready()
        yield server


def write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(path)


def decoded(path: Path) -> np.ndarray:
    """A PNG as the model's input, decoded independently of the client."""
    return (np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def dataset(patterns, tmp_path_factory) -> dict[str, int]:
    """DATASET_SIZE labelled PNGs under <claim>/images in class folders; returns {item id: label}."""
    claim = tmp_path_factory.mktemp("claim")
    images, labels = patterns.generate_images(DATASET_SIZE, seed=DATASET_SEED)
    ids = {}
    for index, (image, label) in enumerate(zip(images, labels)):
        item_id = f"{patterns.CLASS_NAMES[label]}/{index:05d}.png"
        write_png(claim / "images" / item_id, image)
        ids[item_id] = int(label)
    return {"claim": claim, "labels": ids}


def fresh_claim(source: Path, destination: Path) -> Path:
    """A claim of its own for one test: the images, and no results yet."""
    shutil.copytree(source / "images", destination / "images", symlinks=True)
    return destination


def plans(pod, claim: Path, work: Path, url: str, shards=None) -> dict:
    return {shard: plan_shard(pod, shard, work_dir=work, path_mapping={DATA_MOUNT: claim}, url=url)
            for shard in (range(pod.shards) if shards is None else shards)}


def results(claim: Path, output: str = "results") -> list[dict]:
    return [json.loads(line) for path in sorted((claim / output / "shards").glob("*.results.jsonl")) for line in path.read_text().splitlines()]


def failures(claim: Path, output: str = "results") -> list[dict]:
    return [json.loads(line) for path in sorted((claim / output / "shards").glob("*.failures.jsonl")) for line in path.read_text().splitlines()]


def manifest(claim: Path, shard: int, shards: int, output: str = "results") -> dict:
    return json.loads((claim / output / "shards" / f"shard-{shard:05d}-of-{shards:05d}.manifest.json").read_text())


def explain(runs) -> str:
    return "\n".join(f"--- shard {run.shard}: exit {run.returncode}\n{run.log[-2500:]}" for run in runs.values())


# --- a whole data set through every shard ---------------------------------------------------------------------


def test_every_item_lands_once_in_its_shard_with_the_models_answers(server, dataset, network, client_module, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack())
    shard_plans = plans(pod, claim, tmp_path / "work", server.grpc_address)
    runs = run_shards(shard_plans, pod.parallelism)
    assert {run.returncode for run in runs.values()} == {0}, explain(runs)
    print(f"\nlocal changes to the rendered batch container:\n{shard_plans[0].describe()}")

    lines = results(claim)
    counts = Counter(line["id"] for line in lines)
    assert set(counts) == set(dataset["labels"]) and set(counts.values()) == {1}
    for shard in range(pod.shards):
        shard_ids = {json.loads(line)["id"] for line in (claim / "results" / "shards" / f"shard-{shard:05d}-of-00004.results.jsonl").read_text().splitlines()}
        assert {client_module.shard_of(item_id, pod.shards) for item_id in shard_ids} <= {shard}
        assert manifest(claim, shard, 4)["succeeded"] == len(shard_ids) > 0
    assert failures(claim) == []
    assert all("progress shard-" in run.log and "items/s, ETA" in run.log for run in runs.values())

    # The model's own network, in-process, on the same decoded files: the same class for every item.
    classifier = network.load_classifier(MODELS_DIR / "image_classifier" / "1" / "weights.pt")
    ids = sorted(counts)
    with torch.inference_mode():
        expected = classifier(torch.from_numpy(np.stack([decoded(claim / "images" / item_id) for item_id in ids]))).numpy().argmax(axis=1)
    served = {line["id"]: line["outputs"]["TOP_CLASS"][0] for line in lines}
    assert [served[item_id] for item_id in ids] == expected.tolist()
    accuracy = sum(served[item_id] == label for item_id, label in dataset["labels"].items()) / len(ids)
    print(f"accuracy against the labels: {accuracy:.4f} over {len(ids)} items in {pod.shards} shards")
    assert accuracy >= 0.95


def test_shards_are_stable_when_items_come_and_go(client_module):
    ids = [f"img/{n:05d}.png" for n in range(4000)]
    before = {item_id: client_module.shard_of(item_id, 8) for item_id in ids}
    assert {item_id: client_module.shard_of(item_id, 8) for item_id in ids[::3] + ["new/1.png"]} == {**{i: before[i] for i in ids[::3]}, "new/1.png": client_module.shard_of("new/1.png", 8)}
    sizes = Counter(before.values())
    assert set(sizes) == set(range(8)) and max(sizes.values()) < 1.2 * min(sizes.values())


# --- killed and restarted -------------------------------------------------------------------------------------


def test_a_shard_killed_mid_way_resumes_and_finishes_every_item_once(server, dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "client": {"concurrency": 2, "batchSize": 1, "commitItems": 50}}))
    (plan,) = plans(pod, claim, tmp_path / "work", server.grpc_address).values()
    parts = claim / "results" / "parts"

    def committed() -> list[dict]:
        # Renamed into place only when whole: every part present is complete records, line by line.
        return [json.loads(line) for path in sorted(parts.rglob("*.jsonl")) for line in path.read_text().splitlines()] if parts.exists() else []

    process = start_shard(plan)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and len(committed()) < 300:
        time.sleep(0.02)
    assert process.poll() is None, f"the shard ended before it could be killed (exit {process.returncode})"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    after_kill = committed()
    assert 300 <= len(after_kill) < DATASET_SIZE and all(record["outputs"]["TOP_CLASS"] for record in after_kill)
    assert not (claim / "results" / "shards").exists()

    runs = run_shards({0: plan}, 1)
    assert runs[0].returncode == 0, explain(runs)
    done = manifest(claim, 0, 1)
    assert done["already_done"] == len(after_kill) and done["sent_this_run"] == DATASET_SIZE - len(after_kill)
    counts = Counter(line["id"] for line in results(claim))
    assert set(counts) == set(dataset["labels"]) and set(counts.values()) == {1}
    assert Counter(record["id"] for record in committed()) == counts  # nothing was committed twice either
    everything = [path.relative_to(claim / "results") for path in (claim / "results").rglob("*") if path.is_file()]
    assert not (claim / "results" / ".partial").exists() and not [p for p in everything if p.suffix == ".tmp"]
    assert {p.parts[0] for p in everything} == {"parts", "shards"}


# --- items the model refuses, unreadable items ---------------------------------------------------------------


def test_items_the_model_refuses_go_to_the_failures_file_and_the_rest_complete(picky_server, patterns, tmp_path):
    claim = tmp_path / "claim"
    images, _ = patterns.generate_images(48, seed=5)
    black = {f"black-{n}.png" for n in range(4)}
    for index, image in enumerate(images):
        write_png(claim / "images" / f"item-{index:02d}.png", image)
    for name in black:
        write_png(claim / "images" / name, np.zeros((3, 32, 32), dtype=np.float32))
    pod = find_batch_pod(stack({"target": {"model": "picky"}}))
    runs = run_shards(plans(pod, claim, tmp_path / "work", picky_server.grpc_address), pod.parallelism)
    refused = failures(claim)
    assert {line["id"] for line in refused} == black
    assert all("picky model refuses an all-black image" in line["reason"] and line["attempts"] == 3 for line in refused), refused
    assert {line["id"] for line in results(claim)} == {f"item-{n:02d}.png" for n in range(48)}
    shards_with_refusals = {manifest(claim, s, 4)["shard"] for s in range(4) if manifest(claim, s, 4)["failed"]}
    assert {s for s, run in runs.items() if run.returncode == 1} == shards_with_refusals and {run.returncode for run in runs.values()} <= {0, 1}


def test_unreadable_files_fail_alone_with_their_reason(server, patterns, tmp_path):
    claim = tmp_path / "claim"
    images, _ = patterns.generate_images(16, seed=6)
    for index, image in enumerate(images):
        write_png(claim / "images" / f"ok-{index:02d}.png", image)
    (claim / "images" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    (claim / "images" / "dangling.png").symlink_to(claim / "gone.png")
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1}))
    runs = run_shards(plans(pod, claim, tmp_path / "work", server.grpc_address), 1)
    assert runs[0].returncode == 1, explain(runs)
    reasons = {line["id"]: line["reason"] for line in failures(claim)}
    assert set(reasons) == {"truncated.png", "dangling.png"}
    assert "not a readable image" in reasons["truncated.png"] and "cannot read dangling.png" in reasons["dangling.png"]
    assert len(results(claim)) == 16


# --- JSON Lines of tensors, HTTP, the sidecar --------------------------------------------------------------


def test_json_lines_of_tensors_through_http(server, patterns, network, tmp_path):
    claim = tmp_path / "claim"
    images, _ = patterns.generate_images(40, seed=7)
    lines = [json.dumps({"id": f"t{n}", "inputs": {"IMAGE": image.tolist()}}) for n, image in enumerate(images)]
    lines.append(json.dumps({"id": "wrong-shape", "inputs": {"IMAGE": [[0.0, 1.0]]}}))
    (claim / "tensors").mkdir(parents=True)
    (claim / "tensors" / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    pod = find_batch_pod(stack({"shards": 2, "target": {"protocol": "http"}, "input": {"format": "jsonl", "path": "/data/tensors"}}))
    assert "--protocol=http" in pod.container["args"]
    runs = run_shards(plans(pod, claim, tmp_path / "work", server.http_address), pod.parallelism)
    assert sorted(run.returncode for run in runs.values()) in ([0, 1], [1, 0]), explain(runs)
    (refused,) = failures(claim)
    assert refused["id"] == "wrong-shape" and "has shape [1, 2], the model takes [3, 32, 32]" in refused["reason"]
    classifier = network.load_classifier(MODELS_DIR / "image_classifier" / "1" / "weights.pt")
    with torch.inference_mode():
        expected = classifier(torch.from_numpy(images)).numpy()
    served = {line["id"]: line["outputs"] for line in results(claim)}
    assert [served[f"t{n}"]["TOP_CLASS"][0] for n in range(40)] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose([served[f"t{n}"]["PROBABILITIES"] for n in range(40)], expected, atol=1e-5)


def test_the_sidecar_lane_runs_the_rendered_sidecar(local_models, dataset, tmp_path):
    # target.mode sidecar: Triton started from the Job pod's own native sidecar container, the client beside it.
    objects = stack({"shards": 1, "parallelism": 1, "target": {"mode": "sidecar"}, "sidecar": {"modelRepository": {"claimName": "models"}}})
    pod = find_batch_pod(objects)
    sidecar = TritonPod(pod.spec, pod.sidecar)
    assert pod.sidecar["restartPolicy"] == "Always" and "--url=127.0.0.1:8001" in pod.container["args"]
    claim = tmp_path / "claim"
    for item_id in sorted(dataset["labels"])[:64]:
        (claim / "images" / item_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dataset["claim"] / "images" / item_id, claim / "images" / item_id)
    server = launch_triton(sidecar.container, work_dir=tmp_path / "sidecar", path_mapping={"/models": local_models.path})
    with server:
        server.wait_ready()
        runs = run_shards(plans(pod, claim, tmp_path / "work", server.grpc_address), 1)
    assert runs[0].returncode == 0, explain(runs)
    assert len(results(claim)) == 64


# --- progress pushed to a Pushgateway ---------------------------------------------------------------------


class _Pushgateway(http.server.BaseHTTPRequestHandler):
    pushes: list = []

    def do_PUT(self):  # noqa: N802 - the http.server interface
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).pushes.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_progress_is_pushed_to_a_pushgateway(server, dataset, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pushgateway)
    _Pushgateway.pushes = []
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        claim = fresh_claim(dataset["claim"], tmp_path / "claim")
        url = f"http://127.0.0.1:{receiver.server_address[1]}"
        pod = find_batch_pod(stack({"shards": 8, "client": {"pushgateway": url}}))
        runs = run_shards(plans(pod, claim, tmp_path / "work", server.grpc_address, shards=[3]), 1)
    finally:
        receiver.shutdown()
    assert runs[3].returncode == 0, explain(runs)
    assert _Pushgateway.pushes and {path for path, _ in _Pushgateway.pushes} == {"/metrics/job/triton-batch/shard/3"}
    final = {family.name: family.samples[0].value for family in text_string_to_metric_families(_Pushgateway.pushes[-1][1])}
    assert final["triton_batch_items_done"] == final["triton_batch_items_total"] == manifest(claim, 3, 8)["items"] > 0
    assert final["triton_batch_items_failed"] == 0


def test_an_unreachable_pushgateway_only_warns(server, patterns, tmp_path):
    claim = tmp_path / "claim"
    for index, image in enumerate(patterns.generate_images(8, seed=8)[0]):
        write_png(claim / "images" / f"{index}.png", image)
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "client": {"pushgateway": "http://127.0.0.1:9"}}))
    runs = run_shards(plans(pod, claim, tmp_path / "work", server.grpc_address), 1)
    assert runs[0].returncode == 0 and "cannot push metrics to http://127.0.0.1:9" in runs[0].log, explain(runs)


# --- bad inputs: a clear error, the exit code, nothing written -------------------------------------------


def run_one(pod, claim: Path, work: Path, url: str, shard: int = 0):
    return run_shards({shard: plan_shard(pod, shard, work_dir=work, path_mapping={DATA_MOUNT: claim}, url=url)}, 1)[shard]


def test_unknown_model_exits_2_writing_nothing(server, dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    run = run_one(find_batch_pod(stack({"target": {"model": "no_such_model"}})), claim, tmp_path / "work", server.grpc_address)
    assert run.returncode == 2, run.log
    assert "model 'no_such_model' (version latest) is not served by grpc" in run.log and "nothing was written" in run.log
    assert not (claim / "results").exists()


def test_empty_input_exits_2_writing_nothing(server, tmp_path):
    claim = tmp_path / "claim"
    (claim / "images").mkdir(parents=True)
    (claim / "images" / "notes.txt").write_text("not an image")
    run = run_one(find_batch_pod(stack()), claim, tmp_path / "work", server.grpc_address)
    assert run.returncode == 2 and "holds no images items" in run.log, run.log
    assert not (claim / "results").exists()


def test_shard_index_out_of_range_exits_2_writing_nothing(server, dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    run = run_one(find_batch_pod(stack()), claim, tmp_path / "work", server.grpc_address, shard=4)
    assert run.returncode == 2, run.log
    assert "shard index 4 is out of range for --shards 4 (0 to 3)" in run.log
    assert not (claim / "results").exists()


def test_a_server_that_never_answers_exits_3_writing_nothing(dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack({"client": {"waitReadySeconds": 1}}))
    run = run_one(pod, claim, tmp_path / "work", "127.0.0.1:9")
    assert run.returncode == 3 and "was not ready within 1s" in run.log, run.log
    assert not (claim / "results").exists()


@pytest.mark.parametrize(("output", "message"), [
    ("s3://batch-bucket/results", "object-store input and output go through pyarrow.fs"),
    ("ftp://host/results", "unsupported scheme"),
])  # fmt: skip
def test_object_store_paths_are_checked_before_anything_runs(output, message, dataset, tmp_path, client_module):
    if output.startswith("s3://"):
        try:
            import pyarrow.fs  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("pyarrow is installed here: the missing-client error cannot occur")
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    values = {"output": {"path": "s3://batch-bucket/results"}, "objectStore": {"workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}
    pod = find_batch_pod(stack(values))
    plan = plan_shard(pod, 0, work_dir=tmp_path / "work", path_mapping={DATA_MOUNT: claim}, url="127.0.0.1:9")
    assert "--output=s3://batch-bucket/results" in plan.argv  # object-store paths reach the client as rendered
    argv = [arg if not arg.startswith("--output=") else f"--output={output}" for arg in plan.argv]
    import subprocess

    completed = subprocess.run(argv, env=plan.env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and message in completed.stdout, completed.stdout + completed.stderr
    assert "nothing was written" in completed.stdout and not (claim / "results").exists()
