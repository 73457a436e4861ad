"""The server chart's NOTES.txt, as `helm install` of the chart alone prints it: the endpoints of the
Services it rendered, and the warnings a risky release must show."""

import pytest

from tests.conftest import KUBE_HIGHEST, find
from tests.harness import render as helm

pytestmark = pytest.mark.render


def notes_and_objects(values_file=None):
    files = [values_file] if values_file else []
    return helm.render_notes("triton-server", files, kube_version=KUBE_HIGHEST), helm.render("triton-server", files, kube_version=KUBE_HIGHEST)


def test_notes_name_the_rendered_services():
    notes, objects = notes_and_objects()
    service = find(objects, "Service", "triton-server")["metadata"]["name"]
    metrics = find(objects, "Service", "-metrics")["metadata"]["name"]
    assert f"HTTP  http://{service}.{helm.DEFAULT_NAMESPACE}.svc:8000" in notes
    assert f"gRPC  {service}.{helm.DEFAULT_NAMESPACE}.svc:8001" in notes
    assert f"http://{metrics}.{helm.DEFAULT_NAMESPACE}.svc:8002/metrics" in notes
    assert f"rollout status deploy/{find(objects, 'Deployment')['metadata']['name']}" in notes
    # one replica by default: the note says what that costs
    assert "NOTE: one replica." in notes


def test_notes_warn_when_models_can_be_loaded_through_the_api(tmp_path):
    values = tmp_path / "explicit.yaml"
    values.write_text("triton:\n  modelControlMode: explicit\nreplicaCount: 2\nadminApi:\n  restricted: true\n  existingSecret: k\n")
    notes = helm.render_notes("triton-server", [values], kube_version=KUBE_HIGHEST)
    assert "WARNING: triton.modelControlMode is explicit. The model-repository API can load arbitrary\ncode." in notes
    assert "NOTE: one replica." not in notes


@pytest.mark.parametrize("mode", ["explicit", "poll"])
@pytest.mark.parametrize("admin", [{}, {"restricted": True, "existingSecret": "k", "categories": ["statistics"]}], ids=["open", "other-categories"])
def test_a_model_control_mode_with_an_open_repository_api_is_refused(mode, admin):
    message = helm.render_error("triton-server", values={"triton": {"modelControlMode": mode}, "adminApi": admin}, kube_version=KUBE_HIGHEST).stderr
    assert f"triton.modelControlMode: is {mode} with the model-repository API open" in message


def test_notes_do_not_warn_with_the_production_flags():
    notes, _ = notes_and_objects(helm.CHARTS_DIR / "triton-server" / "ci" / "restricted-admin-values.yaml")
    assert "WARNING" not in notes and "NOTE: one replica." not in notes


def test_notes_name_the_loaded_models_and_the_closed_repository_api_when_a_list_is_set(tmp_path):
    values = tmp_path / "listed.yaml"
    values.write_text("triton:\n  loadModels: [image_classifier]\nadminApi:\n  restricted: true\n  existingSecret: admin\n")
    notes = helm.render_notes("triton-server", [values], kube_version=KUBE_HIGHEST)
    assert "Models loaded at start (triton.loadModels, explicit mode): image_classifier." in notes
    assert "triton-admin-key header with the key from Secret admin" in notes and "WARNING" not in notes
