"""What the Triton load profiles compute, without Locust: load shapes, KServe v2 requests and answers, SLO gates.

Standard library only, on purpose: the in-cluster run uses the official `locustio/locust` image, which has
neither numpy nor tritonclient, so the HTTP user must build and check requests with nothing else. The locustfile
beside this file imports it; the tests import it directly (no gevent monkey-patching in the test process).

Sources of the facts used here:
- KServe v2 inference protocol and Triton's binary tensor extension: triton-inference-server/server
  `docs/protocol/extension_binary_data.md` (the `Inference-Header-Content-Length` header, `binary_data_size`,
  BYTES elements as a 4-byte little-endian length then the bytes) and `extension_classification.md` (output
  parameter `classification: k` returns "<score>:<index>[:<label>]" strings, the label from the output's
  `label_filename` in the model config).
- Datatype sizes and struct formats: `docs/user_guide/model_configuration.md` (datatypes table).
"""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

LABELLED_IMAGES_FILE = "labelled-images.json"
BINARY_HEADER = "Inference-Header-Content-Length"

# --- load shapes -----------------------------------------------------------------------------------------

SHAPES = ("step", "spike", "soak", "diurnal")
# Seconds a shape runs when the command line gives no --run-time.
DEFAULT_DURATION_S = {"step": 60.0, "spike": 60.0, "soak": 1800.0, "diurnal": 240.0}
DEFAULT_PEAK_USERS = 8
# A working day of inference traffic as a fraction of its peak, hour by hour from midnight: night trough at
# 03:00-04:00, morning rise, plateau through the afternoon with the peak at 15:00, evening decline. It is the
# curve the diurnal shape replays, compressed so that one day lasts the run (--run-time).
DIURNAL_HOURS = (
    0.30, 0.22, 0.18, 0.15, 0.15, 0.18, 0.28, 0.45, 0.65, 0.80, 0.88, 0.92,
    0.90, 0.92, 0.95, 1.00, 0.97, 0.90, 0.82, 0.78, 0.75, 0.65, 0.50, 0.38,
)  # fmt: skip


class ShapeError(ValueError):
    """A load-shape parameter is out of range; the message names the command-line option."""


@dataclass(frozen=True)
class ShapeSettings:
    """Parameters of the load shapes. Users are concurrent Locust users; times are seconds."""

    peak_users: int = DEFAULT_PEAK_USERS
    duration_s: float = 60.0
    step_count: int = 4
    spike_base_fraction: float = 0.25
    spike_count: int = 1
    spike_fraction: float = 0.2
    diurnal_hours: tuple[float, ...] = DIURNAL_HOURS

    def __post_init__(self) -> None:
        checks = (
            ("--users", self.peak_users, self.peak_users >= 1, "1 or more"),
            ("--run-time", self.duration_s, self.duration_s > 0, "above 0 s: a run needs a length"),
            ("--step-count", self.step_count, self.step_count >= 1, "1 or more"),
            ("--spike-base-fraction", self.spike_base_fraction, 0 <= self.spike_base_fraction <= 1, "from 0 to 1"),
            ("--spike-count", self.spike_count, self.spike_count >= 1, "1 or more"),
            ("--spike-fraction", self.spike_fraction, 0 < self.spike_fraction < 1, "above 0 and below 1"),
        )
        wrong = [f"{option} {value:g}: {allowed}" for option, value, ok, allowed in checks if not (ok and math.isfinite(value))]
        if len(self.diurnal_hours) != 24 or not all(0 <= h <= 1 for h in self.diurnal_hours):
            wrong.append("--diurnal-hours: 24 fractions from 0 to 1, one per hour from midnight")
        if wrong:
            raise ShapeError("load shape settings out of range: " + "; ".join(wrong))


# The shape is looked at once a second (Locust's shape loop): a burst shorter than this can fall between two looks.
SHORTEST_SPIKE_S = 2.0


