"""Shutdown of the rendered pod under load: the preStop, SIGTERM, grace-period sequence, and SIGKILL.

The sequence is read from the render of values/ci-kind.yaml (`lifecycle.preStop` and
`terminationGracePeriodSeconds`) and run against the real tritonserver while loopback clients send a steady,
bounded load. What is measured is correctness only: which requests were answered, which were lost, which
connections were refused; never how fast anything was.

What the kubelet does when a pod is deleted, and how it is modelled here:

- The pod is marked Terminating. The endpoints controller removes it from the Service while the kubelet runs
  the preStop hook (a sleep); during the preStop Triton serves as before. Clients here keep sending through
  the whole preStop: the worst case, endpoint removal that lands only at its very end.
- After the preStop the kubelet sends SIGTERM, then SIGKILL when the grace period (counted from the start of
  the preStop) runs out. By then the pod has left the endpoints, so clients start no new request here; the
  ones already sent are still in flight, and each client closes its connection once answered.
- On SIGTERM Triton 2.51 (server `src/main.cc`, `src/http_server.cc`) stops taking new HTTP connections (the
  kernel still completes the handshake while the listener is open, then Triton resets or closes the
  connection without reading it), keeps answering the HTTP connections already open and waits, checking once
  a second, until they are closed, closes the listener (new connections are refused from then on), drains
  gRPC, waits for in-flight requests, unloads the models and exits 0; all of it within --exit-timeout-secs.
  Connections that stay open for the whole exit timeout are cut, and Triton then exits 1 (or dies of
  SIGSEGV on the way out): see the pair of the drain test.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
import tritonclient.grpc as grpc_client
from tritonclient.utils import InferenceServerException

from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST
from tests.harness import render as helm
from tests.harness.triton_local import LOOPBACK, TritonPod, find_triton_pod, live_processes_in_group
from tests.local.conftest import REQUEST_TIMEOUT_SECONDS

pytestmark = pytest.mark.local

VALUES_FILE = helm.VALUES_DIR / "ci-kind.yaml"
MODEL = "image_classifier"
HTTP_CLIENTS = 3
GRPC_CLIENTS = 1
# Bounds on every load loop: requests per client and seconds, far above what a test needs.
MAX_REQUESTS_PER_CLIENT = 20_000
MAX_LOAD_SECONDS = 60
WARM_REQUESTS_PER_CLIENT = 20
# New-connection attempts after SIGTERM: one every interval, at most this many, and this many after the exit.
PROBE_INTERVAL_SECONDS = 0.02
MAX_PROBE_ATTEMPTS = 2_000
PROBES_AFTER_EXIT = 5
# Triton takes SIGTERM asynchronously (its signal handler wakes the main thread, which then stops the HTTP
# listener): a connection opened in the first moments after the signal can still be served. In a cluster the
# preStop has already taken the pod out of the endpoints by then. Probes this close to the signal are printed,
# not judged.
SIGNAL_HANDLING_SECONDS = 0.25
# How long the load may take to have a request in flight before a signal (normally at once).
IN_FLIGHT_WAIT_SECONDS = 5
# Outcomes of a request that Triton answered fully and correctly.
OK = "ok"
# Outcomes where no byte of a response came back: refused at connect, or connected (the kernel completes the
# handshake while the listener is open) and then reset or closed unread; Triton does either when it turns a
# connection away.
TURNED_AWAY = {"reset-before-response", "closed-before-response"}
NOT_SERVED = {"refused", *TURNED_AWAY}


@dataclass
class Outcome:
    request_id: int
    client: str
    started: float
    ended: float
    kind: str


@dataclass
class LoopbackLoad:
    """HTTP and gRPC clients sending single-image requests in a loop, each over one connection it keeps open
    (as a pooling client or a proxy does), until told to stop or a bound is reached.

    Every request is recorded with its start and end time and its outcome. `signal_while_in_flight` sends a
    signal at a moment when at least one request is in flight and returns exactly which were.
    """

    server: object
    image: np.ndarray
    label: int
    http_clients: int = HTTP_CLIENTS
    grpc_clients: int = GRPC_CLIENTS
    outcomes: list[Outcome] = field(default_factory=list)
    _in_flight: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ids: itertools.count = field(default_factory=itertools.count)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> LoopbackLoad:
        tensor = {"name": "IMAGE", "shape": [1, *self.image.shape], "datatype": "FP32", "data": self.image.ravel().tolist()}
        body = json.dumps({"inputs": [tensor]})
        targets = [(f"http-{n}", self._http_client, body) for n in range(self.http_clients)]
        targets += [(f"grpc-{n}", self._grpc_client, None) for n in range(self.grpc_clients)]
        self._deadline = time.monotonic() + MAX_LOAD_SECONDS
        self._threads = [threading.Thread(target=run, args=(name, body), name=name, daemon=True) for name, run, body in targets]
        for thread in self._threads:
            thread.start()
        return self

    def wait_warm(self) -> None:
        """Until every client has had WARM_REQUESTS_PER_CLIENT answers (bounded by REQUEST_TIMEOUT_SECONDS)."""
        clients = [thread.name for thread in self._threads]
        for _ in range(int(REQUEST_TIMEOUT_SECONDS / 0.01)):
            with self._lock:
                answered = {c: sum(o.client == c and o.kind == OK for o in self.outcomes) for c in clients}
            if min(answered.values()) >= WARM_REQUESTS_PER_CLIENT:
                return
            time.sleep(0.01)
        raise AssertionError(f"the load did not warm up: {answered}; {self.summary()}")

    def signal_while_in_flight(self, send_signal) -> tuple[float, set[int]]:
        """Call send_signal() while at least one request is in flight, and stop starting new ones at that same
        moment; returns (time of the signal, ids of the requests in flight then)."""
        for _ in range(int(IN_FLIGHT_WAIT_SECONDS / 0.001)):
            with self._lock:
                if self._in_flight:
                    send_signal()
                    self._stop.set()
                    return time.monotonic(), set(self._in_flight)
            time.sleep(0.001)
        raise AssertionError(f"no request in flight for {IN_FLIGHT_WAIT_SECONDS}s; {self.summary()}")

    def stop_sending(self) -> None:
        self._stop.set()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 1)
        assert not any(thread.is_alive() for thread in self._threads), "a load client is still running"

    def ran_out(self) -> bool:
        """Whether a bound, rather than the test, stopped a client (the test then proves nothing)."""
        return time.monotonic() >= self._deadline or any(
            sum(o.client == t.name for o in self.outcomes) >= MAX_REQUESTS_PER_CLIENT for t in self._threads
        )

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
        return counts

    def _requests(self, client: str):
        """Yields a request id each time the client may send, recording the request as in flight."""
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            with self._lock:
                if self._stop.is_set() or time.monotonic() >= self._deadline:
                    return
                request_id = next(self._ids)
                self._in_flight[request_id] = time.monotonic()
            yield request_id

    def _record(self, client: str, request_id: int, kind: str) -> None:
        with self._lock:
            started = self._in_flight.pop(request_id)
            self.outcomes.append(Outcome(request_id, client, started, time.monotonic(), kind))

    def _http_client(self, client: str, body: str) -> None:
        connection = None
        try:
            for request_id in self._requests(client):
                if connection is None:
                    connection = http.client.HTTPConnection(LOOPBACK, self.server.http_port, timeout=REQUEST_TIMEOUT_SECONDS)
                kind, answer = http_exchange(connection, "POST", f"/v2/models/{MODEL}/infer", body, {"Content-Type": "application/json"})
                if kind == OK:
                    top_class = next(output["data"] for output in json.loads(answer)["outputs"] if output["name"] == "TOP_CLASS")
                    kind = OK if top_class == [self.label] else f"wrong answer {top_class}"
                else:
                    connection.close()
                    connection = None
                self._record(client, request_id, kind)
                if kind != OK:
                    time.sleep(0.01)  # a failed connection is retried, not hammered
        finally:
            if connection is not None:
                connection.close()  # the client leaves: its connection no longer holds Triton's shutdown

    def _grpc_client(self, client: str, _body) -> None:
        image_input = grpc_client.InferInput("IMAGE", [1, *self.image.shape], "FP32")
        image_input.set_data_from_numpy(self.image[None])
        with grpc_client.InferenceServerClient(f"{LOOPBACK}:{self.server.grpc_port}") as connection:
            for request_id in self._requests(client):
                try:
                    result = connection.infer(MODEL, [image_input], client_timeout=REQUEST_TIMEOUT_SECONDS)
                    kind = OK if result.as_numpy("TOP_CLASS").ravel().tolist() == [self.label] else "wrong answer"
                except InferenceServerException as error:
                    kind = f"grpc {error.status()}"
                self._record(client, request_id, kind)
                if kind != OK:
                    time.sleep(0.01)


def http_exchange(connection: http.client.HTTPConnection, method: str, path: str, body=None, headers=None) -> tuple[str, bytes]:
    """One request on a connection, classified by how far it got: refused at connect, reset or closed before any
    response byte, cut mid-response, an HTTP error status, or OK (with the body)."""
    try:
        if connection.sock is None:
            connection.connect()
    except ConnectionRefusedError:
        return "refused", b""
    try:
        connection.request(method, path, body, headers or {})
    except (BrokenPipeError, ConnectionResetError):
        return "reset-before-response", b""
    try:
        response = connection.getresponse()
    except http.client.RemoteDisconnected:
        return "closed-before-response", b""
    except ConnectionResetError:
        return "reset-before-response", b""
    try:
        data = response.read()
    except (http.client.IncompleteRead, OSError):
        return "cut-mid-response", b""
    return (OK if response.status == 200 else f"http {response.status}"), data


@dataclass
class NewConnectionProbe:
    """Opens a fresh connection every PROBE_INTERVAL_SECONDS and asks for readiness, recording how each attempt
    ended, from start() until PROBES_AFTER_EXIT attempts after `exited` is set (bounded in count)."""

    port: int
    exited: threading.Event = field(default_factory=threading.Event)
    attempts: list[tuple[float, str]] = field(default_factory=list)

    def start(self) -> NewConnectionProbe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(timeout=MAX_PROBE_ATTEMPTS * PROBE_INTERVAL_SECONDS + REQUEST_TIMEOUT_SECONDS)

    def _run(self) -> None:
        after_exit = 0
        for _ in range(MAX_PROBE_ATTEMPTS):
            connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=REQUEST_TIMEOUT_SECONDS)
            exited_before = self.exited.is_set()
            started = time.monotonic()
            kind, _ = http_exchange(connection, "GET", "/v2/health/ready", headers={"Connection": "close"})
            connection.close()
            self.attempts.append((started, kind if not exited_before else f"after exit: {kind}"))
            after_exit += exited_before
            if after_exit >= PROBES_AFTER_EXIT:
                return
            time.sleep(PROBE_INTERVAL_SECONDS)


def rendered_pod(values: dict | None = None, kube_version: str = KUBE_HIGHEST) -> TritonPod:
    return find_triton_pod(helm.render("triton-stack", [VALUES_FILE], values, kube_version=kube_version))


@pytest.fixture
def loaded_server(tmp_path, launch_rendered, labelled_batch):
    """Factory: the rendered pod's tritonserver, ready, under a warm loopback load; everything is stopped after the test."""
    started = []

    def start(pod: TritonPod, **clients):
        launched = launch_rendered(pod, tmp_path / f"run-{len(started)}")
        started.append(launched)
        launched.server.wait_ready()
        images, labels = labelled_batch
        load = LoopbackLoad(launched.server, images[0], int(labels[0]), **clients).start()
        started.append(load)
        load.wait_warm()
        return launched, load

    yield start
    for item in reversed(started):
        if isinstance(item, LoopbackLoad):
            item.stop_sending()
            item.join()
        else:
            item.server.kill()


