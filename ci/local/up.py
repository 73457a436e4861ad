"""`make up`: run the Triton server exactly as the chart's pod runs it, on this machine, without a cluster.

    .venv/bin/python ci/local/up.py [VALUES] [--models DIR] [--http-port 8000] [--grpc-port 8001] [--metrics-port 8002]
                                    [--secret NAME/KEY=VALUE]

Renders the umbrella chart with VALUES (default values/local.yaml) through the project's render module, takes
the Deployment's `triton` container and starts it with the local launcher (tests/harness/triton_local.py):
the rendered command, args, env and probes, with the model repository volume served from a temporary copy
of models/ (or of --models DIR, every model in it: the values file's load list is cleared), every listener
on 127.0.0.1. Prints the endpoints, commands to try, and what was changed or
dropped for running outside a cluster. Ctrl-C (SIGINT) or SIGTERM stops it the way the kubelet does once
the preStop has run: SIGTERM to tritonserver, then up to the rest of the grace period for it to drain and
exit. A second Ctrl-C kills it at once.

Exit status: 0 after a clean stop, 1 when tritonserver failed or exited by itself, 2 when it could not be
started (render error, a port in use, a spec that cannot run locally).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import render as helm  # noqa: E402
from tests.harness.model_config import CONFIG_FILE, MODELS_DIR, ModelConfigError, load_python_source, parse_model_config  # noqa: E402
from tests.harness.triton_local import (  # noqa: E402
    LOOPBACK,
    LauncherError,
    ShutdownTimeout,
    TritonPod,
    describe_changes,
    find_triton_pod,
    launch_triton,
    prepare_local_model_repository,
)

CHART = "triton-stack"
DEFAULT_VALUES = ROOT / "values" / "local.yaml"
DEFAULT_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
# The line a caller waits for; everything it needs is printed before it.
READY_PREFIX = "ready in"
EXIT_OK, EXIT_FAILED, EXIT_NOT_STARTED = 0, 1, 2
WATCH_INTERVAL_SECONDS = 0.5


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP raise StopRequested in the main thread, or wait while `defer` is set."""

    def __init__(self) -> None:
        self.defer = False
        self.deferred: str | None = None

    def install(self) -> None:
        # SIGHUP too: a closed terminal or SSH session must stop tritonserver (a session of its own), not orphan it.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def raise_deferred(self) -> None:
        if self.deferred:
            raise StopRequested(self.deferred)

    def _handle(self, signum, _frame) -> None:
        name = signal.Signals(signum).name
        if self.defer:
            self.deferred = name
            return
        raise StopRequested(name)


STOPS = StopSignals()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("values", nargs="?", type=Path, default=DEFAULT_VALUES, help="environment values file (default: values/local.yaml)")
    for listener, port in DEFAULT_PORTS.items():
        parser.add_argument(f"--{listener}-port", type=int, default=port, help=f"port for {listener} on {LOOPBACK} (default: {port})")
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        help="serve this model repository directory instead of models/ (every model in it: the values' triton.loadModels is cleared)",
    )
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME/KEY=VALUE",
        help="value of a Secret key the container refers to (default: a random value, printed)",
    )
    return parser.parse_args(argv)


def secret_values(pod: TritonPod, given: list[str]) -> dict[str, dict[str, str]]:
    """Data for every Secret key the container's env refers to: as given on the command line, else random."""
    supplied: dict[str, dict[str, str]] = {}
    for item in given:
        reference, _, value = item.partition("=")
        name, _, key = reference.partition("/")
        if not (name and key and value):
            raise LauncherError(f"--secret {item!r}: expected NAME/KEY=VALUE")
        supplied.setdefault(name, {})[key] = value
    for variable in pod.container.get("env", []):
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            supplied.setdefault(reference["name"], {}).setdefault(reference["key"], secrets.token_urlsafe(16))
    return supplied


def example_request(work_dir: Path, model_dir: Path) -> tuple[Path, str | None]:
    """A request file for the model in `model_dir`, and the class it should come back as when known: one synthetic
    pattern image for the pattern classifiers of models/, zeros shaped by config.pbtxt for any other model."""
    config = parse_model_config(model_dir / CONFIG_FILE)
    pattern_input = [(item.name, list(item.dims)) for item in config.input] == [("IMAGE", [3, 32, 32])]
    if pattern_input:
        patterns = load_python_source(MODELS_DIR / "synthetic_patterns.py", "models_synthetic_patterns")
        images, labels = patterns.generate_images(len(patterns.CLASS_NAMES), seed=11)
        label = int(labels[4])
        inputs = [{"name": "IMAGE", "shape": [1, *images.shape[1:]], "datatype": "FP32", "data": images[4].ravel().round(4).tolist()}]
        # The answer is known only for the classifiers of models/, not for another model with the same input.
        expected = f"{label} ({patterns.CLASS_NAMES[label]})" if model_dir.parent.resolve() == MODELS_DIR.resolve() else None
    else:
        inputs = [zeros_input(config, item) for item in config.input]
        expected = None
    path = work_dir / f"{model_dir.name}-request.json"
    path.write_text(json.dumps({"inputs": inputs}))
    return path, expected