def check_run(shape: str, settings: ShapeSettings, slo: "Slo", user_rps: float, request_timeout_s: float) -> None:
    """Settings that would judge nothing, or not what they say, refused before the run starts (ShapeError, exit 2):
    an SLO limit out of range, spike bursts too short to be seen, a stall window shorter than one user's pacing."""
    wrong = []
    for option, value in (("--slo-p95-ms", slo.p95_ms), ("--slo-p99-ms", slo.p99_ms)):
        if not (math.isfinite(value) and value >= 0):
            wrong.append(f"{option} {value:g}: 0 or more (0 turns that gate off)")
    if not (math.isfinite(slo.max_failure_ratio) and 0 <= slo.max_failure_ratio <= 1):
        wrong.append(f"--slo-failure-ratio {slo.max_failure_ratio:g}: from 0 to 1")
    if not (math.isfinite(slo.stall_s) and slo.stall_s >= 0):
        wrong.append(f"--slo-stall-s {slo.stall_s:g}: 0 or more (0 turns that gate off)")
    if not (math.isfinite(request_timeout_s) and request_timeout_s >= 0):
        wrong.append(f"--request-timeout-s {request_timeout_s:g}: 0 or more (0 derives it from --slo-p99-ms)")
    if not (math.isfinite(user_rps) and user_rps >= 0):
        wrong.append(f"--user-rps {user_rps:g}: 0 or more (0 sends back to back)")
    if shape == "spike":
        burst = settings.duration_s / settings.spike_count * settings.spike_fraction
        if burst < SHORTEST_SPIKE_S:
            wrong.append(f"spike bursts would last {burst:g} s (--run-time {settings.duration_s:g} s / --spike-count "
                         f"{settings.spike_count} x --spike-fraction {settings.spike_fraction:g}); the shape is looked at once a "
                         f"second, so a burst under {SHORTEST_SPIKE_S:g} s can be missed: lengthen the run or raise --spike-fraction")
    if slo.stall_s > 0 and user_rps > 0 and 1 / user_rps >= slo.stall_s:
        wrong.append(f"--slo-stall-s {slo.stall_s:g} is not above the pause between one user's requests (--user-rps {user_rps:g}: "
                     f"{1 / user_rps:g} s), so a quiet moment with one user would fail the run; raise it, or turn the gate off with 0")
    if wrong:
        raise ShapeError("; ".join(wrong))


def users_at(shape: str, elapsed_s: float, settings: ShapeSettings) -> int | None:
    """Concurrent users the shape wants `elapsed_s` seconds into the run; None once it is over.

    - step: `step_count` equal steps up to the peak, each held duration/step_count seconds.
    - spike: the run is cut into `spike_count` periods; each holds the base (spike_base_fraction of the peak,
      at least 1) except for a burst to the peak over the middle `spike_fraction` of the period.
    - soak: the peak, for the whole run (hours, in practice).
    - diurnal: `diurnal_hours` (24 fractions of the peak, from midnight) compressed into the run, linear
      between hours, at least 1 user.
    Raises ShapeError for an unknown shape.
    """
    if elapsed_s >= settings.duration_s:
        return None
    peak = settings.peak_users
    if shape == "step":
        step = int(elapsed_s / (settings.duration_s / settings.step_count))
        return max(1, math.ceil(peak * (step + 1) / settings.step_count))
    if shape == "spike":
        period = settings.duration_s / settings.spike_count
        position = (elapsed_s % period) / period
        half = settings.spike_fraction / 2
        if 0.5 - half <= position < 0.5 + half:
            return peak
        return max(1, math.ceil(peak * settings.spike_base_fraction))
    if shape == "soak":
        return peak
    if shape == "diurnal":
        hour = elapsed_s / settings.duration_s * 24
        below = int(hour)
        fraction = settings.diurnal_hours[below] + (settings.diurnal_hours[(below + 1) % 24] - settings.diurnal_hours[below]) * (hour - below)
        return max(1, round(peak * fraction))
    raise ShapeError(f"unknown --shape {shape!r}; choose one of {', '.join(SHAPES)}")


def parse_hours(text: str) -> tuple[float, ...]:
    """--diurnal-hours: 24 comma-separated fractions of the peak, from midnight."""
    try:
        hours = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ShapeError(f"--diurnal-hours {text!r}: expected 24 comma-separated numbers from 0 to 1") from None
    if len(hours) != 24:
        raise ShapeError(f"--diurnal-hours has {len(hours)} values; it needs 24, one per hour from midnight")
    return hours


# --- the model, from its own metadata and config ------------------------------------------------------------

# KServe v2 datatype -> struct format of one element (little-endian when packed).
STRUCT_FORMATS = {
    "BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q",
    "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q", "FP16": "e", "FP32": "f", "FP64": "d",
}  # fmt: skip


class ModelError(ValueError):
    """The model cannot be loaded with the chosen payload; the message says why and what to choose instead."""


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    # Per item, without the batch dimension when the model batches; -1 marks a variable dimension.
    dims: tuple[int, ...]

    @property
    def elements(self) -> int:
        return math.prod(self.dims)


