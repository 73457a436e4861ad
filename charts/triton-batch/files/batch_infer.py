"""Batch inference through Triton: one shard of a data set, resumable, every item written once and atomically.

Runs in the Triton SDK image of the server's release (nvcr.io/nvidia/tritonserver:<release>-py3-sdk), which has
python3, numpy, pillow and tritonclient[all]; the triton-batch chart mounts this file from a ConfigMap and runs it
in each pod of an Indexed Job. The same file runs locally against a local tritonserver (tests/local).

What it does, for shard JOB_COMPLETION_INDEX of --shards:
- lists the input (a directory of image files, or JSON Lines files of tensors) and keeps the items whose id hashes
  to this shard: the assignment depends only on the item's id and the shard count, never on listing order;
- builds requests from the model's own metadata and config (input names, datatypes, shapes, max batch size);
- skips items whose result already exists (a re-run does only what is left), sends the rest with at most
  --concurrency requests in flight (asyncio gRPC or HTTP), retrying UNAVAILABLE, 5xx and connection errors with
  exponential backoff;
- commits results in groups (--commit-items, or every --commit-seconds), each group one file or object written
  atomically (a temp file renamed into place; one PUT per object), so a killed pod never leaves half a result and
  loses at most its last uncommitted group, which the next run sends again; items that fail for good get a failure
  record with the reason;
- at the end writes the shard's results as JSON Lines, its failures as JSON Lines, and a manifest;
- logs progress every --progress-interval-seconds (done/total, rate, ETA) and, with --pushgateway, pushes the
  same figures to a Prometheus Pushgateway.

Exit codes (the chart's podFailurePolicy acts on them):
  0  every item of the shard has a result
  1  some items failed permanently (listed in the shard's failures file); a retry would give the same answer
  2  bad configuration (arguments, unknown model, empty input, shard index out of range): nothing was written
  3  the server stayed unavailable past the retries; results so far are kept, a retry of the shard resumes
  143 stopped by SIGTERM (eviction, preemption, deletion); results so far are kept

Output layout under --output:
  parts/shard-<i>-of-<n>/<run>-<k>.jsonl    committed results, one JSON record per line
  failed/shard-<i>-of-<n>/<run>-<k>.jsonl   committed failure records (an item that later succeeds is not a failure)
  shards/shard-<i>-of-<n>.results.jsonl, .failures.jsonl, .manifest.json   written when the shard is complete
  .partial/shard-<i>-of-<n>/                temp files of a shard in progress (local paths only; emptied at its start)
A shard's parts belong to its index and the shard count: a run with another --shards starts afresh.

Why groups and not a file per item: creating a file costs about as much as an inference here (and far more on
network filesystems and object stores); a group keeps every guarantee of a single file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import random
import shutil
import signal
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

import numpy as np

VERSION = "1"
log = logging.getLogger("triton-batch")

EXIT_OK, EXIT_ITEMS_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_TERMINATED = 0, 1, 2, 3, 143
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
OBJECT_STORE_SCHEMES = ("s3://", "gs://")
# Items per request when --batch-size is 0: a full batch of most image models, small enough for any request limit.
AUTO_BATCH_CAP = 16
# Triton datatypes as numpy dtypes (tritonclient.utils.triton_to_np_dtype, written out so that this file also
# reports a datatype it cannot handle by name).
DATATYPES = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}  # fmt: skip


class UsageError(Exception):
    """Bad configuration: the message says what and what to do. Exit 2, nothing written."""


class ServerUnavailable(Exception):
    """The server stayed unreachable or overloaded past every retry. Exit 3."""


class ItemError(Exception):
    """One item cannot be turned into a request (unreadable, wrong shape): a permanent failure of that item."""


# --- storage: a local (PVC) path or an object-store prefix ---------------------------------------------------


class LocalStore:
    """Files under a directory. Writes go to a temp file in <base>/.partial/<owner>/ and are renamed into place:
    os.replace is atomic within one filesystem, so a reader (or a re-run after SIGKILL) sees a whole file or none."""

    blocking = False

    def __init__(self, base: Path):
        self.base = base
        self.partial = None

    def describe(self) -> str:
        return str(self.base)

    def kind(self) -> str:
        if self.base.is_file():
            return "file"
        return "dir" if self.base.is_dir() else "missing"

    def list(self, prefix: str = "") -> list[str]:
        root = self.base / prefix if prefix else self.base
        if not root.is_dir():
            return []
        names = []
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            relative = Path(directory).relative_to(self.base)
            names += [str(relative / name) if str(relative) != "." else name for name in files if not name.startswith(".")]
        return sorted(names)

    def read(self, name: str) -> bytes:
        return (self.base / name).read_bytes()

    def begin(self, owner: str) -> None:
        """Claims <base>/.partial/<owner>/ for temp files, removing what a killed run of the same owner left."""
        self.partial = self.base / ".partial" / owner
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)

    def end(self) -> None:
        if self.partial is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.partial.parent.rmdir()  # only when no other shard is using it

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        target = self.base / name
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = self.partial / f"{uuid.uuid4().hex}.tmp"
        with open(temp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temp, target)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.base / name).unlink()


class ObjectStore:
    """Objects under an s3:// or gs:// prefix, through pyarrow.fs (the Triton SDK image has no boto3 and no
    google-cloud-storage; see the chart README). One object per write: an object appears whole when its upload
    completes, or not at all, so no temp objects are needed."""

    blocking = True

    def __init__(self, uri: str):
        try:
            import pyarrow.fs as pafs
        except ImportError:
            raise UsageError(
                f"{uri}: object-store input and output go through pyarrow.fs (S3 and GCS), and this Python has no "
                "pyarrow. Use an image with pyarrow (the Triton SDK image installs it with genai-perf), or a PVC path."
            ) from None
        self._pafs = pafs
        self.uri = uri.rstrip("/")
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(self.uri)
        except Exception as error:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... by backend
            raise UsageError(f"{uri}: cannot open the object store: {error}") from None

    def describe(self) -> str:
        return self.uri

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}" if name else self.root

    def kind(self) -> str:
        info = self.fs.get_file_info(self.root)
        return {self._pafs.FileType.File: "file", self._pafs.FileType.Directory: "dir"}.get(info.type, "missing")

    def list(self, prefix: str = "") -> list[str]:
        selector = self._pafs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        names = [info.path[len(self.root) + 1 :] for info in self.fs.get_file_info(selector) if info.type == self._pafs.FileType.File]
        return sorted(name for name in names if not any(part.startswith(".") for part in name.split("/")))

    def read(self, name: str) -> bytes:
        with self.fs.open_input_stream(self._path(name)) as handle:
            return handle.read()

    def begin(self, owner: str) -> None:
        pass

    def end(self) -> None:
        pass

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        with self.fs.open_output_stream(self._path(name)) as handle:
            for chunk in chunks:
                handle.write(chunk)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self._path(name))


def open_store(uri: str, what: str) -> LocalStore | ObjectStore:
    if uri.startswith(OBJECT_STORE_SCHEMES):
        return ObjectStore(uri)
    if "://" in uri:
        raise UsageError(f"--{what} {uri}: unsupported scheme; use a path (a mounted PVC) or s3://bucket/prefix or gs://bucket/prefix")
    return LocalStore(Path(uri))


# --- items and shards ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str
    source: str  # file name under the input, for images; "<file>:<line>" for JSON Lines
    line: bytes | None = None


def shard_of(item_id: str, shards: int) -> int:
    """The stable shard of an item: a hash of its id, so adding or reordering other items never moves it."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % shards


