"""Batch inference through Triton: one shard of a data set, resumable, every item written once and atomically.

Runs in the Triton SDK image of the server's release (nvcr.io/nvidia/tritonserver:<release>-py3-sdk), which has
python3, numpy, pillow and tritonclient[all]; the triton-batch chart mounts this file from a ConfigMap and runs it
in each pod of an Indexed Job. The same file runs locally against a local tritonserver (tests/local).

What it does, for shard JOB_COMPLETION_INDEX of --shards:
- lists the input (a directory of image files, symlinked folders followed; or JSON Lines files of tensors, read
  line by line) and keeps the items whose id hashes to this shard: the assignment depends only on the item's id
  and the shard count, never on listing order. Only this shard's items are kept (for JSON Lines, where each line
  is and its hash, not the line); the duplicate-id check over the whole input holds 8 bytes per item;
- builds requests from the model's own metadata and config (input names, datatypes, shapes, max batch size);
- skips items whose result already exists (a re-run does only what is left; a JSON line whose content changed
  since its result was written is sent again), sends the rest with at most --concurrency requests in flight
  (HTTP on kept-alive connections, or asyncio gRPC), retrying UNAVAILABLE, 5xx and connection errors with
  exponential backoff; at most --decode-concurrency items are read and decoded at once, and an image above
  --max-image-pixels fails alone (a JSON line above --max-line-bytes is refused before anything is sent: without its
  id it has no shard);
- commits results in groups (--commit-items, or every --commit-seconds), each group one file or object written
  atomically (a temp file renamed into place; one PUT per object), so a killed pod never leaves half a result and
  loses at most its last uncommitted group, which the next run sends again; items that fail for good get a failure
  record with the reason;
- at the end writes the shard's results as JSON Lines, its failures as JSON Lines, and a manifest;
- logs progress every --progress-interval-seconds (done/total, rate, ETA) and, with --pushgateway, pushes the
  same figures to a Prometheus Pushgateway (a push that fails only warns: metrics never fail a run).

Item ids: an image's path under the input (a name that is not UTF-8 keeps its bytes as Python's surrogate escapes,
"\\udcXX" in the JSON); a JSON line's "id", required, a string or an integer, always written as a string (1 and
"1" are the same id, and an input holding both is refused as a duplicate).

Exit codes (the chart's podFailurePolicy acts on them; only 1 and 2 end a shard without a retry):
  0  every item of the shard has a result
  1  some items failed permanently (listed in the shard's failures file); a retry would give the same answer.
     Nothing else exits 1: an unexpected error exits 4
  2  bad configuration (arguments, unknown model, empty input, a JSON line without an id or longer than
     --max-line-bytes, duplicate ids, output path a file, shard index out of range): nothing was written
  3  the server stayed unavailable past the retries; results so far are kept, a retry of the shard resumes
  4  anything else (a full disk, a write or rename that failed, the input changed under the run, a bug): results
     committed so far are kept, a retry of the shard resumes
  143 stopped by SIGTERM (eviction, preemption, deletion): no new attempt starts, the requests in flight finish
     (each within --request-timeout-seconds), their results are committed; a re-run resumes

Output layout under --output:
  parts/shard-<i>-of-<n>/<run>-<k>.jsonl    committed results, one JSON record per line
  failed/shard-<i>-of-<n>/<run>-<k>.jsonl   committed failure records (an item that later succeeds is not a failure)
  shards/shard-<i>-of-<n>.results.jsonl, .failures.jsonl, .manifest.json   written when the shard is complete
  .partial/shard-<i>-of-<n>/<run>/          temp files of one run in progress (local paths only). Each run has its
                                            own, so two runs of one shard (a manual run beside a scheduled one, an
                                            old Job's pods still terminating) never remove each other's; a run's
                                            folder left by a killed pod is removed by a later run once it is
                                            STALE_PARTIAL_SECONDS old (a live run touches its folder as it goes)
A shard's parts belong to its index and the shard count: a run with another --shards starts afresh.

Why groups and not a file per item: creating a file costs about as much as an inference here (and far more on
network filesystems and object stores); a group keeps every guarantee of a single file.
"""

from __future__ import annotations

import argparse
from array import array as compact_array
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
import urllib.parse
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

import numpy as np

VERSION = "2"
log = logging.getLogger("triton-batch")

