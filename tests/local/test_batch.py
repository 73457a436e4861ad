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

import asyncio
import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
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
    """The same rendered server container serving a copy of the test repository: the picky and text_echo models."""
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


def plans(pod, claim: Path, work: Path, server, shards=None) -> dict:
    """Each shard's plan, pointed at `server`'s listener for the rendered protocol."""
    return {shard: plan_shard(pod, shard, work_dir=work, path_mapping={DATA_MOUNT: claim}, url=pod.local_address(server))
            for shard in (range(pod.shards) if shards is None else shards)}


def results(claim: Path, output: str = "results") -> list[dict]:
    return [json.loads(line) for path in sorted((claim / output / "shards").glob("*.results.jsonl")) for line in path.read_text().splitlines()]


def failures(claim: Path, output: str = "results") -> list[dict]:
    return [json.loads(line) for path in sorted((claim / output / "shards").glob("*.failures.jsonl")) for line in path.read_text().splitlines()]


def committed(claim: Path, output: str = "results") -> list[dict]:
    """The records of every committed part. Renamed into place only when whole: every part present is complete
    records, line by line."""
    parts = claim / output / "parts"
    return [json.loads(line) for path in sorted(parts.rglob("*.jsonl")) for line in path.read_text().splitlines()] if parts.exists() else []


def manifest(claim: Path, shard: int, shards: int, output: str = "results") -> dict:
    return json.loads((claim / output / "shards" / f"shard-{shard:05d}-of-{shards:05d}.manifest.json").read_text())


def explain(runs) -> str:
    return "\n".join(f"--- shard {run.shard}: exit {run.returncode}\n{run.log[-2500:]}" for run in runs.values())


# --- a whole data set through every shard ---------------------------------------------------------------------


def test_every_item_lands_once_in_its_shard_with_the_models_answers(server, dataset, network, client_module, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack())
    shard_plans = plans(pod, claim, tmp_path / "work", server)
    runs = run_shards(shard_plans, pod.parallelism)
    assert {run.returncode for run in runs.values()} == {0}, explain(runs)
    print(f"\nlocal changes to the rendered batch container:\n{shard_plans[0].describe()}")

    lines = results(claim)
    counts = Counter(line["id"] for line in lines)
    assert set(counts) == set(dataset["labels"]) and set(counts.values()) == {1}
    assert {line["model_version"] for line in lines} == {"1"}  # the version that answered, as Triton named it
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
    (plan,) = plans(pod, claim, tmp_path / "work", server).values()
    process = start_shard(plan)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and len(committed(claim)) < 300:
        time.sleep(0.02)
    assert process.poll() is None, f"the shard ended before it could be killed (exit {process.returncode})"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    after_kill = committed(claim)
    assert 300 <= len(after_kill) < DATASET_SIZE and all(record["outputs"]["TOP_CLASS"] for record in after_kill)
    assert not (claim / "results" / "shards").exists()

    runs = run_shards({0: plan}, 1)
    assert runs[0].returncode == 0, explain(runs)
    done = manifest(claim, 0, 1)
    assert done["already_done"] == len(after_kill) and done["sent_this_run"] == DATASET_SIZE - len(after_kill)
    counts = Counter(line["id"] for line in results(claim))
    assert set(counts) == set(dataset["labels"]) and set(counts.values()) == {1}
    assert Counter(record["id"] for record in committed(claim)) == counts  # nothing was committed twice either
    everything = [path.relative_to(claim / "results") for path in (claim / "results").rglob("*") if path.is_file()]
    assert {p.parts[0] for p in everything} <= {"parts", "shards", ".partial"}
    assert not [p for p in everything if p.suffix == ".tmp" and p.parts[0] != ".partial"]
    # The killed run's temp folder is left for a later run to remove once stale (it cannot tell a killed run from
    # a live one elsewhere sooner); the second run's own folder is gone.
    (killed_run,) = [path.name for path in (claim / "results" / ".partial" / "shard-00000-of-00001").iterdir()]
    assert killed_run != done["run"] and len(list((claim / "results" / ".partial").rglob("*.tmp"))) <= 1
    # The manifest names the versions that answered the shard's results, this run's and the killed run's alike,
    # also after a run that had nothing left to send.
    assert done["model_versions"] == ["1"]
    again = run_shards({0: plan}, 1)
    assert again[0].returncode == 0 and manifest(claim, 0, 1)["sent_this_run"] == 0, explain(again)
    assert manifest(claim, 0, 1)["model_versions"] == ["1"]


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
    runs = run_shards(plans(pod, claim, tmp_path / "work", picky_server), pod.parallelism)
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
    runs = run_shards(plans(pod, claim, tmp_path / "work", server), 1)
    assert runs[0].returncode == 1, explain(runs)
    reasons = {line["id"]: line["reason"] for line in failures(claim)}
    assert set(reasons) == {"truncated.png", "dangling.png"}
    assert "not a readable image" in reasons["truncated.png"] and "cannot read dangling.png" in reasons["dangling.png"]
    assert len(results(claim)) == 16


# --- JSON Lines of tensors, HTTP, the sidecar --------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_string_tensors_go_and_come_back_whole(protocol, picky_server, tmp_path):
    # BYTES in and out (text_echo): each element is sent as its length and bytes, and read back the same way.
    claim = tmp_path / "claim"
    texts = {f"s{n}": [f"item {n}", "ünïcode ✓" if n % 2 else ""] for n in range(20)}
    (claim / "text").mkdir(parents=True)
    (claim / "text" / "part-0.jsonl").write_text("".join(json.dumps({"id": key, "inputs": {"TEXT": value}}) + "\n" for key, value in texts.items()))
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "target": {"model": "text_echo", "protocol": protocol},
                                "input": {"format": "jsonl", "path": "/data/text"}}))
    runs = run_shards(plans(pod, claim, tmp_path / "work", picky_server), 1)
    assert runs[0].returncode == 0, explain(runs)
    answers = {line["id"]: line["outputs"] for line in results(claim)}
    assert answers == {key: {"ECHO": [v.encode().upper().decode() for v in value], "LENGTHS": [len(v.encode()) for v in value]} for key, value in texts.items()}


