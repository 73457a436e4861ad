"""Runs inside the mesh (a pod with an Istio sidecar) for tests/cluster/test_canary_split.py: sends N readiness
requests over HTTP and N over gRPC to the server Service and counts the track each answer names in the routing
chart's response header (canary.trackResponseHeader). Prints one JSON object:
{"http": {"stable": n, "canary": n, ...}, "grpc": {...}, "forced": {"http": {...}, "grpc": {...}}}.

Standard library plus tritonclient's generated gRPC stubs (installed in the pod); one gRPC channel, whose requests
the sidecar routes one by one, and a fresh HTTP connection per request.
Usage: python - HOST HTTP_PORT GRPC_PORT HEADER COUNT
"""

import collections
import json
import sys
import urllib.request

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

host, http_port, grpc_port, header, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
FORCED_COUNT = 50


def http_tracks(requests: int, force: str | None = None) -> dict:
    tracks = collections.Counter()
    for _ in range(requests):
        request = urllib.request.Request(f"http://{host}:{http_port}/v2/health/ready", headers={header: force} if force else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            tracks[response.headers.get(header, "missing")] += 1
    return dict(tracks)


def grpc_tracks(stub, requests: int, force: str | None = None) -> dict:
    tracks = collections.Counter()
    for _ in range(requests):
        _, call = stub.ServerReady.with_call(service_pb2.ServerReadyRequest(), timeout=10, metadata=((header, force),) if force else None)
        metadata = dict(call.initial_metadata())
        tracks[metadata.get(header, "missing")] += 1
    return dict(tracks)


with grpc.insecure_channel(f"{host}:{grpc_port}") as channel:
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    result = {"http": http_tracks(count), "grpc": grpc_tracks(stub, count),
              "forced": {"http": http_tracks(FORCED_COUNT, "canary"), "grpc": grpc_tracks(stub, FORCED_COUNT, "canary")}}
print(json.dumps(result))