@dataclass(frozen=True)
class ModelSpec:
    """A served model as its metadata (`GET /v2/models/<name>`) and config (`.../config`) describe it."""

    name: str
    max_batch_size: int
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    # The output whose config has a label_filename: classification results carry class names.
    labelled_output: str | None

    def request_shape(self, tensor: Tensor, batch_size: int) -> list[int]:
        return [batch_size, *tensor.dims] if self.max_batch_size > 0 else list(tensor.dims)


def model_spec(metadata: Mapping, config: Mapping, batch_size: int = 1) -> ModelSpec:
    """Build a ModelSpec from the JSON of the metadata and config endpoints (HTTP), or tritonclient.grpc's
    `as_json=True` answers (shapes as strings, the config under "config"). Raises ModelError when the model
    cannot take `batch_size` items per request."""
    config = config.get("config", config)
    max_batch = int(config.get("max_batch_size", 0))
    if batch_size < 1 or (max_batch == 0 and batch_size != 1) or (max_batch > 0 and batch_size > max_batch):
        raise ModelError(f"--batch-size {batch_size}: model {metadata.get('name')} takes 1 to {max(max_batch, 1)} items per request")

    def tensors(entries: Iterable[Mapping]) -> tuple[Tensor, ...]:
        found = []
        for entry in entries:
            shape = tuple(int(d) for d in entry["shape"])
            found.append(Tensor(entry["name"], entry["datatype"], shape[1:] if max_batch > 0 else shape))
        return tuple(found)

    labelled = [output["name"] for output in config.get("output", []) if output.get("label_filename")]
    return ModelSpec(
        name=metadata["name"],
        max_batch_size=max_batch,
        inputs=tensors(metadata.get("inputs", [])),
        outputs=tensors(metadata.get("outputs", [])),
        labelled_output=labelled[0] if labelled else None,
    )


# --- payloads ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledImages:
    """Images with a known class (models/synthetic_patterns.py), stored as 8-bit pixels; see the file's source."""

    dims: tuple[int, ...]
    scale: float
    classes: tuple[str, ...]
    pixels: tuple[bytes, ...]

    def values(self, index: int) -> list[float]:
        """The image as float values in [0, 1], channels first (what the model takes)."""
        return [value / self.scale for value in self.pixels[index]]


def load_labelled_images(path: Path) -> LabelledImages:
    data = json.loads(Path(path).read_text())
    return LabelledImages(
        dims=tuple(data["dims"]),
        scale=float(data["scale"]),
        classes=tuple(image["class"] for image in data["images"]),
        pixels=tuple(base64.b64decode(image["pixels"]) for image in data["images"]),
    )


@dataclass(frozen=True)
class Payload:
    """One prepared request: the values of each input (flat, row-major) and the classes a right answer names."""

    inputs: tuple[tuple[Tensor, list[int], list], ...]  # (tensor, request shape, flat values)
    expected: tuple[str, ...] | None  # class per item; None: the answer is not checked beyond its status


def labelled_payloads(spec: ModelSpec, images: LabelledImages, batch_size: int) -> list[Payload]:
    """Requests of `batch_size` labelled images each, cycling through the images. Raises ModelError when the
    model does not take one FP32 input of the images' shape or has no labelled (classification) output."""
    if len(spec.inputs) != 1 or spec.inputs[0].datatype != "FP32" or spec.inputs[0].dims != images.dims:
        raise ModelError(
            f"--payload labelled sends FP32 images of shape {list(images.dims)}, but model {spec.name} takes "
            f"{[(t.name, t.datatype, list(t.dims)) for t in spec.inputs]}; use --payload random"
        )
    if spec.labelled_output is None:
        raise ModelError(
            f"model {spec.name} has no output with a label_filename in its config, so its answers cannot be checked "
            "against known classes; use --payload random (checks the status only)"
        )
    tensor = spec.inputs[0]
    count = len(images.classes)
    payloads = []
    for start in range(0, count, batch_size):
        chosen = [(start + offset) % count for offset in range(batch_size)]
        values = [value for index in chosen for value in images.values(index)]
        payloads.append(Payload(((tensor, spec.request_shape(tensor, batch_size), values),), tuple(images.classes[i] for i in chosen)))
    return payloads