def test_json_lines_of_tensors_through_http(server, patterns, network, tmp_path):
    claim = tmp_path / "claim"
    images, _ = patterns.generate_images(40, seed=7)
    lines = [json.dumps({"id": f"t{n}", "inputs": {"IMAGE": image.tolist()}}) for n, image in enumerate(images)]
    lines.append(json.dumps({"id": "wrong-shape", "inputs": {"IMAGE": [[0.0, 1.0]]}}))
    (claim / "tensors").mkdir(parents=True)
    (claim / "tensors" / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    pod = find_batch_pod(stack({"shards": 2, "target": {"protocol": "http"}, "input": {"format": "jsonl", "path": "/data/tensors"}}))
    assert "--protocol=http" in pod.container["args"]
    runs = run_shards(plans(pod, claim, tmp_path / "work", server), pod.parallelism)
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
    objects = stack({"shards": 1, "parallelism": 1, "target": {"mode": "sidecar"}, "sidecar": {"modelRepository": {"claimName": "models"}},
                     "activeDeadlineSeconds": 3600})
    pod = find_batch_pod(objects)
    sidecar = TritonPod(pod.spec, pod.sidecar)
    assert pod.sidecar["restartPolicy"] == "Always" and "--url=127.0.0.1:8000" in pod.container["args"]
    claim = tmp_path / "claim"
    for item_id in sorted(dataset["labels"])[:64]:
        (claim / "images" / item_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dataset["claim"] / "images" / item_id, claim / "images" / item_id)
    server = launch_triton(sidecar.container, work_dir=tmp_path / "sidecar", path_mapping={"/models": local_models.path})
    with server:
        server.wait_ready()
        runs = run_shards(plans(pod, claim, tmp_path / "work", server), 1)
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
        runs = run_shards(plans(pod, claim, tmp_path / "work", server, shards=[3]), 1)
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
    runs = run_shards(plans(pod, claim, tmp_path / "work", server), 1)
    assert runs[0].returncode == 0 and "cannot push metrics to http://127.0.0.1:9" in runs[0].log, explain(runs)


# --- bad inputs: a clear error, the exit code, nothing written -------------------------------------------


def run_one(pod, claim: Path, work: Path, server, shard: int = 0):
    return run_shards({shard: plan_shard(pod, shard, work_dir=work, path_mapping={DATA_MOUNT: claim}, url=pod.local_address(server))}, 1)[shard]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unknown_model_exits_2_writing_nothing(protocol, server, dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    run = run_one(find_batch_pod(stack({"target": {"model": "no_such_model", "protocol": protocol}})), claim, tmp_path / "work", server)
    assert run.returncode == 2, run.log
    assert f"model 'no_such_model' (version latest) is not served by {protocol}" in run.log and "nothing was written" in run.log
    assert "unknown model" in run.log  # Triton's own reason, passed on
    assert not (claim / "results").exists()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "127.0.0.1:8000/v2", "127.0.0.1", "::1:8000", "127.0.0.1:0"])
def test_a_url_that_is_not_host_and_port_exits_2_writing_nothing(url, protocol, dataset, tmp_path):
    claim = tmp_path / "claim"
    pod = find_batch_pod(stack({"target": {"protocol": protocol}}))
    run = run_one(pod, claim, tmp_path / "work", url)
    assert run.returncode == 2 and f"--url {url!r} is not host:port (no scheme, no path" in run.log, run.log
    assert not claim.exists()


@pytest.mark.parametrize(("protocol", "listener", "message"), [
    ("http", "grpc", "answers HTTP/2, as Triton's gRPC listener does, not HTTP/1.1: use --protocol grpc"),
    ("grpc", "http", "answers HTTP/1.1, as Triton's HTTP listener does, not gRPC: use --protocol http"),
])  # fmt: skip
def test_the_other_protocols_port_exits_2_at_once_naming_the_fix(protocol, listener, message, server, dataset, tmp_path):
    # The upgrade trap: a target.service.host that serves only gRPC, now called over HTTP (the default), or the
    # reverse. Waiting for readiness (client.waitReadySeconds, 5 minutes by default) would never help.
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "target": {"protocol": protocol}}))
    run = run_one(pod, claim, tmp_path / "work", getattr(server, f"{listener}_address"))
    assert run.returncode == 2 and message in run.log and "nothing was written" in run.log, run.log
    assert not (claim / "results").exists()


def test_empty_input_exits_2_writing_nothing(server, tmp_path):
    claim = tmp_path / "claim"
    (claim / "images").mkdir(parents=True)
    (claim / "images" / "notes.txt").write_text("not an image")
    run = run_one(find_batch_pod(stack()), claim, tmp_path / "work", server)
    assert run.returncode == 2 and "holds no images items" in run.log, run.log
    assert not (claim / "results").exists()


def test_shard_index_out_of_range_exits_2_writing_nothing(server, dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    run = run_one(find_batch_pod(stack()), claim, tmp_path / "work", server, shard=4)
    assert run.returncode == 2, run.log
    assert "shard index 4 is out of range for --shards 4 (0 to 3)" in run.log
    assert not (claim / "results").exists()


def test_a_server_that_never_answers_exits_3_writing_nothing(dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack({"client": {"waitReadySeconds": 3}}))
    run = run_one(pod, claim, tmp_path / "work", "127.0.0.1:9")
    assert run.returncode == 3 and "was not ready within 3s: " in run.log, run.log
    # Why, logged at once (then every 30 s, not at every attempt) and in the last word: nothing listens there.
    assert run.log.count("waiting up to") == 1 and "Connect call failed" in run.log, run.log
    assert not (claim / "results").exists()


@pytest.mark.parametrize(("datatype", "readable"), [("FP32", True), ("BF16", True), ("BYTES", True), ("FP8", False)])
def test_a_model_whose_outputs_the_client_cannot_read_is_refused_before_anything_is_sent(datatype, readable, client_module):
    metadata = {"inputs": [{"name": "IN", "datatype": "FP32", "shape": ["-1", "4"]}], "outputs": [{"name": "OUT", "datatype": datatype, "shape": ["-1", "2"]}]}
    config = {"config": {"max_batch_size": 8}}
    if readable:
        assert client_module.model_spec(metadata, config, "m", "").outputs == ("OUT",)
    else:
        with pytest.raises(client_module.UsageError, match="model m: output OUT has datatype FP8, which this client cannot read"):
            client_module.model_spec(metadata, config, "m", "")


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_server_that_goes_away_mid_run_exits_3_keeping_what_was_committed(protocol, launch_rendered, server, dataset, tmp_path):
    # The server is killed while a shard runs: the shard retries, gives up with exit 3 (the Job retries the pod),
    # keeps every part it committed, and the retry against a server that is back finishes every item once.
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    client = {"concurrency": 2, "batchSize": 1, "commitItems": 50, "maxRetries": 2, "retryInitialSeconds": 0.05, "retryMaxSeconds": 0.1}
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "target": {"protocol": protocol}, "client": client}))
    rendered = launch_rendered(find_triton_pod(stack()), tmp_path / "triton")
    with rendered.server as running:
        running.wait_ready()
        (plan,) = plans(pod, claim, tmp_path / "work", running).values()
        process = start_shard(plan)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and len(committed(claim)) < 200:
            time.sleep(0.02)
        assert process.poll() is None, f"the shard ended before the server went away (exit {process.returncode})"
        running.kill()
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    log = plan.log_path.read_text()
    assert code == 3 and "the server is unavailable" in log and "a retry of this shard resumes" in log, log[-3000:]
    kept = len(committed(claim))
    assert 200 <= kept < DATASET_SIZE and not (claim / "results" / "shards").exists() and not (claim / "results" / "failed").exists()

    runs = run_shards(plans(pod, claim, tmp_path / "work", server), 1)  # the retried pod meets a live server
    assert runs[0].returncode == 0, explain(runs)
    done = manifest(claim, 0, 1)
    assert done["already_done"] == kept and done["succeeded"] == DATASET_SIZE
    assert Counter(line["id"] for line in results(claim)) == Counter(list(dataset["labels"]))


