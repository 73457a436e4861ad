"""charts/triton-batch: the Indexed Job (per-shard retries gated on the Kubernetes version, the exit-code policy),
the CronJob, the two targets (the stack's Service through the one server-identity helper, or a native Triton
sidecar with GPUs), PVC and object-store I/O with their credentials, scheduling (priority below serving, Kueue),
and one source for the client. Each feature with its pair: off renders nothing of it, a bad value is refused."""

from __future__ import annotations

import pytest

from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST, find
from tests.harness import render as helm

pytestmark = pytest.mark.render

CHART = "triton-batch"
FILES = helm.CHARTS_DIR / CHART / "files"
DEADLINE = {"activeDeadlineSeconds": 86400}  # required with a sidecar or a schedule
SIDECAR = {"target": {"mode": "sidecar"}, "sidecar": {"modelRepository": {"claimName": "models"}}, **DEADLINE}
ARN = "arn:aws:iam::123456789012:role/batch"


def render(values: dict | None = None, kube_version: str = KUBE_HIGHEST) -> list[dict]:
    return helm.render(CHART, values=values or {}, kube_version=kube_version)


def job(objects: list[dict]) -> dict:
    return find(objects, "Job")


def pod(objects: list[dict]) -> dict:
    jobs = [o for o in objects if o["kind"] == "Job"]
    spec = jobs[0]["spec"] if jobs else find(objects, "CronJob")["spec"]["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def client(objects: list[dict]) -> dict:
    (container,) = pod(objects)["containers"]
    return container


def flags(objects: list[dict]) -> dict[str, str]:
    return {arg.partition("=")[0]: arg.partition("=")[2] for arg in client(objects)["args"][2:]}


class TestIndexedJob:
    def test_one_completion_per_shard_with_per_shard_retries(self):
        spec = job(render({"shards": 6, "parallelism": 3, "retriesPerShard": 4}))["spec"]
        assert (spec["completionMode"], spec["completions"], spec["parallelism"], spec["backoffLimitPerIndex"]) == ("Indexed", 6, 3, 4)
        assert "backoffLimit" not in spec
        assert spec["template"]["spec"]["restartPolicy"] == "Never"

    @pytest.mark.parametrize("kube_version", [KUBE_LOWEST, KUBE_HIGHEST])
    def test_per_shard_retries_on_every_declared_kubernetes(self, kube_version):
        # JobBackoffLimitPerIndex is beta and on by default from 1.29 (GA 1.33); the charts declare >= 1.29.
        assert job(render(kube_version=kube_version))["spec"]["backoffLimitPerIndex"] == 2

    def test_below_1_29_one_job_wide_limit_of_the_same_total_stands_in(self):
        # Not reachable through the declared range (>= 1.29): a copy of the chart that admits 1.28 shows the branch.
        objects = helm.render_with_kube_version_floor(CHART, "1.28.0", {"shards": 3, "retriesPerShard": 2}, kube_version="1.28.0")
        spec = job(objects)["spec"]
        assert "backoffLimitPerIndex" not in spec and spec["backoffLimit"] == 9
        assert "FailIndex" not in {rule["action"] for rule in spec["podFailurePolicy"]["rules"]}  # needs per-index limits

    def test_below_1_29_the_sidecar_lane_is_refused(self):
        error = pytest.raises(helm.HelmError, helm.render_with_kube_version_floor, CHART, "1.28.0", SIDECAR, kube_version="1.28.0").value
        assert "target.mode: sidecar needs native sidecar containers" in error.stderr and "1.28.0" in error.stderr
        # The pair: the same copy at 1.29 renders the native sidecar.
        objects = helm.render_with_kube_version_floor(CHART, "1.28.0", SIDECAR, kube_version="1.29.0")
        assert pod(objects)["initContainers"][0]["restartPolicy"] == "Always"

    def test_evictions_do_not_count_and_exit_codes_choose_the_action(self):
        rules = job(render())["spec"]["podFailurePolicy"]["rules"]
        assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        by_action = {rule["action"]: rule["onExitCodes"] for rule in rules[1:]}
        assert by_action == {
            "FailJob": {"containerName": "batch", "operator": "In", "values": [2]},
            "FailIndex": {"containerName": "batch", "operator": "In", "values": [1]},
        }

    def test_the_shard_count_reaches_the_client(self):
        objects = render({"shards": 7, "parallelism": 7})
        assert flags(objects)["--shards"] == str(job(objects)["spec"]["completions"]) == "7"

    def test_a_changed_run_is_a_new_job_and_the_same_run_keeps_its_name(self):
        # A Job's pod template is immutable: the name carries the spec's hash, so an upgrade replaces it.
        first, again, other = job(render()), job(render()), job(render({"shards": 5}))
        assert first["metadata"]["name"] == again["metadata"]["name"] != other["metadata"]["name"]
        assert len(first["metadata"]["name"]) <= 57

    def test_the_exit_code_policy_is_the_clients(self):
        # Only the client's 1 (items failed for good) and 2 (bad configuration) end a shard or the Job; its 3, 4 and
        # 143 are retried like a crash would be (an unexpected error exits 4, never 1).
        from tests.harness.model_config import load_python_source

        batch_client = load_python_source(FILES / "batch_infer.py", "triton_batch_client_codes")
        rules = {rule["action"]: rule["onExitCodes"]["values"] for rule in job(render())["spec"]["podFailurePolicy"]["rules"][1:]}
        assert rules == {"FailJob": [batch_client.EXIT_USAGE], "FailIndex": [batch_client.EXIT_ITEMS_FAILED]}
        retried = {batch_client.EXIT_UNAVAILABLE, batch_client.EXIT_RETRY, batch_client.EXIT_TERMINATED}
        assert len(retried) == 3 and not retried & {code for codes in rules.values() for code in codes}

    def test_the_grace_period_covers_one_request_after_sigterm(self):
        # The client starts no attempt once SIGTERM comes: one request timeout, then the last commit (30 s).
        spec = pod(render({"client": {"requestTimeoutSeconds": 120, "maxRetries": 50}}))
        assert spec["terminationGracePeriodSeconds"] == 150
        assert "--request-timeout-seconds=120" in client(render({"client": {"requestTimeoutSeconds": 120}}))["args"]

    def test_the_decode_bound_is_the_clients(self):
        from tests.harness.model_config import load_python_source

        batch_client = load_python_source(FILES / "batch_infer.py", "triton_batch_client_decode")
        text = (helm.CHARTS_DIR / CHART / "templates" / "_helpers.tpl").read_text()
        assert f'define "triton-batch.decodeBytesPerPixel" -}}}}{batch_client.DECODE_BYTES_PER_PIXEL}{{{{' in text
        assert batch_client.DECODE_BYTES_PER_LINE_BYTE == batch_client.DECODE_BYTES_PER_PIXEL
        assert [flags(render())[flag] for flag in ("--decode-concurrency", "--max-image-pixels", "--max-line-bytes")] == ["2", "32000000", "32000000"]

    def test_the_decode_bound_follows_the_input_format(self):
        # The pair of the refusal in tests/schema/test_bad_values.py: a line bound too large for the client's memory
        # means nothing when images are read, and the other way round.
        assert flags(render({"client": {"maxLineBytes": 100000000}}))["--max-line-bytes"] == "100000000"
        jsonl = {"input": {"format": "jsonl", "path": "/data/tensors"}, "client": {"maxImagePixels": 100000000}}
        assert flags(render(jsonl))["--max-image-pixels"] == "100000000"

    def test_deadline_only_when_set(self):
        assert "activeDeadlineSeconds" not in job(render())["spec"]
        assert job(render({"activeDeadlineSeconds": 3600}))["spec"]["activeDeadlineSeconds"] == 3600


class TestCronJob:
    def test_a_schedule_makes_a_cronjob_instead_of_a_job(self):
        objects = render({"schedule": "0 2 * * *", "timeZone": "Europe/Paris", **DEADLINE})
        assert not [o for o in objects if o["kind"] == "Job"]
        spec = find(objects, "CronJob")["spec"]
        assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("0 2 * * *", "Europe/Paris", "Forbid")
        assert (spec["startingDeadlineSeconds"], spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (600, 3, 3)
        assert spec["jobTemplate"]["spec"]["completionMode"] == "Indexed"
        assert len(find(objects, "CronJob")["metadata"]["name"]) <= 52

    @pytest.mark.parametrize("shards", [10, 100000])
    def test_every_shards_pod_hostname_fits_63_characters(self, shards):
        # A run's Job is <cronjob>-<up to 11 characters>, a shard's hostname <job>-<index>.
        values = {"fullnameOverride": "x" * 63, "schedule": "0 2 * * *", "shards": shards, "parallelism": 1, **DEADLINE}
        name = find(render(values), "CronJob")["metadata"]["name"]
        assert len(name) + len("-") + 10 + len("-") + len(str(shards - 1)) <= 63
        one_off = job(render({**values, "schedule": ""}))["metadata"]["name"]
        assert len(one_off) + len("-") + len(str(shards - 1)) <= 63

    def test_no_schedule_no_cronjob(self):
        assert not [o for o in render() if o["kind"] == "CronJob"]


class TestTarget:
    def test_default_target_is_the_stacks_server_service(self):
        objects = helm.render("triton-stack", values={"batch": {"enabled": True}}, kube_version=KUBE_HIGHEST)
        services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
        host, port = flags(objects)["--url"].split(":")
        assert host in services
        assert int(port) == next(p["port"] for p in services[host]["spec"]["ports"] if p["name"] == "http")
        assert flags(objects)["--protocol"] == "http"

    def test_the_target_follows_the_servers_name_override(self):
        # STYLE 6a: with global.server.fullnameOverride every reference still resolves to a rendered Service.
        values = {"global": {"server": {"fullnameOverride": "shared-triton"}}, "batch": {"enabled": True, "target": {"protocol": "grpc"}}}
        objects = helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST)
        service = find(objects, "Service", "shared-triton")
        assert flags(objects)["--url"] == f"shared-triton:{next(p['port'] for p in service['spec']['ports'] if p['name'] == 'grpc')}"

    @pytest.mark.parametrize(("protocol", "url"), [("http", "triton-gpu.ml.svc:9000"), ("grpc", "triton-gpu.ml.svc:9001")])
    def test_another_service_when_named(self, protocol, url):
        service = {"host": "triton-gpu.ml.svc", "httpPort": 9000, "grpcPort": 9001}
        assert flags(render({"target": {"protocol": protocol, "service": service}}))["--url"] == url

    def test_service_mode_has_no_sidecar_and_no_gpu(self):
        spec = pod(render())
        assert "initContainers" not in spec and "affinity" not in spec and "tolerations" not in spec

    def test_sidecar_is_a_native_sidecar_the_client_reaches_on_loopback(self):
        objects = render(SIDECAR)
        (triton,) = pod(objects)["initContainers"]
        assert triton["restartPolicy"] == "Always"
        assert triton["args"][0] == "tritonserver" and "--model-repository=/models" in triton["args"]
        # Ready only once every model is: the startup probe below is what holds the client back until then.
        assert "--strict-readiness=true" in triton["args"] and not [a for a in triton["args"] if a.startswith("--strict-readiness=") and a != "--strict-readiness=true"]
        assert triton["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
        assert triton["startupProbe"]["periodSeconds"] * triton["startupProbe"]["failureThreshold"] >= 600
        assert flags(objects)["--url"] == "127.0.0.1:8000"
        volumes = {v["name"]: v for v in pod(objects)["volumes"]}
        assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
        assert volumes["shm"]["emptyDir"]["medium"] == "Memory"

    def test_gpu_sidecar_gets_the_gpu_its_toleration_and_affinity(self):
        objects = render({**SIDECAR, "sidecar": {**SIDECAR["sidecar"], "gpu": {"count": 1, "products": ["NVIDIA-L4"]}}})
        spec = pod(objects)
        (triton,) = spec["initContainers"]
        assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1 and triton["resources"]["requests"]["nvidia.com/gpu"] == 1
        assert "nvidia.com/gpu" not in client(objects)["resources"].get("limits", {})
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term["matchExpressions"] == [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]

    def test_mig_sidecar_asks_for_its_slice(self):
        mig = {"strategy": "mixed", "gpuModel": "H100-80GB", "profile": "1g.10gb"}
        (triton,) = pod(render({**SIDECAR, "sidecar": {**SIDECAR["sidecar"], "gpu": {"count": 1, "mig": mig}}}))["initContainers"]
        assert triton["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == 1


class TestInputAndOutput:
    def test_dots_inside_a_name_are_not_a_parent_segment(self):
        # The pair of the ".." refusals in tests/schema/test_bad_values.py: only a whole ".." segment is refused.
        values = {"data": {"pvc": {"mountPath": "/data..v2"}}, "input": {"path": "/data..v2/in..put"}, "output": {"path": "/data..v2/...out"}}
        assert (flags(render(values))["--input"], flags(render(values))["--output"]) == ("/data..v2/in..put", "/data..v2/...out")

    def test_paths_reach_the_client_whole_whatever_they_hold(self):
        # Unquoted, YAML would read " #1" as a comment and cut the path.
        values = {"input": {"path": "/data/run #1 in"}, "output": {"path": "/data/out 'x' \"y\""}}
        assert (flags(render(values))["--input"], flags(render(values))["--output"]) == ("/data/run #1 in", "/data/out 'x' \"y\"")

    def test_pvc_paths_mount_the_data_claim(self):
        objects = render({"data": {"pvc": {"claimName": "scoring"}}})
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "scoring"}} in pod(objects)["volumes"]
        assert {"name": "data", "mountPath": "/data"} in client(objects)["volumeMounts"]
        assert (flags(objects)["--input"], flags(objects)["--output"], flags(objects)["--input-format"]) == ("/data/input", "/data/output", "images")

    def test_object_store_with_workload_identity_annotates_the_service_account(self):
        values = {"input": {"path": "s3://bucket/in"}, "output": {"path": "s3://bucket/out"}, "objectStore": {"workloadIdentity": {"aws": {"roleArn": ARN}}}}
        objects = render(values)
        assert find(objects, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ARN}
        assert "envFrom" not in client(objects)
        assert not [v for v in pod(objects)["volumes"] if v["name"] == "data"]

    def test_object_store_with_a_secret_puts_its_keys_in_the_environment(self):
        values = {"output": {"path": "gs://bucket/out"}, "objectStore": {"credentials": "secret", "existingSecret": "gcs-key"}}
        objects = render(values)
        assert client(objects)["envFrom"] == [{"secretRef": {"name": "gcs-key"}}]
        assert "annotations" not in find(objects, "ServiceAccount")["metadata"]

    def test_pvc_only_runs_carry_no_identity(self):
        objects = render({"objectStore": {"workloadIdentity": {"aws": {"roleArn": ARN}}}})
        assert "annotations" not in find(objects, "ServiceAccount")["metadata"] and "envFrom" not in client(objects)


class TestScheduling:
    def test_batch_pods_get_a_class_below_pods_without_one_that_never_preempts(self):
        objects = render()
        priority = find(objects, "PriorityClass")
        assert priority["value"] < 0 and priority["preemptionPolicy"] == "Never" and not priority["globalDefault"]
        assert pod(objects)["priorityClassName"] == priority["metadata"]["name"]

    def test_an_existing_class_or_none(self):
        assert pod(render({"priorityClass": {"create": False, "name": "low"}}))["priorityClassName"] == "low"
        objects = render({"priorityClass": {"create": False}})
        assert "priorityClassName" not in pod(objects) and not [o for o in objects if o["kind"] == "PriorityClass"]

    def test_umbrella_accepts_a_batch_class_below_the_serving_class(self):
        values = {"server": {"priorityClassName": "triton-inference"}, "guardrails": {"priorityClass": {"create": True}},
                  "batch": {"enabled": True, "priorityClass": {"value": 99999}}}
        assert find(helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST), "PriorityClass", "-batch")["value"] == 99999

    @pytest.mark.parametrize("kind", ["Job", "CronJob"])
    def test_kueue_queue_label_and_suspended_start(self, kind):
        objects = render({"kueue": {"queueName": "team-a"}, "schedule": "@daily" if kind == "CronJob" else "", **DEADLINE})
        if kind == "Job":
            metadata, spec = job(objects)["metadata"], job(objects)["spec"]
        else:
            template = find(objects, "CronJob")["spec"]["jobTemplate"]
            metadata, spec = template["metadata"], template["spec"]
        assert metadata["labels"]["kueue.x-k8s.io/queue-name"] == "team-a" and spec["suspend"] is True

    def test_no_queue_no_kueue_label(self):
        assert "kueue.x-k8s.io/queue-name" not in job(render())["metadata"]["labels"]
        assert "suspend" not in job(render())["spec"]


