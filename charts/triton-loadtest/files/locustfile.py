"""Locust load profiles for Triton Inference Server: HTTP and gRPC users, load shapes, SLO gates.

    locust -f charts/triton-loadtest/files/locustfile.py -H http://127.0.0.1:8000 --headless \
        --shape step -u 16 -t 60s --csv reports/run/locust --html reports/run/report.html

(`make loadtest ARGS="..."` runs this against `make up`.) This file and triton_load.py beside it are the one
source: the triton-loadtest chart mounts them from its files/ into the master and worker pods.

- Users: `--protocol http` (FastHttpUser, KServe v2 JSON or the binary tensor extension, `--encoding`) or
  `--protocol grpc` (tritonclient.grpc; needs tritonclient, which the official Locust image lacks). Each user
  reads the model's metadata and config (`--model`) and builds its requests from them; `--payload labelled`
  sends images whose class is known and counts a wrong class as a failed request, `--payload random` sends
  random tensors of the model's own shapes and checks the status only.
- Shapes: one LoadTestShape runs `--shape` step, spike, soak or diurnal with `-u` as the peak users and `-t`
  as the length (see triton_load.users_at); `--user-rps` paces each user (0: back to back).
- Requests without an answer count: a request waits at most `--request-timeout-s` (default: 4 x the p99 limit,
  at least 1 s) and then fails as "no answer: ..."; a request still waiting when the run stops, past the latency
  limit, fails as "no answer when the run stopped", with the time it waited. Neither is an answer for the stall
  gate.
- SLO gates: when the run ends (the shape's end, or -t; Locust's test_stop, so an in-cluster master that keeps
  its web UI up judges then, once), the p95/p99 latency (`--slo-p95-ms`, `--slo-p99-ms`) and failure ratio
  (`--slo-failure-ratio`) of all requests are judged, and the stall gate (`--slo-stall-s`) fails a run in which
  the server went that long without answering anything. A failed gate logs "SLO gate <name> FAILED: ..." and
  the exit code is 1. The verdict is written as slo.json beside the `--csv` files (or the `--html` report).
- Exit 2: settings that would judge nothing (a run of 0 s, limits out of range, spike bursts too short to be
  seen), or a workload that cannot be built (unknown model, wrong payload); in a distributed run a worker's
  setup error reaches the master, which stops the run. Options are never abbreviated (`--us` is refused, not
  read as --users).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

import gevent
import gevent.lock
from gevent import GreenletExit
from geventhttpclient.url import URL
from locust import FastHttpUser, LoadTestShape, User, constant, constant_throughput, events, task
from locust.contrib.fasthttp import FAILURE_EXCEPTIONS
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

import triton_load

try:
    # Before any gRPC channel exists, or gRPC's own threads block the gevent loop and calls silently run one at
    # a time (grpc/grpc examples/python/gevent, the `grpc.experimental.gevent` module docs).
    import grpc
    import grpc.experimental.gevent as grpc_gevent

    grpc_gevent.init_gevent()
    import numpy as np
    import tritonclient.grpc as triton_grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc
    from tritonclient.utils import InferenceServerException
except ImportError:  # the official locustio/locust image: HTTP users only
    triton_grpc = None

log = logging.getLogger("triton-load")

HERE = Path(__file__).resolve().parent
SETUP_TIMEOUT_S = 10
GRPC_PORT = 8001
# Exit codes: Locust's own 1 for failed requests is replaced by the SLO verdict; 2 when no workload could be built.
EXIT_SLO_FAILED, EXIT_SETUP_FAILED = 1, 2
# A worker's setup error, sent to the master (custom message), which stops the whole run with exit 2.
SETUP_ERROR_MESSAGE = "triton_setup_error"
NO_ANSWER_AT_STOP = "no answer when the run stopped"
# --header names and values that an HTTP header and a gRPC metadata entry both accept.
HEADER_NAME = re.compile(r"[0-9a-z_.-]+")
HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
# Content-Encoding -> zlib's wbits for the answers Triton compresses (only when a --header asks for it).
COMPRESSED = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# gRPC statuses that mean the server never answered (a status the server sent is an answer, if a failed one).
GRPC_NO_ANSWER = {"DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED"}
# The inference channel's message size limits, as tritonclient.grpc's InferenceServerClient sets them: none.
GRPC_CHANNEL_OPTIONS = [("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1)]


@events.init_command_line_parser.add_listener
def add_arguments(parser) -> None:
    group = parser.add_argument_group("Triton", "what to send (see charts/triton-loadtest/files/locustfile.py)")
    group.add_argument("--model", default="image_classifier", help="model to infer on")
    group.add_argument("--protocol", choices=("http", "grpc"), default="http", help="http (FastHttpUser) or grpc (tritonclient.grpc)")
    group.add_argument("--payload", choices=("labelled", "random"), default="labelled",
                       help="labelled: images of known class, wrong answers fail; random: tensors of the model's shapes, status only")
    group.add_argument("--encoding", choices=("binary", "json"), default="binary", help="HTTP body: the binary tensor extension or plain JSON")
    group.add_argument("--batch-size", type=int, default=1, help="items per request (the batch dimension)")
    group.add_argument("--grpc-address", default="", help="host:port for gRPC (default: the --host name, port 8001)")
    group.add_argument("--user-rps", type=float, default=0.0, help="requests per second per user; 0 sends back to back")
    group.add_argument("--request-timeout-s", type=float, default=0.0,
                       help="a request without an answer after this long fails (no answer); 0: 4 x --slo-p99-ms, at least 1 s (30 s with that gate off)")
    group.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                       help="added to every inference request (an HTTP header, gRPC metadata), e.g. x-triton-track=canary to force a track; repeatable")
    shapes = parser.add_argument_group("Load shape", "-u is the peak users, -t the length of the run")
    shapes.add_argument("--shape", choices=triton_load.SHAPES, default="step", help="step, spike, soak or diurnal")
    shapes.add_argument("--step-count", type=int, default=4, help="step: equal steps up to -u")
    shapes.add_argument("--spike-base-fraction", type=float, default=0.25, help="spike: users between bursts, as a fraction of -u")
    shapes.add_argument("--spike-count", type=int, default=1, help="spike: bursts in the run")
    shapes.add_argument("--spike-fraction", type=float, default=0.2, help="spike: share of each period spent at -u")
    shapes.add_argument("--diurnal-hours", default=",".join(f"{h:g}" for h in triton_load.DIURNAL_HOURS),
                        help="diurnal: 24 fractions of -u, one per hour from midnight; the day lasts -t")
    slo = parser.add_argument_group("SLO gates", "judged over all requests at the end; 0 turns a latency gate off")
    slo.add_argument("--slo-p95-ms", type=float, default=triton_load.Slo.p95_ms, help="largest p95 latency, ms")
    slo.add_argument("--slo-p99-ms", type=float, default=triton_load.Slo.p99_ms, help="largest p99 latency, ms")
    slo.add_argument("--slo-failure-ratio", type=float, default=triton_load.Slo.max_failure_ratio, help="largest failed/all ratio")
    slo.add_argument("--slo-stall-s", type=float, default=triton_load.Slo.stall_s,
                     help="longest the server may go without answering anything during the run (s); 0 turns the gate off")
    # argparse would read `--us 5` as --users 5 and `--slo-fail` as --slo-failure-ratio: an option is named in full
    # or refused, so a typo never silently sets another option (the chart refuses abbreviations in extraArgs too).
    parser.allow_abbrev = False


@events.init.add_listener
def keep_the_chosen_protocol(environment, runner, **_kwargs) -> None:
    # Only the master (or a local runner) picks user classes and runs the shape; a worker spawns what the master
    # tells it to, and only learns the master's options when the test starts.
    if isinstance(runner, WorkerRunner) or environment.parsed_options is None:
        return
    if isinstance(runner, MasterRunner):
        runner.register_message(SETUP_ERROR_MESSAGE, on_worker_setup_error)
    options = environment.parsed_options
    try:
        triton_load.check_run(options.shape, shape_settings(options), slo_of(options), options.user_rps, options.request_timeout_s)
    except triton_load.ShapeError as error:
        log.error("%s", error)
        raise SystemExit(EXIT_SETUP_FAILED) from None  # Locust logs and ignores an Exception from an init listener
    wanted = TritonGrpcUser if environment.parsed_options.protocol == "grpc" else TritonHttpUser
    environment.user_classes = [wanted]
    environment.available_user_classes = {wanted.__name__: wanted}


# --- the workload: built once per process from the model's metadata ------------------------------------------


class Workload:
    """The prepared requests for one (protocol, address, model, payload, batch) and how to check their answers."""

    def __init__(self, spec: triton_load.ModelSpec, payloads: list[triton_load.Payload], name: str):
        self.spec = spec
        self.payloads = payloads
        self.name = name
        self.next_index = 0
        self.prepared: list = []

    def next_start(self) -> int:
        """Where the next user to start begins in the payloads (each user then cycles through them on its own)."""
        start = self.next_index % len(self.payloads)
        self.next_index += 1
        return start


_workloads: dict[tuple, Workload] = {}
_workload_lock = gevent.lock.Semaphore()
_setup_errors: list[str] = []


def workload_for(key: tuple, build) -> Workload:
    with _workload_lock:
        if key not in _workloads:
            _workloads[key] = build()
        return _workloads[key]


def payloads_for(spec: triton_load.ModelSpec, options) -> list[triton_load.Payload]:
    if options.payload == "labelled":
        images = triton_load.load_labelled_images(HERE / triton_load.LABELLED_IMAGES_FILE)
        return triton_load.labelled_payloads(spec, images, options.batch_size)
    return triton_load.random_payloads(spec, options.batch_size)


def give_up(user: User, error: Exception) -> None:
    """The model cannot be loaded as asked: say why once, stop the run (exit code 2). A worker tells the master,
    which stops every worker and exits 2 with the reason in its verdict."""
    message = f"cannot load {user.environment.parsed_options.model}: {error}"
    runner = user.environment.runner
    if message not in _setup_errors:
        _setup_errors.append(message)
        log.error(message)
        if isinstance(runner, WorkerRunner):
            runner.send_message(SETUP_ERROR_MESSAGE, message)
    if not isinstance(runner, WorkerRunner):
        user.environment.process_exit_code = EXIT_SETUP_FAILED
        runner.quit()
    raise StopUser()


def on_worker_setup_error(environment, msg, **_kwargs) -> None:
    """On the master: a worker could not build its workload. The run stops; exit 2 with the reason."""
    if msg.data not in _setup_errors:
        _setup_errors.append(msg.data)
        log.error("worker %s: %s", msg.node_id, msg.data)
    environment.process_exit_code = EXIT_SETUP_FAILED
    gevent.spawn(environment.runner.quit)


class NoAnswer(Exception):
    """A request the server never answered: timed out, refused, or still waiting when the run stopped."""


# Answers per second (int(time.time()) -> count) seen by this process since its last report to the master; the
# master (or a local runner) adds every worker's into its own. A failed answer counts; no answer does not.
_answers: Counter = Counter()
_run: dict = {"started": None, "verdict": None}


def answered() -> None:
    _answers[int(time.time())] += 1


def no_answer_at_stop(user: User, request_type: str, name: str, started: float) -> None:
    """A request cut off by the end of the run (Locust kills users at the stop and would drop it uncounted). One that
    had already waited past the latency limit (--slo-p95-ms, else --slo-p99-ms; any, with both off) is a failure
    that took as long as it waited: a server that hangs cannot hide behind the stop. One still within the limit
    may yet have been answered in time, and is not counted, as Locust does."""
    waited_ms = (time.perf_counter() - started) * 1000
    options = user.environment.parsed_options
    limit_ms = next((limit for limit in (options.slo_p95_ms, options.slo_p99_ms) if limit > 0), 0.0)
    if waited_ms < limit_ms:
        return
    user.environment.events.request.fire(
        request_type=request_type, name=name, response_time=waited_ms, response_length=0,
        exception=NoAnswer(NO_ANSWER_AT_STOP), context={},
    )


def extra_headers(options) -> dict[str, str]:
    """--header NAME=VALUE items as a dict; names lower-cased (gRPC metadata keys must be). ValueError when malformed:
    a name outside what both an HTTP header and a gRPC metadata key allow (letters, digits, - _ .; not ending in -bin,
    gRPC's binary metadata), or a value with a character outside printable ASCII."""
    headers = {}
    for item in options.header or []:
        name, separator, value = item.partition("=")
        name = name.strip().lower()
        if not separator or not HEADER_NAME.fullmatch(name) or name.endswith("-bin"):
            raise ValueError(f"--header {item!r}: expected NAME=VALUE, NAME of letters, digits, '-', '_' or '.' (not ending in -bin)")
        if not HEADER_VALUE.fullmatch(value):
            raise ValueError(f"--header {item!r}: the value must be printable ASCII (HTTP headers and gRPC metadata carry no other)")
        headers[name] = value
    return headers


def pacing(options):
    return constant_throughput(options.user_rps) if options.user_rps > 0 else constant(0)


class TritonHttpUser(FastHttpUser):
    """KServe v2 over HTTP: `POST /v2/models/<model>/infer`, JSON or binary, one request after another.

    Each request goes straight to the geventhttpclient HTTPClient of this user's FastHttpUser connection pool (its
    connection and network timeouts, keep-alive) and is reported to Locust's request event here. FastHttpSession's
    per-request work (URL parsing, cookies, redirects, Locust's default `Accept-Encoding: gzip, deflate, br`) cost
    about 30% of the generator's CPU per request (`make bench-loadgen`), and the compression header made
    Triton gzip every answer, which tritonclient and perf_analyzer never ask for. `--header accept-encoding=gzip`
    asks for it again.
    """

    connection_timeout = 10.0

    @property
    def network_timeout(self) -> float:
        # Read when FastHttpUser builds its client; on a worker the master's options have arrived by then.
        options = self.environment.parsed_options
        return triton_load.request_timeout_s(options.request_timeout_s, options.slo_p99_ms)

    def wait_time(self):
        return self._pacing(self)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self._pacing = pacing(options)
        key = ("http", self.host, options.model, options.payload, options.encoding, options.batch_size)
        try:
            self.workload = workload_for(key, lambda: self._build(options))
        except (triton_load.ModelError, OSError, ValueError, KeyError) as error:
            give_up(self, error)
        try:
            extra = extra_headers(options)
        except ValueError as error:
            give_up(self, error)
        # The path of -H too (an ingress that serves Triton under /triton, as _build's metadata requests do).
        self.path = f"{urllib.parse.urlsplit(self.host).path.rstrip('/')}/v2/models/{urllib.parse.quote(options.model)}/infer"
        # Header names of the prepared requests are lower-cased like --header's, so a --header replaces one. Each
        # user starts at its own place in the payloads, so that concurrent requests carry different images.
        prepared = [(payload, body, {**headers, **extra}) for payload, (body, headers) in zip(self.workload.payloads, self.workload.prepared)]
        start = self.workload.next_start()
        self.requests = itertools.cycle(prepared[start:] + prepared[:start])
        self.http = self.client.client.clientpool.get_client(URL(self.host))

    def _build(self, options) -> Workload:
        base = f"{self.host.rstrip('/')}/v2/models/{urllib.parse.quote(options.model)}"
        # Plain urllib (cooperative under gevent) so that setup is not counted as load.
        metadata, config = (_get_json(url) for url in (base, f"{base}/config"))
        spec = triton_load.model_spec(metadata, config, options.batch_size)
        workload = Workload(spec, payloads_for(spec, options), f"{options.model} http {options.encoding} x{options.batch_size}")
        for payload in workload.payloads:
            if options.encoding == "binary":
                body, header_length = triton_load.http_binary_body(spec, payload)
                headers = {"content-type": "application/octet-stream", triton_load.BINARY_HEADER.lower(): str(header_length)}
            else:
                body, headers = triton_load.http_json_body(spec, payload), {"content-type": "application/json"}
            workload.prepared.append((body, headers))
        log.info("HTTP workload %s: %d prepared requests from %s metadata", workload.name, len(workload.payloads), spec.name)
        return workload

    @task
    def infer(self) -> None:
        payload, body, headers = next(self.requests)
        started = time.perf_counter()
        try:
            exception, length, elapsed_ms = self._infer(payload, body, headers, started)
        except GreenletExit:
            no_answer_at_stop(self, "POST", self.workload.name, started)
            raise
        self.environment.events.request.fire(
            request_type="POST", name=self.workload.name, response_time=elapsed_ms, response_length=length, exception=exception, context={},
        )

    def _infer(self, payload, body: bytes, headers: dict, started: float) -> tuple[Exception | None, int, float]:
        """(what was wrong or None, response bytes as received, ms until the answer was read) of one request. The time
        stops when the answer is in, before it is checked, as the gRPC user's does."""
        try:
            with self.http.request("POST", self.path, body=body, headers=headers) as response:
                content = response.read()
                status = response.status_code
                header_length = response.get(triton_load.BINARY_HEADER)
                encoding = response.get("content-encoding")
        except FAILURE_EXCEPTIONS as error:  # a timeout, a refused or dropped connection (Locust's own list)
            return NoAnswer(f"no answer: {type(error).__name__}: {error}"), 0, (time.perf_counter() - started) * 1000
        elapsed_ms = (time.perf_counter() - started) * 1000
        answered()
        length = len(content)
        if encoding in COMPRESSED:  # only when --header accept-encoding asked for it; the binary header counts decoded bytes
            try:
                content = zlib.decompress(content, COMPRESSED[encoding])
            except zlib.error as error:
                return WrongAnswer(f"unreadable {encoding} answer: {error}"), length, elapsed_ms
        if status != 200:
            return HttpStatusError(f"HTTP {status}: {content[:200].decode(errors='replace')}"), length, elapsed_ms
        try:
            outputs = triton_load.parse_http_response(content, int(header_length) if header_length else None)
        except (ValueError, KeyError) as error:
            return WrongAnswer(f"unreadable answer: {error}"), length, elapsed_ms
        error = triton_load.check_answer(self.workload.spec, payload, outputs)
        return (WrongAnswer(error) if error else None), length, elapsed_ms


def _get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=SETUP_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise triton_load.ModelError(f"GET {url}: HTTP {error.code} {error.read()[:200]!r}") from None


class WrongAnswer(Exception):
    """The server answered, but not with the class drawn in the image (or not readably)."""


class HttpStatusError(Exception):
    """The server answered with an HTTP status other than 200."""


class GrpcStatusError(Exception):
    """The server answered with a gRPC status other than OK (and other than those that mean no answer)."""


class TritonGrpcUser(User):
    """KServe v2 over gRPC (one channel per user); each call is reported to Locust's request event.

    The model's metadata and config come through tritonclient.grpc's InferenceServerClient. Each request is a
    ModelInferRequest of tritonclient's own protobuf module, built once per payload, and is sent with its generated
    stub (GRPCInferenceServiceStub); the answer's raw_output_contents are read as the HTTP user reads the binary
    extension (triton_load.unpack_tensor). InferenceServerClient.infer would build the same message again on every
    call and InferResult would go through numpy, which on one CPU is a tenth of the generator's time
    (`make bench-loadgen`).
    """

    def wait_time(self):
        return self._pacing(self)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self._pacing = pacing(options)
        if triton_grpc is None:
            give_up(self, RuntimeError("--protocol grpc needs tritonclient[grpc] (the official Locust image lacks it; see loadtests/README.md)"))
        self.address = options.grpc_address or f"{urllib.parse.urlsplit(self.host or 'http://127.0.0.1').hostname}:{GRPC_PORT}"
        self.client = triton_grpc.InferenceServerClient(self.address)
        self.timeout = triton_load.request_timeout_s(options.request_timeout_s, options.slo_p99_ms)
        try:
            self.metadata = tuple(extra_headers(options).items()) or None
        except ValueError as error:
            give_up(self, error)
        key = ("grpc", self.address, options.model, options.payload, options.batch_size)
        try:
            self.workload = workload_for(key, lambda: self._build(options))
        except (triton_load.ModelError, InferenceServerException, ValueError, KeyError) as error:
            give_up(self, error)
        finally:
            # Only the setup reads the model's metadata and config: that channel is closed now, not held idle.
            self.client.close()
            self.client = None
        self.channel = grpc.insecure_channel(self.address, options=GRPC_CHANNEL_OPTIONS)
        self.model_infer = service_pb2_grpc.GRPCInferenceServiceStub(self.channel).ModelInfer
        prepared = list(zip(self.workload.payloads, self.workload.prepared))
        start = self.workload.next_start()
        self.requests = itertools.cycle(prepared[start:] + prepared[:start])

    def _build(self, options) -> Workload:
        metadata = self.client.get_model_metadata(options.model, as_json=True, client_timeout=SETUP_TIMEOUT_S)
        config = self.client.get_model_config(options.model, as_json=True, client_timeout=SETUP_TIMEOUT_S)
        spec = triton_load.model_spec(metadata, config, options.batch_size)
        workload = Workload(spec, payloads_for(spec, options), f"{options.model} grpc x{options.batch_size}")
        for payload in workload.payloads:
            request = service_pb2.ModelInferRequest(model_name=options.model)
            for tensor, shape, values in payload.inputs:
                request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=shape)
                array = np.asarray(values, dtype=triton_grpc_dtype(tensor.datatype)).reshape(shape)
                # Numbers only: no payload has BYTES inputs (triton_load.random_payloads refuses them).
                request.raw_input_contents.append(array.tobytes())
            if payload.expected is not None:
                request.outputs.add(name=spec.labelled_output).parameters["classification"].int64_param = 1
            else:
                for output in spec.outputs:
                    request.outputs.add(name=output.name)
            workload.prepared.append(request)
        log.info("gRPC workload %s: %d prepared requests from %s metadata", workload.name, len(workload.payloads), spec.name)
        return workload

    def on_stop(self) -> None:
        for name in ("client", "channel"):
            if getattr(self, name, None) is not None:
                getattr(self, name).close()

    @task
    def infer(self) -> None:
        payload, request = next(self.requests)
        started = time.perf_counter()
        exception, length = None, 0
        try:
            # timeout: a deadline on the call, without which a server that hangs would hold it for ever.
            response = self.model_infer(request, metadata=self.metadata, timeout=self.timeout)
            elapsed_ms = (time.perf_counter() - started) * 1000
            answered()
            length = response.ByteSize()
            try:
                outputs = {o.name: triton_load.unpack_tensor(o.datatype, raw) for o, raw in zip(response.outputs, response.raw_output_contents)}
            except (ValueError, KeyError) as error:
                exception = WrongAnswer(f"unreadable answer: {error}")
            else:
                error = triton_load.check_answer(self.workload.spec, payload, outputs)
                exception = WrongAnswer(error) if error else None
        except grpc.RpcError as error:
            elapsed_ms = (time.perf_counter() - started) * 1000
            if error.code().name in GRPC_NO_ANSWER:
                exception = NoAnswer(f"no answer: {error.code()}")
            else:
                answered()
                exception = GrpcStatusError(f"[{error.code()}] {error.details()}")
        except GreenletExit:
            no_answer_at_stop(self, "grpc", self.workload.name, started)
            raise
        self.environment.events.request.fire(
            request_type="grpc", name=self.workload.name, response_time=elapsed_ms, response_length=length, exception=exception, context={}
        )