def shard_name(index: int, shards: int) -> str:
    return f"shard-{index:05d}-of-{shards:05d}"


# Where committed parts go, per kind; each shard has its own folder in each.
PART_DIRS = {"results": "parts", "failures": "failed"}


def list_items(store, input_format: str) -> Iterator[Item]:
    """Every item of the input, in a stable order. A single file is read as it is; a directory recursively."""
    kind = store.kind()
    if kind == "missing":
        raise UsageError(f"--input {store.describe()} does not exist")
    if kind == "file":
        parent = store.base.parent if isinstance(store, LocalStore) else None
        names = [store.base.name] if parent is not None else [""]
        store = LocalStore(parent) if parent is not None else store
    else:
        names = store.list()
    if input_format == "images":
        for name in names:
            if name.lower().endswith(IMAGE_SUFFIXES):
                yield Item(id=name, source=name)
        return
    for name in names:
        if kind == "dir" and not name.lower().endswith(JSONL_SUFFIXES):
            continue
        try:
            data = store.read(name)
        except OSError as error:
            raise UsageError(f"--input {store.describe()}/{name}: cannot read it: {error.strerror or error}") from None
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            item_id = None
            with contextlib.suppress(ValueError, AttributeError):
                item_id = json.loads(line).get("id")
            label = name or PurePosixPath(store.describe()).name
            yield Item(id=str(item_id) if item_id is not None else f"{label}:{number}", source=f"{label}:{number}", line=line)


