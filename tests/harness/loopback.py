"""A scripted HTTP peer on 127.0.0.1, for running the charts' shell scripts against the failures they must
catch: each (method, path) answers from a list of answers in turn (the last one repeats), with a status, a
body, or a hang; every request is recorded. The scripts run with the real curl of this machine against it.

    with ScriptedPeer({("GET", "/v2/health/ready"): [Answer(400), Answer(200)]}) as peer:
        run the script with TRITON_URL=peer.url; then look at peer.requests

A path with no answers gets 404. A hang holds the connection open without answering until the peer closes
or HANG_LIMIT_SECONDS pass, so a script without its own timeout is caught by the caller's timeout, and no
thread outlives the test by more than that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_LIMIT_SECONDS = 10
SHUTDOWN_TIMEOUT_SECONDS = 5


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