def triton_grpc_dtype(datatype: str):
    from tritonclient.utils import triton_to_np_dtype

    return triton_to_np_dtype(datatype)


# --- the load shape ----------------------------------------------------------------------------------------------


class TritonProfile(LoadTestShape):
    """The --shape chosen on the command line; -u is its peak, -t its length (defaults in triton_load)."""

    use_common_options = True

    def tick(self):
        options = self.runner.environment.parsed_options
        if not hasattr(self, "settings"):
            self.settings = shape_settings(options)
            log.info("shape %s: %s", options.shape, self.settings)
        users = triton_load.users_at(options.shape, self.get_run_time(), self.settings)
        if users is None:
            return None
        # Every change of level lands within a second, whatever -r says (headless Locust defaults it to 1 user/s,
        # which would smear a spike over many seconds); pace requests with --user-rps instead.
        return users, self.settings.peak_users


def shape_settings(options) -> triton_load.ShapeSettings:
    """The shape's settings; ShapeError when one is out of range (-t 0s is refused, not read as the default)."""
    return triton_load.ShapeSettings(
        peak_users=triton_load.DEFAULT_PEAK_USERS if options.num_users is None else options.num_users,
        duration_s=float(triton_load.DEFAULT_DURATION_S[options.shape] if options.run_time is None else options.run_time),
        step_count=options.step_count,
        spike_base_fraction=options.spike_base_fraction,
        spike_count=options.spike_count,
        spike_fraction=options.spike_fraction,
        diurnal_hours=triton_load.parse_hours(options.diurnal_hours),
    )


