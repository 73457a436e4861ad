"""Run the batch client on this machine exactly as a shard's pod of the rendered Job runs it.

The program, its file and every flag come from the rendered `batch` container; the file itself is written out of
the rendered ConfigMap (the one the pod mounts), not taken from the chart directory. Only what cannot work outside
a cluster changes, each change recorded with its reason (as tests/harness/triton_local.py does for Triton):

- `python3` is this interpreter (it has tritonclient, numpy and pillow, as the SDK image does);
- container paths (the client's mount, the data claim) map to local directories;
- the Triton address moves to the local server's loopback port;
- JOB_COMPLETION_INDEX is set per shard, as the Indexed Job controller sets it in each shard's pod.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from tests.harness.triton_local import ArgChange, LauncherError, resolve_container_env

CLIENT_CONTAINER = "batch"
OBJECT_STORE_PREFIXES = ("s3://", "gs://")
RUN_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class BatchPod:
    """The pod template of a rendered batch Job (or CronJob), its Job spec, and the render's ConfigMaps."""

    job_spec: dict
    spec: dict
    container: dict
    config_maps: dict[str, dict] = field(default_factory=dict)

    @property
    def shards(self) -> int:
        return int(self.job_spec["completions"])

    @property
    def parallelism(self) -> int:
        return int(self.job_spec["parallelism"])

    @property
    def sidecar(self) -> dict | None:
        """The Triton native sidecar (an init container with restartPolicy Always), when the pod has one."""
        return next((c for c in self.spec.get("initContainers", []) if c.get("restartPolicy") == "Always"), None)

    @property
    def protocol(self) -> str:
        """The rendered --protocol: http or grpc."""
        return next(str(arg).partition("=")[2] for arg in self.container["args"] if str(arg).startswith("--protocol="))

    def local_address(self, server) -> str:
        """The host:port of a local TritonServer's listener for the rendered protocol (a host:port given as is)."""
        if isinstance(server, str):
            return server
        return server.http_address if self.protocol == "http" else server.grpc_address

    def volume_of(self, mount_path: str) -> dict:
        mount = next(m for m in self.container["volumeMounts"] if m["mountPath"] == mount_path)
        return next(v for v in self.spec["volumes"] if v["name"] == mount["name"])


def find_batch_pod(objects: Iterable[Mapping]) -> BatchPod:
    """The one rendered Job or CronJob whose pod has the batch client container."""
    found = []
    for obj in objects:
        if obj.get("kind") == "Job":
            job_spec = obj["spec"]
        elif obj.get("kind") == "CronJob":
            job_spec = obj["spec"]["jobTemplate"]["spec"]
        else:
            continue
        for container in job_spec["template"]["spec"]["containers"]:
            if container["name"] == CLIENT_CONTAINER:
                found.append(BatchPod(job_spec, job_spec["template"]["spec"], container))
    if len(found) != 1:
        raise LauncherError(f"expected one Job or CronJob with a {CLIENT_CONTAINER!r} container in the render, found {len(found)}")
    config_maps = {obj["metadata"]["name"]: obj for obj in objects if obj.get("kind") == "ConfigMap"}
    return BatchPod(found[0].job_spec, found[0].spec, found[0].container, config_maps)


@dataclass(frozen=True)
class ShardPlan:
    argv: list[str]
    env: dict[str, str]
    changes: list[ArgChange]
    log_path: Path

    def describe(self) -> str:
        return "\n".join(str(change) for change in self.changes)


def _map_path(container_path: str, mapping: Mapping[str, Path]) -> str | None:
    path = PurePosixPath(container_path)
    for prefix in sorted(mapping, key=lambda p: len(PurePosixPath(p).parts), reverse=True):
        if path == PurePosixPath(prefix) or PurePosixPath(prefix) in path.parents:
            return str(Path(mapping[prefix]) / path.relative_to(prefix))
    return None


def plan_shard(
    pod: BatchPod,
    shard: int,
    *,
    work_dir: Path,
    path_mapping: Mapping[str, Path],
    url: str | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> ShardPlan:
    """The local command and environment of shard `shard`. `path_mapping` maps container directories (the data
    claim's mountPath) to local ones; `url` is the local Triton's host:port, in place of the rendered target."""
    args = [str(arg) for arg in pod.container["args"]]
    if len(args) < 2 or args[0] != "python3":
        raise LauncherError(f"the batch container must run python3 <client> (no command), not {args[:2]}")
    changes = [ArgChange("python3", sys.executable, "this interpreter has tritonclient, numpy and pillow, as the SDK image does")]
    client_dir = str(PurePosixPath(args[1]).parent)
    volume = pod.volume_of(client_dir)
    rendered = pod.config_maps.get(volume["configMap"]["name"])
    if rendered is None:
        raise LauncherError(f"the render has no ConfigMap {volume['configMap']['name']} for the client mount {client_dir}")
    local_client = work_dir / "client"
    local_client.mkdir(parents=True, exist_ok=True)
    for name, text in rendered["data"].items():
        (local_client / name).write_text(text)
    mapping = {client_dir: local_client, **path_mapping}
    argv = [sys.executable, _map_path(args[1], mapping)]
    changes.append(ArgChange(args[1], argv[1], "the rendered ConfigMap's files, written out"))
    for flag in args[2:]:
        name, _, value = flag.partition("=")
        local = flag
        if name == "--url" and url is not None:
            local = f"--url={url}"
            changes.append(ArgChange(flag, local, "the local tritonserver's loopback port"))
        elif name in ("--input", "--output") and not value.startswith(OBJECT_STORE_PREFIXES):
            mapped = _map_path(value, mapping)
            if mapped is None:
                raise LauncherError(f"{flag}: no local directory for it; add its volume's mountPath to path_mapping")
            local = f"{name}={mapped}"
            changes.append(ArgChange(flag, local, "container path mapped to a local path"))
        argv.append(local)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **resolve_container_env(pod.container, secrets)}
    env["JOB_COMPLETION_INDEX"] = str(shard)
    changes.append(ArgChange(None, f"env JOB_COMPLETION_INDEX={shard}", "the Indexed Job controller sets it in each shard's pod"))
    return ShardPlan(argv, env, changes, work_dir / f"shard-{shard}.log")


def start_shard(plan: ShardPlan) -> subprocess.Popen:
    """The client as its own process group, its output in the plan's log file."""
    plan.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(plan.log_path, "wb") as log:
        return subprocess.Popen(plan.argv, env=plan.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=plan.log_path.parent, start_new_session=True)


@dataclass(frozen=True)
class ShardRun:
    shard: int
    returncode: int
    log: str


def run_shards(plans: Mapping[int, ShardPlan], parallelism: int, timeout: float = RUN_TIMEOUT_SECONDS) -> dict[int, ShardRun]:
    """Every shard to completion, at most `parallelism` at once (as the Job runs them); bounded by `timeout`
    per wave. A shard still running at its deadline is killed and reported with returncode None."""
    results: dict[int, ShardRun] = {}
    pending = sorted(plans)
    while pending:
        wave, pending = pending[:parallelism], pending[parallelism:]
        processes = {shard: start_shard(plans[shard]) for shard in wave}
        for shard, process in processes.items():
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                code = None
            results[shard] = ShardRun(shard, code, plans[shard].log_path.read_text(errors="replace"))
    return results