# --- the model -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    dims: tuple[int, ...]  # per item, without the batch dimension

    def matches(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.dims) and all(d in (-1, s) for d, s in zip(self.dims, shape))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...]


def model_spec(metadata: dict, config: dict, name: str, version: str) -> ModelSpec:
    config = config.get("config", config)  # gRPC wraps the config, HTTP does not
    max_batch = int(config.get("max_batch_size", 0))

    def spec(tensor: dict) -> TensorSpec:
        shape = tuple(int(d) for d in tensor["shape"])
        return TensorSpec(tensor["name"], tensor["datatype"], shape[1:] if max_batch > 0 else shape)

    inputs = tuple(spec(tensor) for tensor in metadata["inputs"])
    for tensor in inputs:
        if tensor.datatype not in DATATYPES:
            raise UsageError(f"model {name}: input {tensor.name} has datatype {tensor.datatype}, which this client cannot build")
    return ModelSpec(name, version, max_batch, inputs, tuple(tensor["name"] for tensor in metadata["outputs"]))


class ImageDecoder:
    """Image files into the model's one input: decoded with Pillow, converted to its channels, resized to its
    height and width, laid out channels-first or -last as its dims say, scaled (1/255 for float inputs)."""

    def __init__(self, model: ModelSpec, scale: float):
        if len(model.inputs) != 1:
            raise UsageError(f"model {model.name} has {len(model.inputs)} inputs ({', '.join(t.name for t in model.inputs)}); "
                             "images feed a model with one image input: use --input-format jsonl")
        self.tensor = model.inputs[0]
        dims = self.tensor.dims
        if len(dims) != 3 or not (dims[0] in (1, 3) or dims[2] in (1, 3)):
            raise UsageError(f"model {model.name}: input {self.tensor.name} has dims {list(dims)}, not an image "
                             "([C, H, W] or [H, W, C] with C 1 or 3): use --input-format jsonl")
        self.channels_first = dims[0] in (1, 3)
        channels, height, width = (dims[0], dims[1], dims[2]) if self.channels_first else (dims[2], dims[0], dims[1])
        self.mode = "RGB" if channels == 3 else "L"
        self.size = (width, height)  # -1: keep the image's own
        self.dtype = DATATYPES[self.tensor.datatype]
        self.scale = scale if np.issubdtype(self.dtype, np.floating) else 1.0
        from PIL import Image  # the SDK image has pillow; imported here so JSON Lines runs need none

        self._image = Image

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        try:
            with self._image.open(io.BytesIO(data)) as image:
                if image.mode != self.mode:
                    image = image.convert(self.mode)
                width = image.width if self.size[0] == -1 else self.size[0]
                height = image.height if self.size[1] == -1 else self.size[1]
                if (width, height) != image.size:
                    image = image.resize((width, height), self._image.Resampling.BILINEAR)
                pixels = np.asarray(image)
        except (OSError, ValueError, self._image.DecompressionBombError) as error:
            raise ItemError(f"not a readable image: {error}") from None
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if self.channels_first:
            pixels = pixels.transpose(2, 0, 1)
        if self.scale != 1.0:  # one pass: scaled, converted and laid out contiguously
            return {self.tensor.name: np.multiply(pixels, self.scale, dtype=self.dtype)}
        return {self.tensor.name: np.ascontiguousarray(pixels, dtype=self.dtype)}


class JsonLinesDecoder:
    """A JSON object per line: {"id": ..., "inputs": {"<input name>": <nested list>, ...}}, every model input."""

    def __init__(self, model: ModelSpec):
        self.model = model

    def decode(self, line: bytes) -> dict[str, np.ndarray]:
        try:
            record = json.loads(line)
            given = record["inputs"]
        except (ValueError, KeyError, TypeError) as error:
            raise ItemError(f'not a JSON object with "inputs": {error}') from None
        if not isinstance(given, dict):
            raise ItemError('"inputs" is not an object of input name to tensor')
        missing = [t.name for t in self.model.inputs if t.name not in given]
        unknown = sorted(set(given) - {t.name for t in self.model.inputs})
        if missing or unknown:
            raise ItemError(f"inputs do not match the model's: missing {missing}, unknown {unknown}")
        arrays = {}
        for tensor in self.model.inputs:
            try:
                array = np.array(given[tensor.name], dtype=DATATYPES[tensor.datatype])
            except (ValueError, TypeError) as error:
                raise ItemError(f"input {tensor.name} is not {tensor.datatype}: {error}") from None
            if tensor.datatype == "BYTES":
                array = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v, otypes=[np.object_])(array)
            if not tensor.matches(array.shape):
                raise ItemError(f"input {tensor.name} has shape {list(array.shape)}, the model takes {list(tensor.dims)}")
            arrays[tensor.name] = array
        return arrays