@pytest.mark.parametrize(("output", "message"), [
    ("s3://batch-bucket/results", "object-store input and output go through pyarrow.fs"),
    ("ftp://host/results", "unsupported scheme"),
])  # fmt: skip
def test_object_store_paths_are_checked_before_anything_runs(output, message, dataset, tmp_path, client_module):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    values = {"output": {"path": "s3://batch-bucket/results"}, "objectStore": {"workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}
    pod = find_batch_pod(stack(values))
    plan = plan_shard(pod, 0, work_dir=tmp_path / "work", path_mapping={DATA_MOUNT: claim}, url="127.0.0.1:9")
    assert "--output=s3://batch-bucket/results" in plan.argv  # object-store paths reach the client as rendered
    argv = [arg if not arg.startswith("--output=") else f"--output={output}" for arg in plan.argv]
    # An image without pyarrow: a package of that name that cannot be imported, first on the path.
    without_pyarrow = tmp_path / "without-pyarrow" / "pyarrow"
    without_pyarrow.mkdir(parents=True)
    (without_pyarrow / "__init__.py").write_text('raise ImportError("this image has no pyarrow")\n')
    env = {**plan.env, "PYTHONPATH": str(without_pyarrow.parent)}
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and message in completed.stdout, completed.stdout + completed.stderr
    assert "nothing was written" in completed.stdout and not (claim / "results").exists()


@pytest.fixture()
def object_store(client_module, tmp_path):
    """The client's ObjectStore on pyarrow's local filesystem (file://): the pyarrow.fs calls S3 and GCS take, on
    a folder. Reaching S3 or GCS themselves needs a network these tests do not have."""
    pytest.importorskip("pyarrow.fs")
    (tmp_path / "bucket").mkdir()
    return client_module.ObjectStore(f"file://{tmp_path / 'bucket'}"), tmp_path / "bucket"


@pytest.fixture(params=["pvc", "object-store"])
def any_store(request, client_module, tmp_path):
    """Each store the client reads from: a folder (LocalStore, a PVC) and the ObjectStore (see object_store)."""
    if request.param == "object-store":
        return request.getfixturevalue("object_store")
    (tmp_path / "bucket").mkdir()
    return client_module.LocalStore(tmp_path / "bucket"), tmp_path / "bucket"


def test_an_object_is_read_whole_up_to_the_limit_and_refused_above_it(any_store, client_module):
    store, bucket = any_store
    chunk = client_module.READ_CHUNK_BYTES
    (bucket / "in").mkdir()
    contents = {"in/small.png": os.urandom(3000), "in/large.bin": os.urandom(2 * chunk + 17), "in/empty": b""}
    for name, data in contents.items():
        (bucket / name).write_bytes(data)
    assert list(store.list("in")) == ["in/empty", "in/large.bin", "in/small.png"] and store.kind() == "dir"
    assert store.read("in/empty") == store.read("in/empty", 0) == b""
    assert store.read("in/small.png") == contents["in/small.png"]
    assert store.read("in/large.bin") == store.read("in/large.bin", 2 * chunk + 17) == contents["in/large.bin"]
    assert store.read("in/small.png", 3000) == contents["in/small.png"]  # exactly the limit
    with pytest.raises(client_module.ItemError, match="in/small.png is larger than 2999 bytes"):
        store.read("in/small.png", 2999)
    with pytest.raises(client_module.ItemError, match=f"larger than {2 * chunk + 16} bytes"):
        store.read("in/large.bin", 2 * chunk + 16)
    with pytest.raises(client_module.ItemError, match="larger than 0 bytes"):
        store.read("in/small.png", 0)


def test_a_file_that_reports_no_size_is_read_to_its_end_up_to_the_limit(client_module):
    # procfs reports st_size 0 for files that hold bytes: the read goes on past the size it was told.
    store, whole = client_module.LocalStore(Path("/proc")), Path("/proc/version").read_bytes()
    assert os.stat("/proc/version").st_size == 0 and len(whole) > 1
    assert store.read("version") == store.read("version", len(whole)) == whole
    with pytest.raises(client_module.ItemError, match=f"larger than {len(whole) - 1} bytes"):
        store.read("version", len(whole) - 1)


def test_an_object_is_written_whole_and_deleted(object_store):
    store, bucket = object_store
    (bucket / "parts" / "shard-0").mkdir(parents=True)  # a folder needs to exist; an object store has none
    store.write("parts/shard-0/run-1.jsonl", [b'{"id":"a"}\n', b'{"id":"b"}\n'])
    assert (bucket / "parts" / "shard-0" / "run-1.jsonl").read_bytes() == b'{"id":"a"}\n{"id":"b"}\n'
    store.delete("parts/shard-0/run-1.jsonl")
    store.delete("parts/shard-0/run-1.jsonl")  # already gone: not an error
    assert list(store.list("parts")) == []


# --- review fixes: names, errors and their exit codes, two runs at once, JSON Lines ids, memory, SIGTERM -------


def make_images(patterns, directory: Path, count: int, seed: int, prefix: str = "") -> list[str]:
    names = []
    for index, image in enumerate(patterns.generate_images(count, seed=seed)[0]):
        names.append(f"{prefix}{index:03d}.png")
        write_png(directory / names[-1], image)
    return names


def test_a_file_name_that_is_not_utf8_is_an_item_like_any_other(server, patterns, client_module, tmp_path):
    claim = tmp_path / "claim"
    make_images(patterns, claim / "images", 12, seed=21)
    latin1 = os.fsdecode(b"caf\xe9-latin1.png")  # the bytes of a name written by a Latin-1 system
    write_png(claim / "images" / latin1, patterns.generate_images(1, seed=22)[0][0])
    pod = find_batch_pod(stack({"shards": 2, "parallelism": 2}))
    runs = run_shards(plans(pod, claim, tmp_path / "work", server), 2)
    assert {run.returncode for run in runs.values()} == {0}, explain(runs)
    by_id = {line["id"]: line for line in results(claim)}
    assert len(by_id) == 13 and latin1 in by_id  # the JSON holds it as "caf\udce9-latin1.png"
    # It lands in the shard its bytes hash to; a UTF-8 id hashes exactly as before (its shard never moved).
    landed = {json.loads(line)["id"]: shard for shard in range(2)
              for line in (claim / "results" / "shards" / f"shard-{shard:05d}-of-00002.results.jsonl").read_text().splitlines()}
    assert landed[latin1] == int.from_bytes(hashlib.sha256(b"caf\xe9-latin1.png").digest()[:8], "big") % 2
    assert client_module.shard_of("cats/001.png", 7) == int.from_bytes(hashlib.sha256(b"cats/001.png").digest()[:8], "big") % 7


def test_symlinked_folders_are_followed_once(server, patterns, tmp_path):
    claim = tmp_path / "claim"
    make_images(patterns, claim / "images", 4, seed=23)
    make_images(patterns, claim / "elsewhere", 3, seed=24, prefix="linked-")
    (claim / "images" / "more").symlink_to(claim / "elsewhere", target_is_directory=True)
    (claim / "images" / "loop").symlink_to(claim / "images", target_is_directory=True)  # a cycle: listed once
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1}))
    run = run_one(pod, claim, tmp_path / "work", server)
    assert run.returncode == 0, run.log
    assert sorted(line["id"] for line in results(claim)) == ["000.png", "001.png", "002.png", "003.png",
                                                             "more/linked-000.png", "more/linked-001.png", "more/linked-002.png"]
    assert "loop is the folder already listed as ." in run.log