EXIT_OK, EXIT_ITEMS_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_RETRY, EXIT_TERMINATED = 0, 1, 2, 3, 4, 143
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
OBJECT_STORE_SCHEMES = ("s3://", "gs://")
# Items per request when --batch-size is 0: a full batch of most image models, small enough for any request limit.
AUTO_BATCH_CAP = 16
# A run's temp folder untouched this long belongs to a run that is gone (a live run touches it every
# HEARTBEAT_SECONDS, finishing included), and a later run of the shard removes it. Ten heartbeats: room for a
# loaded node and for clock skew between nodes and a network filesystem's server.
HEARTBEAT_SECONDS = 60
# Items read and decoded per thread hop (rounded to whole requests): a hop costs about as much as decoding a small
# image, and at one item per request the hops alone would starve the senders.
DECODE_CHUNK_ITEMS = 16
STALE_PARTIAL_SECONDS = 10 * HEARTBEAT_SECONDS
# Bytes one decode may hold per pixel of its image: the decoded frame (up to 4 bytes a pixel, RGBA) and its
# conversion to the model's mode (3) side by side, rounded up. --max-image-pixels is the client's decode memory
# divided by this and by --decode-concurrency; a file larger than this many bytes a pixel is not read at all.
DECODE_BYTES_PER_PIXEL = 8
# The same bound for a JSON line, per byte of the line: "0.0," is 4 bytes and parses to a float (24 bytes) and a
# list slot (8). A line above --max-line-bytes is never held (see list_items).
DECODE_BYTES_PER_LINE_BYTE = DECODE_BYTES_PER_PIXEL
READ_CHUNK_BYTES = 1 << 20
# While the server is not ready, why not is logged at once and then every this many seconds.
READY_WARNING_SECONDS = 30
# The inference channel's message size limits, as tritonclient.grpc's InferenceServerClient sets them: none.
GRPC_CHANNEL_OPTIONS = [("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1)]
# Triton datatypes as numpy dtypes (tritonclient.utils.triton_to_np_dtype, written out so that this file also
# reports a datatype it cannot handle by name).
DATATYPES = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}  # fmt: skip


# Output datatypes the client reads: every input datatype, and BF16 (as float32, as tritonclient's as_numpy gives it).
READABLE_OUTPUTS = {*DATATYPES, "BF16"}


class UsageError(Exception):
    """Bad configuration: the message says what and what to do. Exit 2, nothing written."""


class ServerUnavailable(Exception):
    """The server stayed unreachable or overloaded past every retry. Exit 3."""


class RetryableError(Exception):
    """The run cannot go on, and a later run of the shard may (a write that failed, the input changed). Exit 4."""


class ItemError(Exception):
    """One item cannot be turned into a request (unreadable, wrong shape, too large): a permanent failure of that item."""


# --- storage: a local (PVC) path or an object-store prefix ---------------------------------------------------


class LocalStore:
    """Files under a directory. Writes go to a temp file in <base>/.partial/<owner>/<run>/ and are renamed into place:
    os.replace is atomic within one filesystem, so a reader (or a re-run after SIGKILL) sees a whole file or none."""

    def __init__(self, base: Path):
        self.base = base
        self.root = str(base)  # reads join strings: a pathlib join per item costs a fifth of a small image's read
        self.partial: Path | None = None

    def describe(self) -> str:
        return str(self.base)

    def kind(self) -> str:
        if self.base.is_file():
            return "file"
        return "dir" if self.base.is_dir() else "missing"

    def list(self, prefix: str = "") -> Iterator[str]:
        """Every file under <base>/<prefix> (names relative to base; hidden ones skipped), folders in name order.
        Symlinked folders are followed; a folder reached a second time (a link loop, or two links to one folder)
        is listed once, at its first place, and the others are named in a warning."""
        root = self.base / prefix if prefix else self.base
        if not root.is_dir():
            return
        seen: dict[tuple[int, int], str] = {}
        for directory, subdirs, files in os.walk(root, followlinks=True):
            relative = Path(directory).relative_to(self.base)
            with contextlib.suppress(OSError):
                info = os.stat(directory)
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    log.warning("%s is the folder already listed as %s (a symlink loop or a second link): its files are listed once, there",
                                printable(str(relative)), printable(seen[key]))
                    subdirs[:] = []
                    continue
                seen[key] = str(relative)
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield str(relative / name) if str(relative) != "." else name

    def open(self, name: str):
        return open(self.base / name, "rb")

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The file's bytes; with `limit`, ItemError when it holds more. Plain os calls: the buffered file object
        of open() costs a third of a small image's read."""
        descriptor = os.open(os.path.join(self.root, name), os.O_RDONLY)
        try:
            # read(n) allocates n bytes up front: ask for the file's size, never the whole limit. Reads go on until
            # the end of the file (a file that grew since, or a filesystem that reports no size), in bounded steps.
            size = os.fstat(descriptor).st_size
            cap = sys.maxsize if limit is None else limit + 1
            data = os.read(descriptor, min(cap, size + 1))
            if len(data) > size or len(data) < min(cap, size):  # grew, or a short read: read on
                parts, total = [data], len(data)
                while total < cap and (more := os.read(descriptor, min(READ_CHUNK_BYTES, cap - total))):
                    parts.append(more)
                    total += len(more)
                data = b"".join(parts)
        finally:
            os.close(descriptor)
        if limit is not None and len(data) > limit:
            raise ItemError(f"{name} is larger than {limit} bytes, the most one item may read")
        return data

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        with open(self.base / name, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def begin(self, owner: str, run: str) -> None:
        """Claims <base>/.partial/<owner>/<run>/ for this run's temp files, and removes what runs of the same owner
        that are gone left (their folders untouched for STALE_PARTIAL_SECONDS). A live run's folder is never touched."""
        owner_dir = self.base / ".partial" / owner
        self.partial = owner_dir / run
        self.partial.mkdir(parents=True)
        stale_before = time.time() - STALE_PARTIAL_SECONDS
        for entry in owner_dir.iterdir():
            if entry == self.partial:
                continue
            with contextlib.suppress(OSError):  # another run may remove it at the same moment
                if entry.lstat().st_mtime < stale_before:
                    log.info("removing %s, the temp files of a run of this shard that is gone", entry)
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()

    def heartbeat(self) -> None:
        """Marks this run's temp folder as in use (see begin)."""
        if self.partial is not None:
            with contextlib.suppress(OSError):
                os.utime(self.partial)

    def end(self) -> None:
        if self.partial is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            for parent in (self.partial.parent, self.partial.parent.parent):
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only once no other run of the shard, and no other shard, is using it
            self.partial = None

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        """One file, whole or not at all. Any failure (a full disk, a temp folder gone, a rename refused) is a
        RetryableError: what was committed before stays, and a later run writes this again."""
        target = self.base / name
        temp = self.partial / f"{uuid.uuid4().hex}.tmp"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            os.replace(temp, target)
        except OSError as error:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise RetryableError(f"cannot write {target}: {error.strerror or error}") from error

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.base / name).unlink()


class ObjectStore:
    """Objects under an s3:// or gs:// prefix, through pyarrow.fs (the Triton SDK image has no boto3 and no
    google-cloud-storage; see the chart README). One object per write: an object appears whole when its upload
    completes, or not at all, so no temp objects are needed."""

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

    def list(self, prefix: str = "") -> Iterator[str]:
        selector = self._pafs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        names = [info.path[len(self.root) + 1 :] for info in self.fs.get_file_info(selector) if info.type == self._pafs.FileType.File]
        yield from sorted(name for name in names if not any(part.startswith(".") for part in name.split("/")))

    def open(self, name: str):
        return self.fs.open_input_stream(self._path(name))

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The object's bytes; with `limit`, ItemError when it holds more, known from its size before any byte is
        read. A random-access file, not a stream: pyarrow's S3 file learns the size with one HEAD and reads it with
        one GET (a stream read in steps would GET each step), and read(n) allocates n bytes up front, so only the
        object's own size is asked for, never the limit."""
        with self.fs.open_input_file(self._path(name)) as handle:
            size = handle.size()
            if limit is not None and size > limit:
                raise ItemError(f"{name} is larger than {limit} bytes, the most one item may read")
            return handle.read(size)

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        with self.fs.open_input_file(self._path(name)) as handle:
            return handle.read_at(length, offset)

    def begin(self, owner: str, run: str) -> None:
        pass

    def heartbeat(self) -> None:
        pass

    def end(self) -> None:
        pass

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        try:
            with self.fs.open_output_stream(self._path(name)) as handle:
                for chunk in chunks:
                    handle.write(chunk)
        except OSError as error:
            raise RetryableError(f"cannot write {self._path(name)}: {error}") from error

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


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    source: str  # where it is, for messages: the file name under the input (images), "<file>:<line>" (JSON Lines)
    name: str  # the file it is read from, relative to the input ("" for an input that is one object)
    offset: int = -1  # JSON Lines: where the line starts in that file, and its length in bytes
    length: int = 0
    digest: str | None = None  # JSON Lines: sha256 of the line, recorded with its result


def id_bytes(item_id: str) -> bytes:
    """An id as bytes: UTF-8, with a non-UTF-8 file name's surrogate escapes turned back into its own bytes (what
    os.fsencode does), so a name's bytes decide its shard whatever the locale; a valid UTF-8 id hashes as before."""
    try:
        return item_id.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from a JSON "\\ud800" escape: no byte stands for it
        return item_id.encode("utf-8", "surrogatepass")


def shard_of(item_id: str, shards: int) -> int:
    """The stable shard of an item: a hash of its id, so adding or reordering other items never moves it."""
    return int.from_bytes(hashlib.sha256(id_bytes(item_id)).digest()[:8], "big") % shards


def id_hash(item_id: str) -> int:
    """64 bits of an id, for the duplicate check over the whole input (8 bytes an item)."""
    return int.from_bytes(hashlib.blake2b(id_bytes(item_id), digest_size=8).digest(), "little")


def printable(text: str) -> str:
    """A name for a log line: surrogate escapes of non-UTF-8 bytes shown as \\xNN."""
    return id_bytes(text).decode("utf-8", "backslashreplace")


def shard_name(index: int, shards: int) -> str:
    return f"shard-{index:05d}-of-{shards:05d}"


# Where committed parts go, per kind; each shard has its own folder in each.
PART_DIRS = {"results": "parts", "failures": "failed"}


def lines_of(stream, chunk_size: int = READ_CHUNK_BYTES, limit: int | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(offset, line without its newline) of every line of a binary stream, read a chunk at a time (pyarrow's
    streams have no readline). A line longer than `limit` bytes is never held: it comes as (offset, None)."""
    offset, pieces, held, over = 0, [], 0, False

    def whole(tail: bytes) -> tuple[bytes | None, int]:
        size = held + len(tail)
        if over or (limit is not None and size > limit):
            return None, size
        return (b"".join(pieces) + tail if pieces else tail), size

    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            line, size = whole(chunk[start:end])
            pieces, held, over = [], 0, False
            yield offset, line
            offset += size + 1
            start = end + 1
        if start < len(chunk):
            rest = chunk[start:]
            held += len(rest)
            if limit is not None and held > limit:
                pieces, over = [], True  # too long already: counted, not kept
            elif not over:
                pieces.append(rest)
    if held or pieces:
        line, _ = whole(b"")
        yield offset, line


def json_line_id(line: bytes, where: str) -> str:
    """The "id" of a JSON line as the string it is known by. UsageError (exit 2) when it has none: a line number
    would give another line's answer to a reordered file."""
    try:
        record = json.loads(line)
    except ValueError as error:
        raise UsageError(f"{where}: not a JSON object ({error}); every line is {{\"id\": ..., \"inputs\": {{...}}}}") from None
    if not isinstance(record, dict) or "id" not in record:
        raise UsageError(f'{where}: no "id"; every JSON line needs its own id (a string or an integer), so that its '
                         "result stays its own when lines are added, removed or reordered")
    item_id = record["id"]
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
        raise UsageError(f'{where}: "id" is {json.dumps(item_id)[:80]}, a {type(item_id).__name__}; use a string or an integer')
    return str(item_id)


def list_items(store, input_format: str, max_line_bytes: int | None = None) -> Iterator[Item]:
    """Every item of the input, streamed. A single file is read as it is; a directory recursively. JSON Lines are
    read line by line: an item holds where its line is and the line's hash, never the line. A line longer than
    `max_line_bytes` is refused (UsageError, exit 2) without being held: its id cannot be read without parsing it
    whole, and without an id it has no shard."""
    kind = store.kind()
    if kind == "missing":
        raise UsageError(f"--input {store.describe()} does not exist")
    if kind == "file":
        parent = store.base.parent if isinstance(store, LocalStore) else None
        names = iter([store.base.name] if parent is not None else [""])
        store = LocalStore(parent) if parent is not None else store
    else:
        names = store.list()
    if input_format == "images":
        for name in names:
            if name.lower().endswith(IMAGE_SUFFIXES):
                yield Item(id=name, source=name, name=name)
        return
    for name in names:
        if kind == "dir" and not name.lower().endswith(JSONL_SUFFIXES):
            continue
        label = name or PurePosixPath(store.describe()).name
        try:
            with store.open(name) as handle:
                for number, (offset, line) in enumerate(lines_of(handle, limit=max_line_bytes), start=1):
                    where = f"{label}:{number}"
                    if line is None:
                        raise UsageError(f"--input {printable(where)}: the line is longer than --max-line-bytes {max_line_bytes}, the most "
                                         "one item may hold in the client's memory; split the item, or raise client.maxLineBytes "
                                         "together with client.resources.limits.memory")
                    if not line.strip():
                        continue
                    yield Item(id=json_line_id(line, f"--input {printable(where)}"), source=where, name=name,
                               offset=offset, length=len(line), digest=hashlib.sha256(line).hexdigest())
        except OSError as error:
            raise UsageError(f"--input {store.describe()}/{name}: cannot read it: {getattr(error, 'strerror', None) or error}") from None


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
    for tensor in metadata["outputs"]:
        if tensor["datatype"] not in READABLE_OUTPUTS:
            raise UsageError(f"model {name}: output {tensor['name']} has datatype {tensor['datatype']}, which this client cannot read")
    return ModelSpec(name, version, max_batch, inputs, tuple(tensor["name"] for tensor in metadata["outputs"]))


class ImageDecoder:
    """Image files into the model's one input: decoded with Pillow, converted to its channels, resized to its
    height and width, laid out channels-first or -last as its dims say, scaled (1/255 for float inputs).

    Memory: an image above `max_pixels` fails alone with the reason, checked from its header before any pixel is
    decoded (Pillow's own bomb check is set to the same limit and made an error), and a file above
    max_pixels x DECODE_BYTES_PER_PIXEL bytes is not read; the run decodes at most --decode-concurrency at once."""

    def __init__(self, model: ModelSpec, scale: float, max_pixels: int):
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
        self.max_pixels = max_pixels
        self.max_file_bytes = max_pixels * DECODE_BYTES_PER_PIXEL
        from PIL import Image  # the SDK image has pillow; imported here so JSON Lines runs need none

        Image.MAX_IMAGE_PIXELS = max_pixels
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        self._image = Image

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        try:
            with self._image.open(io.BytesIO(data)) as image:
                pixels = image.width * image.height
                if pixels > self.max_pixels:
                    raise ItemError(self.too_large(f"{image.width}x{image.height} = {pixels} pixels"))
                if image.mode != self.mode:
                    image = image.convert(self.mode)
                width = image.width if self.size[0] == -1 else self.size[0]
                height = image.height if self.size[1] == -1 else self.size[1]
                if (width, height) != image.size:
                    image = image.resize((width, height), self._image.Resampling.BILINEAR)
                pixels = np.asarray(image)
        except (self._image.DecompressionBombError, self._image.DecompressionBombWarning) as error:
            raise ItemError(self.too_large(str(error))) from None
        except (OSError, ValueError) as error:
            raise ItemError(f"not a readable image: {error}") from None
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if self.channels_first:
            pixels = pixels.transpose(2, 0, 1)
        if self.scale != 1.0:  # one pass: scaled, converted and laid out contiguously
            return {self.tensor.name: np.multiply(pixels, self.scale, dtype=self.dtype)}
        return {self.tensor.name: np.ascontiguousarray(pixels, dtype=self.dtype)}

    def too_large(self, detail: str) -> str:
        return (f"image too large: {detail}; --max-image-pixels {self.max_pixels} is the most one decode may hold in "
                "the client's memory (raise client.maxImagePixels together with client.resources.limits.memory)")


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
HTTP_UNAVAILABLE = {"408", "429", "502", "503", "504"}


def classify(error: BaseException) -> str:
    """"unavailable" (connection, overload: retry, and give up on the whole shard after the retries), "server"
    (a 5xx from the model: retry, then fail the item), or "permanent" (a bad request: fail the item at once)."""
    status = getattr(error, "status", None)
    status = status() if callable(status) else status
    if status is None:
        return "unavailable" if isinstance(error, (OSError, asyncio.TimeoutError)) else "permanent"
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


# A response's status line and headers may hold this many bytes (asyncio's StreamReader limit); more is refused.
HTTP_HEADER_LIMIT = 64 * 1024


def host_and_port(address: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6 address]:port"; ValueError for anything else (a scheme, a path, no port)."""
    host, _, port = address.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]") and "[" not in host[1:] and "]" not in host[:-1]
    well_formed = host and (bracketed or not any(c in host for c in ":[]")) and "/" not in address
    if not well_formed or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"--url {address!r} is not host:port (no scheme, no path; an IPv6 address in brackets)")
    return host.strip("[]"), int(port)