class TestRenderedShutdownSequence:
    @pytest.mark.parametrize("kube_version", [KUBE_LOWEST, KUBE_HIGHEST])
    def test_pre_stop_seconds_are_the_same_when_either_hook_form_is_rendered(self, kube_version):
        # exec [sleep, N] by default (auto, while the charts declare 1.29), the sleep action when asked for on
        # 1.30 and later: the launcher times both.
        mode = "auto" if kube_version == KUBE_LOWEST else "sleepAction"
        pod = rendered_pod({"server": {"drain": {"preStopMode": mode}}}, kube_version=kube_version)
        form = "sleep" if "sleep" in pod.container["lifecycle"]["preStop"] else "exec"
        assert form == ("exec" if kube_version == KUBE_LOWEST else "sleep")
        assert pod.pre_stop_seconds == 2 and pod.termination_grace_seconds == 20


def gave_up_at_exit_timeout(log: str) -> bool:
    """Triton's log shows it stopped waiting because --exit-timeout-secs ran out: either its own message, or the
    countdown reached its last second and the process then died on a signal (2.51 can crash tearing down
    connections that are still busy)."""
    if "Exit timeout expired" in log:
        return True
    countdown_ended = log.rfind('"Timeout 1: Found')
    return countdown_ended >= 0 and re.search(r"Signal \((?:11|6)\) received", log[countdown_ended:]) is not None


