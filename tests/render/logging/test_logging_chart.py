"""The logging chart's objects: the DaemonSet in its own namespace reading the server's triton containers' log
files (every track), the Role in the server's namespace, the output per type with its file buffer, and the render
checks."""

from __future__ import annotations

import fnmatch

import pytest

from tests.conftest import find
from tests.harness import policy
from tests.harness import render as helm
from tests.render.logging.conftest import config_map, logging_error, render_logging

pytestmark = pytest.mark.render

CONTAINER_ID = "0f" * 32


def env(objects: list[dict]) -> dict[str, dict]:
    (container,) = find(objects, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container["env"]}


def tail_path(objects: list[dict]) -> str:
    return env(objects)["FLUENT_TRITON_LOG_PATH"]["value"]


def log_file(pod: str, namespace: str, container: str) -> str:
    """The name the kubelet gives a container's log file in /var/log/containers."""
    return f"/var/log/containers/{pod}_{namespace}_{container}-{CONTAINER_ID}.log"


def directions(network_policy: dict) -> dict[str, dict[str, list[dict]]]:
    """The directions a NetworkPolicy isolates its pods in, each with the peers still admitted per port, the way
    Kubernetes reads policyTypes: without it, Ingress always and Egress when the policy has egress rules. A
    direction not listed is not governed by the policy: every connection that way is allowed. Egress rules are not
    expanded (only their presence matters here)."""
    spec = network_policy["spec"]
    types = spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])]
    governed = {}
    if "Ingress" in types:
        governed["Ingress"] = policy.admitted_peers(network_policy)
    if "Egress" in types:
        governed["Egress"] = {"<egress rules>": spec.get("egress") or []}
    return governed


