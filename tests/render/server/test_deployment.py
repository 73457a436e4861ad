"""The Triton Deployment: flags, probes, drain, shared memory, GPUs, security and scheduling."""

import math

import pytest

from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST, find, kinds
from tests.harness import render as helm
from tests.render.server.conftest import args_of, deployment, error_of, pod_spec, rejected_paths, render_server, triton_container

pytestmark = pytest.mark.render


class TestServerArgs:
    def test_production_defaults_when_nothing_is_set(self):
        args = args_of(render_server())
        assert args["--model-control-mode"] == "none"
        assert args["--strict-readiness"] == "true"
        assert args["--exit-on-error"] == "true"
        assert "--disable-auto-complete-config" in args
        assert args["--allow-sagemaker"] == "false"
        assert args["--allow-vertex-ai"] == "false"
        assert args["--exit-timeout-secs"] == "30"
        assert (args["--http-port"], args["--grpc-port"], args["--metrics-port"]) == ("8000", "8001", "8002")

    def test_ports_are_named_for_the_service_and_probes(self):
        ports = {p["name"]: p["containerPort"] for p in triton_container(render_server())["ports"]}
        assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}

    def test_metrics_port_is_closed_when_metrics_are_disabled(self):
        objects = render_server({"triton": {"metrics": {"enabled": False}}})
        assert args_of(objects)["--allow-metrics"] == "false"
        assert "--metrics-port" not in args_of(objects)
        assert "metrics" not in {p["name"] for p in triton_container(objects)["ports"]}
        assert not [o for o in objects if o["metadata"]["name"].endswith("-metrics")]

    def test_extra_args_are_appended_after_the_managed_flags(self):
        args = triton_container(render_server({"triton": {"extraArgs": ["--buffer-manager-thread-count=4"]}}))["args"]
        assert args[-1] == "--buffer-manager-thread-count=4"

    def test_extra_args_may_not_repeat_a_managed_flag(self):
        message = error_of({"triton": {"extraArgs": ["--model-control-mode=explicit"]}})
        assert "triton.extraArgs: repeats --model-control-mode, which the chart sets from triton.modelControlMode" in message

    @pytest.mark.parametrize("flag, managed", [("--model-control=poll", "--model-control-mode"), ("--load-mod=evil", "--load-model"),
                                               ("--model-repo=/other", "--model-repository"), ("--http-p=9999", "--http-port")])
    def test_extra_args_may_not_abbreviate_a_managed_flag(self, flag, managed):
        message = error_of({"triton": {"extraArgs": [flag]}})
        assert f"triton.extraArgs: has {flag.split('=')[0]}, which Triton reads as {managed}" in message

    @pytest.mark.parametrize("flag", ["--log-file=/tmp/t.log", "--buffer-manager-thread-count=4", "--model-load-thread-count=2"])
    def test_full_names_of_unmanaged_flags_are_not_taken_for_abbreviations(self, flag):
        assert triton_container(render_server({"triton": {"extraArgs": [flag]}}))["args"][-1] == flag

    def test_admin_apis_are_open_when_not_restricted(self):
        args = args_of(render_server())
        assert "--http-restricted-api" not in args and "--grpc-restricted-protocol" not in args
        assert "env" not in triton_container(render_server())

    def test_admin_apis_need_the_header_from_the_secret_when_restricted(self):
        objects = render_server({"adminApi": {"restricted": True, "existingSecret": "admin"}})
        args = args_of(objects)
        expected = "model-repository,model-config,shared-memory,statistics,trace,logging:triton-admin-key=$(TRITON_ADMIN_KEY)"
        assert args["--http-restricted-api"] == expected
        assert args["--grpc-restricted-protocol"] == expected
        env = {e["name"]: e for e in triton_container(objects)["env"]}
        assert env["TRITON_ADMIN_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "admin", "key": "admin-key"}

    def test_restricted_admin_apis_without_a_secret_fail(self):
        assert "adminApi.existingSecret: is required when adminApi.restricted is true" in error_of({"adminApi": {"restricted": True}})

    def test_health_can_never_be_restricted(self):
        message = error_of({"adminApi": {"restricted": True, "existingSecret": "a", "categories": ["health", "statistics"]}})
        assert "adminApi.categories: must not contain health" in message

    def test_gpu_metrics_follow_the_gpu_count(self):
        assert args_of(render_server())["--allow-gpu-metrics"] == "false"
        assert args_of(render_server({"gpu": {"count": 1}}))["--allow-gpu-metrics"] == "true"


LISTED = {"adminApi": {"restricted": True, "existingSecret": "admin", "categories": ["model-repository"]}}


class TestLoadModels:
    def test_every_model_loads_in_none_mode_when_no_list_is_set(self):
        args = triton_container(render_server())["args"]
        assert "--model-control-mode=none" in args and not [arg for arg in args if arg.startswith("--load-model")]

    def test_explicit_mode_loads_each_listed_model_behind_the_admin_header_when_a_list_is_set(self):
        args = triton_container(render_server({**LISTED, "triton": {"loadModels": ["image_classifier", "image_classifier_nobatch"]}}))["args"]
        assert "--model-control-mode=explicit" in args and "--model-control-mode=none" not in args
        assert [arg for arg in args if arg.startswith("--load-model")] == ["--load-model=image_classifier", "--load-model=image_classifier_nobatch"]
        assert "--http-restricted-api=model-repository:triton-admin-key=$(TRITON_ADMIN_KEY)" in args
        assert "--grpc-restricted-protocol=model-repository:triton-admin-key=$(TRITON_ADMIN_KEY)" in args

    @pytest.mark.parametrize("name", ["../other", "nested/model", ".hidden", "*", "two words", ""])
    def test_a_name_that_is_not_a_model_directory_fails_naming_its_index(self, name):
        message = error_of({**LISTED, "triton": {"loadModels": ["image_classifier", name]}})
        assert f"triton.loadModels.1: {name!r}".replace("'", '"') in message and "is not a Triton model directory name" in message

    def test_a_model_listed_twice_fails(self):
        assert "triton.loadModels: lists a model twice" in error_of({**LISTED, "triton": {"loadModels": ["a", "a"]}})

    @pytest.mark.parametrize("admin_api", [
        {"restricted": False},
        {"restricted": True, "existingSecret": "admin", "categories": ["statistics"]},
    ], ids=["open", "repository-api-not-closed"])
    def test_a_list_fails_when_the_repository_api_would_be_open(self, admin_api):
        message = error_of({"adminApi": admin_api, "triton": {"loadModels": ["image_classifier"]}})
        assert "triton.loadModels: needs the model-repository API restricted" in message and "adminApi.restricted: true" in message

    def test_a_list_fails_with_poll_mode(self):
        message = error_of({**LISTED, "triton": {"loadModels": ["image_classifier"], "modelControlMode": "poll"}})
        assert "triton.modelControlMode: is poll, but triton.loadModels needs explicit mode" in message

    def test_helm_test_model_must_be_listed_when_a_list_is_set(self):
        values = {**LISTED, "triton": {"loadModels": ["image_classifier"]},
                  "helmTest": {"model": "image_classifier_nobatch", "input": {"name": "IMAGE", "datatype": "FP32", "shape": [1, 3, 32, 32]}}}
        assert 'helmTest.model: "image_classifier_nobatch" is not in triton.loadModels [image_classifier]' in error_of(values)
        values["helmTest"]["model"] = "image_classifier"
        assert "--load-model=image_classifier" in triton_container(render_server(values))["args"]

    def test_extra_args_may_not_add_a_load_model(self):
        assert "repeats --load-model, which the chart sets from triton.loadModels" in error_of({"triton": {"extraArgs": ["--load-model=a"]}})

    def test_umbrella_names_the_server_prefix(self):
        stderr = helm.render_error("triton-stack", values={"server": {"triton": {"loadModels": ["a/b"]}}}, kube_version=KUBE_HIGHEST).stderr
        assert 'server.triton.loadModels.0: "a/b" is not a Triton model directory name' in stderr


class TestProbes:
    def test_startup_budget_covers_the_declared_model_load_time(self):
        container = triton_container(render_server({"probes": {"maxModelLoadSeconds": 605, "startup": {"periodSeconds": 10}}}))
        startup = container["startupProbe"]
        assert startup["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
        assert startup["failureThreshold"] == math.ceil(605 / 10)
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 605

    def test_readiness_and_liveness_use_their_own_endpoints(self):
        container = triton_container(render_server())
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"

    def test_zero_model_load_time_is_rejected(self):
        assert rejected_paths({"probes": {"maxModelLoadSeconds": 0}}) == {"probes.maxModelLoadSeconds"}


class TestDrain:
    @pytest.mark.parametrize("kube_version", [KUBE_LOWEST, KUBE_HIGHEST, None])
    def test_auto_is_exec_sleep_on_every_declared_kubernetes_and_offline(self, kube_version):
        # The charts still declare 1.29, which has no sleep action: a render that does not know its cluster (None:
        # Helm's own default version, as GitOps tools render) must be valid there too.
        prestop = triton_container(render_server(kube_version=kube_version))["lifecycle"]["preStop"]
        assert prestop == {"exec": {"command": ["sleep", "15"]}}

    def test_auto_takes_the_sleep_action_once_the_declared_floor_has_it(self):
        objects = helm.render_with_kube_version_floor("triton-server", "1.30.0", kube_version=KUBE_HIGHEST)
        assert triton_container(objects)["lifecycle"]["preStop"] == {"sleep": {"seconds": 15}}

    def test_sleep_action_when_asked_on_kubernetes_that_has_it(self):
        prestop = triton_container(render_server({"drain": {"preStopMode": "sleepAction"}}))["lifecycle"]["preStop"]
        assert prestop == {"sleep": {"seconds": 15}}

    def test_explicit_exec_mode_wins_on_new_kubernetes(self):
        prestop = triton_container(render_server({"drain": {"preStopMode": "exec"}}))["lifecycle"]["preStop"]
        assert "exec" in prestop

    def test_sleep_action_on_old_kubernetes_fails(self):
        message = error_of({"drain": {"preStopMode": "sleepAction"}}, kube_version=KUBE_LOWEST)
        assert "drain.preStopMode: sleepAction needs Kubernetes >= 1.30" in message

    def test_grace_period_covers_prestop_exit_timeout_and_margin(self):
        spec = pod_spec(render_server())
        assert spec["terminationGracePeriodSeconds"] >= 15 + 30 + 10

    def test_grace_period_shorter_than_the_drain_fails(self):
        message = error_of({"drain": {"terminationGracePeriodSeconds": 40}})
        assert "drain.terminationGracePeriodSeconds: 40 is shorter than" in message
        assert "= 55" in message


class TestSharedMemory:
    def test_dev_shm_is_memory_backed_with_the_configured_size(self):
        objects = render_server({"sharedMemory": {"sizeLimit": "3Gi"}})
        volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
        assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "3Gi"}
        mounts = {m["mountPath"]: m["name"] for m in triton_container(objects)["volumeMounts"]}
        assert mounts["/dev/shm"] == "shm"

    def test_bad_size_is_rejected(self):
        assert rejected_paths({"sharedMemory": {"sizeLimit": "lots"}}) == {"sharedMemory.sizeLimit"}


class TestGpus:
    def test_cpu_only_when_count_is_zero(self):
        objects = render_server()
        resources = triton_container(objects)["resources"]
        assert "nvidia.com/gpu" not in resources.get("limits", {})
        assert "tolerations" not in pod_spec(objects)

    def test_gpu_request_limit_and_toleration_when_count_is_set(self):
        objects = render_server({"gpu": {"count": 2}})
        resources = triton_container(objects)["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == 2
        assert resources["requests"]["nvidia.com/gpu"] == 2
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(objects)["tolerations"]

    def test_gpu_product_affinity_when_products_are_listed(self):
        objects = render_server({"gpu": {"count": 1, "products": ["NVIDIA-H100-80GB-HBM3"]}})
        terms = pod_spec(objects)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3"]}]}]

    def test_no_gpu_affinity_without_products(self):
        assert "nodeAffinity" not in pod_spec(render_server({"gpu": {"count": 1}})).get("affinity", {})

    def test_gpu_products_without_gpus_fail(self):
        assert "gpu.products: pins pods to GPU nodes while gpu.count is 0" in error_of({"gpu": {"products": ["NVIDIA-L4"]}})

    @pytest.mark.parametrize("resource", ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/mig-1g.10gb.me", "amd.com/gpu", "gpu.intel.com/i915"])
    @pytest.mark.parametrize("section", ["resources", "engineBuild.resources"])
    def test_gpu_resources_outside_gpu_count_fail(self, resource, section):
        values = {"resources": {"requests": {resource: 1}}} if section == "resources" else {"engineBuild": {"resources": {"limits": {resource: 1}}}}
        kind = "requests" if section == "resources" else "limits"
        assert f"{section}.{kind}: sets {resource}, a GPU resource. Set gpu.count (and gpu.mig for MIG slices) instead" in error_of(values)

    def test_other_extended_resources_are_left_alone(self):
        # The negative pair: a non-GPU extended resource (here a hugepage size) is the user's to set.
        resources = triton_container(render_server({"resources": {"limits": {"hugepages-2Mi": "1Gi", "memory": "4Gi"}}}))["resources"]
        assert resources["limits"]["hugepages-2Mi"] == "1Gi"


class TestEntrypoint:
    def test_triton_keeps_the_image_entrypoint_and_runs_tritonserver_from_args(self):
        container = triton_container(render_server())
        assert "command" not in container
        assert container["args"][0] == "tritonserver"
        assert all(arg.startswith("--") for arg in container["args"][1:])


class TestReplicas:
    def test_null_replica_count_fails_pointing_to_the_autoscaler(self):
        message = error_of({"replicaCount": None})
        assert "replicaCount: is null or missing" in message and "autoscaling" in message

    def test_zero_replicas_are_allowed(self):
        # The negative pair: 0 is a number (a parked release), not a null.
        assert deployment(render_server({"replicaCount": 0}))["spec"]["replicas"] == 0


class TestSecurity:
    def test_restricted_security_contexts_by_default(self):
        objects = render_server()
        spec = pod_spec(objects)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = triton_container(objects)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}

    def test_writable_paths_are_emptydirs_when_the_root_filesystem_is_read_only(self):
        mounts = {m["mountPath"] for m in triton_container(render_server())["volumeMounts"]}
        assert {"/tmp", "/dev/shm", "/home/triton-server/.cache"} <= mounts


class TestWritableVolumes:
    ENGINE_BUILD = {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}]}}
    S3 = {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "repositorySize": "30Gi",
                                                 "workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}

    @pytest.mark.parametrize("values", [{}, ENGINE_BUILD, {"modelRepository": S3}], ids=["default", "engine build", "object store"])
    def test_every_emptydir_is_bounded(self, values):
        unbounded = [v["name"] for v in pod_spec(render_server(values))["volumes"] if "emptyDir" in v and "sizeLimit" not in v["emptyDir"]]
        assert unbounded == []

    def test_sizes_come_from_values_and_the_pod_requests_their_total_as_ephemeral_storage(self):
        objects = render_server({"writableVolumes": {"tmpSizeLimit": "3Gi", "cacheSizeLimit": "512Mi"}})
        volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
        assert (volumes["tmp"]["emptyDir"], volumes["cache"]["emptyDir"]) == ({"sizeLimit": "3Gi"}, {"sizeLimit": "512Mi"})
        assert triton_container(objects)["resources"]["requests"]["ephemeral-storage"] == "3584Mi"

    def test_engine_build_repository_is_counted(self):
        objects = render_server(self.ENGINE_BUILD)
        assert {v["name"]: v for v in pod_spec(objects)["volumes"]}["repository"]["emptyDir"] == {"sizeLimit": "20Gi"}
        assert triton_container(objects)["resources"]["requests"]["ephemeral-storage"] == "22Gi"

    def test_a_declared_ephemeral_storage_request_is_kept(self):
        # The user may ask for more than the volumes hold (logs, the writable layer); the chart keeps it.
        objects = render_server({"resources": {"requests": {"ephemeral-storage": "5Gi"}}})
        assert triton_container(objects)["resources"]["requests"]["ephemeral-storage"] == "5Gi"

    def test_memory_backed_shm_is_not_counted_as_disk(self):
        objects = render_server({"sharedMemory": {"sizeLimit": "3Gi"}})
        assert triton_container(objects)["resources"]["requests"]["ephemeral-storage"] == "2Gi"

    def test_service_account_token_is_not_mounted(self):
        assert pod_spec(render_server())["automountServiceAccountToken"] is False


class TestScheduling:
    def test_zone_spread_and_soft_anti_affinity_by_default(self):
        spec = pod_spec(render_server())
        spread = spec["topologySpreadConstraints"][0]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["matchLabelKeys"] == ["pod-template-hash"]
        assert "preferredDuringSchedulingIgnoredDuringExecution" in spec["affinity"]["podAntiAffinity"]

    def test_hard_anti_affinity_when_asked(self):
        spec = pod_spec(render_server({"podAntiAffinity": {"mode": "hard"}}))
        assert "requiredDuringSchedulingIgnoredDuringExecution" in spec["affinity"]["podAntiAffinity"]

    def test_no_spread_or_anti_affinity_when_disabled(self):
        spec = pod_spec(render_server({"topologySpread": {"enabled": False}, "podAntiAffinity": {"mode": "none"}}))
        assert "topologySpreadConstraints" not in spec and "affinity" not in spec

    def test_priority_class_only_when_named(self):
        assert "priorityClassName" not in pod_spec(render_server())
        assert pod_spec(render_server({"priorityClassName": "triton-inference"}))["priorityClassName"] == "triton-inference"

    def test_rolling_update_keeps_capacity_by_default(self):
        strategy = deployment(render_server())["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}

    def test_recreate_for_gpu_starved_clusters(self):
        strategy = deployment(render_server({"updateStrategy": {"type": "Recreate"}}))["spec"]["strategy"]
        assert strategy == {"type": "Recreate"}

    def test_rolling_update_that_cannot_progress_fails(self):
        assert "updateStrategy: has maxSurge 0 and maxUnavailable 0" in error_of({"updateStrategy": {"maxSurge": 0}})


class TestSelectors:
    def test_selector_has_the_track_but_never_version_or_chart(self):
        selector = deployment(render_server())["spec"]["selector"]["matchLabels"]
        assert selector == {
            "app.kubernetes.io/name": "triton-server",
            "app.kubernetes.io/instance": "triton",
            "app.kubernetes.io/component": "server",
            "triton-stack.io/track": "stable",
        }

    def test_names_are_truncated_to_63_characters(self):
        objects = render_server({"fullnameOverride": "x" * 63})
        assert all(len(o["metadata"]["name"]) <= 63 for o in objects)
        assert find(objects, "Service", "-metrics")["metadata"]["name"] == "x" * 55 + "-metrics"

    def test_objects_rendered_by_default(self):
        assert kinds(render_server()) == sorted(
            ["Deployment", "NetworkPolicy", "Pod", "Service", "Service", "ServiceAccount"]
        )