class OtherProtocol(ConnectionError):
    """The address answered in HTTP/2, as a gRPC listener (Triton's gRPC port) does, not in HTTP/1.x."""


def http2_frame(data: bytes) -> bool:
    """Whether `data` starts like an HTTP/2 server's first frame: SETTINGS (type 4) on stream 0 (RFC 9113, 3.4)."""
    return len(data) >= 9 and data[3] == 0x04 and data[5:9] == b"\x00\x00\x00\x00"


class HttpConnections:
    """Keep-alive HTTP/1.1 connections to one Triton HTTP listener (host:port), each carrying one request at a time
    and reused in turn: as many stay open as requests were in flight at once (--concurrency).

    Why not aiohttp, which tritonclient.http.aio sends with: measured against the server of `make bench-batch` (one
    image per request, 16 in flight, on one CPU), an aiohttp request costs the client 145 µs of CPU, tritonclient's
    aio client 210 µs, a grpc.aio call 120-135 µs, and a request on a kept-alive asyncio stream 28 µs. At one item per
    request that cost decides what the client sends, and how full the batches are that Triton's dynamic batcher forms
    from it (8.3 images a batch over grpc.aio, 11 here). It speaks the part of HTTP/1.1 that Triton's HTTP endpoint
    and the proxies in front of it (Envoy, ingress controllers) answer with: a body of Content-Length bytes or chunked,
    none for 204 and 304, interim 1xx answers skipped, `Connection: close`, HTTP/1.0. An idle connection is reused
    only while it is open and has received nothing since its answer. A request whose reused connection closes before
    a whole status line, or answers 408 (a keep-alive timeout racing the request), is sent once more, on a new
    connection; nothing
    else is retried here (the run's retries, with their backoff and limit, decide), so a request the server dies on
    reaches it at most twice per attempt.

    Errors: a connection that fails, closes mid-answer or answers something that is not HTTP/1.x raises
    ConnectionError (an OSError: classify() calls it "unavailable"); no answer within `timeout` seconds raises
    asyncio.TimeoutError. Either way the connection is closed, never reused."""

    def __init__(self, address: str, timeout: float):
        host, port = host_and_port(address)
        self.address, self.host, self.port, self.timeout = address, host, port, timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: list[bytes] = ()) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        """(status, headers with lower-case names, body) of one request; `body` is sent as its chunks, unjoined."""
        length = sum(len(chunk) for chunk in body)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.address}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            head.append(f"Content-Length: {length}")
        message = [("\r\n".join(head) + "\r\n\r\n").encode("latin-1"), *body]
        connection = self.reusable()
        while True:
            answered = [False]  # set once the first byte of an answer has arrived
            try:
                answer = await asyncio.wait_for(self._exchange(connection, message, answered), self.timeout)
                if answer[0] == 408 and connection is not None:  # the server's idle timeout crossed the request
                    connection = None
                    continue
                return answer
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                if connection is not None and not answered[0]:  # closed before a status line came on a reused one: once more, on a new one
                    connection = None
                    continue
                if isinstance(error, asyncio.IncompleteReadError):
                    said = "in the middle of an answer" if answered[0] else "without answering"
                    raise ConnectionError(f"HTTP {self.address}: the connection closed {said}") from None
                raise
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(f"HTTP {self.address}: no whole answer within {self.timeout:g}s (--request-timeout-seconds)") from None

    def reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """An idle connection that is still open and has received nothing since its last answer; the others are closed.
        A byte that arrived on an idle connection (a 408 Request Timeout before the server closes it, bytes past an
        answer's length) would otherwise be read as the next request's answer."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof() and not self.holds_bytes(reader) and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    @staticmethod
    def holds_bytes(reader: asyncio.StreamReader) -> bool:
        """Whether bytes have arrived that nothing has read. asyncio has no public way to ask a StreamReader what it
        holds: its `_buffer` is read, as it has been since Python 3.4 (an empty one where it is missing)."""
        return bool(getattr(reader, "_buffer", b""))

    async def _exchange(self, connection, message: list[bytes], answered: list[bool]) -> tuple[int, dict[str, str], bytes]:
        if connection is None:
            try:
                connection = await asyncio.open_connection(self.host, self.port, limit=HTTP_HEADER_LIMIT)
            except OSError as error:
                raise ConnectionError(f"HTTP {self.address}: {error.strerror or error}") from None
        reader, writer = connection
        keep = False
        try:
            writer.writelines(message)
            await writer.drain()
            while True:  # an interim answer (1xx: 100 Continue, 103 Early Hints) comes before the answer
                try:
                    status_line = await reader.readuntil(b"\r\n")
                except asyncio.IncompleteReadError as error:
                    if error.partial and not error.partial.startswith(b"HTTP/"):
                        self.not_http(error.partial)
                    raise
                answered[0] = True
                version, _, rest = status_line.partition(b" ")
                code = rest[:3]
                if not version.startswith(b"HTTP/1.") or not code.isdigit():
                    self.not_http(status_line)
                headers = await self._headers(reader)
                if code == b"101":  # this client never asks to switch protocols
                    raise ConnectionError(f"HTTP {self.address} switched protocols (101), which no request asked for")
                if not code.startswith(b"1"):
                    break
            if code in (b"204", b"304"):  # no body, whatever the headers say (RFC 9112, 6.3)
                payload = b""
            else:
                payload = await self._body(reader, headers)
            if payload is None:  # no length given: the body ends with the connection
                payload = await reader.read()
            else:  # kept only when nothing came past the answer: what did would be read as the next answer
                keep = version == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower() and not self.holds_bytes(reader)
            return int(code), headers, payload
        except asyncio.LimitOverrunError:
            raise ConnectionError(f"HTTP {self.address}: an answer's line is longer than {HTTP_HEADER_LIMIT} bytes") from None
        except ValueError:
            raise ConnectionError(f"HTTP {self.address}: an answer's Content-Length or chunk size is not a number") from None
        finally:
            if keep:
                self.idle.append((reader, writer))
            else:  # failed, cancelled (a timeout) or not to be kept: a late answer must never reach the next request
                writer.close()

    def not_http(self, data: bytes) -> None:
        if http2_frame(data):
            raise OtherProtocol(f"--url {self.address} answers HTTP/2, as Triton's gRPC listener does, not HTTP/1.1: use --protocol grpc "
                                "(batch.target.protocol), or the HTTP port (batch.target.service.httpPort)")
        raise ConnectionError(f"HTTP {self.address} answered something that is not HTTP/1.x: {printable(data[:60].decode('latin-1'))!r}")

    async def _headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        """The header fields up to the blank line, names in lower case; ConnectionError for two different
        Content-Lengths (RFC 9112, 6.3: which one ends the body is unknowable)."""
        headers: dict[str, str] = {}
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and headers.get(name, value) != value:
                raise ConnectionError(f"HTTP {self.address}: an answer has two different Content-Lengths")
            headers[name] = value
        return headers

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        if "content-length" in headers:
            if not headers["content-length"].isdigit():  # int() would take "+2" or "1_0"
                raise ValueError(headers["content-length"])
            return await reader.readexactly(int(headers["content-length"]))
        return None


class Triton:
    """Triton over one protocol, with what a run needs from it: readiness, the model's metadata and config, and
    inference. Either way the requests are built from the model's metadata and the answers read as tritonclient's
    InferResult.as_numpy reads them, with tritonclient.utils' (de)serializers for BYTES and BF16, but without the
    InferInput and InferResult objects, which cost about a fifth of the client's CPU at one item per request
    (measured with `make bench-batch`).

    HTTP (the default): Triton's KServe v2 REST API with its binary tensor data extension (inputs and outputs as raw
    bytes after a JSON header of Inference-Header-Content-Length bytes), over HttpConnections. Behind a Kubernetes
    Service each of the connections may reach another pod.
    gRPC: tritonclient's own protobuf messages (tritonclient.grpc.service_pb2) sent with its generated stub
    (service_pb2_grpc) over one grpc.aio channel, so that the metadata and the inferences go over the same
    connection (to the same pod behind a Service).

    A request the server refuses raises tritonclient's InferenceServerException with its status (the gRPC status
    code, or the HTTP status) and message, as tritonclient's clients do; a connection that fails raises
    ConnectionError, one that times out asyncio.TimeoutError."""

    def __init__(self, url: str, protocol: str, timeout: float):
        self.url = url
        from tritonclient.utils import InferenceServerException, deserialize_bf16_tensor, deserialize_bytes_tensor, serialize_byte_tensor

        self.protocol = protocol
        self.timeout = timeout
        self.server_error = InferenceServerException
        self.serialize_bytes = serialize_byte_tensor
        self.deserializers = {"BYTES": deserialize_bytes_tensor, "BF16": deserialize_bf16_tensor}
        if protocol == "grpc":
            import grpc
            from google.protobuf.json_format import MessageToDict
            from tritonclient.grpc import service_pb2, service_pb2_grpc

            self.channel = grpc.aio.insecure_channel(url, options=GRPC_CHANNEL_OPTIONS)
            self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)
            self.messages, self.as_dict = service_pb2, MessageToDict
            self.rpc_error = grpc.RpcError
        else:
            self.http = HttpConnections(url, timeout)

    async def close(self) -> None:
        if self.protocol == "grpc":
            await self.channel.close()
        else:
            await self.http.close()

    async def call(self, method: str, request):
        """One gRPC call with the request timeout; a failed call raises InferenceServerException."""
        try:
            return await getattr(self.stub, method)(request, timeout=self.timeout)
        except self.rpc_error as error:
            raise self.server_error(msg=error.details(), status=str(error.code())) from None

    def http_error(self, status: int, payload: bytes) -> Exception:
        """An HTTP answer other than 200 as InferenceServerException: Triton's {"error": message}, or the body's start."""
        try:
            message = str(json.loads(payload)["error"])
        except Exception:  # noqa: BLE001 - a proxy's page, or no body: its start, printable
            message = printable(payload[:200].decode("utf-8", errors="replace")) or "no message"
        return self.server_error(msg=message, status=str(status))

    async def get_json(self, path: str) -> dict:
        status, _, payload = await self.http.request("GET", path)
        if status != 200:
            raise self.http_error(status, payload)
        try:
            return json.loads(payload)
        except ValueError:
            raise ValueError(f"GET {path} answered something that is not JSON (is --url Triton's HTTP port?): "
                             f"{printable(payload[:60].decode('utf-8', errors='replace'))!r}") from None

    @staticmethod
    def model_path(name: str, version: str) -> str:
        path = f"/v2/models/{urllib.parse.quote(name, safe='')}"
        return f"{path}/versions/{urllib.parse.quote(version, safe='')}" if version else path

    async def ready(self) -> str | None:
        """None when the server is ready; else why not, in a few words (what a wait logs). Raises UsageError when
        the address is the other protocol's listener: waiting would never help."""
        try:
            if self.protocol == "grpc":
                if (await self.call("ServerReady", self.messages.ServerReadyRequest())).ready:
                    return None
                return "it answers that it is not ready (models still loading?)"
            status, _, _ = await self.http.request("GET", "/v2/health/ready")
            return None if status == 200 else f"GET /v2/health/ready answered HTTP {status}"
        except OtherProtocol as error:
            raise UsageError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - any failure to answer is "not ready yet"
            if self.protocol == "grpc" and ("http1.x server" in str(error) or await self.serves_http()):
                raise UsageError(f"--url {self.url} answers HTTP/1.1, as Triton's HTTP listener does, not gRPC: use --protocol "
                                 "http (batch.target.protocol), or the gRPC port (batch.target.service.grpcPort)") from None
            return describe_error(error)

    async def serves_http(self) -> bool:
        """Whether the gRPC target answers GET /v2/health/ready over HTTP/1.1 as Triton's HTTP listener does (200, or 400
        while not ready): a gRPC call to Triton's HTTP port fails as a closed socket. Any other answer (a proxy's 503 in
        front of a Triton still starting) is not taken for it: the wait goes on."""
        probe = HttpConnections(self.url, min(self.timeout, 5.0))
        try:
            status, _, _ = await probe.request("GET", "/v2/health/ready")
            return status in (200, 400)
        except Exception:  # noqa: BLE001 - no HTTP answer of any kind
            return False
        finally:
            await probe.close()

    async def model(self, name: str, version: str) -> ModelSpec:
        if self.protocol == "grpc":  # as tritonclient's as_json=True gives them: field names kept, int64 as strings
            metadata = await self.call("ModelMetadata", self.messages.ModelMetadataRequest(name=name, version=version))
            config = await self.call("ModelConfig", self.messages.ModelConfigRequest(name=name, version=version))
            metadata, config = (self.as_dict(message, preserving_proto_field_name=True) for message in (metadata, config))
        else:
            metadata = await self.get_json(self.model_path(name, version))
            config = await self.get_json(self.model_path(name, version) + "/config")
        return model_spec(metadata, config, name, version)

    async def infer(self, model: ModelSpec, batch: list[dict[str, np.ndarray]]) -> tuple[list[dict[str, Any]], str]:
        """One request for the items of `batch` (stacked along a batch dimension when the model has one);
        returns each item's outputs as lists, and the model version that answered. Raises as the class says, and
        ValueError for an answer that does not hold the outputs it should."""
        if self.protocol == "grpc":
            arrays, version = await self.infer_grpc(model, batch)
        else:
            arrays, version = await self.infer_http(model, batch)
        missing = [name for name in model.outputs if name not in arrays]
        if missing:
            raise ValueError(f"the answer has no output {', '.join(missing)}")
        if model.max_batch_size > 0:  # one tolist per output and request: each item's rows
            rows = {name: _jsonable_rows(arrays[name], len(batch)) for name in model.outputs}
            return [{name: rows[name][index] for name in model.outputs} for index in range(len(batch))], str(version)
        return [{name: _jsonable(arrays[name]) for name in model.outputs}], str(version)

    def input_bytes(self, model: ModelSpec, tensor: TensorSpec, batch: list[dict[str, np.ndarray]]) -> tuple[tuple[int, ...], bytes]:
        """(shape, raw bytes) of one input of a request, laid out as tritonclient lays it out."""
        if tensor.datatype == "BYTES":  # each element a 4-byte length, then its bytes
            array = np.stack([item[tensor.name] for item in batch]) if model.max_batch_size > 0 else batch[0][tensor.name]
            serialized = self.serialize_bytes(array)
            return array.shape, serialized.item() if serialized.size else b""
        # The items' bytes joined in one copy, not stacked and then copied again: a request of 16 images holds
        # 200 KB, and each copy of it costs more than a tenth of a millisecond here.
        first = batch[0][tensor.name]
        shape = (len(batch), *first.shape) if model.max_batch_size > 0 else first.shape
        return shape, b"".join([memoryview(np.ascontiguousarray(item[tensor.name])).cast("B") for item in batch])

    def output_array(self, name: str, datatype: str, shape: Iterable[int], raw: bytes | memoryview) -> np.ndarray:
        if datatype in self.deserializers:
            return self.deserializers[datatype](bytes(raw)).reshape(tuple(shape))
        if datatype in DATATYPES:
            return np.frombuffer(raw, DATATYPES[datatype]).reshape(tuple(shape))
        raise ValueError(f"output {name} has datatype {datatype}, which this client cannot read")

    async def infer_grpc(self, model: ModelSpec, batch: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], str]:
        request = self.messages.ModelInferRequest(model_name=model.name, model_version=model.version)
        for tensor in model.inputs:
            shape, raw = self.input_bytes(model, tensor, batch)
            request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=shape)
            request.raw_input_contents.append(raw)
        for name in model.outputs:
            request.outputs.add(name=name)
        response = await self.call("ModelInfer", request)
        if len(response.raw_output_contents) != len(response.outputs):
            raise ValueError(f"the answer has {len(response.outputs)} outputs and {len(response.raw_output_contents)} raw contents")
        arrays = {output.name: self.output_array(output.name, output.datatype, output.shape, raw)
                  for output, raw in zip(response.outputs, response.raw_output_contents)}  # fmt: skip
        return arrays, response.model_version

    async def infer_http(self, model: ModelSpec, batch: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], str]:
        inputs, raws = [], []
        for tensor in model.inputs:
            shape, raw = self.input_bytes(model, tensor, batch)
            inputs.append({"name": tensor.name, "shape": list(shape), "datatype": tensor.datatype, "parameters": {"binary_data_size": len(raw)}})
            raws.append(raw)
        outputs = [{"name": name, "parameters": {"binary_data": True}} for name in model.outputs]
        header = json.dumps({"inputs": inputs, "outputs": outputs}).encode()
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
        status, answer_headers, payload = await self.http.request("POST", self.model_path(model.name, model.version) + "/infer", headers, [header, *raws])
        if status != 200:
            raise self.http_error(status, payload)
        header_length = int(answer_headers.get("inference-header-content-length", len(payload)))
        answer = json.loads(payload[:header_length])
        binary, offset, arrays = memoryview(payload)[header_length:], 0, {}
        for output in answer.get("outputs", []):
            size = output.get("parameters", {}).get("binary_data_size")
            if size is None:  # every output is asked for as binary data; Triton always sends it so
                raise ValueError(f"output {output['name']} came back as JSON, not as the binary data asked for")
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise ValueError(f"the answer holds {len(binary)} bytes of binary data, not what its header says")
            arrays[output["name"]] = self.output_array(output["name"], output["datatype"], output["shape"], binary[offset : offset + size])
            offset += size
        if offset != len(binary):
            raise ValueError(f"the answer holds {len(binary)} bytes of binary data, not what its header says ({offset})")
        return arrays, answer.get("model_version", "")


