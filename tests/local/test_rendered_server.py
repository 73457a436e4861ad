"""The Triton container the chart renders runs: the real tritonserver, started from the rendered Deployment.

Each environment file is rendered with the render module (umbrella chart, highest declared Kubernetes minor),
and its Deployment's `triton` container is started by the launcher as the pod would run it: command, args,
env (the admin key from its Secret through `$(TRITON_ADMIN_KEY)`), probes, and the models its repository
volume holds. What the launcher changed to run it here is printed once per server and checked to be local
plumbing only. One server per rendered case, shared by the module's tests.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests
from tritonclient.utils import InferenceServerException

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.triton_local import (
    CONTAINER_PATH_FLAGS,
    GPU_ONLY_FLAG_PREFIX,
    GPU_ONLY_FLAGS,
    LISTENER_ADDRESS_FLAGS,
    LISTENER_PORT_FLAGS,
    NGC_ENTRYPOINT,
    TRITON_METRICS_FOR_MONITORING,
    LauncherError,
    LocalModelRepository,
    TritonPod,
    describe_changes,
    find_triton_installation,
    find_triton_pod,
    plan_launch,
    probe_budget_seconds,
)
from tests.local.conftest import REFERENCE_TOLERANCE, REQUEST_TIMEOUT_SECONDS, open_client, settled

pytestmark = pytest.mark.local

PROTOCOLS = ("http", "grpc")
ADMIN_SECRET_NAME = "triton-admin-key"
ADMIN_KEY = "local-tier-admin-key"
# The chart's server.adminApi.categories default: what restricted=true closes behind the header.
CHART_ADMIN_CATEGORIES = frozenset({"model-repository", "model-config", "shared-memory", "statistics", "trace", "logging"})
# Flags the launcher sets itself on every local run (ports, loopback, the local backends).
LOCAL_PLUMBING_FLAGS = {
    *(flag for flag, _ in LISTENER_PORT_FLAGS.values()),
    *LISTENER_ADDRESS_FLAGS,
    "--backend-directory",
    "--cache-directory",
}


@dataclass(frozen=True)
class RenderedCase:
    """A values file (and extra values) whose render is run, with the Secret data its pod refers to."""

    name: str
    values_file: Path
    values: dict | None = None
    secrets: dict = field(default_factory=dict)
    # Admin API categories this render must close behind the header.
    restricted: frozenset = frozenset()

    def pod(self) -> TritonPod:
        return find_triton_pod(helm.render("triton-stack", [self.values_file], self.values, kube_version=KUBE_HIGHEST))


CASES = [
    # dev loads a list (explicit mode), so its model-repository API is closed behind the header.
    RenderedCase("dev", helm.VALUES_DIR / "dev.yaml", None, {ADMIN_SECRET_NAME: {"admin-key": ADMIN_KEY}}, frozenset({"model-repository"})),
    RenderedCase("ci-kind", helm.VALUES_DIR / "ci-kind.yaml"),
    RenderedCase("local", helm.VALUES_DIR / "local.yaml"),
    RenderedCase(
        "dev-admin-restricted",
        helm.VALUES_DIR / "dev.yaml",
        {"server": {"adminApi": {"restricted": True, "existingSecret": ADMIN_SECRET_NAME, "categories": sorted(CHART_ADMIN_CATEGORIES)}}},
        {ADMIN_SECRET_NAME: {"admin-key": ADMIN_KEY}},
        CHART_ADMIN_CATEGORIES,
    ),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case.name)
def rendered(request, tmp_path_factory, launch_rendered):
    """tritonserver started from the case's rendered pod, ready; after the module it must exit 0 within the
    grace period the kubelet leaves after the preStop."""
    case: RenderedCase = request.param
    launched = launch_rendered(case.pod(), tmp_path_factory.mktemp(f"rendered-{case.name}"), secrets=case.secrets)
    try:
        ready_seconds = launched.server.wait_ready()
        print(
            f"\n[{case.name}] tritonserver ready in {ready_seconds:.2f}s (startup budget {launched.server.ready_budget_seconds():.0f}s); "
            f"serving {list(launched.repository.served)}, not served here: {launched.repository.skipped}\n"
            f"changes to the rendered container:\n{describe_changes(launched.server.plan.changes)}"
        )
        yield case, launched
    finally:
        exit_code = launched.stop_after_pre_stop()
    assert exit_code == 0, f"tritonserver exited {exit_code} after SIGTERM; {launched.server.failure_report()}"


def restrictions(argv: list[str], flag: str) -> dict[str, tuple[str, str]]:
    """Category -> (header, key) from every `flag=<categories>:<header>=<key>` of a command line."""
    restricted = {}
    for argument in argv:
        name, _, value = argument.partition("=")
        if name == flag:
            categories, _, header_and_key = value.partition(":")
            header, _, key = header_and_key.partition("=")
            restricted.update({category: (header, key) for category in categories.split(",")})
    return restricted


def http_call(server, method: str, path: str, headers: dict | None = None) -> tuple[int, object]:
    """One request; the connection is closed before returning (an open one holds Triton's shutdown)."""
    with requests.Session() as session:
        response = session.request(method, server.base_url + path, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        return response.status_code, response.json() if response.content else None


def admin_headers(server, protocol: str) -> dict[str, str]:
    """The header that opens the restricted APIs, as each protocol's clients send it (none when nothing is restricted)."""
    if protocol == "http":
        return {header: key for header, key in restrictions(server.plan.argv, "--http-restricted-api").values()}
    # Triton 2.51 prefixes the configured header on gRPC: clients send triton-grpc-protocol-<header>.
    restricted = restrictions(server.plan.argv, "--grpc-restricted-protocol")
    return {f"triton-grpc-protocol-{header}": key for header, key in restricted.values()}


def first_success_seconds(check, budget: float, interval: float = 0.1) -> float | None:
    """Seconds until check() first passes, polling within `budget`; None if it never does."""
    started = time.monotonic()
    for _ in range(int(budget / interval) + 1):
        if check():
            return time.monotonic() - started
        if time.monotonic() - started >= budget:
            break
        time.sleep(interval)
    return None


class TestRenderedContainer:
    def test_only_local_plumbing_changes_when_rendered_container_runs_here(self, rendered):
        case, launched = rendered
        plan = launched.server.plan
        print(f"[{case.name}] dropped: {[str(change) for change in plan.dropped] or 'nothing'}")
        entrypoint = [str(change) for change in plan.dropped if change.original == f"ENTRYPOINT {NGC_ENTRYPOINT}"]
        assert "command" not in launched.pod.container and len(entrypoint) == 1, "the skipped image entrypoint must be said"
        dropped = [change.original for change in plan.dropped if change.original != f"ENTRYPOINT {NGC_ENTRYPOINT}"]
        gpu_only = [flag for flag in dropped if flag.partition("=")[0] in GPU_ONLY_FLAGS or flag.startswith(GPU_ONLY_FLAG_PREFIX)]
        assert dropped == gpu_only, "a rendered flag other than a GPU-only one was dropped"
        unchanged = (*LOCAL_PLUMBING_FLAGS, *CONTAINER_PATH_FLAGS)
        program, *flags = launched.pod.container["args"]
        assert program == "tritonserver"
        kept = [arg for arg in flags if arg.partition("=")[0] not in unchanged]
        local_argv = set(plan.argv)
        expected = {arg for arg in kept if "$(" not in arg and arg not in gpu_only}
        assert expected <= local_argv, f"rendered flags missing locally: {sorted(expected - local_argv)}"
        listed = [arg for arg in flags if arg.startswith("--load-model=")]
        assert f"--model-control-mode={'explicit' if listed else 'none'}" in local_argv

    def test_repository_holds_what_the_rendered_volume_mounts_when_served_locally(self, rendered):
        case, launched = rendered
        volume = next(v for v in launched.pod.spec["volumes"] if v["name"] == "model-repository")
        if "configMap" in volume:
            expected = {item["path"].split("/")[0] for item in volume["configMap"]["items"]}
        else:
            expected = {"image_classifier", "image_classifier_nobatch"}
        assert set(launched.repository.served) == expected


class TestProbes:
    def test_startup_and_readiness_pass_within_the_rendered_startup_budget(self, rendered):
        case, launched = rendered
        probes = launched.pod.container
        assert probes["startupProbe"]["httpGet"]["path"] == probes["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        budget = probe_budget_seconds(probes["startupProbe"])
        assert launched.server.ready_seconds <= budget, f"ready after {launched.server.ready_seconds:.1f}s, budget {budget}s"

    @pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
    def test_probe_passes_within_its_rendered_budget_when_server_has_started(self, rendered, probe):
        case, launched = rendered
        rendered_probe = launched.pod.container[probe]
        budget = probe_budget_seconds(rendered_probe)
        elapsed = first_success_seconds(lambda: launched.server.probe(probe), budget)
        assert elapsed is not None, f"{probe} {rendered_probe['httpGet']} failed for its whole budget of {budget}s"


class TestInference:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_every_served_model_answers_like_the_reference_when_patterns_are_sent(
        self, rendered, protocol, infer, labelled_batch, reference_outputs
    ):
        case, launched = rendered
        images, labels = labelled_batch
        address = launched.server.http_address if protocol == "http" else launched.server.grpc_address
        assert launched.repository.served, "the rendered repository serves no model here"
        for model in launched.repository.served:
            probabilities, top_class = infer(address, protocol, model, images)
            expected = reference_outputs(launched.repository.path / model, images)
            assert np.abs(probabilities - expected).max() < REFERENCE_TOLERANCE, model
            assert top_class == expected.argmax(axis=1).tolist() == labels.tolist(), model


class TestMetrics:
    def scrape_text(self, server) -> str:
        with requests.Session() as session:
            return session.get(server.metrics_url, timeout=REQUEST_TIMEOUT_SECONDS).text

    def test_monitoring_metrics_are_exported_for_every_served_model_when_it_has_served(self, rendered, infer, labelled_batch):
        case, launched = rendered
        server = launched.server
        for model in launched.repository.served:
            infer(server.http_address, "http", model, labelled_batch[0][:1])

        def exported() -> dict[str, set[str]]:
            text = self.scrape_text(server)
            types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
            found = {}
            for sample in (line for line in text.splitlines() if line and not line.startswith("#")):
                name = sample.split("{")[0].split()[0]
                for suffix in ("_count", "_sum"):
                    if types.get(name.removesuffix(suffix)) == "summary":
                        name = name.removesuffix(suffix)
                found.setdefault(f"{name} {types.get(name)}", set()).update(
                    model for model in launched.repository.served if f'model="{model}"' in sample
                )
            return found

        found = settled(exported)
        missing = {
            f"{name} {kind}": sorted(set(launched.repository.served) - found.get(f"{name} {kind}", set()))
            for name, kind in TRITON_METRICS_FOR_MONITORING.items()
            if set(launched.repository.served) - found.get(f"{name} {kind}", set())
        }
        assert not missing, f"series missing per model (name type: models): {missing}"

    def test_success_counter_counts_each_request_when_requests_are_sent(self, rendered, infer, labelled_batch):
        case, launched = rendered
        server = launched.server
        model = launched.repository.served[0]

        def successes() -> float:
            samples = server.scrape_metrics()
            return sum(s.value for s in samples if s.name == "nv_inference_request_success" and s.labels.get("model") == model)

        before = settled(successes)
        for image in labelled_batch[0][:3]:
            infer(server.http_address, "http", model, image[None])
        assert settled(successes) - before == 3


def loads_a_list(launched) -> bool:
    return any(arg.startswith("--load-model=") for arg in launched.pod.container["args"])


class TestModelControl:
    def test_load_and_unload_need_the_key_over_http_when_models_are_listed(self, rendered):
        case, launched = rendered
        if not loads_a_list(launched):
            pytest.skip(f"{case.name} loads every model (none mode): the tests below cover it")
        server = launched.server
        model = launched.repository.served[0]
        for action in ("load", "unload"):
            status, body = http_call(server, "POST", f"/v2/repository/models/{model}/{action}")
            assert status == 403 and "This API is restricted" in body["error"], (action, status, body)
        assert http_call(server, "GET", f"/v2/models/{model}/ready")[0] == 200

    def test_load_and_unload_are_refused_over_http_when_model_control_mode_is_none(self, rendered):
        case, launched = rendered
        if loads_a_list(launched):
            pytest.skip(f"{case.name} loads a list (explicit mode): the test above covers it")
        server = launched.server
        model = launched.repository.served[0]
        for action in ("load", "unload"):
            status, body = http_call(server, "POST", f"/v2/repository/models/{model}/{action}", admin_headers(server, "http"))
            assert status == 503 and "explicit model load / unload is not allowed" in body["error"], (action, status, body)
        assert http_call(server, "GET", f"/v2/models/{model}/ready")[0] == 200

    def test_load_and_unload_are_refused_over_grpc_when_model_control_mode_is_none(self, rendered):
        case, launched = rendered
        if loads_a_list(launched):
            pytest.skip(f"{case.name} loads a list (explicit mode): its load API is checked over HTTP above")
        model = launched.repository.served[0]
        headers = admin_headers(launched.server, "grpc")
        with open_client(launched.server.grpc_address, "grpc") as client:
            for action in (client.load_model, client.unload_model):
                with pytest.raises(InferenceServerException, match="explicit model load / unload is not allowed"):
                    action(model, headers=headers)
            assert client.is_model_ready(model)


# Category -> one call of that category: the HTTP method and path, and the gRPC client method.
ADMIN_CALLS = {
    "model-repository": (("POST", "/v2/repository/index"), ("get_model_repository_index", False)),
    "model-config": (("GET", "/v2/models/{model}/config"), ("get_model_config", True)),
    "shared-memory": (("GET", "/v2/systemsharedmemory/status"), ("get_system_shared_memory_status", False)),
    "statistics": (("GET", "/v2/models/{model}/stats"), ("get_inference_statistics", True)),
    "trace": (("GET", "/v2/trace/setting"), ("get_trace_settings", False)),
    "logging": (("GET", "/v2/logging"), ("get_log_settings", False)),
}


class TestAdminApi:
    def test_rendered_restriction_covers_the_chart_categories_when_admin_api_is_restricted(self, rendered):
        case, launched = rendered
        for flag in ("--http-restricted-api", "--grpc-restricted-protocol"):
            restricted = restrictions(launched.server.plan.argv, flag)
            assert set(restricted) == set(case.restricted), flag
            # The key reached the flag from the Secret, the way the kubelet expands $(TRITON_ADMIN_KEY).
            assert {key for _, key in restricted.values()} <= {ADMIN_KEY}

    def test_admin_http_apis_answer_only_with_the_key_when_restricted(self, rendered):
        case, launched = rendered
        server = launched.server
        model = launched.repository.served[0]
        outcomes = {}
        for category, ((method, path), _) in ADMIN_CALLS.items():
            without = http_call(server, method, path.format(model=model))
            with_key = http_call(server, method, path.format(model=model), admin_headers(server, "http"))
            outcomes[category] = (without[0], with_key[0])
            if category in case.restricted:
                assert "This API is restricted" in without[1]["error"], (category, without)
        expected = {category: (403 if category in case.restricted else 200, 200) for category in ADMIN_CALLS}
        assert outcomes == expected, "category: (status without header, status with it)"

    def test_admin_grpc_apis_answer_only_with_the_key_when_restricted(self, rendered):
        case, launched = rendered
        model = launched.repository.served[0]
        headers = admin_headers(launched.server, "grpc")
        outcomes = {}
        with open_client(launched.server.grpc_address, "grpc") as client:
            for category, (_, (method, takes_model)) in ADMIN_CALLS.items():
                call = getattr(client, method)
                arguments = (model,) if takes_model else ()
                try:
                    call(*arguments)
                    refused_without = False
                except InferenceServerException as error:
                    assert "restricted" in str(error), (category, str(error))
                    refused_without = True
                call(*arguments, headers=headers)  # raises if the key does not open it
                outcomes[category] = refused_without
        assert outcomes == {category: category in case.restricted for category in ADMIN_CALLS}, "category: refused without header"

    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_health_metadata_and_inference_stay_open_when_no_key_is_sent(self, rendered, protocol, infer, labelled_batch):
        case, launched = rendered
        server = launched.server
        model = launched.repository.served[0]
        address = server.http_address if protocol == "http" else server.grpc_address
        with open_client(address, protocol) as client:
            assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
            metadata = client.get_model_metadata(model)
        name = metadata["name"] if protocol == "http" else metadata.name
        assert name == model
        assert infer(address, protocol, model, labelled_batch[0][:1])[1] == labelled_batch[1][:1].tolist()


class TestWhatCannotRunHere:
    """What the launcher refuses or drops for renders that need a cluster; no server is started."""

    def test_repository_is_refused_naming_the_object_store_when_values_are_prod(self, tmp_path, local_models):
        pod = find_triton_pod(helm.render("triton-stack", [helm.VALUES_DIR / "prod.yaml"], kube_version=KUBE_HIGHEST))
        with pytest.raises(LauncherError, match=r"--model-repository=s3://\S+ is an object store .*\(values/local.yaml\)"):
            pod.mount_model_repository(local_models, tmp_path / "view")

    def test_gpu_settings_are_dropped_with_a_reason_when_staging_is_planned_without_a_gpu(self, tmp_path):
        # staging runs on whole GPUs (prod's MIG slices keep GPU metrics off already)
        pod = find_triton_pod(helm.render("triton-stack", [helm.VALUES_DIR / "staging.yaml"], kube_version=KUBE_HIGHEST))
        repository = next(arg.partition("=")[2] for arg in pod.container["args"] if arg.startswith("--model-repository="))
        plan = plan_launch(
            pod.container,
            path_mapping={repository: tmp_path},  # as if the bucket were mirrored here
            backend_directory=tmp_path / "backends",
            installation=find_triton_installation(),
            secrets={ADMIN_SECRET_NAME: {"admin-key": ADMIN_KEY}},
        )
        print(describe_changes(plan.dropped))
        assert [str(change) for change in plan.dropped if change.original.startswith("--")] == [
            "dropped --allow-gpu-metrics=true: GPU metrics come from DCGM and a GPU, and there is no GPU"
        ]

    def test_config_map_items_are_laid_out_from_the_rendered_data_when_the_chart_made_the_config_map(self, tmp_path, local_models):
        # The chart's own ConfigMap (modelRepository.configMap.files) carries the files; text in data, bytes in binaryData.
        source = local_models.path / "image_classifier"
        files = {"config.pbtxt": "config.pbtxt", "labels.txt": "labels.txt", "model.py": "1/model.py", "network.py": "1/network.py"}
        data = {f"image_classifier__{key}": (source / path).read_text() for key, path in files.items()}
        items = [{"key": f"image_classifier__{key}", "path": f"image_classifier/{path}"} for key, path in files.items()]
        items.append({"key": "image_classifier__weights.pt", "path": "image_classifier/1/weights.pt"})
        weights = base64.b64encode((source / "1" / "weights.pt").read_bytes()).decode()
        pod = TritonPod(
            spec={"volumes": [{"name": "model-repository", "configMap": {"name": "models", "items": items}}]},
            container={"args": ["--model-repository=/models"], "volumeMounts": [{"name": "model-repository", "mountPath": "/models"}]},
            config_maps={"models": {"data": data, "binaryData": {"image_classifier__weights.pt": weights}}},
        )
        empty = LocalModelRepository(tmp_path / "empty", (), {})
        path_mapping, view = pod.mount_model_repository(empty, tmp_path / "view")
        assert path_mapping == {"/models": tmp_path / "view"} and view.served == ("image_classifier",)
        assert (tmp_path / "view" / "image_classifier" / "1" / "weights.pt").read_bytes() == (source / "1" / "weights.pt").read_bytes()

    @pytest.mark.parametrize(
        "pre_stop, seconds",
        [(None, 0.0), ({"sleep": {"seconds": 7}}, 7.0), ({"exec": {"command": ["/bin/sleep", "3"]}}, 3.0)],
    )
    def test_pre_stop_is_timed_when_it_is_a_sleep(self, pre_stop, seconds):
        container = {"lifecycle": {"preStop": pre_stop}} if pre_stop else {}
        assert TritonPod(spec={}, container=container).pre_stop_seconds == seconds
        assert TritonPod(spec={}, container=container).termination_grace_seconds == 30  # Kubernetes' default

    def test_pre_stop_is_refused_when_it_cannot_be_timed(self):
        pod = TritonPod(spec={}, container={"lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": 8000}}}})
        with pytest.raises(LauncherError, match="preStop .* cannot be timed locally"):
            pod.pre_stop_seconds
