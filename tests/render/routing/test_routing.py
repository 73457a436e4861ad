"""The routing chart: subsets per track, weights and precedence for HTTP and gRPC, mirroring and faults only when
asked, the ingress Gateway, mTLS and authorization; rendered through the umbrella (the way it is installed)."""

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import render as helm

pytestmark = pytest.mark.render

HOST = "triton-server.inference.svc.cluster.local"
CANARY_SERVER = {"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}


def render(routing: dict | None = None, server: dict | None = None) -> list[dict]:
    values = {"routing": {"enabled": True, **(routing or {})}, "server": server or {}}
    if (routing or {}).get("promotion", {}).get("enabled"):
        values["monitoring"] = {"enabled": True}  # the gate reads Triton's series through monitoring's ServiceMonitor
    return helm.render("triton-stack", values=values, kube_version=KUBE_HIGHEST)


def canary(weight=10, **routing) -> list[dict]:
    return render({"canary": {"enabled": True, "weight": weight, **routing.pop("canary", {})}, **routing}, CANARY_SERVER)


def routes(objects) -> list[dict]:
    return find(objects, "VirtualService")["spec"]["http"]


def weights(route) -> dict[str, int]:
    return {destination["destination"]["subset"]: destination.get("weight", 100) for destination in route["route"]}


class TestSubsets:
    def test_one_subset_per_track_with_explicit_traffic_policy(self):
        rule = find(canary(), "DestinationRule")
        assert rule["spec"]["host"] == HOST
        assert rule["spec"]["subsets"] == [{"name": "stable", "labels": {"triton-stack.io/track": "stable"}},
                                          {"name": "canary", "labels": {"triton-stack.io/track": "canary"}}]
        policy = rule["spec"]["trafficPolicy"]
        assert policy["loadBalancer"] == {"simple": "LEAST_REQUEST"}
        assert set(policy["connectionPool"]) == {"tcp", "http"} and policy["outlierDetection"]["consecutive5xxErrors"] == 5

    def test_without_a_canary_only_stable_exists_and_takes_everything(self):
        objects = render()
        assert [s["name"] for s in find(objects, "DestinationRule")["spec"]["subsets"]] == ["stable"]
        assert all(weights(route) == {"stable": 100} for route in routes(objects))


class TestRoutes:
    @pytest.mark.parametrize("weight", [0, 10, 100])
    def test_weights_split_http_and_grpc_alike(self, weight):
        by_name = {route["name"]: route for route in routes(canary(weight))}
        for protocol in ("http", "grpc"):
            assert weights(by_name[protocol]) == {"stable": 100 - weight, "canary": weight}

    def test_grpc_route_matches_the_inference_service_on_the_grpc_port(self):
        by_name = {route["name"]: route for route in routes(canary())}
        assert by_name["grpc"]["match"] == [{"port": 8001, "uri": {"prefix": "/inference.GRPCInferenceService/"}}]
        assert by_name["http"]["match"] == [{"port": 8000}]
        # Retries only where Triton has not begun the work (or refused it): an inference is never done twice.
        assert by_name["grpc"]["retries"]["retryOn"] == "connect-failure,refused-stream,reset-before-request,unavailable,resource-exhausted"
        assert by_name["http"]["retries"]["retryOn"] == "connect-failure,refused-stream,reset-before-request,503"
        assert by_name["http"]["retries"]["perTryTimeout"] == by_name["http"]["timeout"] == "60s"

    def test_the_track_header_is_matched_before_the_weighted_routes(self):
        names = [route["name"] for route in routes(canary())]
        assert names == ["force-stable-grpc", "force-stable-http", "force-canary-grpc", "force-canary-http", "grpc", "http"]
        forced = {route["name"]: route for route in routes(canary())}["force-canary-grpc"]
        assert forced["match"] == [{"port": 8001, "uri": {"prefix": "/inference.GRPCInferenceService/"}, "headers": {"x-triton-track": {"exact": "canary"}}}]
        assert weights(forced) == {"canary": 100}

    @staticmethod
    def with_load_step(header: str = "x-triton-track") -> list[dict]:
        return helm.render("triton-stack", kube_version=KUBE_HIGHEST, values={
            "server": {"canary": {"enabled": True, "strategy": "argoRollouts"}}, "monitoring": {"enabled": True},
            "routing": {"enabled": True, "canary": {"enabled": True, "header": header},
                        "promotion": {"enabled": True, "loadTest": {"enabled": True, "configMap": "load-triton-loadtest"}}}})

    def test_the_load_steps_pods_may_reach_the_servers_inference_ports(self):
        # Beside the server's own policy: without this one, a server policy that lists other clients blocks the step.
        objects = self.with_load_step()
        step = find(objects, "AnalysisTemplate", "-load")
        job_pod_labels = step["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["metadata"]["labels"]
        policy = find(objects, "NetworkPolicy", "-promotion-load")
        server_labels = next(o for o in objects if o["kind"] == "Rollout")["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= server_labels.items()
        (rule,) = policy["spec"]["ingress"]
        (peer,) = rule["from"]
        assert peer["podSelector"]["matchLabels"].items() <= job_pod_labels.items() and set(peer) == {"podSelector"}
        assert sorted(p["port"] for p in rule["ports"]) == ["grpc", "http"]

    @pytest.mark.parametrize("header", ["x-triton-track", "x-release-lane"])
    def test_the_load_step_sends_what_the_forced_canary_route_matches(self, header):
        # The pre-rollout load must reach the canary alone: its Locust --header is the match of the force-canary routes.
        objects = self.with_load_step(header)
        step = find(objects, "AnalysisTemplate", "-load")
        (container,) = step["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]["containers"]
        sent = [arg.removeprefix("--header=").partition("=") for arg in container["args"] if arg.startswith("--header=")]
        forced = {route["name"]: route for route in routes(objects)}["force-canary-http"]
        (match,) = forced["match"]
        assert [(name, value) for name, _, value in sent] == [(name, rule["exact"]) for name, rule in match["headers"].items()] == [(header, "canary")]
        assert weights(forced) == {"canary": 100}

    def test_every_destination_names_its_track_in_a_response_header(self):
        # What lets a client (and the cluster tier's split test) see which track answered, for HTTP and gRPC.
        destinations = [destination for route in routes(canary(faultDrill={"enabled": True})) for destination in route["route"]]
        assert {destination["destination"]["subset"] for destination in destinations} == {"stable", "canary"}
        for destination in destinations:
            assert destination["headers"] == {"response": {"set": {"x-triton-track": destination["destination"]["subset"]}}}
        quiet = canary(canary={"trackResponseHeader": False})
        assert not [destination for route in routes(quiet) for destination in route["route"] if "headers" in destination]

    def test_only_inference_ports_are_routed(self):
        ports = {match["port"] for route in routes(canary()) for match in route["match"]}
        assert ports == {8000, 8001}

    def test_with_a_gateway_every_route_also_matches_its_traffic_without_a_port(self):
        # Istio drops a match whose port is not the gateway listener's (443/80): the gateway's own matches carry none.
        objects = canary(gateway={"enabled": True, "hosts": ["triton.example.com"]})
        gateway = find(objects, "Gateway")["metadata"]["name"]
        for route in routes(objects):
            mesh, external = route["match"]
            assert mesh["gateways"] == ["mesh"] and mesh["port"] in (8000, 8001)
            assert external["gateways"] == [gateway] and "port" not in external
            assert {k: v for k, v in mesh.items() if k not in ("gateways", "port")} == {k: v for k, v in external.items() if k != "gateways"}

    def test_mirror_only_when_asked(self):
        assert not [route for route in routes(canary()) if "mirror" in route]
        mirrored = {route["name"]: route for route in routes(canary(canary={"mirror": {"enabled": True, "percentage": 5}}))}
        for protocol in ("http", "grpc"):
            assert mirrored[protocol]["mirror"]["subset"] == "canary" and mirrored[protocol]["mirrorPercentage"] == {"value": 5}

    def test_faults_only_on_the_drill_route_which_has_no_retries(self):
        assert not [route for route in routes(canary()) if "fault" in route]
        drill = canary(faultDrill={"enabled": True, "abort": {"percentage": 30, "httpStatus": 503}})
        by_name = {route["name"]: route for route in routes(drill)}
        names = [route["name"] for route in routes(drill)]
        assert names.index("fault-drill-grpc") < names.index("grpc") and names.index("fault-drill-http") < names.index("http")
        assert by_name["fault-drill-http"]["fault"] == {"abort": {"percentage": {"value": 30}, "httpStatus": 503}}
        assert "retries" not in by_name["fault-drill-http"]
        assert all("fault" not in by_name[name] for name in ("grpc", "http"))
        # Only requests that ask for the drill: its header (or gRPC metadata key) with the value "true", exactly.
        for name in ("fault-drill-grpc", "fault-drill-http"):
            assert [match["headers"] for match in by_name[name]["match"]] == [{"x-triton-fault-drill": {"exact": "true"}}]


class TestEdgeAndSecurity:
    def test_gateway_serves_tls_for_the_listed_hosts(self):
        objects = canary(gateway={"enabled": True, "hosts": ["triton.example.com"], "tls": {"credentialName": "triton-tls"}})
        (server,) = find(objects, "Gateway")["spec"]["servers"]
        assert server == {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "tls": {"mode": "SIMPLE", "credentialName": "triton-tls"},
                          "hosts": ["triton.example.com"]}
        service = find(objects, "VirtualService")["spec"]
        assert service["gateways"] == ["mesh", find(objects, "Gateway")["metadata"]["name"]] and "triton.example.com" in service["hosts"]

    def test_strict_mtls_keeps_the_metrics_port_reachable_by_the_scraper(self):
        spec = find(canary(mtls={"strict": True}), "PeerAuthentication")["spec"]
        assert spec["mtls"] == {"mode": "STRICT"} and spec["portLevelMtls"] == {"8002": {"mode": "PERMISSIVE"}}

    def test_authorization_admits_inference_from_sources_metrics_from_monitoring_and_admin_from_nobody(self):
        objects = canary(authorization={"enabled": True, "inferenceNamespaces": ["apps"]})
        allow = find(objects, "AuthorizationPolicy", "-allow")["spec"]
        assert allow["action"] == "ALLOW"
        inference, metrics = allow["rules"]
        # The release's own clients (helm test, the load step, batch) come from its namespace.
        assert inference["from"] == [{"source": {"namespaces": ["inference", "apps"]}}] and inference["to"][0]["operation"]["ports"] == ["8000", "8001"]
        # No source on the metrics rule: namespaces and principals come from mTLS, so they never match the plain-text
        # scrape the PERMISSIVE metrics port exists for (the NetworkPolicy admits the monitoring namespace).
        assert "from" not in metrics and metrics["to"][0]["operation"] == {"ports": ["8002"], "methods": ["GET"], "paths": ["/metrics"]}
        deny = find(objects, "AuthorizationPolicy", "-deny-admin")["spec"]
        assert deny["action"] == "DENY" and "from" not in deny["rules"][0]
        paths = deny["rules"][0]["to"][0]["operation"]["paths"]
        assert {"/v2/repository*", "*/config", "*/stats", "/inference.GRPCInferenceService/Repository*"} <= set(paths)
        assert not [path for path in paths if "infer" in path.lower() and "Inference" not in path] and "/v2/health*" not in paths

    def test_admin_principals_are_the_only_ones_let_through(self):
        objects = canary(authorization={"enabled": True, "inferenceNamespaces": ["apps"], "adminPrincipals": ["cluster.local/ns/ops/sa/admin"]})
        rule = find(objects, "AuthorizationPolicy", "-deny-admin")["spec"]["rules"][0]
        assert rule["from"] == [{"source": {"notPrincipals": ["cluster.local/ns/ops/sa/admin"]}}]

    def test_nothing_optional_is_rendered_by_default(self):
        kinds = {o["kind"] for o in render()}
        assert not {"Gateway", "PeerAuthentication", "AuthorizationPolicy", "AnalysisTemplate"} & kinds
        assert {"VirtualService", "DestinationRule"} <= kinds

    def test_no_routing_objects_without_routing(self):
        objects = helm.render("triton-stack", kube_version=KUBE_HIGHEST)
        assert not [o for o in objects if o["apiVersion"].startswith(("networking.istio.io", "security.istio.io", "argoproj.io"))]


class TestArgoOwnership:
    VALUES = ({"canary": {"enabled": True}, "promotion": {"enabled": True}}, {"canary": {"enabled": True, "strategy": "argoRollouts"}})

    def test_routes_keep_both_destinations_at_100_0_for_the_controller_to_weigh(self):
        objects = render(*self.VALUES)
        by_name = {route["name"]: route for route in routes(objects)}
        assert weights(by_name["http"]) == weights(by_name["grpc"]) == {"stable": 100, "canary": 0}
        rollout = find(objects, "Rollout")["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]
        assert rollout["virtualService"]["name"] == find(objects, "VirtualService")["metadata"]["name"]
        assert rollout["destinationRule"]["name"] == find(objects, "DestinationRule")["metadata"]["name"]
        assert set(rollout["virtualService"]["routes"]) <= set(by_name)


def test_the_cluster_split_release_renders_and_answers_with_the_track_header():
    # The kind tier's split test installs these values; proven to render and validate here, where no cluster runs.
    from tests.cluster import test_canary_split as split

    values_file = helm.VALUES_DIR / "ci-kind.yaml"
    objects = helm.render("triton-stack", values_files=[values_file], values=split.SPLIT_VALUES, release=split.RELEASE,
                          namespace=split.NAMESPACE, kube_version=KUBE_HIGHEST)
    by_name = {route["name"]: route for route in routes(objects)}
    for protocol in ("http", "grpc"):
        assert weights(by_name[protocol]) == {"stable": 100 - split.WEIGHT, "canary": split.WEIGHT}
        assert by_name[protocol]["route"][0]["destination"]["host"] == f"{split.RELEASE}-server.{split.NAMESPACE}.svc.cluster.local"
        assert by_name[f"force-canary-{protocol}"]["match"][0]["headers"] == {split.TRACK_HEADER: {"exact": "canary"}}
    assert {d["metadata"]["name"] for d in objects if d["kind"] == "Deployment"} == {f"{split.RELEASE}-server", f"{split.RELEASE}-server-canary"}


class TestSidecarMetrics:
    """The PodMonitor that gives the gate its mesh series, per track, and the policy that lets Prometheus reach them."""

    def test_off_unless_asked_or_gated(self):
        assert not [o for o in canary() if o["kind"] == "PodMonitor"]
        assert find(render(*TestArgoOwnership.VALUES), "PodMonitor")

    def test_scrapes_every_server_pods_sidecar_with_its_track_and_istio_series_only(self):
        objects = canary(sidecarMetrics={"enabled": True, "labels": {"release": "kps"}})
        monitor = find(objects, "PodMonitor")
        assert monitor["metadata"]["labels"]["release"] == "kps"
        assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": "triton",
                                                               "app.kubernetes.io/component": "server"}
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        # The port and path Istio's injector gives the sidecar's Prometheus stats (containerPort 15090).
        assert (endpoint["port"], endpoint["path"]) == ("http-envoy-prom", "/stats/prometheus")
        assert endpoint["relabelings"] == [{"sourceLabels": ["__meta_kubernetes_pod_label_triton_stack_io_track"], "targetLabel": "track", "action": "replace"}]
        assert endpoint["metricRelabelings"] == [{"sourceLabels": ["__name__"], "regex": "istio_.*", "action": "keep"}]

    def test_the_scraper_namespaces_reach_the_sidecar_port_and_nothing_else(self):
        policy = find(canary(sidecarMetrics={"enabled": True, "fromNamespaces": ["monitoring", "observability"]}), "NetworkPolicy", "-sidecar-metrics")
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        assert policy["spec"]["ingress"] == [{
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in ("monitoring", "observability")],
            "ports": [{"port": 15090, "protocol": "TCP"}]}]
