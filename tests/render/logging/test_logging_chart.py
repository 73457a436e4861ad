"""The logging chart's objects: the DaemonSet in its own namespace reading the server's triton containers' log
files (every track), the Role in the server's namespace, the output per type with its file buffer, and the render
checks."""

from __future__ import annotations

import pytest

from tests.conftest import find
from tests.harness import fluentd, policy
from tests.harness import render as helm
from tests.render.logging.conftest import config_map, logging_error, render_logging

pytestmark = pytest.mark.render

CONTAINER_ID = "0f" * 32
# Pod names as Kubernetes generates them: <workload>-<pod-template hash>-<5 characters>, the hash 1 to 10 characters
# and the suffix from the alphabet bcdfghjklmnpqrstvwxz2456789 (apimachinery util/rand).
HASH, SUFFIX = "7d9f8c6b5", "x2x4z"


def env(objects: list[dict]) -> dict[str, dict]:
    (container,) = find(objects, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container["env"]}


def tail_path(objects: list[dict]) -> str:
    return env(objects)["FLUENT_TRITON_LOG_PATH"]["value"]


def reads(objects: list[dict], file: str) -> bool:
    """Whether Fluentd's in_tail, configured as the rendered fluent.conf says with the rendered path, reads `file`."""
    (source,) = [s for s in fluentd.parse_config(config_map(objects)["data"]["fluent.conf"]).find("source") if s.params.get("@type") == "tail"]
    return any(fluentd.ruby_glob_match(file, pattern) for pattern in fluentd.tail_paths(source, tail_path(objects)))


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
        deployment = find(logging_objects, "Deployment")["metadata"]["name"]
        read = {
            log_file(f"{deployment}-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): True,
            log_file(f"{deployment}-canary-6c5b4d9f8-q7w9k", helm.DEFAULT_NAMESPACE, "triton"): True,
            # the shortest and the longest pod-template hash Kubernetes makes (a uint32 in decimal: 1 to 10 digits)
            log_file(f"{deployment}-b-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): True,
            log_file(f"{deployment}-4b5c6d7f8b-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): True,
            log_file(f"{deployment}-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "engine-build"): False,
            log_file(f"{deployment}-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "istio-proxy"): False,
            log_file(f"{deployment}-{HASH}-{SUFFIX}", "staging", "triton"): False,
            log_file(f"other-release-server-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): False,
            log_file(f"{deployment}-test", helm.DEFAULT_NAMESPACE, "helm-test"): False,
            # other releases in the namespace whose servers are named like this one's (a release named
            # triton-server-server has a server of that name), and their canaries
            log_file(f"{deployment}-server-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): False,
            log_file(f"{deployment}-server-canary-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): False,
            log_file(f"{deployment}-canary-server-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): False,
            log_file(f"{deployment}-bcd-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"): False,
        }
        assert {name: reads(logging_objects, name) for name in read} == read

    def test_another_release_named_like_the_server_is_what_a_plain_wildcard_would_read(self, logging_objects):
        # The negative pair: the pattern the chart had, <server>-*_<namespace>_triton-*.log, reads the look-alike.
        deployment = find(logging_objects, "Deployment")["metadata"]["name"]
        lookalike = log_file(f"{deployment}-server-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton")
        assert fluentd.ruby_glob_match(lookalike, f"/var/log/containers/{deployment}-*_{helm.DEFAULT_NAMESPACE}_triton-*.log")
        assert not reads(logging_objects, lookalike)

    def test_braces_in_the_path_need_the_glob_policy_that_expands_them(self, logging_objects):
        # in_tail splits path on path_delimiter (a comma by default) and expands braces only under glob_policy always
        # (fluentd in_tail.rb): without both, the pattern's alternatives would be split or read literally.
        text = config_map(logging_objects)["data"]["fluent.conf"]
        (source,) = [s for s in fluentd.parse_config(text).find("source") if s.params.get("@type") == "tail"]
        assert (source.params["glob_policy"], source.params["path_delimiter"]) == ("always", "|")
        (broken,) = [s for s in fluentd.parse_config(text.replace("  glob_policy always\n", "")).find("source") if s.params.get("@type") == "tail"]
        with pytest.raises(fluentd.ConfigError, match="glob_policy always"):
            fluentd.tail_paths(broken, tail_path(logging_objects))

    def test_the_server_name_override_moves_the_files_read(self):
        objects = render_logging(extra={"global": {"server": {"fullnameOverride": "shared-triton"}}})
        assert reads(objects, log_file(f"{find(objects, 'Deployment')['metadata']['name']}-{HASH}-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"))
        assert tail_path(objects).startswith("/var/log/containers/shared-triton{,-canary}-")

    @pytest.mark.parametrize(("name", "refused"), [("s" * 46, False), ("s" * 47, True)])
    def test_a_server_name_kubernetes_cuts_from_its_pod_names_is_refused(self, name, refused):
        # The API server keeps a generated name's base to 58 characters: "<workload>-<hash of 10>-" fits for 46.
        values = {"global": {"server": {"fullnameOverride": name}}}
        if refused:
            assert f'logging.enabled: Fluentd finds the server\'s log files by its pods\' names, <workload>-<hash>-<suffix>, which Kubernetes keeps only for workload names of at most 46 characters, and the server\'s is "{name}" (47)' in logging_error({}, values)
        else:
            assert reads(render_logging(extra=values), log_file(f"{name}-4b5c6d7f8b-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"))

    @pytest.mark.parametrize(("name", "refused"), [("s" * 39, False), ("s" * 40, True)])
    def test_a_canary_name_kubernetes_cuts_from_its_pod_names_is_refused(self, name, refused):
        values = {"global": {"server": {"fullnameOverride": name}}, "server": {"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}}
        if refused:
            assert f'logging.enabled: Fluentd finds the server\'s log files by its pods\' names, <workload>-<hash>-<suffix>, which Kubernetes keeps only for workload names of at most 46 characters, and the canary\'s is "{name}-canary" (47)' in logging_error({}, values)
        else:
            objects = render_logging(extra=values)
            canary = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-canary")]
            assert canary == [f"{name}-canary"] and reads(objects, log_file(f"{name}-canary-4b5c6d7f8b-{SUFFIX}", helm.DEFAULT_NAMESPACE, "triton"))

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
        assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "triton-logging", "namespace": "triton-logging"}]

    def test_the_role_grants_exactly_what_the_metadata_filter_asks_for(self, logging_objects):
        # fluent-plugin-kubernetes_metadata_filter with watch false and skip_namespace_metadata: one GET per pod.
        needed = fluentd.kubernetes_metadata_access(fluentd.parse_config(config_map(logging_objects)["data"]["fluent.conf"]))
        granted = {resource: set(rule["verbs"]) for rule in find(logging_objects, "Role")["rules"] for resource in rule["resources"]}
        assert needed == granted == {"pods": {"get"}}

    def test_a_watching_filter_would_need_more_than_the_role_grants(self, logging_objects):
        # The negative pair: the plugin's defaults (watch true, namespace metadata) list and watch pods and namespaces.
        text = config_map(logging_objects)["data"]["fluent.conf"].replace("    watch false\n", "").replace("    skip_namespace_metadata true\n", "")
        assert fluentd.kubernetes_metadata_access(fluentd.parse_config(text)) == {"pods": {"get", "list", "watch"}, "namespaces": {"get", "list", "watch"}}

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

    def test_an_upgrade_replaces_one_node_s_shipper_at_a_time(self, logging_objects):
        # All at once would leave every node without a log shipper for the length of the rollout.
        assert find(logging_objects, "DaemonSet")["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}


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

    @pytest.mark.parametrize("output", ["elasticsearch", "opensearch"])
    def test_a_private_ca_is_mounted_and_given_as_ca_file(self, output):
        objects = render_logging({"output": {"type": output, output: {"host": "search.logging.svc", "caSecret": "search-ca"}}})
        conf = config_map(objects)["data"]["output.conf"]
        assert "ssl_verify true" in conf and "ca_file /fluentd/tls/ca.crt" in conf
        spec = find(objects, "DaemonSet")["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "output-ca"]
        assert volume["secret"] == {"secretName": "search-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "output-ca"]
        assert mount == {"name": "output-ca", "mountPath": "/fluentd/tls", "readOnly": True}

    def test_without_a_ca_secret_the_system_cas_verify(self):
        objects = render_logging({"output": {"type": "elasticsearch", "elasticsearch": {"host": "es.logging.svc"}}})
        conf = config_map(objects)["data"]["output.conf"]
        assert "ssl_verify true" in conf and "ca_file" not in conf
        assert "output-ca" not in {v["name"] for v in find(objects, "DaemonSet")["spec"]["template"]["spec"]["volumes"]}

    def test_verification_off_only_when_asked_and_never_said_over_http(self):
        off = config_map(render_logging({"output": {"type": "elasticsearch", "elasticsearch": {"host": "es.logging.svc", "sslVerify": False}}}))["data"]["output.conf"]
        assert "ssl_verify false" in off
        plain = config_map(render_logging({"output": {"type": "opensearch", "opensearch": {"host": "os.logging.svc", "scheme": "http"}}}))["data"]["output.conf"]
        assert "ssl_verify" not in plain and "scheme http" in plain

    def test_a_ca_over_http_fails(self):
        error = logging_error({"output": {"type": "elasticsearch", "elasticsearch": {"host": "es.logging.svc", "scheme": "http", "caSecret": "es-ca"}}})
        assert 'logging.output.elasticsearch.caSecret: names Secret "es-ca", but output.elasticsearch.scheme is http' in error

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


class TestDeadLetters:
    """Records the output refuses for good (Elasticsearch's 400) reach @ERROR (the plugins' emit_error_event)."""

    def test_errors_go_to_fluentds_stdout_and_never_back_to_the_output(self, logging_objects):
        root = fluentd.parse_config(config_map(logging_objects)["data"]["fluent.conf"])
        assert fluentd.reachable(root, "@ERROR") == {"output:stdout"}
        # the output itself is reached from the pipeline, once
        assert "include:output.conf" in fluentd.reachable(root, "@CRI_PARTIAL")

    def test_the_relabel_the_pipeline_had_would_loop(self, logging_objects):
        # The negative pair: @ERROR relabelled to @OUTPUT reaches the output that refused the record, which refuses
        # it again, for ever.
        text = config_map(logging_objects)["data"]["fluent.conf"]
        dead_letters = text[text.index("<label @ERROR>"):text.index("</label>", text.index("<label @ERROR>"))]
        looping = text.replace(dead_letters, "<label @ERROR>\n  <match **>\n    @type relabel\n    @label @OUTPUT\n  </match>\n")
        assert "include:output.conf" in fluentd.reachable(fluentd.parse_config(looping), "@ERROR")

    @pytest.mark.parametrize("output", ["elasticsearch", "opensearch"])
    def test_with_a_search_output_too(self, output):
        objects = render_logging({"output": {"type": output, output: {"host": "search.logging.svc"}}})
        assert fluentd.reachable(fluentd.parse_config(config_map(objects)["data"]["fluent.conf"]), "@ERROR") == {"output:stdout"}


class TestNotes:
    def test_the_namespace_to_label_when_the_release_does_not_create_it(self, tmp_path):
        values = tmp_path / "logging.yaml"
        values.write_text("logging:\n  enabled: true\n")
        notes = helm.render_notes("triton-stack", [values], kube_version="1.36.0")
        assert "kubectl label namespace triton-logging pod-security.kubernetes.io/enforce=privileged" in notes

    def test_no_label_to_set_when_the_release_creates_the_namespace(self, tmp_path):
        values = tmp_path / "logging.yaml"
        values.write_text("logging:\n  enabled: true\n  namespace:\n    create: true\n")
        notes = helm.render_notes("triton-stack", [values], kube_version="1.36.0")
        assert "kubectl label namespace" not in notes
        assert "which this release created with the privileged Pod Security label" in notes


def test_prod_creates_the_logging_namespace_with_its_exemption():
    # A new install of values/prod.yaml failed on the missing namespace; the release now creates it.
    (namespace,) = [o for o in helm.render("triton-stack", [helm.VALUES_DIR / "prod.yaml"], kube_version="1.36.0") if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == "triton-logging"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_configmap_holds_the_pipeline_file_verbatim(logging_objects):
    assert config_map(logging_objects)["data"]["fluent.conf"] == (helm.CHARTS_DIR / "triton-logging" / "files" / "fluent.conf").read_text()


def test_a_new_pipeline_or_output_rolls_the_pods(logging_objects):
    before = find(logging_objects, "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    after = find(render_logging({"buffer": {"flushInterval": "10s"}}), "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert before != after


def test_nothing_of_logging_when_off():
    objects = helm.render("triton-stack", kube_version="1.36.0")
    assert not [o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == "logging"]