def random_payloads(spec: ModelSpec, batch_size: int, count: int = 16, seed: int = 0) -> list[Payload]:
    """Requests of uniform random values for every input of the model (floats in [0, 1), integers 0-99).
    Raises ModelError for BYTES inputs or variable dimensions, which metadata alone cannot fill."""
    rng = random.Random(seed)
    payloads = []
    for _ in range(count):
        inputs = []
        for tensor in spec.inputs:
            if tensor.datatype not in STRUCT_FORMATS or any(d < 0 for d in tensor.dims):
                raise ModelError(f"--payload random cannot fill input {tensor.name} ({tensor.datatype} {list(tensor.dims)}) of {spec.name}")
            shape = spec.request_shape(tensor, batch_size)
            elements = math.prod(shape)
            if tensor.datatype.startswith("FP"):
                values = [rng.random() for _ in range(elements)]
            elif tensor.datatype == "BOOL":
                values = [rng.random() < 0.5 for _ in range(elements)]
            else:
                values = [rng.randrange(100) for _ in range(elements)]
            inputs.append((tensor, shape, values))
        payloads.append(Payload(tuple(inputs), None))
    return payloads


# --- HTTP: KServe v2 JSON and the binary tensor extension ------------------------------------------------------


def requested_outputs(spec: ModelSpec, payload: Payload) -> list[dict]:
    """The outputs a request asks for: the top class of the labelled output when the answer is checked, else all."""
    if payload.expected is not None:
        return [{"name": spec.labelled_output, "parameters": {"classification": 1}}]
    return [{"name": output.name} for output in spec.outputs]


def http_json_body(spec: ModelSpec, payload: Payload) -> bytes:
    """A KServe v2 JSON inference request (`POST /v2/models/<name>/infer`, Content-Type application/json)."""
    inputs = [{"name": t.name, "shape": shape, "datatype": t.datatype, "data": values} for t, shape, values in payload.inputs]
    return json.dumps({"inputs": inputs, "outputs": requested_outputs(spec, payload)}, separators=(",", ":")).encode()