def test_an_image_too_large_to_decode_fails_alone_with_the_reason(server, patterns, tmp_path):
    # 13000 x 13000 pixels in ~170 KB of PNG: Pillow's own limit (2 x 89M pixels) lets it through and a decode
    # needs about 1.2 GB. It is refused from its header, before any pixel is decoded.
    claim = tmp_path / "claim"
    make_images(patterns, claim / "images", 6, seed=25)
    write_blank_png(claim / "images" / "huge.png", 13000, 13000)
    assert (claim / "images" / "huge.png").stat().st_size < 400_000
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1}))
    assert {"--decode-concurrency", "--max-image-pixels"} <= {arg.partition("=")[0] for arg in pod.container["args"]}
    run = run_one(pod, claim, tmp_path / "work", server)
    assert run.returncode == 1, run.log
    (refused,) = failures(claim)
    assert refused["id"] == "huge.png" and "image too large" in refused["reason"] and "169000000 pixels" in refused["reason"], refused
    assert "--max-image-pixels 32000000" in refused["reason"] and len(results(claim)) == 6


def write_blank_png(path: Path, width: int, height: int) -> None:
    """A valid all-black greyscale PNG, compressed row by row (the test never holds the pixels)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor, row, body = zlib.compressobj(9), b"\0" * (width + 1), []
    for _ in range(height):
        body.append(compressor.compress(row))
    body.append(compressor.flush())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b""))


# Exit 1 is only "items failed for good, in the failures file": the Job's podFailurePolicy ends the shard on it.


@pytest.mark.parametrize("concurrency", [16, 1])
def test_a_write_that_fails_mid_run_exits_4_for_a_retry_that_resumes(concurrency, server, dataset, tmp_path):
    # RLIMIT_FSIZE stands in for a full disk: the first part too large for it fails with EFBIG, an OSError on
    # write like ENOSPC (a real full disk needs a filesystem of its own, which needs root). With one sender, the
    # one that failed is the only one: the decoders waiting for it must stop too (they once waited for ever).
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack({"shards": 4, "parallelism": 1, "client": {"commitItems": 200, "concurrency": concurrency}}))
    plan = plan_shard(pod, 1, work_dir=tmp_path / "work", path_mapping={DATA_MOUNT: claim}, url=pod.local_address(server))
    limited = replace(plan, argv=[sys.executable, "-c", LIMIT_FILE_SIZE, "20000", *plan.argv])
    first = run_shards({1: limited}, 1)[1]
    assert first.returncode == 4, first.log
    assert "cannot write" in first.log and "File too large" in first.log and "a retry of this shard resumes" in first.log
    assert not (claim / "results" / "shards").exists()
    again = run_shards({1: plan}, 1)[1]
    assert again.returncode == 0, again.log
    assert manifest(claim, 1, 4)["succeeded"] == manifest(claim, 1, 4)["items"] > 200


LIMIT_FILE_SIZE = """import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
os.execv(sys.argv[2], sys.argv[2:])"""


def test_an_output_path_that_is_a_file_exits_2_writing_nothing(server, dataset, tmp_path):
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    (claim / "results").write_text("not a directory\n")
    run = run_one(find_batch_pod(stack()), claim, tmp_path / "work", server)
    assert run.returncode == 2 and "--output" in run.log and "is a file" in run.log, run.log
    assert (claim / "results").read_text() == "not a directory\n"


@pytest.mark.parametrize("pushgateway", ["malformed", "not-http"])
def test_a_pushgateway_that_fails_in_any_way_never_fails_the_run(pushgateway, server, patterns, tmp_path):
    from tests.harness.loopback import NonHttpPeer

    claim = tmp_path / "claim"
    make_images(patterns, claim / "images", 8, seed=26)
    with NonHttpPeer() as peer:
        url = {"malformed": "http://127.0.0.1:90x1", "not-http": peer.url}[pushgateway]
        pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "client": {"pushgateway": url}}))
        run = run_one(pod, claim, tmp_path / "work", server)
        connections = peer.connections
    assert run.returncode == 0, run.log
    assert f"cannot push metrics to {url}" in run.log
    if pushgateway == "not-http":
        assert connections >= 1 and "BadStatusLine" in run.log
    assert manifest(claim, 0, 1)["succeeded"] == 8 and len(results(claim)) == 8


def test_two_runs_of_one_shard_at_once_both_finish(server, dataset, tmp_path):
    # `kubectl create job --from=cronjob` beside a scheduled run, or an upgraded Job beside the old one's pods.
    claim = fresh_claim(dataset["claim"], tmp_path / "claim")
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "client": {"concurrency": 2, "batchSize": 4, "commitItems": 40}}))
    plan = plan_shard(pod, 0, work_dir=tmp_path / "work", path_mapping={DATA_MOUNT: claim}, url=pod.local_address(server))
    first = start_shard(plan)
    parts = claim / "results" / "parts" / "shard-00000-of-00001"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None and len(list(parts.glob("*.jsonl"))) < 3:
        time.sleep(0.02)
    assert first.poll() is None, f"the first run ended before the second started (exit {first.returncode})"
    second = start_shard(replace(plan, log_path=tmp_path / "work" / "second.log"))
    codes = []
    for process in (first, second):
        try:
            codes.append(process.wait(timeout=120))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            codes.append(None)
    logs = (tmp_path / "work" / "shard-0.log").read_text() + (tmp_path / "work" / "second.log").read_text()
    assert codes == [0, 0], logs[-4000:]
    counts = Counter(line["id"] for line in results(claim))
    assert set(counts) == set(dataset["labels"]) and set(counts.values()) == {1}
    assert not (claim / "results" / ".partial").exists()  # each removed its own folder, and the last one the rest


@pytest.mark.parametrize("overlap", [False, True], ids=["others-answered-other-items", "another-run-answered-one-of-ours"])
def test_the_shard_file_holds_each_answered_item_once(overlap, client_module, tmp_path):
    # finish() copies this run's own parts whole, unparsed, unless another run's part answered one of its items too
    # (two runs of one shard at once): then it parses them like the others. Either way, each item once.
    bi = client_module
    args = bi.parse_args(["--url=127.0.0.1:1", "--model=m", f"--input={tmp_path / 'in'}", "--input-format=images",
                          f"--output={tmp_path / 'out'}", "--shards=1", "--shard-index=0"])
    run = bi.Run(args, 0)
    run.input = run.output = bi.LocalStore(tmp_path / "out")
    run.model = bi.ModelSpec("m", "", 0, (), ("OUT",))
    run.output.begin(run.shard_label, run.run_id)

    def part(run_id: str, ids: list[str]) -> str:
        name = f"parts/{run.shard_label}/{run_id}-000001.jsonl"
        run.output.write(name, [json.dumps({"id": i, "model": "m", "model_version": "1", "input_sha256": None, "outputs": {"OUT": [run_id]}}).encode() + b"\n" for i in ids])
        return name

    part("0000000000001-other", ["b" if overlap else "x", "d"])  # an earlier run, or one running beside this one
    run.own_parts, run.sent_ids = {part(run.run_id, ["a", "b", "c"])}, {"a", "b", "c"}
    run.progress = bi.Progress(total=5, already_done=0, done=3)
    items = [bi.Item(i, i, i) for i in ("a", "b", "c", "d", "x")]
    assert run.finish(items) == bi.EXIT_OK
    lines = [json.loads(line) for line in (tmp_path / "out" / "shards" / f"{run.shard_label}.results.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == (["a", "b", "c", "d"] if overlap else ["a", "b", "c", "d", "x"])
    assert manifest(tmp_path, 0, 1, output="out")["succeeded"] == len(lines)


def test_a_runs_temp_folder_is_its_own_and_only_stale_ones_are_removed(client_module, tmp_path):
    store = client_module.LocalStore
    one, two = store(tmp_path / "out"), store(tmp_path / "out")
    one.begin("shard-00000-of-00001", "run-1")
    two.begin("shard-00000-of-00001", "run-2")
    two.write("parts/a.jsonl", [b"{}\n"])
    two.end()  # the other run finishing takes only its own folder
    one.write("parts/b.jsonl", [b"{}\n"])
    assert sorted(p.name for p in (tmp_path / "out" / "parts").iterdir()) == ["a.jsonl", "b.jsonl"]
    owner = tmp_path / "out" / ".partial" / "shard-00000-of-00001"
    (owner / "gone-run").mkdir()
    (owner / "gone-run" / "x.tmp").write_bytes(b"half")
    os.utime(owner / "gone-run", (time.time() - client_module.STALE_PARTIAL_SECONDS - 1,) * 2)
    (owner / "live-run").mkdir()
    three = store(tmp_path / "out")
    three.begin("shard-00000-of-00001", "run-3")
    assert sorted(p.name for p in owner.iterdir()) == ["live-run", "run-1", "run-3"]
    # A rename that fails (here: a folder in the way) is retryable, not a crash.
    (tmp_path / "out" / "parts" / "c.jsonl").mkdir()
    with pytest.raises(client_module.RetryableError, match="cannot write"):
        three.write("parts/c.jsonl", [b"{}\n"])
    assert [p.name for p in (owner / "run-3").iterdir()] == []


def test_sigterm_stops_every_retry_and_exits_143(patterns, tmp_path):
    # A server that answers every inference 503: the shard retries; once SIGTERM comes no new attempt starts,
    # so the pod ends within its grace period (request timeout + 30 s) whatever --max-retries says.
    from tests.harness.loopback import Answer, ScriptedPeer

    claim = tmp_path / "claim"
    make_images(patterns, claim / "images", 16, seed=27)
    routes = {
        ("GET", "/v2/health/ready"): [Answer(200)],
        ("GET", "/v2/models/image_classifier"): [Answer(200, json.dumps(IMAGE_CLASSIFIER_METADATA))],
        ("GET", "/v2/models/image_classifier/config"): [Answer(200, json.dumps(IMAGE_CLASSIFIER_CONFIG))],
        ("POST", "/v2/models/image_classifier/infer"): [Answer(503, '{"error":"overloaded"}')],
    }
    client = {"concurrency": 2, "batchSize": 1, "maxRetries": 100, "retryInitialSeconds": 0.05, "retryMaxSeconds": 0.1}
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "target": {"protocol": "http"}, "client": client}))
    with ScriptedPeer(routes) as peer:
        plan = plan_shard(pod, 0, work_dir=tmp_path / "work", path_mapping={DATA_MOUNT: claim}, url=peer.url.removeprefix("http://"))
        process = start_shard(plan)

        def infers() -> int:
            return sum(request.method == "POST" for request in list(peer.requests))

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None and infers() < 10:
            time.sleep(0.02)
        assert process.poll() is None and infers() >= 10, plan.log_path.read_text()
        os.kill(process.pid, signal.SIGTERM)
        at_sigterm = infers()
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            code = None
        after = infers()
    log = plan.log_path.read_text()
    assert code == 143, log[-3000:]
    assert after - at_sigterm <= 2, f"{after - at_sigterm} attempts started after SIGTERM"  # at most those in flight
    assert "SIGTERM: no new request starts" in log and not (claim / "results" / "failed").exists()


IMAGE_CLASSIFIER_METADATA = {"name": "image_classifier", "versions": ["1"], "platform": "python",
                             "inputs": [{"name": "IMAGE", "datatype": "FP32", "shape": [-1, 3, 32, 32]}],
                             "outputs": [{"name": "TOP_CLASS", "datatype": "INT64", "shape": [-1, 1]}]}
IMAGE_CLASSIFIER_CONFIG = {"name": "image_classifier", "max_batch_size": 16}


# --- JSON Lines: ids required, compared as strings; a changed line is sent again; only the shard is held --------


def tensor_lines(patterns, count: int, seed: int, ids) -> list[str]:
    images, _ = patterns.generate_images(count, seed=seed)
    return [json.dumps({"id": item_id, "inputs": {"IMAGE": image.tolist()}}) for item_id, image in zip(ids, images)]


@pytest.mark.parametrize(("lines", "message"), [
    (['{"id": "a", "inputs": {}}', '{"inputs": {}}'], 'part-0.jsonl:2: no "id"'),
    (['{"id": 1, "inputs": {}}', '{"id": "1", "inputs": {}}'], "item id '1' occurs more than once (part-0.jsonl:1 and part-0.jsonl:2)"),
    (['{"id": 1.5, "inputs": {}}'], 'part-0.jsonl:1: "id" is 1.5, a float; use a string or an integer'),
    (['{"id": "a", "inputs": {}}', "not json"], "part-0.jsonl:2: not a JSON object"),
])  # fmt: skip
def test_json_lines_without_a_usable_id_exit_2_naming_the_line(lines, message, server, tmp_path):
    claim = tmp_path / "claim"
    (claim / "tensors").mkdir(parents=True)
    (claim / "tensors" / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    pod = find_batch_pod(stack({"shards": 2, "input": {"format": "jsonl", "path": "/data/tensors"}}))
    run = run_one(pod, claim, tmp_path / "work", server)
    assert run.returncode == 2 and message in run.log and "nothing was written" in run.log, run.log
    assert not (claim / "results").exists()


def test_a_json_line_whose_content_changed_is_sent_again_after_a_reorder(server, patterns, network, tmp_path):
    claim = tmp_path / "claim"
    (claim / "tensors").mkdir(parents=True)
    lines = tensor_lines(patterns, 6, seed=28, ids=[f"t{n}" for n in range(6)])
    (claim / "tensors" / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    pod = find_batch_pod(stack({"shards": 1, "parallelism": 1, "input": {"format": "jsonl", "path": "/data/tensors"}}))
    assert run_one(pod, claim, tmp_path / "work", server).returncode == 0
    before = {line["id"]: line for line in results(claim)}
    # t2 gets t5's image; the file is reversed. Only t2 is sent again, and its result is the new image's class.
    changed = [lines[5].replace('"id": "t5"', '"id": "t2"') if n == 2 else line for n, line in enumerate(lines)]
    (claim / "tensors" / "part-0.jsonl").write_text("\n".join(reversed(changed)) + "\n")
    run = run_one(pod, claim, tmp_path / "work", server)
    assert run.returncode == 0, run.log
    assert (manifest(claim, 0, 1)["already_done"], manifest(claim, 0, 1)["sent_this_run"]) == (5, 1)
    served = {line["id"]: line for line in results(claim)}
    assert served["t2"]["outputs"]["TOP_CLASS"] == served["t5"]["outputs"]["TOP_CLASS"]
    assert served["t2"]["input_sha256"] != before["t2"]["input_sha256"] and served["t1"] == before["t1"]


def test_json_lines_are_streamed_and_a_shard_keeps_only_where_its_lines_are(client_module, tmp_path):
    # Lines across chunk boundaries, CRLF, blank lines: each item holds its line's place and hash, not the line.
    lines = [json.dumps({"id": f"r{n}", "inputs": {"X": [n] * (n % 7)}}) for n in range(300)]
    data = ("\r\n".join(lines[:100]) + "\n\n" + "\n".join(lines[100:])).encode()
    assert [line for _, line in client_module.lines_of(io.BytesIO(data), chunk_size=7)] == data.split(b"\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(data)
    args = client_module.parse_args(["--url=x:1", "--model=m", f"--input={tmp_path / 'in'}", "--input-format=jsonl",
                                     f"--output={tmp_path / 'out'}", "--shards=3", "--shard-index=1"])
    run = client_module.Run(args, 1)
    run.input = client_module.LocalStore(tmp_path / "in")
    items, total = run.shard_items()
    assert total == 300 and {client_module.shard_of(item.id, 3) for item in items} == {1}
    assert not hasattr(items[0], "line") and all(
        data[item.offset : item.offset + item.length].rstrip(b"\r") == lines[int(item.id[1:])].encode() for item in items)
    # Ids whose 64-bit hashes collide are not duplicates: the second look compares the ids themselves.
    client_module_id_hash = client_module.id_hash
    try:
        client_module.id_hash = lambda item_id: 7
        assert run.shard_items()[1] == 300
    finally:
        client_module.id_hash = client_module_id_hash


def test_a_json_line_too_long_to_hold_exits_2_naming_it_and_shorter_lines_run(server, patterns, tmp_path):
    # client.maxLineBytes bounds what one line may hold in the client's memory; the listing never holds a longer one.
    claim = tmp_path / "claim"
    (claim / "tensors").mkdir(parents=True)
    lines = tensor_lines(patterns, 3, seed=29, ids=["a", "b", "c"])
    longest = max(len(line) for line in lines)
    (claim / "tensors" / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    values = {"shards": 1, "parallelism": 1, "input": {"format": "jsonl", "path": "/data/tensors"}}
    too_small = find_batch_pod(stack({**values, "client": {"maxLineBytes": longest - 1}}))
    run = run_one(too_small, claim, tmp_path / "work", server)
    assert run.returncode == 2 and f"longer than --max-line-bytes {longest - 1}" in run.log and "nothing was written" in run.log, run.log
    assert not (claim / "results").exists()
    just_enough = find_batch_pod(stack({**values, "client": {"maxLineBytes": longest}}))
    again = run_one(just_enough, claim, tmp_path / "work-2", server)
    assert again.returncode == 0 and sorted(line["id"] for line in results(claim)) == ["a", "b", "c"], again.log


def test_lines_over_the_limit_are_counted_not_held(client_module):
    data = b"short\n" + b"x" * 50 + b"\nend"
    for chunk_size in (3, 7, 64):
        got = list(client_module.lines_of(io.BytesIO(data), chunk_size=chunk_size, limit=10))
        assert got == [(0, b"short"), (6, None), (57, b"end")], chunk_size
    assert list(client_module.lines_of(io.BytesIO(data), chunk_size=7, limit=50)) == [(0, b"short"), (6, b"x" * 50), (57, b"end")]


# --- the HTTP connections: Triton's REST API on kept-alive HTTP/1.1 connections -----------------------------------
# The client's HttpConnections against the real server (through TCP proxies that close or cut connections) and
# against raw HTTP peers for what Triton itself never sends but a proxy in front of it may (chunked, HTTP/1.0).


def exchange(client_module, address: str, requests: list[tuple[str, str]], timeout: float = 5.0, pause_seconds: float = 0.0,
             at_once: int = 1) -> tuple[list, int]:  # fmt: skip
    """Each (method, path) of `requests` in turn (`at_once` of them together) on one HttpConnections; returns each
    answer's (status, headers, body), or the exception it raised, and how many connections were idle at the end."""

    async def run():
        connections = client_module.HttpConnections(address, timeout)
        answers = []
        try:
            for start in range(0, len(requests), at_once):
                if start and pause_seconds:
                    await asyncio.sleep(pause_seconds)
                group = [connections.request(method, path) for method, path in requests[start : start + at_once]]
                answers += await asyncio.gather(*group, return_exceptions=True)
            return answers, len(connections.idle)
        finally:
            await connections.close()

    return asyncio.run(run())