# --- talking to Triton ---------------------------------------------------------------------------------------

# Failures worth another try, and the ones that mean the server itself is out of reach.
GRPC_RETRY = {"StatusCode.INTERNAL", "StatusCode.UNKNOWN"}
GRPC_UNAVAILABLE = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED", "StatusCode.CANCELLED"}
HTTP_UNAVAILABLE = {"429", "502", "503", "504"}


def classify(error: BaseException) -> str:
    """"unavailable" (connection, overload: retry, and give up on the whole shard after the retries), "server"
    (a 5xx from the model: retry, then fail the item), or "permanent" (a bad request: fail the item at once)."""
    status = getattr(error, "status", None)
    status = status() if callable(status) else status
    if status is None:
        return "unavailable" if isinstance(error, (OSError, asyncio.TimeoutError)) or type(error).__module__.startswith("aiohttp") else "permanent"
    status = str(status)
    if status in GRPC_UNAVAILABLE or status in HTTP_UNAVAILABLE:
        return "unavailable"
    if status in GRPC_RETRY or status.startswith("5"):
        return "server"
    return "permanent"


def describe_error(error: BaseException) -> str:
    message = error.message() if callable(getattr(error, "message", None)) else str(error)
    status = getattr(error, "status", None)
    status = status() if callable(status) else status
    return f"{status}: {message}" if status else f"{type(error).__name__}: {message}"


class Triton:
    """tritonclient's asyncio client for one protocol, with what a request needs from it."""

    def __init__(self, url: str, protocol: str, timeout: float, concurrency: int):
        self.protocol = protocol
        self.timeout = timeout
        if protocol == "grpc":
            import tritonclient.grpc.aio as module

            self.client = module.InferenceServerClient(url)
        else:
            import tritonclient.http.aio as module

            self.client = module.InferenceServerClient(url, conn_limit=concurrency, conn_timeout=timeout)
        self.module = module

    async def close(self) -> None:
        await self.client.close()

    async def ready(self) -> bool:
        try:
            return bool(await self.client.is_server_ready())
        except Exception:  # noqa: BLE001 - any failure to answer is "not ready yet"
            return False

    async def model(self, name: str, version: str) -> ModelSpec:
        extra = {"as_json": True} if self.protocol == "grpc" else {}
        metadata = await self.client.get_model_metadata(name, version, **extra)
        config = await self.client.get_model_config(name, version, **extra)
        return model_spec(metadata, config, name, version)

    async def infer(self, model: ModelSpec, batch: list[dict[str, np.ndarray]]) -> tuple[list[dict[str, Any]], str]:
        """One request for the items of `batch` (stacked along a batch dimension when the model has one);
        returns each item's outputs as lists, and the model version that answered."""
        inputs = []
        for tensor in model.inputs:
            stacked = np.stack([item[tensor.name] for item in batch]) if model.max_batch_size > 0 else batch[0][tensor.name]
            request_input = self.module.InferInput(tensor.name, list(stacked.shape), tensor.datatype)
            if self.protocol == "http":
                request_input.set_data_from_numpy(stacked, binary_data=True)
            else:
                request_input.set_data_from_numpy(stacked)
            inputs.append(request_input)
        outputs = [self.module.InferRequestedOutput(name, **({"binary_data": True} if self.protocol == "http" else {})) for name in model.outputs]
        if self.protocol == "grpc":
            result = await self.client.infer(model.name, inputs, model_version=model.version, outputs=outputs, client_timeout=self.timeout)
            version = result.get_response().model_version
        else:
            result = await asyncio.wait_for(self.client.infer(model.name, inputs, model_version=model.version, outputs=outputs), self.timeout)
            version = result.get_response().get("model_version", "")
        arrays = {name: result.as_numpy(name) for name in model.outputs}
        per_item = []
        for index in range(len(batch)):
            per_item.append({name: _jsonable(array[index] if model.max_batch_size > 0 else array) for name, array in arrays.items()})
        return per_item, str(version)


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype == np.object_:
        return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in array.ravel().tolist()]
    return array.tolist()