class TestGracefulDrain:
    def test_no_request_in_flight_is_lost_when_pod_terminates_after_its_pre_stop(self, loaded_server):
        """preStop under load (every request answered), then SIGTERM with requests in flight: each of them is
        answered, Triton exits 0 within the grace left after the preStop, and no connection opened after
        SIGTERM is served: Triton resets it unread while it drains, and the port refuses once it is gone."""
        pod = rendered_pod()
        launched, load = loaded_server(pod)
        server = launched.server

        pre_stop_started = time.monotonic()
        time.sleep(pod.pre_stop_seconds)  # the kubelet's preStop: a sleep while endpoints drop the pod
        served_during_pre_stop = sum(o.kind == OK and o.started >= pre_stop_started for o in load.outcomes)
        assert not load.ran_out(), "the load stopped on its bounds before SIGTERM"
        sigterm_at, in_flight = load.signal_while_in_flight(lambda: server.process.send_signal(signal.SIGTERM))
        probe = NewConnectionProbe(server.http_port).start()
        exit_code = server.stop(grace=pod.termination_grace_seconds - (sigterm_at - pre_stop_started))
        exited_after = time.monotonic() - sigterm_at
        probe.exited.set()
        probe.join()
        load.join()

        lost = [o for o in load.outcomes if o.kind != OK]
        probe_kinds = [kind for _, kind in probe.attempts]
        print(
            f"preStop {pod.pre_stop_seconds}s: {served_during_pre_stop} requests answered; SIGTERM with {len(in_flight)} in flight; "
            f"exit {exit_code} {exited_after:.1f}s later (grace {pod.termination_grace_seconds}s); load {load.summary()}; "
            f"new connections after SIGTERM: {summarise(probe_kinds)}"
        )
        assert served_during_pre_stop > 0, "the pod served nothing during its preStop"
        assert lost == [], f"requests lost: {lost[:5]} ({len(lost)})"
        assert exit_code == 0, server.failure_report()
        before_exit = [kind for started, kind in probe.attempts
                       if not kind.startswith("after exit") and started - sigterm_at >= SIGNAL_HANDLING_SECONDS]
        after_exit = [kind for kind in probe_kinds if kind.startswith("after exit")]
        assert OK not in before_exit, f"a connection opened after SIGTERM was served: {summarise(probe_kinds)}"
        assert set(before_exit) <= NOT_SERVED, summarise(probe_kinds)
        # Whether a probe lands inside the drain window depends on how fast Triton exits (it can finish before
        # the first attempt), so only what did land is judged: none of it served, all of it refused after exit.
        assert after_exit and set(after_exit) == {"after exit: refused"}, summarise(probe_kinds)

    def test_requests_on_connections_kept_open_are_cut_when_exit_timeout_expires(self, loaded_server):
        """The pair of the drain: HTTP clients that keep their connections busy after SIGTERM (a client that
        ignores the endpoint change, a keep-alive that kube-proxy's conntrack still sends to the pod) keep
        being answered while Triton waits for connections to close, until --exit-timeout-secs runs out. Then
        Triton gives up ("Exit timeout expired. Exiting immediately.", exit code not 0) and whatever is in
        flight at that instant is dropped without a response: never an error status or a wrong answer. The
        chart's preStop protects only clients that leave. A short exit timeout keeps the test quick.
        Triton 2.51 sometimes crashes (SIGSEGV) while tearing down the live connections instead of logging that
        line; the pod still ends non-zero when the timeout runs out, so both endings are accepted."""
        pod = rendered_pod({"server": {"triton": {"exitTimeoutSeconds": 3}}})
        launched, load = loaded_server(pod, grpc_clients=0)
        server = launched.server

        pre_stop_started = time.monotonic()
        time.sleep(pod.pre_stop_seconds)
        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)  # and the clients do not leave
        exit_code = server.stop(grace=pod.termination_grace_seconds - (sigterm_at - pre_stop_started))
        load.stop_sending()
        load.join()

        served_while_draining = [o for o in load.outcomes if o.started >= sigterm_at and o.kind == OK]
        failures = [o for o in load.outcomes if o.kind != OK]
        print(f"SIGTERM, exit {exit_code}; load {load.summary()}; {len(served_while_draining)} answered after SIGTERM")
        assert served_while_draining, "Triton stopped answering open connections at SIGTERM"
        assert exit_code != 0 and gave_up_at_exit_timeout(server.log_text()), server.log_tail()
        assert {o.kind for o in failures} <= NOT_SERVED | {"cut-mid-response"}, f"failures other than dropped connections: {failures[:5]}"
        assert not [o for o in failures if o.ended < sigterm_at], "a request failed before SIGTERM"