READY = ("GET", "/v2/health/ready")
METADATA = ("GET", "/v2/models/image_classifier")


def test_connections_are_kept_alive_and_reused(server, client_module):
    from tests.harness.loopback import IdleClosingProxy

    with IdleClosingProxy(server.http_address) as proxy:
        answers, idle = exchange(client_module, proxy.address, [READY] * 4 + [METADATA] * 8, at_once=4)
        connections = proxy.connections
    assert [answer[0] for answer in answers] == [200] * 12, answers
    assert json.loads(answers[-1][2])["name"] == "image_classifier"
    assert connections == 4 and idle == 4  # four at once: four connections, each reused for the later requests


def test_a_connection_the_server_closed_while_idle_is_not_reused(server, client_module):
    # A keep-alive timeout (Envoy's idle_timeout, a restarted pod) closes a connection the client holds idle.
    from tests.harness.loopback import IdleClosingProxy

    with IdleClosingProxy(server.http_address, idle_seconds=0.3) as proxy:
        answers, _ = exchange(client_module, proxy.address, [READY, METADATA], pause_seconds=1.0)
        connections = proxy.connections
    assert [answer[0] for answer in answers] == [200, 200], answers
    assert connections == 2


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_reused_connection_that_closes_unanswered_is_replaced_once(client_module):
    # The race the idle check cannot see: the server closes the connection as the request goes out on it.
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer([OK, None, OK]) as peer:
        answers, _ = exchange(client_module, peer.address, [READY, READY])
        requests, connections = len(peer.requests), peer.connections
    assert [answer[:3:2] for answer in answers] == [(200, b"ok")] * 2, answers
    assert requests == 3 and connections == 2