# --- SLO gates ---------------------------------------------------------------------------------------------------


def slo_of(options) -> triton_load.Slo:
    return triton_load.Slo(p95_ms=options.slo_p95_ms, p99_ms=options.slo_p99_ms, max_failure_ratio=options.slo_failure_ratio,
                           stall_s=options.slo_stall_s)


@events.report_to_master.add_listener
def send_answers(client_id, data, **_kwargs) -> None:
    data["triton_answers"] = {str(second): count for second, count in _answers.items()}
    _answers.clear()


@events.worker_report.add_listener
def add_answers(client_id, data, **_kwargs) -> None:
    for second, count in data.get("triton_answers", {}).items():
        _answers[int(second)] += count


@events.test_start.add_listener
def start_the_clock(environment, **_kwargs) -> None:
    _answers.clear()
    if not isinstance(environment.runner, WorkerRunner):
        _run.update(started=time.time(), verdict=None)


@events.test_stop.add_listener
def judge_when_the_run_ends(environment, **_kwargs) -> None:
    if isinstance(environment.runner, WorkerRunner):
        # The users are stopped (and what was in flight recorded): report now, before this worker tells the master
        # it has stopped, so the master judges with every request (its periodic report could come after that).
        environment.runner._send_stats()
        return
    judge(environment)