class TestHardKill:
    def test_only_requests_in_flight_are_lost_and_restart_is_ready_within_budget_when_killed(
        self, loaded_server, launch_rendered, infer, labelled_batch, tmp_path
    ):
        """SIGKILL to the container (every process in it, as the kubelet's kill of the cgroup) under load: the
        requests answered before the kill were all correct, and the only failures are requests that were in
        flight at that instant. A fresh start from the same rendered spec on the same ports then passes its
        startup and readiness probes within the rendered startup budget and answers correctly."""
        pod = rendered_pod()
        launched, load = loaded_server(pod)
        server = launched.server
        ports = {"http": server.http_port, "grpc": server.grpc_port, "metrics": server.metrics_port}

        killed_at, in_flight = load.signal_while_in_flight(lambda: os.killpg(server.process.pid, signal.SIGKILL))
        assert server.kill() == -signal.SIGKILL
        load.join()
        assert live_processes_in_group(server.process.pid) == []

        failed = [o for o in load.outcomes if o.kind != OK]
        print(f"SIGKILL with {len(in_flight)} requests in flight; {len(failed)} lost; load {load.summary()}")
        assert {o.request_id for o in failed} <= in_flight, f"requests lost that were not in flight at the kill: {failed}"
        assert not [o for o in load.outcomes if o.started >= killed_at], "a request was started after the kill"

        restarted = launch_rendered(pod, tmp_path / "restart", ports=ports)
        try:
            ready_seconds = restarted.server.wait_ready()
            budget = restarted.server.ready_budget_seconds()
            images, labels = labelled_batch
            _, top_class = infer(restarted.server.http_address, "http", MODEL, images)
            print(f"restart on the same ports ready in {ready_seconds:.1f}s (startup budget {budget:.0f}s)")
            assert ready_seconds <= budget
            assert top_class == labels.tolist()
        finally:
            assert restarted.stop_after_pre_stop() == 0, restarted.server.failure_report()


def summarise(kinds: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


class TestExitTimeoutVerdict:
    """The log reading the keep-alive test relies on, checked on Triton's own lines."""

    COUNTDOWN = 'I1122 http_server.cc:248] "Timeout 2: Found 3 HTTP service connections"\n' \
                'I1122 http_server.cc:248] "Timeout 1: Found 3 HTTP service connections"\n'

    def test_gave_up_when_triton_says_so(self):
        assert gave_up_at_exit_timeout(self.COUNTDOWN + "Exit timeout expired. Exiting immediately.\n")

    def test_gave_up_when_it_crashed_after_the_countdown_ended(self):
        assert gave_up_at_exit_timeout(self.COUNTDOWN + "Signal (11) received.\n")

    def test_did_not_give_up_when_it_crashed_before_the_countdown_ended(self):
        assert not gave_up_at_exit_timeout("Signal (11) received.\n" + self.COUNTDOWN)

    def test_did_not_give_up_when_the_countdown_ended_without_an_exit(self):
        assert not gave_up_at_exit_timeout(self.COUNTDOWN)