def _jsonable(array: np.ndarray) -> Any:
    """An output as JSON: numbers as nested lists; BYTES as one flat list of strings (undecodable bytes replaced)."""
    if array.dtype == np.object_:
        return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in array.ravel().tolist()]
    return array.tolist()


def _jsonable_rows(array: np.ndarray, items: int) -> list:
    """_jsonable of each of the first `items` rows of a batched output, with one tolist for the whole array."""
    if len(array) < items:
        raise ValueError(f"the answer has {len(array)} rows for a request of {items} items")
    if array.dtype == np.object_:
        return [_jsonable(row) for row in array[:items]]
    return array[:items].tolist()


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


def pushgateway_problem(url: str) -> str | None:
    """What is wrong with a Pushgateway URL, or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as error:
        return str(error)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http:// or https:// URL with a host"
    return None


class Pusher:
    """Progress to a Pushgateway, off the event loop. Metrics never fail a run: a push that fails for any reason (no
    answer, an answer that is not HTTP, a malformed URL) is a warning, logged once per distinct reason."""

    def __init__(self, url: str, job: str, shard: int):
        self.url, self.job, self.shard = url, job, shard
        self.last_error: str | None = None
        problem = pushgateway_problem(url) if url else None
        if problem:
            log.warning("cannot push metrics to %s: %s; the run goes on without pushing", url, problem)
            self.url = ""

    async def push(self, metrics: dict[str, float]) -> None:
        if not self.url:
            return
        try:
            await asyncio.to_thread(push_metrics, self.url, self.job, self.shard, metrics)
        except Exception as error:  # noqa: BLE001 - http.client raises InvalidURL, BadStatusLine, ... besides OSError
            message = f"{type(error).__name__}: {error}"
            if message != self.last_error:
                log.warning("cannot push metrics to %s: %s (the run goes on; the same failure again is not logged)", self.url, message)
            self.last_error = message
        else:
            self.last_error = None


class Run:
    def __init__(self, args: argparse.Namespace, shard: int):
        self.args = args
        self.shard = shard
        self.shard_label = shard_name(shard, args.shards)
        # Unique per run, ordered by start time: part names, and this run's temp folder.
        self.run_id = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        self.part_number = 0
        self.stop = asyncio.Event()
        self.unavailable: ServerUnavailable | None = None
        self.failure: BaseException | None = None
        self.version_seen: set[str] = set()
        self.pusher = Pusher(args.pushgateway, args.metrics_job, shard)

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
            await asyncio.to_thread(self.output.write, name, lines)
            if kind == "results":
                self.own_parts.add(name)

    async def succeed(self, items: list[Item], outputs: list[dict], version: str, digests: list[str | None]) -> None:
        """Records one answered request's results (a record per item), then commits once if a commit is due."""
        model = self.model.name
        for item, item_outputs, digest in zip(items, outputs, digests):
            self.record("results", {"id": item.id, "model": model, "model_version": version, "input_sha256": digest, "outputs": item_outputs})
            self.sent_ids.add(item.id)
        self.progress.done += len(items)
        await self.commit()

    async def fail(self, item: Item, reason: str, attempts: int) -> None:
        log.warning("item %s failed: %s", printable(item.id), reason)
        self.record("failures", {"id": item.id, "source": item.source, "reason": reason, "attempts": attempts})
        self.progress.failed += 1
        await self.commit()

    def read_parts(self, kind: str, select: Callable[[str], bool] = lambda name: True) -> Iterator[tuple[list[bytes], list[dict]]]:
        """(lines, records) of every committed part of this shard whose name `select` accepts, oldest first, one part
        at a time: its JSON lines and each parsed. A local part that does not parse (a node crash after the rename,
        before the page cache reached the disk) is removed: its items are done again."""
        for name in self.output.list(f"{PART_DIRS[kind]}/{self.shard_label}"):
            if not select(name):
                continue
            try:
                lines = [line for line in self.output.read(name).splitlines() if line.strip()]
                records = [json.loads(line) for line in lines]
                if not records or not all(isinstance(r, dict) and "id" in r for r in records):
                    raise ValueError("empty or cut")
            except ValueError:
                log.warning("%s is not whole (a node crash?); its items are sent again", name)
                self.output.delete(name)
                continue
            yield lines, records

    def result_key(self, record: dict) -> tuple[str, str | None]:
        """What a result answers: its id, and for JSON Lines the hash of the line it was computed from, so that a
        line whose content changed is sent again. An image counts by its id alone (re-reading every image at each
        resume would double the reads): write a changed image under a new name, or remove its result."""
        return record["id"], record.get("input_sha256") if self.args.input_format == "jsonl" else None

    # --- requests ---

    def load(self, item: Item) -> tuple[dict[str, np.ndarray], str]:
        """The item's tensors, and the sha256 of the bytes they come from."""
        if item.digest is not None:  # a JSON line: read back from where the listing saw it
            try:
                line = self.reader.read_range(item.name, item.offset, item.length)
            except OSError as error:
                raise RetryableError(f"cannot read {item.source} again: {error}") from error
            if hashlib.sha256(line).hexdigest() != item.digest:
                raise RetryableError(f"{item.source} changed after the input was listed; a new run lists it again")
            return self.decoder.decode(line), item.digest
        try:
            data = self.reader.read(item.name, self.decoder.max_file_bytes)
        except OSError as error:
            raise ItemError(f"cannot read {item.source}: {error.strerror or error}") from None
        return self.decoder.decode(data), hashlib.sha256(data).hexdigest()

    def load_chunk(self, chunk: list[Item]) -> list[tuple[Item, dict[str, np.ndarray] | None, str | None, ItemError | None]]:
        """(item, tensors, sha256, None) or (item, None, None, why) for each item of `chunk`, in order; runs in a thread
        and stops early (the rest left out) once the run is stopping."""
        loaded = []
        for item in chunk:
            if self.stop.is_set():  # a plain flag read: safe from this thread
                break
            try:
                loaded.append((item, *self.load(item), None))
            except ItemError as error:
                loaded.append((item, None, None, error))
        return loaded

    async def pause(self, seconds: float) -> None:
        """Sleeps, or less when the run is stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def send(self, items: list[Item], arrays: list[dict], digests: list[str]) -> None:
        """One request for `items`, retried; a batch that fails for good is split so one bad item fails alone. Once
        the run is stopping (SIGTERM, or the server gone), no attempt starts: the items keep no record, and the
        next run sends them."""
        delay = self.args.retry_initial_seconds
        for attempt in range(1, self.args.max_retries + 2):
            if self.stop.is_set():
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
                        for item, array, digest in zip(items, arrays, digests):
                            await self.send([item], [array], [digest])
                        return
                    await self.fail(items[0], describe_error(error), attempt)
                    return
                await self.pause(min(delay, self.args.retry_max_seconds) * random.uniform(0.5, 1.0))
                delay *= 2
                continue
            self.version_seen.add(version)
            await self.succeed(items, outputs, version, digests)
            return

    async def decode_ahead(self, chunks: asyncio.Queue, requests: asyncio.Queue, space: asyncio.Event) -> None:
        """Reads and decodes chunks ahead of the senders, so that --concurrency requests stay in flight while the next
        ones are decoded, and queues each chunk's items as one request per shape (a batch stacks equal shapes only).
        One thread hop per chunk, not per item: on a small CPU the hand-offs cost as much as decoding a small image.
        Each of the --decode-concurrency decoders decodes one item at a time."""
        with self.stopping_on_error():
            await self._decode_ahead(chunks, requests, space)

    async def _decode_ahead(self, chunks: asyncio.Queue, requests: asyncio.Queue, space: asyncio.Event) -> None:
        # Requests decoded ahead (queued, or being decoded) stay under --decode-concurrency chunks, so that each
        # decoder can work while the queue is empty and at most one chunk more is held: (decoders + 1) chunks.
        limit = self.args.decode_concurrency * self.queued_requests
        while not self.stop.is_set():
            while requests.qsize() + self.decoding >= limit and not self.stop.is_set():
                space.clear()
                await space.wait()  # set by a sender taking a request, or by the stop
            try:
                chunk = chunks.get_nowait()
            except asyncio.QueueEmpty:
                return
            self.decoding += self.queued_requests
            try:
                decoded = await asyncio.to_thread(self.load_chunk, chunk)
            finally:
                self.decoding -= self.queued_requests
            loaded: dict[tuple, tuple[list[Item], list[dict], list[str]]] = {}
            for item, arrays, digest, error in decoded:
                if self.stop.is_set():
                    return  # what is left of the chunk has no record: the next run sends it
                if error is not None:
                    await self.fail(item, str(error), 0)
                    continue
                shape = tuple((name, a.shape) for name, a in sorted(arrays.items()))
                group = loaded.setdefault(shape, ([], [], []))
                group[0].append(item)
                group[1].append(arrays)
                group[2].append(digest)
            size = self.args.batch_size
            for items, arrays, digests in loaded.values():
                for start in range(0, len(items), size):
                    requests.put_nowait((items[start : start + size], arrays[start : start + size], digests[start : start + size]))

    async def send_decoded(self, requests: asyncio.Queue, space: asyncio.Event) -> None:
        """Sends decoded requests until the decoders are done or the run stops (None); a request still queued then
        has no record, and the next run sends it. A request in flight at the stop finishes and is recorded."""
        with self.stopping_on_error():
            while not self.stop.is_set():
                group = await requests.get()
                space.set()
                if group is None:
                    return
                await self.send(*group)

    @contextlib.contextmanager
    def stopping_on_error(self) -> Iterator[None]:
        """A decoder or sender that fails (a commit that cannot write, an input changed under the run) stops the run,
        so that the others stop too (none waits for the failed one) and the error reaches _execute."""
        try:
            yield
        except Exception:
            self.stop.set()
            raise

    async def pipeline(self, chunks: asyncio.Queue) -> None:
        """Decoders feed senders through a queue of decoded requests. Decoded tensors held: the requests in flight
        (--concurrency x --batch-size items) and at most --decode-concurrency + 1 chunks decoded ahead (a chunk is
        DECODE_CHUNK_ITEMS items, or one request where that is larger). A failed decoder or sender stops the run."""
        self.decoding = 0
        requests: asyncio.Queue = asyncio.Queue()
        space = asyncio.Event()
        senders = [asyncio.create_task(self.send_decoded(requests, space)) for _ in range(self.args.concurrency)]
        decoders = [asyncio.create_task(self.decode_ahead(chunks, requests, space)) for _ in range(self.args.decode_concurrency)]

        async def wake_at_the_stop() -> None:
            await self.stop.wait()
            space.set()
            for _ in senders:
                requests.put_nowait(None)

        waker = asyncio.create_task(wake_at_the_stop())
        try:
            await asyncio.gather(*decoders)
            for _ in senders:
                requests.put_nowait(None)
            await asyncio.gather(*senders)
        finally:
            for task in (*decoders, *senders, waker):
                task.cancel()
            await asyncio.gather(*decoders, *senders, waker, return_exceptions=True)

    async def report(self) -> None:
        """Progress every --progress-interval-seconds; between lines, commits a buffer that has waited long enough
        A commit that fails stops the run (and is raised by _execute)."""
        tick = min(self.args.progress_interval_seconds, self.args.commit_seconds, HEARTBEAT_SECONDS)
        last = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self.stop.wait(), tick)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.commit()
            except Exception as error:  # noqa: BLE001 - raised again by _execute, after the workers stop
                self.failure = error
                self.stop.set()
                return
            if time.monotonic() - last >= self.args.progress_interval_seconds:
                last = time.monotonic()
                log.info(self.progress.line(self.shard_label))
                await self.pusher.push(self.progress.metrics())

    async def heartbeat(self) -> None:
        """Marks this run's temp folder as in use until the run ends (see LocalStore.begin)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await asyncio.to_thread(self.output.heartbeat)

    # --- the whole shard ---

    def shard_items(self) -> tuple[list[Item], int]:
        """This shard's items, sorted by id, and the number of items in the whole input. Streams the input once,
        keeping this shard's items and 8 bytes of every id's hash; a repeated hash is looked at again by name."""
        hashes = compact_array("Q")
        mine = []
        for item in list_items(self.input, self.args.input_format, self.args.max_line_bytes):
            hashes.append(id_hash(item.id))
            if shard_of(item.id, self.args.shards) == self.shard:
                mine.append(item)
        ordered = np.sort(np.frombuffer(hashes, dtype=np.uint64)) if len(hashes) else np.empty(0, dtype=np.uint64)
        repeated = set(np.unique(ordered[1:][ordered[1:] == ordered[:-1]]).tolist())
        if repeated:
            first: dict[str, str] = {}
            for item in list_items(self.input, self.args.input_format, self.args.max_line_bytes):
                if id_hash(item.id) in repeated:
                    if item.id in first:
                        raise UsageError(f"--input {self.input.describe()}: item id {printable(item.id)!r} occurs more than once "
                                         f"({printable(first[item.id])} and {printable(item.source)}); ids must be unique, and are "
                                         'compared as strings (1 and "1" are the same id)')
                    first[item.id] = item.source
            # Only different ids whose hashes collide: no duplicate.
        mine.sort(key=lambda item: item.id)
        return mine, len(hashes)

    async def prepare(self) -> list[Item]:
        """Everything that can refuse the run, before anything is written: the input, the output, the server, the model."""
        args = self.args
        self.input = open_store(args.input, "input")
        self.output = open_store(args.output, "output")
        input_kind = self.input.kind()
        if args.input_format == "images" and input_kind == "file":
            raise UsageError(f"--input {self.input.describe()} is one file; images are read from a directory (or prefix) of image files")
        if self.output.kind() == "file":
            raise UsageError(f"--output {self.output.describe()} is a file; results are written under a directory (or prefix): "
                             "name one, or move the file away")
        # Items are read from where they were listed: a single local file's folder, else the input itself.
        self.reader = LocalStore(self.input.base.parent) if input_kind == "file" and isinstance(self.input, LocalStore) else self.input
        items, self.input_items = await asyncio.to_thread(self.shard_items)
        if not self.input_items:
            suffixes = IMAGE_SUFFIXES if args.input_format == "images" else JSONL_SUFFIXES
            raise UsageError(f"--input {self.input.describe()} holds no {args.input_format} items ({', '.join(suffixes)})")
        self.triton = Triton(args.url, args.protocol, args.request_timeout_seconds)
        deadline = time.monotonic() + args.wait_ready_seconds
        warn_at = time.monotonic()
        while (why := await self.triton.ready()) is not None:
            now = time.monotonic()
            if now >= deadline:
                raise ServerUnavailable(f"{args.protocol} {args.url} was not ready within {args.wait_ready_seconds:.0f}s: {why}")
            if now >= warn_at:
                log.warning("waiting up to %.0fs more for %s %s to be ready: %s", deadline - now, args.protocol, args.url, why)
                warn_at = now + READY_WARNING_SECONDS
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
        if args.input_format == "images":
            self.decoder = ImageDecoder(self.model, args.image_scale, args.max_image_pixels)
        else:
            self.decoder = JsonLinesDecoder(self.model)
        return items

    async def execute(self) -> int:
        self.triton = None
        try:
            items = await self.prepare()
            self.output.begin(self.shard_label, self.run_id)
            heartbeat = asyncio.create_task(self.heartbeat())
            try:
                return await self._execute(items)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                self.output.end()
        finally:
            if self.triton is not None:
                await self.triton.close()

    async def _execute(self, items: list[Item]) -> int:
        args = self.args
        self.buffers = {"results": [], "failures": []}
        self.own_parts: set[str] = set()  # this run's committed results parts, and the ids they answer
        self.sent_ids: set[str] = set()
        self.committed_at = time.monotonic()
        done_keys = {self.result_key(record) for _, records in self.read_parts("results") for record in records}
        pending = [item for item in items if (item.id, item.digest) not in done_keys]
        self.progress = Progress(total=len(items), already_done=len(items) - len(pending))
        log.info("%s: %d items (of %d in the input's %d shards), %d already done, %d to send to %s %s over %s, "
                 "%d in flight, %d per request", self.shard_label, len(items), self.input_items, args.shards,
                 self.progress.already_done, len(pending), args.model, self.model.version or "latest", args.protocol,
                 args.concurrency, args.batch_size)
        # Decoded a chunk at a time (one thread hop each), a whole number of requests per chunk.
        self.queued_requests = max(1, DECODE_CHUNK_ITEMS // args.batch_size)
        chunk_items = args.batch_size * self.queued_requests
        queue: asyncio.Queue = asyncio.Queue()
        for start in range(0, len(pending), chunk_items):
            queue.put_nowait(pending[start : start + chunk_items])
        loop = asyncio.get_running_loop()
        terminated = asyncio.Event()

        def on_sigterm() -> None:
            log.warning("SIGTERM: no new request starts; the requests in flight finish and their results are committed; a re-run resumes")
            terminated.set()
            self.stop.set()

        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        reporter = asyncio.create_task(self.report())
        work = asyncio.create_task(self.pipeline(queue))
        try:
            await work
        finally:
            self.stop.set()
            work.cancel()
            await asyncio.gather(work, reporter, return_exceptions=True)
        if self.failure is not None:
            raise self.failure
        await self.commit(force=True)
        log.info(self.progress.line(self.shard_label))
        if self.unavailable is not None:
            await self.pusher.push(self.progress.metrics())
            log.error("%s: the server is unavailable: %s. %d results kept; a retry of this shard resumes.",
                      self.shard_label, self.unavailable, self.progress.already_done + self.progress.done)
            return EXIT_UNAVAILABLE
        if terminated.is_set():
            return EXIT_TERMINATED
        code = await asyncio.to_thread(self.finish, items)
        await self.pusher.push(self.progress.metrics())
        return code

    def finish(self, items: list[Item]) -> int:
        """The shard's results and failures as JSON Lines (one line per item: its result, or its latest failure
        when it has none), then its manifest."""
        base = f"shards/{self.shard_label}"
        wanted = {item.id: item.digest for item in items}
        latest_failure: dict[str, bytes] = {}
        for _, records in self.read_parts("failures"):
            for record in records:
                latest_failure[record["id"]] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        succeeded_ids: set[str] = set()
        versions: set[str] = set()  # of the results in the shard file: those parsed, and this run's (version_seen)

        def results() -> Iterator[bytes]:  # streamed a part at a time, each read (and parsed) once
            def parsed(select: Callable[[str], bool]) -> Iterator[bytes]:
                for lines, records in self.read_parts("results", select):
                    for line, record in zip(lines, records):
                        record_id, digest = self.result_key(record)
                        if record_id in wanted and record_id not in succeeded_ids and digest == wanted[record_id]:
                            succeeded_ids.add(record_id)
                            versions.add(str(record.get("model_version", "")))
                            yield line + b"\n"

            # Earlier runs' parts first, then this run's. This run's hold only items it found undone, each once,
            # from this input: they are copied whole, unparsed, unless a part of another run answered one of them
            # too (two runs of one shard at once), and then parsed like the others.
            yield from parsed(lambda name: name not in self.own_parts)
            if self.sent_ids.isdisjoint(succeeded_ids):
                succeeded_ids.update(self.sent_ids)
                versions.update(self.version_seen)
                for name in sorted(self.own_parts):
                    yield self.output.read(name)
            else:
                yield from parsed(self.own_parts.__contains__)

        self.output.write(f"{base}.results.jsonl", results())
        failed = {item_id: line for item_id, line in latest_failure.items() if item_id in wanted and item_id not in succeeded_ids}
        self.output.write(f"{base}.failures.jsonl", [failed[item_id] for item_id in sorted(failed)])
        manifest = {
            "shard": self.shard, "shards": self.args.shards, "model": self.model.name,
            "model_versions": sorted(versions),
            "input": self.input.describe(), "input_format": self.args.input_format, "output": self.output.describe(),
            "items": len(items), "succeeded": len(succeeded_ids), "failed": len(failed),
            "sent_this_run": self.progress.done + self.progress.failed, "already_done": self.progress.already_done,
            "results": f"{base}.results.jsonl", "failures": f"{base}.failures.jsonl", "run": self.run_id,
            "elapsed_seconds": round(time.monotonic() - self.progress.started, 3), "client_version": VERSION,
        }  # fmt: skip
        self.output.write(f"{base}.manifest.json", [json.dumps(manifest, indent=2).encode() + b"\n"])
        log.info("%s finished: %d succeeded, %d failed; %s.results.jsonl, %s.failures.jsonl, %s.manifest.json under %s",
                 self.shard_label, len(succeeded_ids), len(failed), base, base, base, self.output.describe())
        return EXIT_ITEMS_FAILED if failed else EXIT_OK


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--url", required=True, help="host:port of Triton's gRPC or HTTP listener")
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http")
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
    parser.add_argument("--decode-concurrency", type=int, default=2, help="items read and decoded at once")
    parser.add_argument("--max-image-pixels", type=int, default=32_000_000,
                        help=f"largest image (width x height) decoded; one decode holds up to {DECODE_BYTES_PER_PIXEL} bytes a pixel")
    parser.add_argument("--max-line-bytes", type=int, default=32_000_000,
                        help=f"longest JSON line read; parsing one holds up to {DECODE_BYTES_PER_LINE_BYTE} times its bytes (floats as Python objects)")
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
    try:
        host_and_port(args.url)
    except ValueError as error:
        parser.error(str(error))
    checks = [
        (args.shards >= 1, f"--shards {args.shards}: at least 1"),
        (0 <= args.shard_index < args.shards, f"shard index {args.shard_index} is out of range for --shards {args.shards} (0 to {args.shards - 1}): "
                                              "the Job's completions and the client's --shards must be the same"),
        (args.concurrency >= 1, f"--concurrency {args.concurrency}: at least 1"),
        (args.batch_size >= 0, f"--batch-size {args.batch_size}: 0 (the model's maximum) or more"),
        (args.max_retries >= 0, f"--max-retries {args.max_retries}: 0 or more"),
        (args.decode_concurrency >= 1, f"--decode-concurrency {args.decode_concurrency}: at least 1"),
        (args.max_image_pixels >= 1, f"--max-image-pixels {args.max_image_pixels}: at least 1"),
        (args.max_line_bytes >= 1, f"--max-line-bytes {args.max_line_bytes}: at least 1"),
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
    with contextlib.suppress(AttributeError, ValueError):  # a non-UTF-8 file name in a log line never stops the run
        sys.stdout.reconfigure(errors="backslashreplace")
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
    except RetryableError as error:
        log.error("%s; results committed so far are kept, and a retry of this shard resumes (exit %d)", error, EXIT_RETRY)
        return EXIT_RETRY
    except Exception:  # noqa: BLE001 - exit 1 means items that failed for good, never a crash
        log.exception("unexpected error; results committed so far are kept, and a retry of this shard resumes (exit %d)", EXIT_RETRY)
        return EXIT_RETRY


if __name__ == "__main__":
    sys.exit(main())