def test_a_408_on_a_reused_connection_is_sent_again_once_on_a_new_one(client_module):
    # The server's idle timeout (a 408, then its close) crossing the request: the request never reached a handler.
    from tests.harness.loopback import RawHttpPeer

    timeout_answer = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    with RawHttpPeer([OK, timeout_answer, OK, timeout_answer]) as peer:
        answers, _ = exchange(client_module, peer.address, [READY, READY, READY])
        requests, connections = len(peer.requests), peer.connections
    # The second request: 408 on the reused connection, sent again on a new one (200). The third: 408 on the reused
    # one, then 408 again on a new one, which is the answer (classified unavailable: the run's retries send it again
    # after their backoff).
    assert [answer[0] for answer in answers] == [200, 200, 408], answers
    assert requests == 5 and connections == 3
    assert client_module.classify(client_module.Triton("127.0.0.1:9", "http", 1).http_error(408, b"")) == "unavailable"


def test_a_request_the_server_dies_on_reaches_it_at_most_twice(client_module):
    # Sixteen idle connections, and a request that kills whatever receives it: one resend on a new connection, not
    # one per idle connection (behind a Service, each could be another pod). The run's retries decide the rest.
    from tests.harness.loopback import RawHttpPeer

    async def run(address):
        connections = client_module.HttpConnections(address, 5)
        try:
            await asyncio.gather(*[connections.request(*READY) for _ in range(16)])
            with pytest.raises(ConnectionError, match="closed without answering"):
                await connections.request("POST", "/v2/models/image_classifier/infer", {}, [b"{}"])
        finally:
            await connections.close()

    with RawHttpPeer([OK] * 16 + [None]) as peer:
        asyncio.run(run(peer.address))
        posts = [head for head in peer.requests if head.startswith("POST")]
    assert len(posts) == 2