def judge(environment) -> triton_load.Verdict:
    """The verdict of the run that just ended: logged once ("SLO gate ..."), written as slo.json, and kept for the
    exit code. Judged on Locust's test_stop, not at exit: a master that keeps its web UI up after the run
    (--autostart without --autoquit, as the chart runs it) says its verdict when the run ends."""
    options = environment.parsed_options
    total = environment.stats.total
    started = _run["started"] or time.time()
    silence = triton_load.longest_silence(_answers, started, time.time())
    verdict = triton_load.evaluate(
        slo_of(options), total.num_requests, total.fail_ratio, total.get_response_time_percentile(0.95) or 0.0,
        total.get_response_time_percentile(0.99) or 0.0, silence,
    )
    for gate in verdict.gates:
        (log.info if gate.passed else log.error)(gate.line)
    _run["verdict"] = verdict
    report_dir = _report_dir(options)
    if report_dir is not None:
        report = {
            "passed": verdict.passed and not _setup_errors,
            "shape": options.shape,
            "model": options.model,
            "protocol": options.protocol,
            "setup_errors": _setup_errors,
            "request_timeout_s": triton_load.request_timeout_s(options.request_timeout_s, options.slo_p99_ms),
            "gates": [{"name": g.name, "option": g.option, "limit": g.limit, "measured": g.measured, "passed": g.passed} for g in verdict.gates],
            "runner": "master" if isinstance(environment.runner, MasterRunner) else "local",
        }
        os.makedirs(report_dir, exist_ok=True)
        Path(report_dir, "slo.json").write_text(json.dumps(report, indent=1) + "\n")
    return verdict


@events.quitting.add_listener
def exit_code_of_the_verdict(environment, **_kwargs) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    verdict = _run["verdict"] or judge(environment)  # a run stopped before it started is judged here, once
    if _setup_errors:
        environment.process_exit_code = EXIT_SETUP_FAILED
    elif not verdict.passed:
        environment.process_exit_code = EXIT_SLO_FAILED
    elif not environment.runner.exceptions:
        # Failures within the allowed ratio pass; an exception in this file never does (Locust's own exit code).
        environment.process_exit_code = 0


def _report_dir(options) -> str | None:
    for path in (options.csv_prefix, options.html_file):
        if path:
            return os.path.dirname(path) or "."
    return None
