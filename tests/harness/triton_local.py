"""Run the real tritonserver on loopback, started from the container spec the chart renders.

The local tier proves the chart's Triton container, not a hand-written copy of it: the command, args, env
and probes come from the rendered spec, and only what cannot work on a developer machine is changed, each
change recorded with its reason so a test can print it:

- ports move to free loopback ports, and every listener is bound to 127.0.0.1;
- container paths (`/models`, ...) are mapped to local paths, and the backend and cache directories point
  at the tritonserver that nvidia-pytriton ships (python backend only);
- without a GPU, GPU-only settings are dropped;
- a `--load-model` of a model whose backend this tritonserver lacks (PyTorch, TensorRT) is dropped, naming it;
- `$(VAR)` references are expanded from the container env exactly as the kubelet does, with secret values
  supplied by the test, so a secret reaches its flag the way it will in the cluster.

The server runs as its own process group with its log in a file; `wait_ready` polls the rendered probes,
`stop` sends SIGTERM and waits like the kubelet, `kill` is SIGKILL.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

from prometheus_client.parser import text_string_to_metric_families

from tests.harness.model_config import (
    CONFIG_FILE,
    MODELS_DIR,
    ModelConfigError,
    model_runtime,
    parse_model_config,
    validate_model_directory,
    validate_repository,
)

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PROGRAM = "tritonserver"
# Listener name (the container port's name in the chart) -> the flag that sets its port, and Triton's default.
LISTENER_PORT_FLAGS = {"http": ("--http-port", 8000), "grpc": ("--grpc-port", 8001), "metrics": ("--metrics-port", 8002)}
LISTENER_ADDRESS_FLAGS = ("--http-address", "--grpc-address", "--metrics-address")
# Flags whose value is a path inside the container; they must be mapped to a local path.
CONTAINER_PATH_FLAGS = ("--model-repository", "--model-store", "--log-file", "--grpc-server-cert", "--grpc-server-key", "--grpc-root-cert")
# tritonserver 2.51 flags that take no value (from `tritonserver --help`); every other flag takes one.
VALUELESS_FLAGS = ("--help", "--disable-auto-complete-config")
# Settings that need a GPU; a GPU-less server would log errors for them or allocate nothing.
GPU_ONLY_FLAGS = {
    "--allow-gpu-metrics": "GPU metrics come from DCGM and a GPU",
    "--cuda-memory-pool-byte-size": "a CUDA memory pool needs a GPU",
    "--cuda-virtual-address-size": "CUDA virtual memory needs a GPU",
    "--min-supported-compute-capability": "compute capability is a GPU property",
    "--model-load-gpu-limit": "a GPU memory limit needs a GPU",
    "--enable-peer-access": "peer access is between GPUs",
    "--pinned-memory-pool-byte-size": "pinned host memory is allocated through CUDA",
}
GPU_ONLY_FLAG_PREFIX = "--gpu-"
# Endpoints that listen on all interfaces with no address flag; the local tier stays on loopback.
NON_LOOPBACK_ENDPOINT_FLAGS = ("--allow-sagemaker", "--allow-vertex-ai")

# Kubernetes probe defaults (core/v1 Probe) for fields the chart leaves out.
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 1}
PROBE_ORDER = ("startupProbe", "readinessProbe")
# Model runtimes the python-only tritonserver of nvidia-pytriton can load, and why the others are left out.
LOCAL_RUNTIMES = {"python"}
UNSERVABLE_RUNTIMES = {
    "pytorch_libtorch": "the tritonserver shipped by nvidia-pytriton has no PyTorch backend",
    "tensorrt_plan": "a TensorRT engine needs a GPU and is built on the target node",
}
# The ENTRYPOINT of the NGC Triton image (and of every NGC image built on the CUDA base images: triton-inference-
# server/server build.py, NVIDIA's cuda Dockerfiles). A container without `command` runs it, and it execs the args.
NGC_ENTRYPOINT = "/opt/nvidia/nvidia_entrypoint.sh"
# Kubernetes' default terminationGracePeriodSeconds, for a pod spec that leaves it out.
DEFAULT_TERMINATION_GRACE_SECONDS = 30
TRITON_CONTAINER_NAME = "triton"
# The pod label that tells the server's tracks apart (charts/triton-server).
TRACK_LABEL = "triton-stack.io/track"
# What the charts' dashboards, alerts and autoscaling queries read from Triton's metrics port, by name and
# Prometheus type. The chart sets --metrics-config=summary_latencies=true, which adds the summaries. One list
# for the local tier (the real server must export each of these) and the monitoring rules that use them.
TRITON_METRICS_FOR_MONITORING = {
    "nv_inference_request_success": "counter",
    "nv_inference_request_failure": "counter",
    "nv_inference_count": "counter",
    "nv_inference_exec_count": "counter",
    "nv_inference_request_duration_us": "counter",
    "nv_inference_queue_duration_us": "counter",
    "nv_inference_compute_infer_duration_us": "counter",
    "nv_inference_pending_request_count": "gauge",
    "nv_inference_request_summary_us": "summary",
}
READY_POLL_SECONDS = 0.1
GROUP_EXIT_SECONDS = 10
LOG_TAIL_CHARACTERS = 4000


class LauncherError(RuntimeError):
    """The container spec cannot be run locally as rendered, or the server failed; says what and why."""


class ShutdownTimeout(LauncherError):
    """The server outlived its grace period after SIGTERM and was killed."""


# --- the installed tritonserver ------------------------------------------------------------------------


@dataclass(frozen=True)
class TritonInstallation:
    """The tritonserver binary and python backend that the nvidia-pytriton wheel ships."""

    root: Path
    libraries: Path

    @property
    def binary(self) -> Path:
        return self.root / "bin" / PROGRAM

    @property
    def python_backend(self) -> Path:
        return self.root / "backends" / "python"

    @property
    def python_backend_stub(self) -> Path:
        return self.root / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}" / "triton_python_backend_stub"

    @property
    def cache_directory(self) -> Path:
        return self.root / "caches"

    def runtime_environment(self) -> dict[str, str]:
        """PATH and LD_LIBRARY_PATH the server and its python stubs need."""
        # The stub ignores PYTHONPATH and runs the first python3 on PATH: this virtualenv's, which has torch.
        interpreter_bin = Path(sys.executable).parent
        python_libdir = sysconfig.get_config_var("LIBDIR") or ""
        return {
            "PATH": os.pathsep.join([str(interpreter_bin), os.environ.get("PATH", "/usr/bin:/bin")]),
            "LD_LIBRARY_PATH": os.pathsep.join(path for path in (str(self.libraries), python_libdir) if path),
        }


def find_triton_installation() -> TritonInstallation:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise LauncherError("nvidia-pytriton is not installed in this interpreter; run `make setup`")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    installation = TritonInstallation(root=package_dir / "tritonserver", libraries=package_dir.parent / "nvidia_pytriton.libs")
    for required in (installation.binary, installation.python_backend, installation.python_backend_stub, installation.libraries):
        if not required.exists():
            raise LauncherError(f"{required} is missing from the nvidia-pytriton install; reinstall it with `make setup`")
    return installation


def prepare_backend_directory(installation: TritonInstallation, destination: Path) -> Path:
    """Assemble a --backend-directory with the python backend and this Python's stub; return it.

    The wheel keeps the stubs for every Python version apart from the backend, and the backend looks for
    its stub beside itself, so the two are copied together. `destination` must be outside the repository.
    """
    python_dir = destination / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for source in (*sorted(installation.python_backend.glob("*.*")), installation.python_backend_stub):
        shutil.copy2(source, python_dir / source.name)
    return destination


# --- the model repository the local server can load ------------------------------------------------------


@dataclass(frozen=True)
class LocalModelRepository:
    path: Path
    served: tuple[str, ...]
    # Model name -> why the local server cannot load it.
    skipped: dict[str, str]


def prepare_local_model_repository(
    destination: Path, source: Path = MODELS_DIR, *, whole: bool = False, validate: bool = True
) -> LocalModelRepository:
    """Copy the models this tritonserver can load (python backend) from `source` into `destination`.

    Copies rather than links: the python backend writes __pycache__ beside model.py, and that must not
    land in the repository. The models it cannot load are named in `skipped`; with `whole` they are copied
    too, so that the server sees the directory a pod is given whole and only a load list keeps it from
    loading them. The servable models are validated for a GPU-less server before returning, unless
    `validate` is off: a user's own repository (`make up MODELS=`) is judged by Triton itself, not by this
    project's stricter checks.
    """
    destination.mkdir(parents=True, exist_ok=True)
    served, skipped = [], {}
    for model_dir in sorted(path for path in source.iterdir() if (path / CONFIG_FILE).is_file()):
        runtime = model_runtime(parse_model_config(model_dir / CONFIG_FILE))
        if runtime in LOCAL_RUNTIMES:
            served.append(model_dir.name)
        else:
            skipped[model_dir.name] = f"{runtime}: {UNSERVABLE_RUNTIMES.get(runtime, 'not loadable by this tritonserver')}"
        if runtime in LOCAL_RUNTIMES or whole:
            shutil.copytree(model_dir, destination / model_dir.name, ignore=shutil.ignore_patterns("__pycache__"))
    if validate:
        problems = []
        for name in served:
            try:
                validate_model_directory(destination / name, gpu_count=0)
            except ModelConfigError as error:
                problems.extend(error.problems)
        if problems:
            raise ModelConfigError(problems)
    return LocalModelRepository(destination, tuple(served), skipped)


# --- Kubernetes semantics ------------------------------------------------------------------------------


def expand_kubernetes_references(text: str, variables: Mapping[str, str]) -> str:
    """Expand `$(VAR)` as the kubelet does for command, args and env values.

    Follows kubernetes third_party/forked/golang/expansion/expand.go: `$(VAR)` becomes VAR's value when VAR
    is defined and stays as written when it is not; `$$` is an escaped `$`, so `$$(VAR)` gives `$(VAR)`;
    a `$` before any other character, or an unclosed `$(`, is kept as it is.
    """
    out: list[str] = []
    cursor = 0
    while cursor < len(text):
        character = text[cursor]
        if character != "$" or cursor + 1 == len(text):
            out.append(character)
            cursor += 1
            continue
        following = text[cursor + 1]
        if following == "$":
            out.append("$")
            cursor += 2
        elif following == "(":
            closer = text.find(")", cursor + 2)
            if closer == -1:
                out.append("$(")
                cursor += 2
            else:
                name = text[cursor + 2 : closer]
                out.append(variables[name] if name in variables else f"$({name})")
                cursor = closer + 1
        else:
            out.append("$" + following)
            cursor += 2
    return "".join(out)


def resolve_container_env(
    container_spec: Mapping,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """The environment the kubelet would give the container: envFrom, then env in order.

    `secrets` and `config_maps` are {object name: {key: value}}, the data of the Secrets and ConfigMaps the
    spec refers to. A value may use `$(VAR)` of a variable defined before it, as in Kubernetes.
    """
    sources = {"secret": secrets or {}, "configMap": config_maps or {}}
    environment: dict[str, str] = {}
    for source in container_spec.get("envFrom", []):
        kind = "secret" if "secretRef" in source else "configMap"
        reference = source.get(f"{kind}Ref", {})
        data = sources[kind].get(reference.get("name"))
        if data is None:
            if reference.get("optional"):
                continue
            raise LauncherError(f'envFrom {kind} "{reference.get("name")}" was not supplied; pass {_supply_hint(kind)}')
        for key, value in data.items():
            environment[source.get("prefix", "") + key] = value
    for variable in container_spec.get("env", []):
        name = variable["name"]
        if "valueFrom" not in variable:
            environment[name] = expand_kubernetes_references(variable.get("value", ""), environment)
            continue
        value_from = variable["valueFrom"]
        kind = "secret" if "secretKeyRef" in value_from else "configMap" if "configMapKeyRef" in value_from else None
        if kind is None:
            raise LauncherError(f"env {name}: valueFrom {sorted(value_from)} cannot be resolved outside a cluster")
        reference = value_from[f"{kind}KeyRef"]
        value = sources[kind].get(reference["name"], {}).get(reference["key"])
        if value is None:
            if reference.get("optional"):
                continue
            raise LauncherError(
                f'env {name}: {kind} "{reference["name"]}" key "{reference["key"]}" was not supplied; '
                f"pass {_supply_hint(kind)}"
            )
        environment[name] = value
    return environment


def _supply_hint(kind: str) -> str:
    return "secrets={name: {key: value}}" if kind == "secret" else "config_maps={name: {key: value}}"


def probe_budget_seconds(probe: Mapping) -> float:
    """How long Kubernetes lets a probe fail before acting: initialDelaySeconds + periodSeconds * failureThreshold."""
    settings = {**PROBE_DEFAULTS, **probe}
    return float(settings["initialDelaySeconds"] + settings["periodSeconds"] * settings["failureThreshold"])


def probe_succeeds(probe: Mapping, port: int) -> bool:
    """Run one rendered httpGet probe against 127.0.0.1:`port`, the local port for the probe's container port.

    Success is a status from 200 to 399, as for the kubelet; its timeoutSeconds bounds the request.
    """
    http_get = probe.get("httpGet")
    if http_get is None or http_get.get("scheme", "HTTP") != "HTTP":
        raise LauncherError(f"only plain httpGet probes can be run locally, not {sorted(probe)}")
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}{http_get.get('path', '/')}")
    for header in http_get.get("httpHeaders", []):
        request.add_header(header["name"], header["value"])
    timeout = probe.get("timeoutSeconds", PROBE_DEFAULTS["timeoutSeconds"])
    try:
        with _NO_REDIRECTS.open(request, timeout=timeout) as response:
            return 200 <= response.status < 400
    except urllib.error.HTTPError as error:
        return 200 <= error.code < 400
    except (urllib.error.URLError, OSError):
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The kubelet counts a redirect as success without following it off the pod.
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


# --- the rendered pod ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TritonPod:
    """The pod template of a rendered Deployment that runs Triton, and the ConfigMaps the same render holds."""

    spec: dict
    container: dict
    config_maps: dict[str, dict] = field(default_factory=dict)

    @property
    def pre_stop_seconds(self) -> float:
        """How long the kubelet runs the container's preStop hook before SIGTERM: the `sleep` action's seconds
        or `exec: [sleep, N]`, the two forms the chart renders; 0 without a preStop hook."""
        pre_stop = self.container.get("lifecycle", {}).get("preStop")
        if not pre_stop:
            return 0.0
        if "sleep" in pre_stop:
            return float(pre_stop["sleep"]["seconds"])
        command = pre_stop.get("exec", {}).get("command", [])
        if len(command) == 2 and PurePosixPath(command[0]).name == "sleep":
            return float(command[1])
        raise LauncherError(f"preStop {pre_stop} cannot be timed locally; only the sleep action and exec [sleep, N] can")

    @property
    def termination_grace_seconds(self) -> float:
        """The pod's whole shutdown budget, preStop included (Kubernetes' default when the spec leaves it out)."""
        return float(self.spec.get("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_SECONDS))

    def mount_model_repository(self, repository: LocalModelRepository, destination: Path) -> tuple[dict[str, Path], LocalModelRepository]:
        """The path_mapping for the volume behind --model-repository, and the models the pod would see there.

        A persistentVolumeClaim stands for all of `repository` (the claim holds models/). A configMap volume
        shows only its items: they are laid out under `destination` from the rendered ConfigMap's data when
        the render holds it (the chart made it from modelRepository.configMap.files), else from `repository`
        (an existing ConfigMap built from models/, as the kind tier does).
        """
        flag = _flag_value([str(arg) for arg in self.container.get("args", [])], "--model-repository")
        if flag is None:
            raise LauncherError("the container has no --model-repository flag")
        mount = next((m for m in self.container.get("volumeMounts", []) if _is_under(flag, m["mountPath"])), None)
        if mount is None and "://" in flag:
            raise LauncherError(
                f"--model-repository={flag} is an object store that Triton reads at start; the local server serves "
                "models/ only: use a values file with modelRepository.type pvc or configMap (values/local.yaml)"
            )
        if mount is None:
            raise LauncherError(f"--model-repository={flag} is not on a volume mount of the container; it cannot be served locally")
        volume = next((v for v in self.spec.get("volumes", []) if v["name"] == mount["name"]), None)
        if volume is None:
            raise LauncherError(f"volumeMount {mount['name']} has no volume of that name in the pod")
        if "persistentVolumeClaim" in volume:
            return {mount["mountPath"]: repository.path}, repository
        if "configMap" not in volume:
            kinds = sorted(set(volume) - {"name"})
            raise LauncherError(f"volume {volume['name']} ({kinds}) cannot stand in for a model repository locally; use pvc or configMap")
        config_map = volume["configMap"]
        rendered = self.config_maps.get(config_map.get("name", ""), {})
        for item in config_map.get("items", []):
            target = destination / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if item["key"] in rendered.get("data", {}):
                target.write_text(rendered["data"][item["key"]])
            elif item["key"] in rendered.get("binaryData", {}):
                target.write_bytes(base64.b64decode(rendered["binaryData"][item["key"]]))
            elif (repository.path / item["path"]).is_file():
                shutil.copy2(repository.path / item["path"], target)
            else:
                model = PurePosixPath(item["path"]).parts[0]
                raise LauncherError(
                    f"configMap item {item['key']} -> {item['path']}: no such file in {repository.path}"
                    + (f" ({model} is not served locally: {repository.skipped[model]})" if model in repository.skipped else "")
                )
        destination.mkdir(parents=True, exist_ok=True)
        validate_repository(destination, gpu_count=0)
        served = tuple(sorted(path.name for path in destination.iterdir() if (path / CONFIG_FILE).is_file()))
        return {mount["mountPath"]: destination}, LocalModelRepository(destination, served, repository.skipped)


def find_triton_pod(objects: Iterable[Mapping], container_name: str = TRITON_CONTAINER_NAME, track: str = "stable") -> TritonPod:
    """The pod of the one rendered server workload of a track whose pod has a container named `container_name`:
    the Deployment whose pod template carries `triton-stack.io/track: <track>` (a canary track has its own), or
    the Argo Rollout, whose one template stands for both tracks (the controller adds the track label)."""
    pods = [
        TritonPod(obj["spec"]["template"]["spec"], container)
        for obj in objects
        if obj.get("kind") == "Rollout"
        or (obj.get("kind") == "Deployment" and obj["spec"]["template"]["metadata"].get("labels", {}).get(TRACK_LABEL, "stable") == track)
        for container in obj["spec"]["template"]["spec"].get("containers", [])
        if container.get("name") == container_name
    ]
    if len(pods) != 1:
        raise LauncherError(f"expected one {track} server workload with a container named {container_name!r} in the render, found {len(pods)}")
    config_maps = {obj["metadata"]["name"]: obj for obj in objects if obj.get("kind") == "ConfigMap"}
    return TritonPod(pods[0].spec, pods[0].container, config_maps)


def _is_under(path: str, prefix: str) -> bool:
    return PurePosixPath(path) == PurePosixPath(prefix) or PurePosixPath(prefix) in PurePosixPath(path).parents


# --- turning the container spec into a local command line ----------------------------------------------


@dataclass(frozen=True)
class ArgChange:
    """One difference between the rendered container and what runs locally."""

    original: str | None
    replacement: str | None
    reason: str

    @property
    def dropped(self) -> bool:
        return self.replacement is None

    def __str__(self) -> str:
        if self.original is None:
            return f"added {self.replacement}: {self.reason}"
        if self.replacement is None:
            return f"dropped {self.original}: {self.reason}"
        return f"replaced {self.original} with {self.replacement}: {self.reason}"


@dataclass(frozen=True)
class LaunchPlan:
    """The exact local command, environment and ports, and every change made to the rendered spec."""

    argv: list[str]
    env: dict[str, str]
    # Listener name (http, grpc, metrics) -> port in the container / port on 127.0.0.1.
    container_ports: dict[str, int]
    local_ports: dict[str, int]
    probes: dict[str, dict]
    changes: list[ArgChange]
    named_ports: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> list[ArgChange]:
        return [change for change in self.changes if change.dropped]

    def local_port_for(self, container_port: int | str) -> int:
        """The loopback port that stands for a container port given by number or by name (as probes do)."""
        number = self.named_ports.get(container_port) if isinstance(container_port, str) else container_port
        for listener, port in self.container_ports.items():
            if port == number:
                return self.local_ports[listener]
        raise LauncherError(f"container port {container_port!r} is not one of Triton's listeners {self.container_ports}")


def pick_free_loopback_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now; all sockets stay open until the last is chosen so the ports differ."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def fixed_loopback_ports(ports: Mapping[str, int]) -> Callable[[int], list[int]]:
    """A pick_ports for plan_launch that gives listeners fixed ports ({"http": 8000, ...}) and the others free
    ones; fails at once, naming the listener, when a fixed port is already taken on 127.0.0.1."""
    unknown = sorted(set(ports) - set(LISTENER_PORT_FLAGS))
    if unknown:
        raise LauncherError(f"unknown listeners {unknown}; Triton's are {list(LISTENER_PORT_FLAGS)}")

    def pick(count: int) -> list[int]:
        for listener, port in ports.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Triton binds: TIME_WAIT does not block it
                try:
                    sock.bind((LOOPBACK, port))
                except OSError as error:
                    raise LauncherError(
                        f"{LOOPBACK}:{port} for {listener} is not free ({error.strerror}); stop what holds it or choose another port"
                    ) from None
        if len(set(ports.values())) != len(ports):
            raise LauncherError(f"listeners need distinct ports, not {dict(ports)}")
        free = iter(port for port in pick_free_loopback_ports(count + len(ports)) if port not in ports.values())
        return [ports.get(listener) or next(free) for listener in list(LISTENER_PORT_FLAGS)[:count]]

    return pick


def plan_launch(
    container_spec: Mapping,
    *,
    path_mapping: Mapping[str, Path | str],
    backend_directory: Path,
    installation: TritonInstallation,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    gpu_count: int = 0,
    pick_ports: Callable[[int], list[int]] = pick_free_loopback_ports,
    ports: Mapping[str, int] | None = None,
    unservable_models: Mapping[str, str] | None = None,
) -> LaunchPlan:
    """Turn a rendered Triton container spec into the local command line, environment and port map.

    `ports` fixes some listeners' loopback ports ({"http": 8000, ...}); the others come from pick_ports.
    `unservable_models` (model -> why this tritonserver cannot load it, LocalModelRepository.skipped) drops
    their `--load-model` flags: in explicit mode Triton would exit on them, as the pod would not."""
    container_env = resolve_container_env(container_spec, secrets, config_maps)
    rendered = [*container_spec.get("command", []), *container_spec.get("args", [])]
    program, flags = _split_program([expand_kubernetes_references(item, container_env) for item in rendered])
    changes = [ArgChange(program, str(installation.binary), "the local tritonserver from nvidia-pytriton")]
    if not container_spec.get("command"):
        changes.insert(0, ArgChange(
            f"ENTRYPOINT {NGC_ENTRYPOINT}", None,
            "the image's entrypoint is not run here: it sets up the CUDA compatibility libraries inside the NGC image "
            "and then execs the args, which run directly instead",
        ))

    container_ports, named_ports = _listener_ports(flags, container_spec)
    if ports:
        pick_ports = fixed_loopback_ports(ports)
    local_ports = dict(zip(LISTENER_PORT_FLAGS, pick_ports(len(LISTENER_PORT_FLAGS))))
    forced = _forced_settings(local_ports, backend_directory, installation, fixed=ports)
    local_flags = _localise_flags(flags, forced, path_mapping, gpu_count, changes, unservable_models or {})
    env = _local_environment(container_env, installation, changes)

    for change in changes:
        log.info("local triton: %s", change)
    probes = {name: dict(container_spec[name]) for name in ("startupProbe", "readinessProbe", "livenessProbe") if name in container_spec}
    return LaunchPlan(
        argv=[str(installation.binary), *local_flags],
        env=env,
        container_ports=container_ports,
        local_ports=local_ports,
        probes=probes,
        changes=changes,
        named_ports=named_ports,
    )


def _listener_ports(flags: Sequence[str], container_spec: Mapping) -> tuple[dict[str, int], dict[str, int]]:
    """Container port of each listener (from its flag, else Triton's default), and the spec's named ports,
    which must agree with them."""
    container_ports = {
        listener: int(_flag_value(flags, flag) or default) for listener, (flag, default) in LISTENER_PORT_FLAGS.items()
    }
    named_ports = {port["name"]: int(port["containerPort"]) for port in container_spec.get("ports", []) if "name" in port}
    for listener, container_port in container_ports.items():
        if listener in named_ports and named_ports[listener] != container_port:
            raise LauncherError(
                f"ports[{listener}].containerPort is {named_ports[listener]} but {LISTENER_PORT_FLAGS[listener][0]} is "
                f"{container_port}: the Service and probes would reach a closed port"
            )
    return container_ports, named_ports


def _forced_settings(
    local_ports: Mapping[str, int], backend_directory: Path, installation: TritonInstallation, fixed: Mapping[str, int] | None = None
) -> dict[str, tuple[str, str]]:
    """Flags the local server always gets, whatever the spec says: flag -> (value, reason)."""
    fixed = fixed or {}
    forced = {
        flag: (str(local_ports[listener]), "the loopback port asked for" if listener in fixed else "free loopback port")
        for listener, (flag, _) in LISTENER_PORT_FLAGS.items()
    }
    forced.update({flag: (LOOPBACK, "tests listen on loopback only") for flag in LISTENER_ADDRESS_FLAGS})
    forced["--backend-directory"] = (str(backend_directory), "the python backend prepared for this machine")
    forced["--cache-directory"] = (str(installation.cache_directory), "the caches shipped with the local tritonserver")
    return forced


def _localise_flags(
    flags: Sequence[str],
    forced: Mapping[str, tuple[str, str]],
    path_mapping: Mapping[str, Path | str],
    gpu_count: int,
    changes: list[ArgChange],
    unservable_models: Mapping[str, str],
) -> list[str]:
    """The rendered flags as they run here, in their order, then the forced ones; every change is appended
    to `changes`."""
    local_flags: list[str] = []
    for flag in flags:
        name, _, value = flag.partition("=")
        if name in forced:
            continue  # set once below, replacing every rendered occurrence
        if name in CONTAINER_PATH_FLAGS:
            local = f"{name}={_map_container_path(name, value, path_mapping)}"
            changes.append(ArgChange(flag, local, "container path mapped to a local path"))
            local_flags.append(local)
        elif gpu_count == 0 and (name in GPU_ONLY_FLAGS or name.startswith(GPU_ONLY_FLAG_PREFIX)):
            changes.append(ArgChange(flag, None, f"{GPU_ONLY_FLAGS.get(name, 'a GPU setting')}, and there is no GPU"))
        elif name == "--load-model" and value in unservable_models:
            changes.append(ArgChange(flag, None, f"{value} cannot be loaded here: {unservable_models[value]}"))
        elif name == "--repoagent-directory":
            changes.append(ArgChange(flag, None, "the local tritonserver ships no repository agents"))
        elif name in NON_LOOPBACK_ENDPOINT_FLAGS and value.lower() in ("true", "1"):
            changes.append(ArgChange(flag, f"{name}=false", "it would listen on all interfaces"))
            local_flags.append(f"{name}=false")
        else:
            local_flags.append(flag)
    for name, (value, reason) in forced.items():
        rendered = [flag for flag in flags if flag.partition("=")[0] == name]
        local = f"{name}={value}"
        if not rendered or rendered[-1] != local:
            changes.append(ArgChange(rendered[-1] if rendered else None, local, reason))
        local_flags.append(local)
    return local_flags


def _local_environment(container_env: Mapping[str, str], installation: TritonInstallation, changes: list[ArgChange]) -> dict[str, str]:
    """The container's env, with the local runtime's PATH and LD_LIBRARY_PATH in place of any it sets."""
    env = dict(container_env)
    for name, value in installation.runtime_environment().items():
        if name in container_env:
            changes.append(ArgChange(f"env {name}={container_env[name]}", f"env {name}={value}", "the local runtime's"))
        env[name] = value
    env.setdefault("HOME", os.environ.get("HOME", "/tmp"))
    return env


def _split_program(argv: Sequence[str]) -> tuple[str, list[str]]:
    """Separate the program from its flags and normalise every flag to --name=value."""
    if not argv or PurePosixPath(argv[0]).name != PROGRAM:
        raise LauncherError(
            f"the container must run {PROGRAM} directly (command: [{PROGRAM}] or args starting with it), not {list(argv[:1])}"
        )
    flags: list[str] = []
    rest = list(argv[1:])
    while rest:
        token = rest.pop(0)
        if not token.startswith("--"):
            raise LauncherError(f"{PROGRAM} takes no positional argument, but the spec has {token!r}")
        if "=" not in token and token not in VALUELESS_FLAGS:
            if not rest or rest[0].startswith("--"):
                raise LauncherError(f"{token} needs a value")
            token = f"{token}={rest.pop(0)}"
        flags.append(token)
    return argv[0], flags


def _flag_value(flags: Sequence[str], name: str) -> str | None:
    values = [flag.partition("=")[2] for flag in flags if flag.partition("=")[0] == name]
    return values[-1] if values else None  # tritonserver keeps the last occurrence


def _map_container_path(flag: str, container_path: str, path_mapping: Mapping[str, Path | str]) -> str:
    path = PurePosixPath(container_path)
    for prefix in sorted(path_mapping, key=lambda item: len(PurePosixPath(item).parts), reverse=True):
        if path == PurePosixPath(prefix) or PurePosixPath(prefix) in path.parents:
            return str(Path(path_mapping[prefix]) / path.relative_to(prefix))
    raise LauncherError(f"{flag}={container_path}: no local path for it; add its directory to path_mapping")


# --- the running server --------------------------------------------------------------------------------


def live_processes_in_group(process_group: int) -> list[int]:
    """PIDs of a process group that still run, from /proc (Linux).

    Zombies are left out: they are dead and only wait to be reaped, and once tritonserver is gone its stubs
    are reparented to PID 1, which in some containers never reaps them.
    """
    live = []
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may contain spaces; the fields after it are fixed.
            state, _parent, group = stat_path.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # the process ended while being read
        if int(group) == process_group and state not in ("Z", "X"):
            live.append(int(stat_path.parent.name))
    return live


@dataclass(frozen=True)
class MetricSample:
    name: str
    labels: dict[str, str]
    value: float


_GLOG_ERROR_LINE = re.compile(r"^E\d{4} ")


def parse_prometheus_text(text: str) -> list[MetricSample]:
    """Samples of a Prometheus text exposition, parsed by prometheus_client's text parser (the maintained one).

    The `# TYPE` lines are left out, so every family parses as untyped and each sample keeps the name Triton
    exports it under: with them the parser would rename a counter's samples to <name>_total, a name Triton's
    counters do not have and Prometheus would not store."""
    untyped = "\n".join(line for line in text.splitlines() if not line.startswith("# TYPE ")) + "\n"
    return [MetricSample(sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(untyped) for sample in family.samples]


class TritonServer:
    """A tritonserver process started from a LaunchPlan. Use as a context manager, or call stop()."""

    def __init__(self, plan: LaunchPlan, log_path: Path):
        self.plan = plan
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None
        # Seconds from start to passing the startup and readiness probes, once wait_ready() has seen it.
        self.ready_seconds: float | None = None

    @property
    def http_port(self) -> int:
        return self.plan.local_ports["http"]

    @property
    def grpc_port(self) -> int:
        return self.plan.local_ports["grpc"]

    @property
    def metrics_port(self) -> int:
        return self.plan.local_ports["metrics"]

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def http_address(self) -> str:
        """host:port, the form tritonclient.http takes."""
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        """host:port, the form tritonclient.grpc takes."""
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    def start(self) -> TritonServer:
        if self.process is not None:
            raise LauncherError("this server was already started; make a new TritonServer")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            # Its own session (and process group): stop() signals tritonserver alone, as the kubelet signals the
            # container's main process, and kill() reaches the python stubs it started as well.
            self.process = subprocess.Popen(
                self.plan.argv,
                env=self.plan.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        log.info("started tritonserver pid %s, log %s", self.process.pid, self.log_path)
        return self

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def probe(self, probe_name: str) -> bool:
        """Run one of the rendered probes (startupProbe, readinessProbe, livenessProbe) once."""
        probe = self.plan.probes.get(probe_name)
        if probe is None:
            raise LauncherError(f"the container spec has no {probe_name}")
        return probe_succeeds(probe, self.plan.local_port_for(probe["httpGet"]["port"]))

    def ready_budget_seconds(self) -> float:
        """How long Kubernetes would wait for this container to become ready: its startup probe's budget,
        or its readiness probe's when it has no startup probe."""
        for name in PROBE_ORDER:
            if name in self.plan.probes:
                return probe_budget_seconds(self.plan.probes[name])
        raise LauncherError("the container spec has neither a startupProbe nor a readinessProbe")

    def wait_ready(self, timeout: float | None = None) -> float:
        """Poll the startup then the readiness probe until both pass; return seconds since start.

        Bounded by `timeout` (default: the probe budget Kubernetes would allow); fails at once if the
        process exits, with the end of its log in the message.
        """
        if self.process is None or self.started_at is None:
            raise LauncherError("start() the server before waiting for it")
        budget = self.ready_budget_seconds() if timeout is None else timeout
        deadline = self.started_at + budget
        pending = [name for name in PROBE_ORDER if name in self.plan.probes]
        for _ in range(int(budget / READY_POLL_SECONDS) + 1):
            if not self.is_running():
                raise LauncherError(f"tritonserver exited with {self.process.returncode} before it was ready; {self.failure_report()}")
            while pending and self.probe(pending[0]):
                pending.pop(0)
            if not pending:
                self.ready_seconds = time.monotonic() - self.started_at
                return self.ready_seconds
            if time.monotonic() >= deadline:
                break
            time.sleep(READY_POLL_SECONDS)
        raise LauncherError(f"tritonserver was not ready within {budget:.0f}s ({pending[0]} failing); {self.failure_report()}")

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM tritonserver and wait up to `grace` seconds, then clean up its process group; return its exit code.

        Like the kubelet, only the main process gets SIGTERM, so Triton shuts its models down itself.
        Raises ShutdownTimeout (after SIGKILL) if it outlives the grace period.
        """
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ShutdownTimeout(f"tritonserver still running {grace}s after SIGTERM, killed; {self.failure_report()}") from None
        self._kill_process_group()
        return self.process.returncode

    def kill(self) -> int:
        """SIGKILL tritonserver and everything it started; return its exit code once none of it runs."""
        if self.process is None:
            return 0
        self._kill_process_group()
        return self.process.wait(timeout=GROUP_EXIT_SECONDS)

    def _kill_process_group(self) -> None:
        """SIGKILL everything left in the server's process group and wait, bounded, until none of it runs."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return  # the group is already gone
        for _ in range(int(GROUP_EXIT_SECONDS / READY_POLL_SECONDS)):
            if not live_processes_in_group(self.process.pid):
                return
            time.sleep(READY_POLL_SECONDS)
        raise LauncherError(f"processes {live_processes_in_group(self.process.pid)} survived SIGKILL for {GROUP_EXIT_SECONDS}s")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        return self.log_text()[-LOG_TAIL_CHARACTERS:]

    def log_errors(self) -> list[str]:
        """The error lines of the log (glog severity E); the cause of a failed start is usually among them."""
        return [line for line in self.log_text().splitlines() if _GLOG_ERROR_LINE.match(line)]

    def failure_report(self) -> str:
        """What a failing test should show: every logged error, then the end of the log."""
        return "errors logged:\n" + "\n".join(self.log_errors()) + f"\nend of {self.log_path}:\n{self.log_tail()}"

    def scrape_metrics(self, timeout: float = 5.0) -> list[MetricSample]:
        with urllib.request.urlopen(self.metrics_url, timeout=timeout) as response:
            return parse_prometheus_text(response.read().decode())

    def __enter__(self) -> TritonServer:
        return self if self.process is not None else self.start()

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            self.stop()
        except ShutdownTimeout:
            if exc_type is None:
                raise


def launch_triton(
    container_spec: Mapping,
    *,
    work_dir: Path,
    path_mapping: Mapping[str, Path | str],
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    gpu_count: int = 0,
    ports: Mapping[str, int] | None = None,
    unservable_models: Mapping[str, str] | None = None,
) -> TritonServer:
    """Start tritonserver from a rendered container spec; `work_dir` (outside the repository) gets the
    backend directory and the log. `ports` fixes listeners' loopback ports ({"http": 8000, ...}); the others
    get free ones; `unservable_models` as for plan_launch. Returns the started server; call wait_ready() next."""
    installation = find_triton_installation()
    plan = plan_launch(
        container_spec,
        path_mapping=path_mapping,
        backend_directory=prepare_backend_directory(installation, work_dir / "backends"),
        installation=installation,
        secrets=secrets,
        config_maps=config_maps,
        gpu_count=gpu_count,
        ports=ports,
        unservable_models=unservable_models,
    )
    return TritonServer(plan, work_dir / "tritonserver.log").start()


def describe_changes(changes: Iterable[ArgChange]) -> str:
    """One line per change, for a test to print next to its result."""
    return "\n".join(str(change) for change in changes)
