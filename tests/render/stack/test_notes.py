"""NOTES.txt: how to reach the service and what to check next, with the names the release really has."""

import pytest
import yaml

from tests.conftest import ENVIRONMENT_FILES, KUBE_HIGHEST, find
from tests.harness import render as helm

pytestmark = pytest.mark.render


@pytest.mark.parametrize("values_file", ENVIRONMENT_FILES, ids=lambda p: p.stem)
def test_notes_name_the_rendered_service_and_deployment(values_file):
    notes = helm.render_notes("triton-stack", [values_file], kube_version=KUBE_HIGHEST)
    objects = helm.render("triton-stack", [values_file], kube_version=KUBE_HIGHEST)
    service = find(objects, "Service", "-server")["metadata"]["name"]
    assert f"http://{service}.{helm.DEFAULT_NAMESPACE}.svc:8000" in notes
    for deployment in (o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"):
        assert f"rollout status deploy/{deployment}\n" in notes


def test_notes_give_the_canary_procedure_for_the_release_strategy(tmp_path):
    staging = helm.render_notes("triton-stack", [helm.VALUES_DIR / "staging.yaml"], kube_version=KUBE_HIGHEST)
    assert "The canary answers 10% of requests" in staging and "--set routing.canary.weight=0" in staging
    assert "header x-triton-track: canary|stable" in staging and "rollout status deploy/triton-server-canary" in staging
    rollout = {"server": {"canary": {"enabled": True, "strategy": "argoRollouts"}},
               "routing": {"enabled": True, "canary": {"enabled": True}, "promotion": {"enabled": True}}, "monitoring": {"enabled": True}}
    (tmp_path / "rollout.yaml").write_text(yaml.safe_dump(rollout))
    notes = helm.render_notes("triton-stack", [tmp_path / "rollout.yaml"], kube_version=KUBE_HIGHEST)
    assert "kubectl argo rollouts -n inference abort triton-server" in notes and "rollout status deploy/" not in notes
    assert "Canary" not in helm.render_notes("triton-stack", [helm.VALUES_DIR / "dev.yaml"], kube_version=KUBE_HIGHEST)


def test_notes_explain_the_admin_header_only_when_restricted():
    prod = helm.render_notes("triton-stack", [helm.VALUES_DIR / "prod.yaml"], kube_version=KUBE_HIGHEST)
    local = helm.render_notes("triton-stack", [helm.VALUES_DIR / "local.yaml"], kube_version=KUBE_HIGHEST)
    assert "triton-grpc-protocol-triton-admin-key" in prod
    assert "Admin APIs" not in local


def test_notes_give_the_headless_grpc_target_only_when_it_exists(tmp_path):
    values = tmp_path / "headless.yaml"
    values.write_text("server:\n  service:\n    grpcHeadless:\n      enabled: true\n")
    notes = helm.render_notes("triton-stack", [helm.VALUES_DIR / "dev.yaml", values], kube_version=KUBE_HIGHEST)
    headless = find(helm.render("triton-stack", [helm.VALUES_DIR / "dev.yaml", values], kube_version=KUBE_HIGHEST), "Service", "-grpc-headless")
    assert f"dns:///{headless['metadata']['name']}.{helm.DEFAULT_NAMESPACE}.svc.cluster.local:8001" in notes
    assert "round_robin" not in helm.render_notes("triton-stack", [helm.VALUES_DIR / "dev.yaml"], kube_version=KUBE_HIGHEST)


def test_server_overrides_are_set_once_in_global_and_reach_every_name(tmp_path):
    values = tmp_path / "named.yaml"
    values.write_text("global:\n  server:\n    fullnameOverride: shared-triton\nserver:\n  service:\n    grpcHeadless:\n      enabled: true\n")
    objects = helm.render("triton-stack", [helm.VALUES_DIR / "dev.yaml", values], kube_version=KUBE_HIGHEST)
    names = {o["metadata"]["name"] for o in objects if o["kind"] in ("Deployment", "Service")}
    assert names == {"shared-triton", "shared-triton-metrics", "shared-triton-grpc-headless"}
    notes = helm.render_notes("triton-stack", [helm.VALUES_DIR / "dev.yaml", values], kube_version=KUBE_HIGHEST)
    assert "http://shared-triton.inference.svc:8000" in notes and "dns:///shared-triton-grpc-headless." in notes


def test_server_overrides_under_server_are_refused_pointing_to_global():
    error = helm.render_error("triton-stack", values={"server": {"nameOverride": "x"}}, kube_version=KUBE_HIGHEST)
    assert "server.nameOverride: set global.server.nameOverride instead" in error.stderr


def test_notes_say_what_monitoring_and_logging_need_only_when_on():
    prod = helm.render_notes("triton-stack", [helm.VALUES_DIR / "prod.yaml"], kube_version=KUBE_HIGHEST)
    dev = helm.render_notes("triton-stack", [helm.VALUES_DIR / "dev.yaml"], kube_version=KUBE_HIGHEST)
    # prod creates Fluentd's namespace with its label (logging.namespace.create); without create the notes say to
    # label it (tests/render/logging/test_logging_chart.py TestNotes)
    assert "Fluentd runs in namespace triton-logging, which this release created with the privileged Pod Security label" in prod
    assert "kubectl label namespace" not in prod
    assert "run in namespace monitoring (the only one the server's NetworkPolicy admits" in prod
    assert "Logging:" not in dev and "Monitoring:" not in dev


@pytest.mark.parametrize("values_file", ENVIRONMENT_FILES, ids=lambda p: p.stem)
def test_notes_name_the_rendered_prometheus_adapter_configmap(values_file):
    """Every ConfigMap name the notes give (`get configmap <name>`) is one this release renders; HPA releases give one."""
    import re

    notes = helm.render_notes("triton-stack", [values_file], kube_version=KUBE_HIGHEST)
    objects = helm.render("triton-stack", [values_file], kube_version=KUBE_HIGHEST)
    named = re.findall(r"get configmap (\S+)", notes)
    rendered = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    assert set(named) <= rendered, f"the notes name {sorted(set(named) - rendered)}, which this release does not render"
    hpa = any(o["kind"] == "HorizontalPodAutoscaler" for o in objects)
    assert bool(named) == hpa, "an HPA release must say where the adapter rules are, and only an HPA release"


def test_server_chart_notes_name_its_own_adapter_configmap(tmp_path):
    (tmp_path / "hpa.yaml").write_text(yaml.safe_dump({"autoscaling": {"mode": "hpa", "model": "image_classifier"}}))
    notes = helm.render_notes("triton-server", [tmp_path / "hpa.yaml"], kube_version=KUBE_HIGHEST)
    objects = helm.render("triton-server", [tmp_path / "hpa.yaml"], kube_version=KUBE_HIGHEST)
    assert f"get configmap {find(objects, 'ConfigMap', '-prometheus-adapter')['metadata']['name']} " in notes


def test_the_umbrella_prints_the_batch_notes_with_the_names_it_renders(tmp_path):
    """Helm prints only the parent's NOTES.txt: the umbrella includes the batch chart's, with the umbrella's names."""
    batch_values = helm.CHARTS_DIR / "triton-stack" / "ci" / "batch-values.yaml"
    values = yaml.safe_load(batch_values.read_text())
    values["batch"].update(schedule="0 2 * * *", timeZone="UTC", activeDeadlineSeconds=21600)
    (tmp_path / "cron.yaml").write_text(yaml.safe_dump(values))
    notes = helm.render_notes("triton-stack", [tmp_path / "cron.yaml"], kube_version=KUBE_HIGHEST)
    objects = helm.render("triton-stack", [tmp_path / "cron.yaml"], kube_version=KUBE_HIGHEST)
    service = find(objects, "Service", "-server")["metadata"]["name"]
    assert f"through image_classifier at {service}:8000 (http)" in notes
    assert f"create job --from=cronjob/{find(objects, 'CronJob')['metadata']['name']} " in notes
    assert "Batch inference" not in helm.render_notes("triton-stack", [helm.VALUES_DIR / "dev.yaml"], kube_version=KUBE_HIGHEST)