class TestWhatIsRead:
    def test_the_triton_containers_of_every_track_and_nothing_else(self, logging_objects):
        path = tail_path(logging_objects)
        deployment = find(logging_objects, "Deployment")["metadata"]["name"]
        read = {
            log_file(f"{deployment}-7d9f8c6b5-x2x4z", helm.DEFAULT_NAMESPACE, "triton"): True,
            log_file(f"{deployment}-canary-5c4b3a2f1-a1b2c", helm.DEFAULT_NAMESPACE, "triton"): True,
            log_file(f"{deployment}-7d9f8c6b5-x2x4z", helm.DEFAULT_NAMESPACE, "engine-build"): False,
            log_file(f"{deployment}-7d9f8c6b5-x2x4z", "staging", "triton"): False,
            log_file("other-release-server-7d9f8c6b5-x2x4z", helm.DEFAULT_NAMESPACE, "triton"): False,
            log_file(f"{deployment}-test", helm.DEFAULT_NAMESPACE, "helm-test"): False,
        }
        assert {name: fnmatch.fnmatch(name, path) for name in read} == read

    def test_the_server_name_override_moves_the_files_read(self):
        objects = render_logging(extra={"global": {"server": {"fullnameOverride": "shared-triton"}}})
        assert fnmatch.fnmatch(log_file(f"{find(objects, 'Deployment')['metadata']['name']}-7d9f8c6b5-x2x4z", helm.DEFAULT_NAMESPACE, "triton"), tail_path(objects))
        assert tail_path(objects).startswith("/var/log/containers/shared-triton-")

    def test_node_logs_are_mounted_read_only_and_state_per_release(self, logging_objects):
        spec = find(logging_objects, "DaemonSet")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = spec["containers"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert volumes["logs"]["hostPath"] == {"path": "/var/log", "type": "Directory"} and mounts["logs"]["readOnly"] is True
        assert volumes["state"]["hostPath"] == {"path": f"/var/lib/triton-logging/{helm.DEFAULT_NAMESPACE}_triton", "type": "DirectoryOrCreate"}


class TestWhereItRuns:
    def test_in_its_own_namespace_with_the_role_in_the_servers(self, logging_objects):
        own = {o["kind"] for o in logging_objects if o["metadata"].get("namespace") == "triton-logging"}
        assert own == {"DaemonSet", "ConfigMap", "ServiceAccount", "NetworkPolicy"}
        role, binding = find(logging_objects, "Role"), find(logging_objects, "RoleBinding")
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == helm.DEFAULT_NAMESPACE
        assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "triton-logging", "namespace": "triton-logging"}]

    def test_the_namespace_with_its_exemption_when_asked(self):
        namespace = find(render_logging({"namespace": {"create": True}}), "Namespace")
        assert namespace["metadata"]["name"] == "triton-logging"
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
        assert not [o for o in render_logging() if o["kind"] == "Namespace"]

    def test_its_pod_breaks_exactly_the_declared_controls(self, logging_objects):
        (name, spec), = [(n, s) for n, s in policy.pod_specs(logging_objects) if n.startswith("DaemonSet/")]
        exception = policy.restricted_exception(name)
        assert exception is not None
        assert set(policy.restricted_violations(spec)) == exception.violations
        print(f"\n{name} breaks, by design: {sorted(exception.violations)}\nreason: {exception.reason}")

    def test_the_servers_namespace_is_refused(self):
        assert 'logging.namespace.name: "inference" is the namespace of the Triton pods' in logging_error({"namespace": {"name": "inference"}})

    def test_its_pods_admit_no_connection_and_may_still_reach_the_api_and_the_output(self, logging_objects):
        network_policy = find(logging_objects, "NetworkPolicy", "-logging")
        assert network_policy["metadata"]["namespace"] == "triton-logging"
        assert network_policy["spec"]["podSelector"] == find(logging_objects, "DaemonSet")["spec"]["selector"]
        # Isolated for ingress with nothing admitted (the kubelet's probes come from the node); egress not governed.
        assert directions(network_policy) == {"Ingress": {}}

    def test_a_policy_that_governs_egress_instead_is_seen(self):
        # The negative pair: policyTypes [Egress] leaves ingress open to everyone and, without egress rules, cuts
        # Fluentd off from the API server and the output; policyTypes left out still isolates ingress.
        assert directions({"spec": {"podSelector": {}, "policyTypes": ["Egress"], "ingress": []}}) == {"Egress": {"<egress rules>": []}}
        assert directions({"spec": {"podSelector": {}, "ingress": []}}) == {"Ingress": {}}
        assert directions({"spec": {"podSelector": {}, "ingress": [{}]}}) == {"Ingress": {"<every port>": [{"<every source>": True}]}}

    def test_tolerates_the_gpu_taint_to_run_beside_triton(self, logging_objects):
        tolerations = find(logging_objects, "DaemonSet")["spec"]["template"]["spec"]["tolerations"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


class TestOutputs:
    @pytest.mark.parametrize(("output", "variant"), [("stdout", "forward"), ("elasticsearch", "elasticsearch8"), ("opensearch", "opensearch")])
    def test_the_image_has_the_outputs_plugin(self, output, variant):
        values = {"output": {"type": output, output: {"host": "search.logging.svc"}}} if output != "stdout" else {}
        (container,) = find(render_logging(values), "DaemonSet")["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"docker.io/fluent/fluentd-kubernetes-daemonset:v1.19.3-debian-{variant}-1.1"
        assert "command" not in container and "args" not in container  # the image's entrypoint (tini, fluentd)

    def test_elasticsearch_with_credentials_from_a_secret(self):
        objects = render_logging({"output": {"type": "elasticsearch", "elasticsearch": {"host": "es.logging.svc", "existingSecret": "es-creds", "indexPrefix": "ml"}}})
        output = config_map(objects)["data"]["output.conf"]
        for line in ("@type elasticsearch", "host es.logging.svc", "port 9200", "scheme https", "logstash_prefix ml",
                     "user \"#{ENV['FLUENT_TRITON_OUTPUT_USERNAME']}\"", "@type file", "retry_forever true", "overflow_action block"):
            assert line in output, line
        assert env(objects)["FLUENT_TRITON_OUTPUT_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "es-creds", "key": "password"}}

    def test_no_credentials_without_a_secret(self):
        objects = render_logging({"output": {"type": "opensearch", "opensearch": {"host": "os.logging.svc"}}})
        assert "user " not in config_map(objects)["data"]["output.conf"] and "FLUENT_TRITON_OUTPUT_PASSWORD" not in env(objects)

    def test_loki_with_an_image_that_has_its_plugin(self):
        objects = render_logging({"output": {"type": "loki", "loki": {"url": "http://loki-gateway.loki.svc", "tenant": "ml"}},
                                  "image": {"repository": "registry.example.com/fluentd-loki", "tag": "v1.19.3-1"}})
        output = config_map(objects)["data"]["output.conf"]
        assert "@type loki" in output and "url http://loki-gateway.loki.svc" in output and "tenant ml" in output
        assert "namespace $.kubernetes.namespace_name" in output and "@type file" in output

    def test_stdout_by_default(self, logging_objects):
        assert "@type stdout" in config_map(logging_objects)["data"]["output.conf"]

    def test_buffer_settings_come_from_values(self):
        output = config_map(render_logging({"buffer": {"totalLimitSize": "8g", "retryMaxInterval": "5m"}}))["data"]["output.conf"]
        assert "total_limit_size 8g" in output and "retry_max_interval 5m" in output

    def test_empty_elasticsearch_host_fails(self):
        assert "logging.output.elasticsearch.host: is empty, and output.type is elasticsearch" in logging_error({"output": {"type": "elasticsearch"}})

    def test_loki_with_an_image_without_its_plugin_fails(self):
        assert "logging.image.repository: docker.io/fluent/fluentd-kubernetes-daemonset publishes no variant with the Loki output plugin" in logging_error(
            {"output": {"type": "loki", "loki": {"url": "http://loki.svc"}}})


def test_the_configmap_holds_the_pipeline_file_verbatim(logging_objects):
    assert config_map(logging_objects)["data"]["fluent.conf"] == (helm.CHARTS_DIR / "triton-logging" / "files" / "fluent.conf").read_text()


def test_a_new_pipeline_or_output_rolls_the_pods(logging_objects):
    before = find(logging_objects, "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    after = find(render_logging({"buffer": {"flushInterval": "10s"}}), "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert before != after


def test_nothing_of_logging_when_off():
    objects = helm.render("triton-stack", kube_version="1.36.0")
    assert not [o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == "logging"]
