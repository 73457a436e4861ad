"""A scripted HTTP peer on 127.0.0.1, for running the charts' shell scripts against the failures they must
catch: each (method, path) answers from a list of answers in turn (the last one repeats), with a status, a
body, or a hang; every request is recorded. The scripts run with the real curl of this machine against it.

    with ScriptedPeer({("GET", "/v2/health/ready"): [Answer(400), Answer(200)]}) as peer:
        run the script with TRITON_URL=peer.url; then look at peer.requests

A path with no answers gets 404. A hang holds the connection open without answering until the peer closes
or HANG_LIMIT_SECONDS pass, so a script without its own timeout is caught by the caller's timeout, and no
thread outlives the test by more than that.

Below the HTTP level, for clients of any protocol (HTTP, gRPC's HTTP/2, a Pushgateway client):
- StallingProxy forwards TCP to a real server until it has carried a set number of bytes from the clients, then
  stops answering: what it holds and every new connection stay open and silent (a server that hangs);
- NonHttpPeer answers every connection with one line that is not HTTP, then closes it;
- IdleClosingProxy forwards TCP to a real server and closes connections left idle (a keep-alive timeout), or cuts
  each answer after a set number of bytes;
- RawHttpPeer answers each HTTP request with raw bytes given by the test (chunked bodies, HTTP/1.0, malformed
  answers), keeping the connection or closing it after each answer.
At the HTTP level again, PathPrefixProxy forwards to a real HTTP server the requests under a path prefix, with the
prefix taken off (an ingress that serves Triton under /triton), and answers 404 to the others.
All are bounded like the scripted peer: every socket waits at most POLL_SECONDS at a time, nothing is held
longer than HANG_LIMIT_SECONDS, and closing joins every thread within SHUTDOWN_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_LIMIT_SECONDS = 10
SHUTDOWN_TIMEOUT_SECONDS = 5
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Answer:
    """One answer: an HTTP status and body (bytes or str), or a hang (no answer at all)."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    hang: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class ScriptedPeer:
    """The peer; use it as a context manager. `url` is http://127.0.0.1:<free port>."""

    routes: dict[tuple[str, str], list[Answer]]
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._served = {key: 0 for key in self.routes}
        self._closing = threading.Event()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest's output clean
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = peer._next(self.command, self.path, Request(self.command, self.path, dict(self.headers), body))
                if answer.hang:
                    peer._closing.wait(HANG_LIMIT_SECONDS)
                    self.close_connection = True
                    return
                payload = answer.body.encode() if isinstance(answer.body, str) else answer.body
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _next(self, method: str, path: str, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            answers = self.routes.get((method, path))
            if not answers:
                return Answer(404, '{"error":"no such route on the scripted peer"}')
            index = min(self._served[(method, path)], len(answers) - 1)
            self._served[(method, path)] += 1
            return answers[index]

    def __enter__(self) -> "ScriptedPeer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)


def refusing_address() -> tuple[str, object]:
    """(url, socket) of a loopback port that refuses connections: bound, never listening. Keep the socket
    open while the url is in use, so that no other process can take the port; close it afterwards."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return f"http://127.0.0.1:{sock.getsockname()[1]}", sock


class _TcpPeer:
    """An accept loop on 127.0.0.1 with one thread per connection, each bounded (see the module docstring)."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_SECONDS)
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def address(self) -> str:
        """host:port, as gRPC clients take it."""
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the poll timeout, or the listener closed
                continue
            with self._lock:
                self.connections += 1
                thread = threading.Thread(target=self._guarded, args=(connection,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _guarded(self, connection: socket.socket) -> None:
        try:
            self._handle(connection)
        except OSError:
            pass
        finally:
            connection.close()

    def _handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._listener.close()
        self._accept.join(SHUTDOWN_TIMEOUT_SECONDS)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(SHUTDOWN_TIMEOUT_SECONDS)


class StallingProxy(_TcpPeer):
    """Forwards to `upstream` ("host:port") until `stall_after_bytes` have come from the clients in all, then
    stops answering: no byte goes either way any more, connections stay open (what comes in is read and
    dropped), new ones are accepted and held, each for at most HANG_LIMIT_SECONDS. `stalled` says when it began."""

    def __init__(self, upstream: str, stall_after_bytes: int):
        super().__init__()
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.stall_after_bytes = stall_after_bytes
        self.forwarded = 0
        self.stalled = threading.Event()

    def _handle(self, client: socket.socket) -> None:
        deadline = None
        client.settimeout(SHUTDOWN_TIMEOUT_SECONDS)
        upstream = None if self.stalled.is_set() else socket.create_connection(self.upstream, timeout=SHUTDOWN_TIMEOUT_SECONDS)
        try:
            while not self._closing.is_set():
                if self.stalled.is_set() and deadline is None:
                    deadline = time.monotonic() + HANG_LIMIT_SECONDS
                if deadline is not None and time.monotonic() > deadline:
                    return
                sockets = [client] + ([upstream] if upstream is not None else [])
                readable, _, _ = select.select(sockets, [], [], POLL_SECONDS)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.stalled.is_set():
                        continue  # read and dropped: the server has stopped answering
                    if sock is client:
                        with self._lock:
                            self.forwarded += len(data)
                            if self.forwarded >= self.stall_after_bytes:
                                self.stalled.set()
                        upstream.sendall(data)
                    else:
                        client.sendall(data)
        finally:
            if upstream is not None:
                upstream.close()


class NonHttpPeer(_TcpPeer):
    """Answers every connection with `line` (not HTTP), then closes it; counts the connections."""

    def __init__(self, line: bytes = b"SSH-2.0-OpenSSH_9.6\r\n"):
        super().__init__()
        self.line = line

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(POLL_SECONDS)
        connection.sendall(self.line)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self._closing.is_set():  # let the request arrive, then hang up
            try:
                if not connection.recv(65536):
                    return
            except TimeoutError:
                return


class IdleClosingProxy(_TcpPeer):
    """Forwards TCP to `upstream` ("host:port") and closes a connection, both ways, once nothing has crossed it for
    `idle_seconds` (a keep-alive timeout, as Envoy's idle_timeout and nginx's keepalive_timeout close one). With
    `cut_answers_after_bytes`, it instead closes each connection once that many bytes of answer have gone back (a
    pod killed mid-answer). Counts the connections."""

    def __init__(self, upstream: str, idle_seconds: float = HANG_LIMIT_SECONDS, cut_answers_after_bytes: int | None = None):
        super().__init__()
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.idle_seconds = min(idle_seconds, HANG_LIMIT_SECONDS)
        self.cut_answers_after_bytes = cut_answers_after_bytes

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream, timeout=SHUTDOWN_TIMEOUT_SECONDS)
        answered, last = 0, time.monotonic()
        try:
            while not self._closing.is_set() and time.monotonic() - last < self.idle_seconds:
                readable, _, _ = select.select([client, upstream], [], [], POLL_SECONDS)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    last = time.monotonic()
                    if sock is client:
                        upstream.sendall(data)
                        continue
                    if self.cut_answers_after_bytes is not None and answered + len(data) >= self.cut_answers_after_bytes:
                        client.sendall(data[: self.cut_answers_after_bytes - answered])
                        return
                    answered += len(data)
                    client.sendall(data)
        finally:
            upstream.close()


class RawHttpPeer(_TcpPeer):
    """Answers each HTTP request (its head up to the blank line, then Content-Length bytes of body) with the next of
    `answers` in the order the requests arrive, raw bytes sent as they are (the last one repeats), then reads the
    next request on the same connection; an answer of None closes the connection without answering (a server that
    dies on the request). With `close_after_answer`, it closes the connection after each answer; with `idle_answer`,
    a connection left without a request for `idle_seconds` gets those bytes and is closed (a 408 Request Timeout).
    For the HTTP a client must read besides Triton's own: chunked bodies, HTTP/1.0, `Connection: close`, interim
    answers, malformed answers. Counts the connections; `requests` holds each request's head, decoded."""

    def __init__(self, answers: list[bytes | None], close_after_answer: bool = False, idle_answer: bytes | None = None,
                 idle_seconds: float = HANG_LIMIT_SECONDS):  # fmt: skip
        super().__init__()
        self.answers = answers
        self.close_after_answer = close_after_answer
        self.idle_answer = idle_answer
        self.idle_seconds = min(idle_seconds, HANG_LIMIT_SECONDS)
        self.requests: list[str] = []

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(POLL_SECONDS)
        deadline = time.monotonic() + HANG_LIMIT_SECONDS

        def received() -> bytes:  # b"" once the client closes, the peer closes, the deadline or the idle time passes
            idle_until = time.monotonic() + self.idle_seconds
            while not self._closing.is_set() and time.monotonic() < min(deadline, idle_until):
                try:
                    return connection.recv(65536)
                except TimeoutError:
                    continue
            if self.idle_answer is not None and time.monotonic() >= idle_until:
                connection.sendall(self.idle_answer)
            return b""

        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                data = received()
                if not data:
                    return
                buffered += data
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            while len(buffered) < length:
                data = received()
                if not data:
                    return
                buffered += data
            buffered = buffered[length:]
            with self._lock:
                self.requests.append(head.decode("latin-1"))
                answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
            if answer is None:
                return
            connection.sendall(answer)
            if self.close_after_answer:
                return


class PathPrefixProxy:
    """HTTP/1.1 (keep-alive) on 127.0.0.1: a request for `prefix` + path goes to `upstream` ("host:port") as path,
    one upstream connection per client connection; any other path gets 404. `paths` records what came in."""

    HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}

    def __init__(self, upstream: str, prefix: str):
        import http.client

        proxy = self
        self.prefix = prefix
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                proxy.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.startswith(proxy.prefix + "/"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if not hasattr(self, "upstream"):
                    self.upstream = http.client.HTTPConnection(upstream, timeout=HANG_LIMIT_SECONDS)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in PathPrefixProxy.HOP_BY_HOP}
                self.upstream.request(self.command, self.path[len(proxy.prefix):], body=body, headers=headers)
                answer = self.upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in PathPrefixProxy.HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    def __enter__(self) -> "PathPrefixProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