class TestOneSourceForTheClient:
    def test_the_configmap_holds_exactly_the_chart_files_and_the_pod_runs_them(self):
        objects = render()
        data = find(objects, "ConfigMap")["data"]
        assert data == {path.name: path.read_text() for path in FILES.iterdir() if path.is_file()}
        mount = next(m for m in client(objects)["volumeMounts"] if m["name"] == "client")
        assert client(objects)["args"][:2] == ["python3", f"{mount['mountPath']}/batch_infer.py"]
        assert "command" not in client(objects)

    def test_the_umbrella_renders_no_batch_object_unless_enabled(self):
        # `enabled` is the umbrella's condition (off by default); installed alone, the chart always renders its run.
        assert not [o for o in helm.render("triton-stack", kube_version=KUBE_HIGHEST) if "batch" in o["metadata"]["name"]]
        assert [o for o in helm.render("triton-stack", values={"batch": {"enabled": True}}, kube_version=KUBE_HIGHEST) if o["kind"] == "Job"]
        assert {o["kind"] for o in render({"enabled": False})} >= {"Job", "ConfigMap"}


class TestNotes:
    @pytest.mark.parametrize("schedule", ["", "0 2 * * *"])
    def test_the_progress_commands_select_the_rendered_jobs_and_pods(self, schedule, tmp_path):
        import re

        import yaml

        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump({"schedule": schedule, **DEADLINE}))
        notes = helm.render_notes(CHART, [values], kube_version=KUBE_HIGHEST)
        objects = helm.render(CHART, [values], kube_version=KUBE_HIGHEST)
        # The one-off Job, or the template of the Jobs the CronJob creates.
        template = next((o for o in objects if o["kind"] == "Job"), None) or find(objects, "CronJob")["spec"]["jobTemplate"]
        job_labels, pod_labels = template["metadata"]["labels"], template["spec"]["template"]["metadata"]["labels"]
        selectors = re.findall(r"(get jobs|logs) -l (\S+)", notes)
        assert [kind for kind, _ in selectors] == ["get jobs", "logs"], notes
        for kind, selector in selectors:
            wanted = dict(pair.split("=", 1) for pair in selector.split(","))
            labels = job_labels if kind == "get jobs" else pod_labels
            assert wanted.items() <= labels.items(), f"`{kind} -l {selector}` misses {labels}"


