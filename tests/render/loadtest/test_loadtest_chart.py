"""The in-cluster load test (charts/triton-loadtest): one source for the locustfile, the master and workers wired
to each other and to the target, and bad values refused by both Helm majors naming the value path."""

from __future__ import annotations

import configparser

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import render as helm
from tests.harness.errors import error_lines

pytestmark = pytest.mark.render

CHART = "triton-loadtest"
FILES = helm.CHARTS_DIR / CHART / "files"
OFFICIAL_IMAGE_GRPC = {"target": {"protocol": "grpc"}}
CUSTOM_IMAGE = {"image": {"repository": "registry.example.com/locust-tritonclient"}}


def render(values: dict | None = None) -> list[dict]:
    return helm.render(CHART, values=values or {}, kube_version=KUBE_HIGHEST)


def container(objects: list[dict], component: str) -> dict:
    deployment = find(objects, "Deployment", f"-{component}")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def flags(objects: list[dict], component: str) -> dict[str, str]:
    return {arg.partition("=")[0]: arg.partition("=")[2] for arg in container(objects, component)["args"]}


class TestOneSourceForTheLocustfile:
    def test_the_configmap_holds_exactly_the_files_make_loadtest_runs(self):
        data = find(render(), "ConfigMap")["data"]
        on_disk = {path.name: path.read_text() for path in FILES.iterdir() if path.is_file()}
        assert set(data) == set(on_disk) == {"locustfile.py", "triton_load.py", "labelled-images.json"}
        assert data == on_disk

    def test_make_loadtest_runs_the_chart_file(self):
        config = configparser.ConfigParser()
        config.read_string("[locust]\n" + (helm.REPO_ROOT / "loadtests" / "locust.conf").read_text())
        assert (helm.REPO_ROOT / config["locust"]["locustfile"]).resolve() == (FILES / "locustfile.py").resolve()

    def test_pods_roll_when_the_locustfile_changes(self):
        # The negative pair of the checksum: the same files give the same annotation in both Deployments.
        objects = render()
        sums = {d["spec"]["template"]["metadata"]["annotations"]["checksum/locustfile"] for d in objects if d["kind"] == "Deployment"}
        assert len(sums) == 1 and len(next(iter(sums))) == 64


class TestMasterAndWorkers:
    def test_master_runs_the_profile_the_values_choose(self):
        args = flags(render({"target": {"host": "http://t:8000", "model": "m"}, "load": {"shape": "spike", "users": 40, "runTime": "5m"},
                             "slo": {"p95Ms": 50}}), "master")
        assert {k: args[k] for k in ("--host", "--model", "--shape", "--users", "--run-time", "--slo-p95-ms", "--protocol")} == {
            "--host": "http://t:8000", "--model": "m", "--shape": "spike", "--users": "40", "--run-time": "5m", "--slo-p95-ms": "50", "--protocol": "http"}
        assert "--master" in args and "--autostart" in args

    def test_master_waits_for_the_web_ui_when_autostart_is_off(self):
        assert "--autostart" not in flags(render({"load": {"autostart": False}}), "master")

    def test_workers_connect_to_the_master_service(self):
        objects = render()
        service = find(objects, "Service", "-master")
        args = flags(objects, "worker")
        assert args["--master-host"] == service["metadata"]["name"]
        assert int(args["--master-port"]) == next(p["port"] for p in service["spec"]["ports"] if p["name"] == "master")
        assert service["spec"]["selector"] == find(objects, "Deployment", "-master")["spec"]["selector"]["matchLabels"]

    @pytest.mark.parametrize(("replicas", "processes"), [(2, 1), (3, 4)])
    def test_master_expects_every_worker_process(self, replicas, processes):
        objects = render({"workers": {"replicas": replicas, "processes": processes}})
        assert flags(objects, "master")["--expect-workers"] == str(replicas * processes)
        assert ("--processes" in flags(objects, "worker")) == (processes > 1)

    def test_grpc_with_an_image_that_has_tritonclient(self):
        assert flags(render({**CUSTOM_IMAGE, **OFFICIAL_IMAGE_GRPC}), "master")["--protocol"] == "grpc"

    def test_network_policies_follow_the_switch(self):
        assert sum(o["kind"] == "NetworkPolicy" for o in render()) == 2
        assert not [o for o in render({"networkPolicy": {"enabled": False}}) if o["kind"] == "NetworkPolicy"]

    def test_workers_admit_nothing_and_the_master_only_its_workers_and_the_web_ui(self):
        # By value: an Ingress policy with no rule admits nothing; a policy that lists only Egress admits everything in.
        objects = render()
        worker, master = find(objects, "NetworkPolicy", "-worker"), find(objects, "NetworkPolicy", "-master")
        assert worker["spec"]["policyTypes"] == ["Ingress"] and not worker["spec"].get("ingress")
        assert master["spec"]["policyTypes"] == ["Ingress"]
        rules = {tuple(p["port"] for p in rule["ports"]): rule["from"] for rule in master["spec"]["ingress"]}
        worker_labels = find(objects, "Deployment", "-worker")["spec"]["template"]["metadata"]["labels"]
        assert set(rules) == {("master",), ("web",)}
        assert [peer["podSelector"]["matchLabels"].items() <= worker_labels.items() for peer in rules[("master",)]] == [True]
        assert rules[("web",)] == [{"podSelector": {}}]  # the release namespace only: no namespaceSelector, no ipBlock

    def test_the_reports_are_written_into_the_mounted_reports_volume(self):
        # The README's `kubectl cp <master pod>:/reports ./reports` copies this volume: CSV, HTML and slo.json.
        objects = render()
        master = container(objects, "master")
        reports = next(m["mountPath"] for m in master["volumeMounts"] if m["name"] == "reports")
        args = flags(objects, "master")
        assert reports == "/reports"
        assert args["--csv"].startswith(f"{reports}/") and args["--html"].startswith(f"{reports}/"), args