def zeros_input(config, item) -> dict:
    """One input of zeros (empty strings for BYTES), batch 1 when the model batches, 1 for each variable dimension."""
    shape = ([1] if config.max_batch_size > 0 else []) + [dimension if dimension > 0 else 1 for dimension in item.dims]
    datatype = type(config).DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type.values_by_number[item.data_type].name
    datatype = datatype.removeprefix("TYPE_").replace("STRING", "BYTES")
    count = 1
    for dimension in shape:
        count *= dimension
    zero = "" if datatype == "BYTES" else False if datatype == "BOOL" else 0
    return {"name": item.name, "shape": shape, "datatype": datatype, "data": [zero] * count}


# What `make up` prints as the gRPC example: the same request file, sent with tritonclient's gRPC client.
GRPC_EXAMPLE = """\
  {python} - <<'EOF'
  import json, numpy as np, tritonclient.grpc as grpcclient
  from tritonclient.utils import triton_to_np_dtype
  body = json.load(open({request!r}))
  inputs = []
  for spec in body["inputs"]:
      tensor = grpcclient.InferInput(spec["name"], spec["shape"], spec["datatype"])
      tensor.set_data_from_numpy(np.array(spec["data"], dtype=triton_to_np_dtype(spec["datatype"])).reshape(spec["shape"]))
      inputs.append(tensor)
  with grpcclient.InferenceServerClient({address!r}) as client:
      result = client.infer({model!r}, inputs)
      for output in result.get_response().outputs:
          print(output.name, result.as_numpy(output.name).tolist())
  EOF"""


def restricted_api_header(argv: list[str]) -> str | None:
    """The header name of the rendered --http-restricted-api, if the render restricts admin APIs."""
    for argument in argv:
        name, _, value = argument.partition("=")
        if name == "--http-restricted-api":
            return value.partition(":")[2].partition("=")[0]
    return None


def print_usage(server, pod: TritonPod, served: tuple[str, ...], request: Path, expected: str | None, supplied: dict) -> None:
    http = f"http://{LOOPBACK}:{server.http_port}"
    model = served[0]
    print(f"  HTTP     {http}\n  gRPC     {LOOPBACK}:{server.grpc_port}\n  metrics  {server.metrics_url}")
    print("try:")
    print(f"  curl -s -o /dev/null -w '%{{http_code}}\\n' {http}/v2/health/ready")
    print(f"  curl -s {http}/v2/models/{model}")
    print(f"  curl -s -X POST {http}/v2/models/{model}/infer -H 'Content-Type: application/json' -d @{shlex.quote(str(request))}")
    if expected:
        print(f"      (TOP_CLASS should be {expected})")
    print("  gRPC, the same request with tritonclient (in this checkout's virtualenv):")
    python = ".venv/bin/python" if Path.cwd() == ROOT else sys.executable
    print(GRPC_EXAMPLE.format(python=python, request=str(request), address=server.grpc_address, model=model))
    print(f"  curl -s {server.metrics_url} | grep nv_inference_request_success")
    print("      (the counts start with the model's warm-up requests, model_warmup in config.pbtxt, run before ready)")
    header = restricted_api_header(pod.container.get("args", []))
    if header:
        keys = [f"{name}/{key}={value}" for name, data in supplied.items() for key, value in data.items()]
        print(f"  admin APIs need the header {header} (Secret values: {', '.join(keys)}):")
        key = next(value for data in supplied.values() for value in data.values())
        print(f"  curl -s -X POST {http}/v2/repository/index -H '{header}: {key}'")