@pytest.mark.parametrize("peer_kwargs", [
    {"answers": [OK + b"HTTP/1.1 500 Stale\r\nContent-Length: 5\r\n\r\nstale", OK]},  # bytes past the Content-Length
    {"answers": [OK], "idle_answer": b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "idle_seconds": 0.3},
], ids=["bytes-past-the-answer", "408-on-an-idle-connection"])  # fmt: skip
def test_bytes_that_arrive_outside_an_answer_never_become_the_next_answer(peer_kwargs, client_module):
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer(**peer_kwargs) as peer:
        answers, _ = exchange(client_module, peer.address, [READY, READY], pause_seconds=1.0)
        requests = len(peer.requests)
    assert [answer[:3:2] for answer in answers] == [(200, b"ok")] * 2, answers
    assert requests == 2


def ready_answer_bytes(address: str) -> int:
    """How many bytes Triton's answer to GET /v2/health/ready holds (status line, headers; it has no body)."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: triton\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    assert b"Content-Length: 0" in answer
    return len(answer)


@pytest.mark.parametrize("reused", [False, True], ids=["new-connection", "reused-connection"])
def test_an_answer_cut_midway_raises_and_is_not_sent_again(reused, server, client_module):
    # Part of the answer came back: the request reached the server, so HttpConnections never sends it again itself
    # (the run's retries decide, with their backoff and limit); the connection is not reused.
    from tests.harness.loopback import IdleClosingProxy

    first = ready_answer_bytes(server.http_address) if reused else 0
    with IdleClosingProxy(server.http_address, cut_answers_after_bytes=first + 20) as proxy:
        answers, idle = exchange(client_module, proxy.address, [READY, METADATA] if reused else [METADATA])
        connections = proxy.connections
    assert isinstance(answers[-1], ConnectionError) and "closed in the middle of an answer" in str(answers[-1]), answers
    assert isinstance(answers[-1], OSError) and client_module.classify(answers[-1]) == "unavailable"
    assert connections == 1 and idle == 0


def test_a_server_that_stops_answering_times_out_and_its_connection_is_dropped(server, client_module):
    from tests.harness.loopback import StallingProxy

    with StallingProxy(server.http_address, stall_after_bytes=1) as proxy:
        answers, idle = exchange(client_module, proxy.address, [READY], timeout=0.5)
    assert isinstance(answers[0], asyncio.TimeoutError) and client_module.classify(answers[0]) == "unavailable"
    assert idle == 0


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"


@pytest.mark.parametrize(("answer", "close_after_answer", "connections"), [
    (CHUNKED, False, 1),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", False, 1),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world", False, 2),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhello world", False, 2),
    (b"HTTP/1.0 200 OK\r\n\r\nhello world", True, 2),  # no length: the body ends with the connection
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", False, 1),
], ids=["chunked", "content-length", "connection-close", "http-1.0", "http-1.0-to-the-close", "interim-answers"])  # fmt: skip
def test_answers_a_proxy_may_send_are_read_whole(answer, close_after_answer, connections, client_module):
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer([answer], close_after_answer=close_after_answer) as peer:
        answers, _ = exchange(client_module, peer.address, [READY, READY])
        opened, heads, address = peer.connections, peer.requests, peer.address
    assert [(status, body) for status, _, body in answers] == [(200, b"hello world")] * 2, answers
    assert opened == connections
    assert all(head.startswith("GET /v2/health/ready HTTP/1.1\r\n") and f"\r\nHost: {address}" in head for head in heads)


@pytest.mark.parametrize("status", [204, 304])
def test_answers_without_a_body_end_at_their_headers(status, client_module):
    # A body-less status ends at its blank line, even with no Content-Length (else: a wait until the timeout).
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer([f"HTTP/1.1 {status} No Body\r\nETag: x\r\n\r\n".encode()]) as peer:
        answers, idle = exchange(client_module, peer.address, [READY, READY], timeout=3)
        opened = peer.connections
    assert [answer[:3:2] for answer in answers] == [(status, b"")] * 2, answers
    assert opened == 1 and idle == 1


@pytest.mark.parametrize(("answer", "message"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n", "answered something that is not HTTP/1.x"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: eleven\r\n\r\n", "Content-Length or chunk size is not a number"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "Content-Length or chunk size is not a number"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", "Content-Length or chunk size is not a number"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "switched protocols (101), which no request asked for"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "two different Content-Lengths"),
    (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", "longer than 65536 bytes"),
], ids=["not-http", "bad-length", "bad-chunk-size", "signed-length", "unasked-101", "two-lengths", "header-too-long"])  # fmt: skip
def test_a_malformed_answer_raises_naming_what_is_wrong(answer, message, client_module):
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer([answer]) as peer:
        answers, idle = exchange(client_module, peer.address, [READY])
    assert isinstance(answers[0], ConnectionError) and message in str(answers[0]), answers
    assert idle == 0


# --- Triton's REST API as the client reads it -----------------------------------------------------------------


def http_answer(header: dict, binary: bytes = b"", status: str = "200 OK") -> bytes:
    body = json.dumps(header).encode()
    return (f"HTTP/1.1 {status}\r\nInference-Header-Content-Length: {len(body)}\r\nContent-Length: {len(body) + len(binary)}\r\n\r\n"
            .encode() + body + binary)  # fmt: skip


def on_triton(client_module, address: str, protocol: str, timeout: float, use):
    """asyncio.run of `use(triton)` (a coroutine function) with the client's Triton for `address`, closed afterwards."""

    async def run():
        triton = client_module.Triton(address, protocol, timeout)
        try:
            return await use(triton)
        finally:
            await triton.close()

    return asyncio.run(run())


