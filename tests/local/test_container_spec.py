"""How the launcher turns a rendered Triton container spec into a local command line, without starting it.

These need no server and run in the offline tiers too; test_launcher.py starts the real one.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from tests.harness.triton_local import (
    NGC_ENTRYPOINT,
    LauncherError,
    TritonInstallation,
    expand_kubernetes_references,
    parse_prometheus_text,
    pick_free_loopback_ports,
    plan_launch,
    probe_budget_seconds,
    probe_succeeds,
    resolve_container_env,
)
from tests.local.sample_spec import ADMIN_KEY, ADMIN_SECRET, triton_container

FAKE_INSTALLATION = TritonInstallation(root=Path("/opt/pytriton/tritonserver"), libraries=Path("/opt/pytriton.libs"))
LOCAL_PORTS = [18000, 18001, 18002]
MODELS_VIEW = Path("/tmp/models-view")


def plan(spec: dict | None = None, **overrides):
    arguments = {
        "path_mapping": {"/models": MODELS_VIEW},
        "backend_directory": Path("/tmp/backends"),
        "installation": FAKE_INSTALLATION,
        "secrets": ADMIN_SECRET,
        "pick_ports": lambda count: LOCAL_PORTS[:count],
    }
    return plan_launch(spec or triton_container(), **{**arguments, **overrides})


def flags_of(launch_plan) -> dict[str, list[str]]:
    flags: dict[str, list[str]] = {}
    for flag in launch_plan.argv[1:]:
        name, _, value = flag.partition("=")
        flags.setdefault(name, []).append(value)
    return flags


class TestKubernetesExpansion:
    VARIABLES = {"VAR_A": "A", "VAR_B": "B", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}

    # Cases from kubernetes third_party/forked/golang/expansion/expand_test.go, the kubelet's own rules.
    @pytest.mark.parametrize(
        "text, expected",
        [
            ("$(VAR_A)", "A"),
            ("$(VAR_A)-$(VAR_B)", "A-B"),
            ("___$(VAR_B)___", "___B___"),
            ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("foo\\$(VAR_A)bar", "foo\\Abar"),
            ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
            ("$(VAR_REF)", "$(VAR_A)"),
            ("foo$(VAR_EMPTY)bar", "foobar"),
            ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
            ("$?_boo_$!", "$?_boo_$!"),
            ("$VAR_A", "$VAR_A"),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
            ("$$$$$$$(VAR_A)", "$$$A"),
            ("${VAR_A}", "${VAR_A}"),
            ("$(VAR_B)_______$(A", "B_______$(A"),
            ("$(VAR_A)foobarzab$", "Afoobarzab$"),
            ("--$($($($($--", "--$($($($($--"),
            ("$(foo$$var)", "$(foo$$var)"),
        ],
    )
    def test_expands_like_the_kubelet_when_text_has_references(self, text, expected):
        assert expand_kubernetes_references(text, self.VARIABLES) == expected


class TestContainerEnv:
    def test_secret_value_is_used_when_supplied(self):
        assert resolve_container_env(triton_container(), ADMIN_SECRET)["TRITON_ADMIN_KEY"] == ADMIN_KEY

    def test_resolution_fails_naming_variable_and_secret_when_secret_is_not_supplied(self):
        with pytest.raises(LauncherError, match='env TRITON_ADMIN_KEY: secret "triton-admin" key "admin-key" was not supplied'):
            resolve_container_env(triton_container(), secrets={})

    def test_variable_is_absent_when_optional_secret_is_not_supplied(self):
        spec = triton_container()
        spec["env"][0]["valueFrom"]["secretKeyRef"]["optional"] = True
        assert "TRITON_ADMIN_KEY" not in resolve_container_env(spec, secrets={})

    def test_value_expands_earlier_variables_only_when_defined_before_it(self):
        spec = {"env": [{"name": "A", "value": "a"}, {"name": "B", "value": "$(A)-$(C)"}, {"name": "C", "value": "c"}]}
        assert resolve_container_env(spec)["B"] == "a-$(C)"

    def test_env_from_config_map_is_prefixed_when_prefix_given(self):
        spec = {"envFrom": [{"configMapRef": {"name": "tuning"}, "prefix": "TRITON_"}]}
        assert resolve_container_env(spec, config_maps={"tuning": {"THREADS": "2"}}) == {"TRITON_THREADS": "2"}

    def test_resolution_fails_when_value_needs_the_pod(self):
        spec = {"env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
        with pytest.raises(LauncherError, match="env POD: valueFrom"):
            resolve_container_env(spec)


class TestPlanLaunch:
    def test_rendered_flags_are_kept_in_order_when_nothing_needs_changing(self):
        launch_plan = plan(gpu_count=1)
        rendered = [flag for flag in triton_container()["args"][1:] if not flag.startswith(("--http-", "--grpc-", "--metrics-", "--model-repository"))]
        kept = [flag for flag in launch_plan.argv[1:] if flag in rendered]
        assert kept == rendered

    def test_listeners_move_to_free_loopback_ports_when_planned(self):
        flags = flags_of(plan())
        assert (flags["--http-port"], flags["--grpc-port"], flags["--metrics-port"]) == (["18000"], ["18001"], ["18002"])
        assert flags["--http-address"] == flags["--grpc-address"] == flags["--metrics-address"] == ["127.0.0.1"]

    def test_listeners_bind_loopback_when_spec_binds_all_interfaces(self):
        spec = triton_container()
        spec["args"].append("--http-address=0.0.0.0")
        assert flags_of(plan(spec))["--http-address"] == ["127.0.0.1"]

    def test_model_repository_is_mapped_when_path_mapping_covers_it(self):
        spec = triton_container()
        spec["args"][1] = "--model-repository=/models/production"
        assert flags_of(plan(spec))["--model-repository"] == [str(MODELS_VIEW / "production")]

    def test_plan_fails_naming_the_flag_when_container_path_is_not_mapped(self):
        with pytest.raises(LauncherError, match="--model-repository=/models: no local path"):
            plan(path_mapping={"/srv": MODELS_VIEW})

    def test_secret_reaches_the_flag_when_args_reference_it(self):
        restricted = flags_of(plan())["--http-restricted-api"]
        assert restricted == [f"model-repository,shared-memory:admin-key={ADMIN_KEY}"]

    def test_reference_stays_literal_when_escaped(self):
        spec = triton_container()
        spec["args"][-2] = "--http-restricted-api=model-repository:admin-key=$$(TRITON_ADMIN_KEY)"
        assert flags_of(plan(spec))["--http-restricted-api"] == ["model-repository:admin-key=$(TRITON_ADMIN_KEY)"]

    def test_gpu_settings_are_dropped_and_reported_when_there_is_no_gpu(self):
        launch_plan = plan(gpu_count=0)
        dropped = sorted(change.original for change in launch_plan.dropped if change.original.startswith("--"))
        assert dropped == [
            "--allow-gpu-metrics=true",
            "--cuda-memory-pool-byte-size=0:67108864",
            "--pinned-memory-pool-byte-size=268435456",
        ]
        assert not {"--allow-gpu-metrics", "--cuda-memory-pool-byte-size"} & set(flags_of(launch_plan))

    def test_gpu_settings_are_kept_when_there_is_a_gpu(self):
        launch_plan = plan(gpu_count=1)
        assert [change for change in launch_plan.dropped if change.original.startswith("--")] == []
        assert flags_of(launch_plan)["--allow-gpu-metrics"] == ["true"]

    def test_endpoint_is_disabled_when_it_would_listen_on_all_interfaces(self):
        spec = triton_container()
        spec["args"] = [flag.replace("--allow-sagemaker=false", "--allow-sagemaker=true") for flag in spec["args"]]
        assert flags_of(plan(spec))["--allow-sagemaker"] == ["false"]

    def test_program_comes_from_args_and_the_skipped_entrypoint_is_said_when_spec_has_no_command(self):
        spec = triton_container()
        spec["args"][0] = "/opt/tritonserver/bin/tritonserver"
        launch_plan = plan(spec)
        assert launch_plan.argv[0] == str(FAKE_INSTALLATION.binary)
        skipped = [str(change) for change in launch_plan.dropped if "ENTRYPOINT" in str(change)]
        assert skipped == [f"dropped ENTRYPOINT {NGC_ENTRYPOINT}: " + skipped[0].split(": ", 1)[1]]
        assert "CUDA compatibility" in skipped[0]

    def test_no_entrypoint_change_is_said_when_the_spec_sets_its_own_command(self):
        # The negative pair: a command replaces the entrypoint in the cluster too, so nothing local differs.
        spec = triton_container()
        spec["command"], spec["args"] = [spec["args"][0]], spec["args"][1:]
        assert not [change for change in plan(spec).changes if "ENTRYPOINT" in str(change)]

    def test_plan_fails_when_container_runs_a_shell(self):
        spec = triton_container()
        spec["command"] = ["/bin/sh", "-c"]
        with pytest.raises(LauncherError, match="must run tritonserver directly"):
            plan(spec)

    def test_flag_and_value_are_joined_when_given_as_two_items(self):
        spec = triton_container()
        spec["args"] += ["--log-verbose", "1"]
        assert flags_of(plan(spec))["--log-verbose"] == ["1"]

    def test_plan_fails_when_named_port_disagrees_with_flag(self):
        spec = triton_container()
        spec["ports"][0]["containerPort"] = 9000
        with pytest.raises(LauncherError, match=r"ports\[http\].containerPort is 9000 but --http-port is 8000"):
            plan(spec)

    @pytest.mark.parametrize("probe_port, local_port", [("http", 18000), (8000, 18000), ("metrics", 18002)])
    def test_probe_port_maps_to_local_port_when_given_by_name_or_number(self, probe_port, local_port):
        assert plan().local_port_for(probe_port) == local_port

    def test_probe_port_fails_when_it_is_not_a_listener(self):
        with pytest.raises(LauncherError, match="container port 9999"):
            plan().local_port_for(9999)

    def test_every_change_is_reported_when_planned(self):
        changes = [str(change) for change in plan().changes]
        assert "replaced --http-port=8000 with --http-port=18000: free loopback port" in changes
        assert "added --http-address=127.0.0.1: tests listen on loopback only" in changes

    def test_free_ports_differ_when_several_are_picked(self):
        ports = pick_free_loopback_ports(3)
        assert len(set(ports)) == 3


@pytest.fixture(scope="module")
def status_server():
    """A loopback HTTP server answering /status/<code> with that code."""

    class StatusHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = int(self.path.rsplit("/", 1)[-1])
            self.send_response(code)
            if 300 <= code < 400:
                # Loopback too: the probe must not follow it, and nothing here may point off this machine.
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class TestProbes:
    @pytest.mark.parametrize(
        "probe, budget",
        [
            ({"httpGet": {"path": "/", "port": 8000}}, 30.0),
            ({"httpGet": {"path": "/", "port": 8000}, "initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 30}, 65.0),
        ],
    )
    def test_budget_follows_kubernetes_defaults_when_fields_are_omitted(self, probe, budget):
        assert probe_budget_seconds(probe) == budget

    @pytest.mark.parametrize("code, succeeds", [(200, True), (302, True), (399, True), (404, False), (503, False)])
    def test_probe_succeeds_only_when_status_is_200_to_399(self, status_server, code, succeeds):
        assert probe_succeeds({"httpGet": {"path": f"/status/{code}", "port": "http"}}, status_server) is succeeds

    def test_probe_fails_when_nothing_listens(self):
        (closed_port,) = pick_free_loopback_ports(1)
        assert probe_succeeds({"httpGet": {"path": "/v2/health/ready", "port": "http"}, "timeoutSeconds": 1}, closed_port) is False


class TestMetricsText:
    def test_samples_carry_labels_when_parsed(self):
        text = '# HELP x\nnv_inference_count{model="m",version="1"} 12\nnv_cpu_utilization 0.5\n'
        samples = parse_prometheus_text(text)
        assert [(s.name, s.labels, s.value) for s in samples] == [
            ("nv_inference_count", {"model": "m", "version": "1"}, 12.0),
            ("nv_cpu_utilization", {}, 0.5),
        ]