def http_binary_body(spec: ModelSpec, payload: Payload) -> tuple[bytes, int]:
    """A request in the binary tensor extension: JSON header, then each input's raw little-endian bytes.
    Returns the body and the header length to send as `Inference-Header-Content-Length`."""
    inputs, blobs = [], []
    for tensor, shape, values in payload.inputs:
        blob = struct.pack(f"<{len(values)}{STRUCT_FORMATS[tensor.datatype]}", *values)
        inputs.append({"name": tensor.name, "shape": shape, "datatype": tensor.datatype, "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    outputs = [{**output, "parameters": {**output.get("parameters", {}), "binary_data": True}} for output in requested_outputs(spec, payload)]
    header = json.dumps({"inputs": inputs, "outputs": outputs}, separators=(",", ":")).encode()
    return header + b"".join(blobs), len(header)


def parse_http_response(body: bytes, header_length: int | None) -> dict[str, list]:
    """Output name -> flat values of a KServe v2 response, JSON or binary (when `header_length` is given).
    BYTES values come back as str. Raises ValueError on a malformed body."""
    header = json.loads(body[:header_length] if header_length is not None else body)
    outputs, offset = {}, header_length or 0
    for output in header.get("outputs", []):
        size = output.get("parameters", {}).get("binary_data_size")
        if size is None:
            outputs[output["name"]] = output["data"]
            continue
        outputs[output["name"]] = unpack_tensor(output["datatype"], body[offset : offset + size])
        offset += size
    return outputs


def unpack_tensor(datatype: str, blob: bytes) -> list:
    """The flat values of one tensor's raw bytes: little-endian numbers, or BYTES as str (each a 4-byte length, then
    the bytes), as the binary tensor extension and gRPC's raw_output_contents carry them. ValueError when the bytes
    do not divide into values (or BYTES into whole, UTF-8 strings); KeyError for an unknown datatype."""
    try:
        if datatype == "BYTES":
            return _unpack_bytes(blob)
        fmt = STRUCT_FORMATS[datatype]
        return list(struct.unpack(f"<{len(blob) // struct.calcsize(fmt)}{fmt}", blob))
    except struct.error as error:
        raise ValueError(f"{datatype} tensor of {len(blob)} bytes: {error}") from None


def _unpack_bytes(blob: bytes) -> list[str]:
    values, offset = [], 0
    while offset < len(blob):
        (length,) = struct.unpack_from("<I", blob, offset)
        if offset + 4 + length > len(blob):
            raise ValueError(f"BYTES element of {length} bytes at offset {offset} runs past the {len(blob)}-byte tensor")
        values.append(blob[offset + 4 : offset + 4 + length].decode())
        offset += 4 + length
    return values


def check_answer(spec: ModelSpec, payload: Payload, outputs: Mapping[str, Sequence]) -> str | None:
    """None when the answer is right, else what was wrong (the failure message Locust records).

    A labelled payload is right when each item's top class names the class drawn in that image; the
    classification strings are "<score>:<index>:<label>". Otherwise every requested output must be present.
    """
    if payload.expected is None:
        missing = [o.name for o in spec.outputs if o.name not in outputs]
        return f"outputs missing from the answer: {missing}" if missing else None
    returned = outputs.get(spec.labelled_output)
    if returned is None:
        return f"output {spec.labelled_output} missing from the answer"
    classes = [str(value.decode() if isinstance(value, bytes) else value).split(":", 2)[-1] for value in returned]
    if len(classes) != len(payload.expected):
        return f"{len(classes)} classes for {len(payload.expected)} items"
    wrong = [f"item {i}: expected {want}, got {got}" for i, (want, got) in enumerate(zip(payload.expected, classes)) if want != got]
    return ("wrong class: " + "; ".join(wrong)) if wrong else None


# --- SLO gates -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slo:
    """Latency limits in ms (0 turns a gate off) and the largest allowed ratio of failed requests (0 to 1)."""

    p95_ms: float = 100.0
    p99_ms: float = 250.0
    max_failure_ratio: float = 0.01
    # The longest the server may go without answering any request during the run (s); 0 turns the gate off.
    stall_s: float = 10.0


def request_timeout_s(explicit: float, p99_ms: float) -> float:
    """How long a request waits for its answer before it fails as "no answer": `explicit` when above 0, else four
    times the p99 limit (at least 1 s), or 30 s with the p99 gate off. A request slower than that has already
    failed the p99 gate; without a timeout a server that hangs would leave requests waiting and uncounted."""
    if explicit > 0:
        return explicit
    return max(1.0, 4 * p99_ms / 1000) if p99_ms > 0 else 30.0


def longest_silence(answer_seconds: Iterable[int], start: float, end: float) -> float:
    """The longest stretch of [start, end] (epoch seconds) in which no answer came, in seconds, to 0.1 s. Answers
    are counted per whole second (int(time.time()) when each came), so a second with an answer counts as answered
    throughout."""
    previous_end, longest = start, 0.0
    for second in sorted(set(answer_seconds)):
        if second + 1 <= start or second > end:
            continue
        longest = max(longest, second - previous_end)
        previous_end = max(previous_end, second + 1)
    longest = max(longest, end - previous_end)
    return round(max(longest, 0.0), 1)


@dataclass(frozen=True)
class Gate:
    name: str
    option: str
    limit: float
    measured: float
    passed: bool
    unit: str = ""
    bound: str = "at most"

    @property
    def line(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"SLO gate {self.name} {verdict}: measured {self.measured:g}{self.unit}, {self.bound} {self.limit:g}{self.unit} allowed ({self.option})"


@dataclass(frozen=True)
class Verdict:
    gates: tuple[Gate, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def failed(self) -> list[Gate]:
        return [gate for gate in self.gates if not gate.passed]


def evaluate(slo: Slo, requests: int, failure_ratio: float, p95_ms: float, p99_ms: float, silence_s: float = 0.0) -> Verdict:
    """Judge a finished run. `requests` counts every request, failed ones included (a request without an answer,
    timed out or still waiting when the run stopped, is a failed one); the latencies are Locust's percentiles of all
    of them (ms, rounded by Locust to 2 significant digits above 100 ms); `silence_s` is the longest time without
    any answer (longest_silence). A run that completed no request fails the `requests` gate and is judged on
    nothing else."""
    gates = [Gate("requests", "a run must complete requests", 1, requests, requests >= 1, bound="at least")]
    if requests < 1:
        return Verdict(tuple(gates))
    gates.append(Gate("failure-ratio", "--slo-failure-ratio", slo.max_failure_ratio, round(failure_ratio, 6), failure_ratio <= slo.max_failure_ratio))
    for name, option, limit, measured in (("p95", "--slo-p95-ms", slo.p95_ms, p95_ms), ("p99", "--slo-p99-ms", slo.p99_ms, p99_ms)):
        if limit > 0:
            gates.append(Gate(name, option, limit, measured, measured <= limit, " ms"))
    if slo.stall_s > 0:
        gates.append(Gate("stall", "--slo-stall-s", slo.stall_s, silence_s, silence_s < slo.stall_s, " s", bound="under"))
    return Verdict(tuple(gates))