def one_output(size: int) -> dict:
    return {"model_version": "3", "outputs": [{"name": "Y", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": size}}]}


@pytest.mark.parametrize(("answer", "expected"), [
    (http_answer(one_output(8), np.array([1.5, -2.0], np.float32).tobytes()), ([{"Y": [1.5, -2.0]}], "3")),
    (http_answer(one_output(8), b"\0" * 12), "not what its header says"),
    (http_answer(one_output(8), b"\0" * 4), "not what its header says"),
    (http_answer(one_output(-4), b"\0" * 8), "not what its header says"),
    (http_answer({"outputs": [{"name": "Y", "datatype": "FP32", "shape": [2], "data": [1, 2]}]}), "came back as JSON"),
    (http_answer({"outputs": []}), "the answer has no output Y"),
], ids=["whole", "longer", "shorter", "negative-size", "json-data", "missing"])  # fmt: skip
def test_an_inference_answer_is_read_only_when_its_binary_data_is_what_its_header_says(answer, expected, client_module):
    from tests.harness.loopback import RawHttpPeer

    model = client_module.ModelSpec(name="m", version="", max_batch_size=0, inputs=(client_module.TensorSpec("X", "FP32", (2,)),), outputs=("Y",))

    async def infer(triton):
        try:
            return await triton.infer(model, [{"X": np.zeros(2, np.float32)}])
        except ValueError as error:
            return str(error)

    with RawHttpPeer([answer]) as peer:
        got = on_triton(client_module, peer.address, "http", 3, infer)
        (head,) = peer.requests
    assert head.startswith("POST /v2/models/m/infer HTTP/1.1")
    assert got == expected if isinstance(expected, tuple) else expected in got, got


@pytest.mark.parametrize(("status", "kind"), [(400, "permanent"), (404, "permanent"), (429, "unavailable"), (500, "server"),
                                              (502, "unavailable"), (503, "unavailable"), (504, "unavailable")])  # fmt: skip
def test_http_statuses_are_classified_as_triton_means_them(status, kind, client_module):
    triton = client_module.Triton("127.0.0.1:9", "http", 1)
    error = triton.http_error(status, b'{"error":"what Triton says"}')
    assert client_module.classify(error) == kind and client_module.describe_error(error) == f"{status}: what Triton says"


@pytest.mark.parametrize("status", [400, 404, 503])
def test_only_200_is_ready(status, client_module):
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer([f"HTTP/1.1 {status} Not Ready\r\nContent-Length: 0\r\n\r\n".encode(), OK]) as peer:
        assert on_triton(client_module, peer.address, "http", 2, lambda triton: triton.ready()) == f"GET /v2/health/ready answered HTTP {status}"
        assert on_triton(client_module, peer.address, "http", 2, lambda triton: triton.ready()) is None


def test_the_model_version_asked_for_is_the_one_that_answers(picky_server, client_module):
    # text_echo serves version 1 only: asking for 1 reaches it and the answer names it; asking for 2 is refused.
    async def use(triton):
        model = await triton.model("text_echo", "1")
        answered = await triton.infer(model, [{"TEXT": np.array([b"a", b"bc"], dtype=object)}])
        with pytest.raises(Exception, match="version 2|'2'"):
            await triton.model("text_echo", "2")
        return answered

    outputs, version = on_triton(client_module, picky_server.http_address, "http", 10, use)
    assert version == "1" and outputs[0]["ECHO"] == ["A", "BC"]


@pytest.mark.parametrize(("address", "parsed"), [
    ("triton-server.ml-serving.svc.cluster.local:8001", ("triton-server.ml-serving.svc.cluster.local", 8001)),
    ("[::1]:8000", ("::1", 8000)), ("localhost:65535", ("localhost", 65535)), ("10.0.0.1:1", ("10.0.0.1", 1)),
    ("[::1:8000", None), ("[a]b:80", None), ("host:8000\u00b2", None), ("host:65536", None), ("::1:8000", None),
    ("dns:///triton:8001", None), ("triton", None), (":8000", None),
])  # fmt: skip
def test_urls_are_host_and_port(address, parsed, client_module):
    if parsed is None:
        with pytest.raises(ValueError, match="is not host:port"):
            client_module.host_and_port(address)
    else:
        assert client_module.host_and_port(address) == parsed


@pytest.mark.parametrize(("status", "taken_for_triton"), [(200, True), (400, True), (503, False), (404, False)])
def test_a_grpc_target_is_taken_for_an_http_listener_only_on_tritons_own_answers(status, taken_for_triton, client_module):
    # Triton's HTTP port answers its ready endpoint 200, or 400 while not ready; a proxy in front of a Triton still
    # starting (Envoy's 503 "no healthy upstream") is not taken for it, and the client keeps waiting.
    from tests.harness.loopback import RawHttpPeer

    with RawHttpPeer([f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode()]) as peer:
        assert on_triton(client_module, peer.address, "grpc", 2, lambda triton: triton.serves_http()) is taken_for_triton