# --- the run -------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    total: int
    already_done: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self, shard: str) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        finished = self.already_done + self.done + self.failed
        remaining = self.total - finished
        eta = f"{remaining / rate:.0f}s" if rate > 0 else "unknown"
        percent = 100.0 * finished / self.total if self.total else 100.0
        return (f"progress {shard}: {self.already_done + self.done}/{self.total} done ({percent:.1f}%), "
                f"{self.failed} failed, {rate:.1f} items/s, ETA {eta}")

    def metrics(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "triton_batch_items_total": self.total,
            "triton_batch_items_done": self.already_done + self.done,
            "triton_batch_items_failed": self.failed,
            "triton_batch_items_per_second": self.done / elapsed,
            "triton_batch_last_progress_timestamp_seconds": time.time(),
        }


def push_metrics(url: str, job: str, shard: int, metrics: dict[str, float]) -> None:
    """PUT the shard's figures to a Pushgateway (its group job/<job>/shard/<i> is replaced each time)."""
    body = "".join(f"# TYPE {name} gauge\n{name} {value}\n" for name, value in metrics.items()).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/metrics/job/{job}/shard/{shard}", data=body, method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


class Run:
    def __init__(self, args: argparse.Namespace, shard: int):
        self.args = args
        self.shard = shard
        self.shard_label = shard_name(shard, args.shards)
        self.stop = asyncio.Event()
        self.unavailable: ServerUnavailable | None = None
        self.version_seen: set[str] = set()

    # --- the parts that write: results and failures are committed in groups, each group one atomic file ---

    def record(self, kind: str, entry: dict) -> None:
        self.buffers[kind].append(json.dumps(entry, separators=(",", ":")).encode() + b"\n")

    async def commit(self, force: bool = False) -> None:
        """Writes what is buffered as one part per kind, once the buffer holds --commit-items records or the oldest
        is --commit-seconds old (or `force`). A part appears whole or not at all; what a killed run had not yet
        committed is sent again by the next run, never written twice."""
        size = sum(len(buffer) for buffer in self.buffers.values())
        if not size or not (force or size >= self.args.commit_items or time.monotonic() - self.committed_at >= self.args.commit_seconds):
            return
        buffers, self.buffers = self.buffers, {"results": [], "failures": []}
        self.committed_at = time.monotonic()
        for kind, lines in buffers.items():
            if not lines:
                continue
            self.part_number += 1
            name = f"{PART_DIRS[kind]}/{self.shard_label}/{self.run_id}-{self.part_number:06d}.jsonl"
            if self.output.blocking:
                await asyncio.to_thread(self.output.write, name, lines)
            else:
                self.output.write(name, lines)

    async def succeed(self, item: Item, outputs: dict, version: str) -> None:
        self.record("results", {"id": item.id, "model": self.model.name, "model_version": version, "outputs": outputs})
        self.progress.done += 1
        await self.commit()

    async def fail(self, item: Item, reason: str, attempts: int) -> None:
        log.warning("item %s failed: %s", item.id, reason)
        self.record("failures", {"id": item.id, "source": item.source, "reason": reason, "attempts": attempts})
        self.progress.failed += 1
        await self.commit()

    def read_parts(self, kind: str) -> Iterator[tuple[str, list[dict]]]:
        """(name, records) of every committed part of this shard, oldest first. A local part that does not parse
        (a node crash after the rename, before the page cache reached the disk) is removed: its items are done again."""
        for name in self.output.list(f"{PART_DIRS[kind]}/{self.shard_label}"):
            try:
                records = [json.loads(line) for line in self.output.read(name).splitlines() if line.strip()]
                if not records or not all(isinstance(r, dict) and "id" in r for r in records):
                    raise ValueError("empty or cut")
            except ValueError:
                log.warning("%s is not whole (a node crash?); its items are sent again", name)
                self.output.delete(name)
                continue
            yield name, records

    # --- requests ---

    def load(self, item: Item) -> dict[str, np.ndarray]:
        if item.line is not None:
            return self.decoder.decode(item.line)
        try:
            data = self.input.read(item.source)
        except OSError as error:
            raise ItemError(f"cannot read {item.source}: {error.strerror or error}") from None
        return self.decoder.decode(data)

    async def send(self, items: list[Item], arrays: list[dict]) -> None:
        """One request for `items`, retried; a batch that fails for good is split so one bad item fails alone."""
        delay = self.args.retry_initial_seconds
        for attempt in range(1, self.args.max_retries + 2):
            if self.unavailable is not None:
                return
            try:
                outputs, version = await self.triton.infer(self.model, arrays)
            except Exception as error:  # noqa: BLE001 - every failure is classified below
                kind = classify(error)
                if kind == "permanent" or attempt > self.args.max_retries:
                    if kind == "unavailable":
                        self.unavailable = ServerUnavailable(f"{describe_error(error)} (after {attempt} attempts)")
                        self.stop.set()
                        return
                    if len(items) > 1:
                        for item, array in zip(items, arrays):
                            await self.send([item], [array])
                        return
                    await self.fail(items[0], describe_error(error), attempt)
                    return
                await asyncio.sleep(min(delay, self.args.retry_max_seconds) * random.uniform(0.5, 1.0))
                delay *= 2
                continue
            self.version_seen.add(version)
            for item, item_outputs in zip(items, outputs):
                await self.succeed(item, item_outputs, version)
            return

    async def worker(self, queue: asyncio.Queue) -> None:
        while not self.stop.is_set():
            try:
                chunk = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            loaded: dict[tuple, tuple[list[Item], list[dict]]] = {}
            for item in chunk:
                try:
                    arrays = await asyncio.to_thread(self.load, item) if self.input.blocking else self.load(item)
                except ItemError as error:
                    await self.fail(item, str(error), 0)
                    continue
                shape = tuple((name, a.shape) for name, a in sorted(arrays.items()))
                loaded.setdefault(shape, ([], []))
                loaded[shape][0].append(item)
                loaded[shape][1].append(arrays)
            for items, arrays in loaded.values():  # one request per shape: a batch stacks equal shapes only
                await self.send(items, arrays)

    async def report(self) -> None:
        """Progress every --progress-interval-seconds; between lines, commits a buffer that has waited long enough."""
        tick = min(self.args.progress_interval_seconds, self.args.commit_seconds)
        last = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self.stop.wait(), tick)
                return
            except asyncio.TimeoutError:
                pass
            await self.commit()
            if time.monotonic() - last >= self.args.progress_interval_seconds:
                last = time.monotonic()
                self.log_progress()

    def log_progress(self) -> None:
        log.info(self.progress.line(self.shard_label))
        if self.args.pushgateway:
            try:
                push_metrics(self.args.pushgateway, self.args.metrics_job, self.shard, self.progress.metrics())
            except OSError as error:
                log.warning("cannot push metrics to %s: %s", self.args.pushgateway, error)

    # --- the whole shard ---

    async def prepare(self) -> list[Item]:
        """Everything that can refuse the run, before anything is written: the input, the server, the model."""
        args = self.args
        self.input = open_store(args.input, "input")
        self.output = open_store(args.output, "output")
        if args.input_format == "images" and self.input.kind() == "file":
            raise UsageError(f"--input {self.input.describe()} is one file; images are read from a directory (or prefix) of image files")
        every = list(list_items(self.input, args.input_format))
        if not every:
            suffixes = IMAGE_SUFFIXES if args.input_format == "images" else JSONL_SUFFIXES
            raise UsageError(f"--input {self.input.describe()} holds no {args.input_format} items ({', '.join(suffixes)})")
        seen: set[str] = set()
        for item in every:
            if item.id in seen:
                raise UsageError(f"--input {self.input.describe()}: item id {item.id!r} occurs more than once ({item.source}); ids must be unique")
            seen.add(item.id)
        self.input_items = len(every)
        items = sorted((item for item in every if shard_of(item.id, args.shards) == self.shard), key=lambda item: item.id)
        self.triton = Triton(args.url, args.protocol, args.request_timeout_seconds, args.concurrency)
        deadline = time.monotonic() + args.wait_ready_seconds
        while not await self.triton.ready():
            if time.monotonic() >= deadline:
                raise ServerUnavailable(f"{args.protocol} {args.url} was not ready within {args.wait_ready_seconds:.0f}s")
            await asyncio.sleep(1.0)
        try:
            self.model = await self.triton.model(args.model, args.model_version)
        except Exception as error:  # noqa: BLE001 - classified below
            if classify(error) == "unavailable":
                raise ServerUnavailable(f"{args.url}: {describe_error(error)}") from None
            raise UsageError(f"model {args.model!r} (version {args.model_version or 'latest'}) is not served by "
                             f"{args.protocol} {args.url}: {describe_error(error)}") from None
        if args.batch_size == 0:  # auto: full batches where the model takes them, capped so one request stays small
            args.batch_size = max(1, min(self.model.max_batch_size, AUTO_BATCH_CAP))
        if args.batch_size > max(self.model.max_batch_size, 1):
            raise UsageError(f"--batch-size {args.batch_size} is above the model's max_batch_size {self.model.max_batch_size}")
        self.decoder = ImageDecoder(self.model, args.image_scale) if args.input_format == "images" else JsonLinesDecoder(self.model)
        return items

    async def execute(self) -> int:
        self.triton = None
        try:
            items = await self.prepare()
            self.output.begin(self.shard_label)
            try:
                return await self._execute(items)
            finally:
                self.output.end()
        finally:
            if self.triton is not None:
                await self.triton.close()

    async def _execute(self, items: list[Item]) -> int:
        args = self.args
        self.buffers = {"results": [], "failures": []}
        self.committed_at = time.monotonic()
        self.run_id, self.part_number = f"{int(time.time() * 1000):013d}", 0
        done_ids = {record["id"] for _, records in self.read_parts("results") for record in records}
        pending = [item for item in items if item.id not in done_ids]
        done = [item for item in items if item.id in done_ids]
        self.progress = Progress(total=len(items), already_done=len(done))
        log.info("%s: %d items (of %d in the input's %d shards), %d already done, %d to send to %s %s over %s, "
                 "%d in flight, %d per request", self.shard_label, len(items), self.input_items, args.shards,
                 len(done), len(pending), args.model, self.model.version or "latest", args.protocol, args.concurrency, args.batch_size)
        queue: asyncio.Queue = asyncio.Queue()
        for start in range(0, len(pending), args.batch_size):
            queue.put_nowait(pending[start : start + args.batch_size])
        loop = asyncio.get_running_loop()
        terminated = asyncio.Event()

        def on_sigterm() -> None:
            log.warning("SIGTERM: finishing the requests in flight, then stopping; a re-run resumes")
            terminated.set()
            self.stop.set()

        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        reporter = asyncio.create_task(self.report())
        await asyncio.gather(*(self.worker(queue) for _ in range(args.concurrency)))
        self.stop.set()
        await reporter
        await self.commit(force=True)
        self.log_progress()
        if self.unavailable is not None:
            log.error("%s: the server is unavailable: %s. %d results kept; a retry of this shard resumes.",
                      self.shard_label, self.unavailable, self.progress.already_done + self.progress.done)
            return EXIT_UNAVAILABLE
        if terminated.is_set():
            return EXIT_TERMINATED
        return await asyncio.to_thread(self.finish, items)

    def finish(self, items: list[Item]) -> int:
        """The shard's results and failures as JSON Lines (one line per item: its result, or its latest failure
        when it has none), then its manifest."""
        base = f"shards/{self.shard_label}"
        shard_ids = {item.id for item in items}
        result_parts = [name for name, _ in self.read_parts("results")]
        latest_failure: dict[str, bytes] = {}
        for _, records in self.read_parts("failures"):
            for record in records:
                latest_failure[record["id"]] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        succeeded_ids: set[str] = set()

        def results() -> Iterator[bytes]:
            for name in result_parts:
                for line in self.output.read(name).splitlines():
                    record_id = json.loads(line)["id"]
                    if record_id in shard_ids and record_id not in succeeded_ids:
                        succeeded_ids.add(record_id)
                        yield line + b"\n"

        self.output.write(f"{base}.results.jsonl", results())
        failed = {item_id: line for item_id, line in latest_failure.items() if item_id in shard_ids and item_id not in succeeded_ids}
        self.output.write(f"{base}.failures.jsonl", [failed[item_id] for item_id in sorted(failed)])
        manifest = {
            "shard": self.shard, "shards": self.args.shards, "model": self.model.name,
            "model_versions": sorted(self.version_seen) or [self.model.version or "latest"],
            "input": self.input.describe(), "input_format": self.args.input_format, "output": self.output.describe(),
            "items": len(items), "succeeded": len(succeeded_ids), "failed": len(failed),
            "sent_this_run": self.progress.done + self.progress.failed, "already_done": self.progress.already_done,
            "results": f"{base}.results.jsonl", "failures": f"{base}.failures.jsonl",
            "elapsed_seconds": round(time.monotonic() - self.progress.started, 3), "client_version": VERSION,
        }  # fmt: skip
        self.output.write(f"{base}.manifest.json", [json.dumps(manifest, indent=2).encode() + b"\n"])
        log.info("%s finished: %d succeeded, %d failed; %s.results.jsonl, %s.failures.jsonl, %s.manifest.json under %s",
                 self.shard_label, len(succeeded_ids), len(failed), base, base, base, self.output.describe())
        return EXIT_ITEMS_FAILED if failed else EXIT_OK


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="host:port of Triton's gRPC or HTTP listener")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-version", default="", help="empty: the version Triton's policy serves")
    parser.add_argument("--input", required=True, help="a path (PVC) or s3://bucket/prefix, gs://bucket/prefix")
    parser.add_argument("--input-format", choices=("images", "jsonl"), required=True)
    parser.add_argument("--output", required=True, help="a path (PVC) or s3://bucket/prefix, gs://bucket/prefix")
    parser.add_argument("--shards", type=int, required=True, help="the Job's completions")
    parser.add_argument("--shard-index", type=int, default=None, help="default: $JOB_COMPLETION_INDEX (set by an Indexed Job)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--batch-size", type=int, default=0,
                        help=f"items per request, at most the model's max_batch_size; 0: that maximum, at most {AUTO_BATCH_CAP} (1 for a model without batching)")
    parser.add_argument("--max-retries", type=int, default=5)
    parser.add_argument("--retry-initial-seconds", type=float, default=0.5)
    parser.add_argument("--retry-max-seconds", type=float, default=30.0)
    parser.add_argument("--request-timeout-seconds", type=float, default=60.0)
    parser.add_argument("--wait-ready-seconds", type=float, default=300.0, help="how long to wait for the server to be ready")
    parser.add_argument("--image-scale", type=float, default=1 / 255, help="pixel scale for float image inputs")
    parser.add_argument("--progress-interval-seconds", type=float, default=30.0)
    parser.add_argument("--commit-items", type=int, default=256, help="results written together, as one atomic part")
    parser.add_argument("--commit-seconds", type=float, default=10.0, help="longest a result waits before its part is written")
    parser.add_argument("--pushgateway", default="", help="Pushgateway URL (http://host:9091); empty: no metrics pushed")
    parser.add_argument("--metrics-job", default="triton-batch", help="the Pushgateway job label")
    args = parser.parse_args(argv)
    if args.shard_index is None:
        index = os.environ.get("JOB_COMPLETION_INDEX")
        if index is None or not index.strip().lstrip("-").isdigit():
            parser.error(f"--shard-index is not given and JOB_COMPLETION_INDEX is {index!r}: run in an Indexed Job or pass --shard-index")
        args.shard_index = int(index)
    checks = [
        (args.shards >= 1, f"--shards {args.shards}: at least 1"),
        (0 <= args.shard_index < args.shards, f"shard index {args.shard_index} is out of range for --shards {args.shards} (0 to {args.shards - 1}): "
                                              "the Job's completions and the client's --shards must be the same"),
        (args.concurrency >= 1, f"--concurrency {args.concurrency}: at least 1"),
        (args.batch_size >= 0, f"--batch-size {args.batch_size}: 0 (the model's maximum) or more"),
        (args.max_retries >= 0, f"--max-retries {args.max_retries}: 0 or more"),
        (args.progress_interval_seconds > 0, f"--progress-interval-seconds {args.progress_interval_seconds}: above 0"),
        (args.commit_items >= 1, f"--commit-items {args.commit_items}: at least 1"),
        (args.commit_seconds > 0, f"--commit-seconds {args.commit_seconds}: above 0"),
        (args.input.rstrip("/") != args.output.rstrip("/"), "--input and --output are the same place"),
    ]
    for ok, message in checks:
        if not ok:
            parser.error(message)
    return args


async def run(args: argparse.Namespace) -> int:
    return await Run(args, args.shard_index).execute()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        return asyncio.run(run(args))
    except UsageError as error:
        log.error("%s (nothing was written)", error)
        return EXIT_USAGE
    except ServerUnavailable as error:
        log.error("the server is unavailable: %s; nothing was sent", error)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
