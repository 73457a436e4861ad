"""Runs inside the kind cluster, in a client pod of the kind Triton image (numpy and tritonclient are installed
there), beside models/synthetic_patterns.py: inference through the server's Service, over HTTP and gRPC.

    python inference_client.py once HOST            one labelled image per protocol; prints
        {"http": {"expected": [..], "predicted": [..]}, "grpc": {...}}
    python inference_client.py load HOST WORKERS MAX_SECONDS
        WORKERS threads per protocol send one labelled image at a time, each waiting for its answer (bounded load),
        until a line `stop` arrives on stdin or MAX_SECONDS pass; prints `started` at once, then
        {"http": {"ok": n, "failed": n}, "grpc": {...}, "errors": [up to 20 messages], "seconds": s}.
A request fails when it raises (connection refused, reset, timeout, an error status) or answers the wrong class.
Ports: HTTP 8000, gRPC 8001 (the chart's Service ports). Model: image_classifier, input IMAGE, output TOP_CLASS.
"""

import json
import sys
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from synthetic_patterns import generate_images

MODEL = "image_classifier"
REQUEST_TIMEOUT_SECONDS = 10
MAX_ERRORS_KEPT = 20


def infer(protocol: str, client, image: np.ndarray) -> int:
    module = httpclient if protocol == "http" else grpcclient
    tensor = module.InferInput("IMAGE", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image)
    output = module.InferRequestedOutput("TOP_CLASS")
    if protocol == "http":
        result = client.infer(MODEL, [tensor], outputs=[output], timeout=REQUEST_TIMEOUT_SECONDS * 1_000_000)
    else:
        result = client.infer(MODEL, [tensor], outputs=[output], client_timeout=REQUEST_TIMEOUT_SECONDS)
    return int(result.as_numpy("TOP_CLASS").reshape(-1)[0])


def new_client(protocol: str, host: str):
    if protocol == "http":
        return httpclient.InferenceServerClient(f"{host}:8000", connection_timeout=REQUEST_TIMEOUT_SECONDS,
                                                network_timeout=REQUEST_TIMEOUT_SECONDS)
    return grpcclient.InferenceServerClient(f"{host}:8001")


def once(host: str) -> dict:
    images, labels = generate_images(8, seed=15)
    result = {}
    for protocol in ("http", "grpc"):
        client = new_client(protocol, host)
        result[protocol] = {"expected": [int(label) for label in labels],
                            "predicted": [infer(protocol, client, images[i:i + 1]) for i in range(len(labels))]}
    return result


def load(host: str, workers: int, max_seconds: float) -> dict:
    images, labels = generate_images(64, seed=16)
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"http": {"ok": 0, "failed": 0}, "grpc": {"ok": 0, "failed": 0}}
    errors: list[str] = []

    def worker(protocol: str, offset: int) -> None:
        client = new_client(protocol, host)
        index = offset
        while not stop.is_set():
            i = index % len(labels)
            index += 1
            try:
                answer = infer(protocol, client, images[i:i + 1])
                outcome = "ok" if answer == int(labels[i]) else "failed"
                message = None if outcome == "ok" else f"{protocol}: class {answer}, expected {int(labels[i])}"
            except Exception as error:  # every failure counts; the first ones are kept to be read
                outcome, message = "failed", f"{protocol}: {type(error).__name__}: {error}"[:300]
                client = new_client(protocol, host)
            with lock:
                counts[protocol][outcome] += 1
                if message and len(errors) < MAX_ERRORS_KEPT:
                    errors.append(message)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(protocol, n), daemon=True) for protocol in ("http", "grpc") for n in range(workers)]
    for thread in threads:
        thread.start()
    print("started", flush=True)
    deadline = threading.Timer(max_seconds, stop.set)
    deadline.start()
    for line in sys.stdin:
        if line.strip() == "stop" or stop.is_set():
            break
    stop.set()
    deadline.cancel()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 2)
    return {**counts, "errors": errors, "seconds": round(time.monotonic() - started, 1)}


if __name__ == "__main__":
    mode, host = sys.argv[1], sys.argv[2]
    if mode == "once":
        print(json.dumps(once(host)))
    else:
        print(json.dumps(load(host, int(sys.argv[3]), float(sys.argv[4]))))