class TestDocsExamples:
    """docs/batch.md's YAML examples render as the guide says, with the environment file its commands use."""

    @staticmethod
    def examples() -> list[dict]:
        import re

        import yaml

        text = (helm.REPO_ROOT / "docs" / "batch.md").read_text()
        return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if block.startswith("batch:")]

    def test_the_worked_example_renders_with_prod(self, tmp_path):
        import yaml

        worked = self.examples()[0]
        (tmp_path / "batch.yaml").write_text(yaml.safe_dump(worked))
        objects = helm.render("triton-stack", [helm.VALUES_DIR / "prod.yaml", tmp_path / "batch.yaml"], kube_version=KUBE_HIGHEST)
        cronjob = find(objects, "CronJob")
        assert cronjob["spec"]["schedule"] == worked["batch"]["schedule"]
        assert flags(objects)["--model"] == worked["batch"]["target"]["model"] and flags(objects)["--protocol"] == "http"

    def test_the_grpc_only_target_example_calls_its_grpc_port(self):
        (grpc_only,) = [example for example in self.examples() if example["batch"].get("target", {}).get("protocol") == "grpc"]
        service = grpc_only["batch"]["target"]["service"]
        objects = helm.render("triton-stack", values={"batch": {"enabled": True, **grpc_only["batch"]}}, kube_version=KUBE_HIGHEST)
        assert flags(objects)["--protocol"] == "grpc" and flags(objects)["--url"] == f"{service['host']}:{service['grpcPort']}"