def run(args: argparse.Namespace) -> int:
    values = args.values if args.values.is_absolute() else Path.cwd() / args.values
    if not values.is_file():
        print(f"error: no values file {args.values}; pick one of values/*.yaml", file=sys.stderr)
        return EXIT_NOT_STARTED
    source = MODELS_DIR
    overrides = None
    if args.models is not None:
        source = args.models.resolve()
        if not source.is_dir() or not any((path / CONFIG_FILE).is_file() for path in source.iterdir()):
            print(f"error: --models {args.models}: not a model repository (a directory with one directory per model, each with its {CONFIG_FILE})", file=sys.stderr)
            return EXIT_NOT_STARTED
        # The values file's load list names its own models; a repository of one's own is served whole.
        overrides = {"server": {"triton": {"loadModels": []}}}
    try:
        pod = find_triton_pod(helm.render(CHART, [values], overrides))
    except helm.HelmError as error:
        print(f"error: rendering {CHART} with {args.values} failed:\n{error.stderr}", file=sys.stderr)
        return EXIT_NOT_STARTED
    ports = {"http": args.http_port, "grpc": args.grpc_port, "metrics": args.metrics_port}
    grace = pod.termination_grace_seconds - pod.pre_stop_seconds

    with tempfile.TemporaryDirectory(prefix="triton-up-") as temporary:
        work_dir = Path(temporary)
        # A stop signal during the start waits until `server` exists, so that it is always stopped. (Not by
        # blocking the signals: tritonserver would inherit the mask and never see SIGTERM.)
        STOPS.defer = True
        try:
            supplied = secret_values(pod, args.secret)
            models = prepare_local_model_repository(work_dir / "models", source=source, validate=args.models is None)
            path_mapping, repository = pod.mount_model_repository(models, work_dir / "model-repository")
            if not repository.served:
                raise LauncherError(f"no model in {source} can be loaded here: {repository.skipped}")
            server = launch_triton(pod.container, work_dir=work_dir, path_mapping=path_mapping, secrets=supplied, ports=ports,
                                   unservable_models=repository.skipped)
        except (LauncherError, ModelConfigError) as error:
            print(f"error: {args.values} cannot be run here: {error}", file=sys.stderr)
            return EXIT_NOT_STARTED
        finally:
            STOPS.defer = False

        try:
            STOPS.raise_deferred()
            print(f"{args.values}: tritonserver started as the pod would run it; log {server.log_path}")
            print(f"serving {', '.join(repository.served)}: what the pod's repository volume holds, from a copy of {source}")
            for model, reason in repository.skipped.items():
                print(f"not served here: {model}: {reason}")
            print("changed for running outside a cluster:\n  " + describe_changes(server.plan.changes).replace("\n", "\n  "), flush=True)
            try:
                ready_seconds = server.wait_ready()
            except LauncherError as error:
                print(f"error: {error}", file=sys.stderr)
                server.kill()
                return EXIT_FAILED
            request, expected = example_request(work_dir, source / repository.served[0])
            print(f"{READY_PREFIX} {ready_seconds:.1f}s (startup budget {server.ready_budget_seconds():.0f}s):")
            print_usage(server, pod, repository.served, request, expected, supplied)
            print(f"Ctrl-C stops it as the kubelet does after the preStop: SIGTERM, then up to {grace:.0f}s to drain and exit.", flush=True)
            while server.is_running():
                time.sleep(WATCH_INTERVAL_SECONDS)
            print(f"error: tritonserver exited by itself with {server.process.returncode}; {server.failure_report()}", file=sys.stderr)
            server.kill()
            return EXIT_FAILED
        except StopRequested as stop:
            return stop_gracefully(server, grace, str(stop), ready=server.ready_seconds is not None)
        except BrokenPipeError:
            # Whoever read our output went away (`make up | head`): stop the server quietly rather than orphan it.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process
            return stop_gracefully(server, grace, "a closed output pipe", ready=server.ready_seconds is not None)


def stop_gracefully(server, grace: float, reason: str, ready: bool) -> int:
    """SIGTERM, wait up to `grace`; a second signal kills. Before it is ready, tritonserver may not handle SIGTERM
    yet (it sets its handler once the models are loaded), so dying of it then is a clean stop too."""
    print(f"{reason}: SIGTERM to tritonserver, waiting up to {grace:.0f}s (Ctrl-C again kills it)", flush=True)
    try:
        exit_code = server.stop(grace=grace)
    except ShutdownTimeout as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except StopRequested:
        server.kill()
        print("killed", file=sys.stderr)
        return EXIT_FAILED
    if exit_code != 0 and not (exit_code == -signal.SIGTERM and not ready):
        print(f"error: tritonserver exited {exit_code}; {server.failure_report()}", file=sys.stderr)
        return EXIT_FAILED
    print("stopped cleanly", flush=True)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    STOPS.install()
    try:
        return run(args)
    except StopRequested as stop:
        print(f"{stop} before tritonserver started; nothing to stop", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