BAD_VALUES = {
    "grpc with the official image": (OFFICIAL_IMAGE_GRPC, "target.protocol"),
    "json over grpc": ({**CUSTOM_IMAGE, "target": {"protocol": "grpc"}, "load": {"encoding": "json"}}, "load.encoding"),
    "fewer users than worker processes": ({"workers": {"replicas": 4, "processes": 8}}, "load.users"),
    "extra arg repeating a value": ({"load": {"extraArgs": ["--users=5"]}}, "load.extraArgs"),
    "unknown shape": ({"load": {"shape": "ramp"}}, "load.shape"),
    "zero users": ({"load": {"users": 0}}, "load.users"),
    "run time in words": ({"load": {"runTime": "ten minutes"}}, "load.runTime"),
    "failure ratio above 1": ({"slo": {"failureRatio": 2}}, "slo.failureRatio"),
    "host without a scheme": ({"target": {"host": "triton:8000"}}, "target.host"),
    "misspelt key": ({"load": {"shapes": "step"}}, "load.shapes"),
    # argparse would expand an abbreviation to the option the chart sets (the locustfile refuses them too).
    "extra arg abbreviating an option the chart sets": ({"load": {"extraArgs": ["--us=5"]}}, "load.extraArgs"),
    "extra arg abbreviating an slo option": ({"load": {"extraArgs": ["--slo-fail=0.5"]}}, "load.extraArgs"),
    "extra arg that would end the master": ({"load": {"extraArgs": ["--autoquit=0"]}}, "load.extraArgs"),
    "spike count that is not a number": ({"load": {"extraArgs": ["--spike-count=three"]}}, "load.extraArgs"),
    "spike fraction out of range": ({"load": {"extraArgs": ["--spike-fraction=1.5"]}}, "load.extraArgs"),
    "step count of zero": ({"load": {"extraArgs": ["--step-count=0"]}}, "load.extraArgs"),
    "run of no length": ({"load": {"runTime": "0s"}}, "load.runTime"),
    "spike bursts too short to be seen": ({"load": {"shape": "spike", "runTime": "9s"}}, "load.runTime"),
    "negative stall window": ({"slo": {"stallSeconds": -1}}, "slo.stallSeconds"),
    "stall window within one user's pacing": ({"load": {"userRps": 0.1}, "slo": {"stallSeconds": 10}}, "slo.stallSeconds"),
}


class TestRefusalsHaveTheirPairs:
    def test_shape_options_in_full_with_good_numbers_reach_the_master(self):
        extra = ["--step-count=8", "--spike-count=3", "--spike-fraction=0.3", "--spike-base-fraction=1", "--request-timeout-s=2.5"]
        args = container(render({"load": {"shape": "spike", "runTime": "1m", "extraArgs": extra}}), "master")["args"]
        assert args[-len(extra):] == extra

    def test_the_shortest_spike_burst_that_is_seen_renders(self):
        # 10 s x 0.2 = 2 s, the shortest burst the once-a-second shape loop cannot miss; 9 s is refused above.
        assert flags(render({"load": {"shape": "spike", "runTime": "10s"}}), "master")["--run-time"] == "10s"

    def test_the_stall_gate_reaches_the_master_and_a_slow_pace_renders_with_a_wider_window(self):
        assert flags(render(), "master")["--slo-stall-s"] == "10"
        assert flags(render({"load": {"userRps": 0.1}, "slo": {"stallSeconds": 11}}), "master")["--slo-stall-s"] == "11"
        assert flags(render({"load": {"userRps": 0.1}, "slo": {"stallSeconds": 0}}), "master")["--slo-stall-s"] == "0"


class TestDefaultTarget:
    def test_the_default_host_is_the_umbrellas_server_service(self):
        # The umbrella installed as release `triton` (the chart's documented case) names its server Service so.
        host = flags(render(), "master")["--host"]
        services = {o["metadata"]["name"] for o in helm.render("triton-stack", values={}, kube_version=KUBE_HIGHEST) if o["kind"] == "Service"}
        assert host == "http://triton-server:8000" and "triton-server" in services


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_by_both_helms_naming_the_path(case):
    values, path = BAD_VALUES[case]
    by_helm = [error_lines(helm.render_error(CHART, values=values, helm=major, kube_version=KUBE_HIGHEST).stderr, CHART) for major in helm.HELM_MAJORS]
    assert by_helm[0] == by_helm[1]
    assert path in {found for found, _ in by_helm[0]}, by_helm[0]


class TestNotes:
    def test_the_printed_commands_name_the_rendered_master_service_deployment_and_port(self):
        # What `helm install` prints is what a user types next: every object it names must be one the chart made.
        import re

        notes = helm.render_notes(CHART, kube_version=KUBE_HIGHEST)
        objects = render()
        services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
        deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
        (service, port), = re.findall(r"port-forward svc/(\S+) (\d+)", notes)
        assert service in services, (service, sorted(services))
        assert int(port) in {p["port"] for p in services[service]["spec"]["ports"]}, services[service]["spec"]["ports"]
        assert f"open http://127.0.0.1:{port}" in notes
        logged = re.findall(r"logs deploy/(\S+) ", notes)
        assert logged and set(logged) <= deployments and any("master" in name for name in logged), (logged, deployments)
        assert services[service]["spec"]["selector"].items() <= next(
            o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == logged[0])["spec"]["template"]["metadata"]["labels"].items()
