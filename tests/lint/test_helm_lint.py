"""helm lint --strict with both Helm majors, for every chart and every environment file."""

import pytest

from tests.conftest import ENVIRONMENT_FILES
from tests.harness import render as helm

pytestmark = pytest.mark.render

CHARTS = ["triton-common", "triton-server", "triton-stack", "triton-loadtest", "triton-monitoring", "triton-logging"]


@pytest.mark.parametrize("helm_major", helm.HELM_MAJORS)
@pytest.mark.parametrize("chart", CHARTS)
def test_chart_lints_strict(chart, helm_major):
    output = helm.lint(chart, helm=helm_major)
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("helm_major", helm.HELM_MAJORS)
@pytest.mark.parametrize("values_file", ENVIRONMENT_FILES, ids=lambda p: p.name)
def test_umbrella_lints_strict_with_each_environment(values_file, helm_major):
    assert "0 chart(s) failed" in helm.lint("triton-stack", [values_file], helm=helm_major)


def test_lint_fails_a_bad_environment(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  replicaCount: many\n")
    with pytest.raises(helm.HelmError) as error:
        helm.lint("triton-stack", [bad])
    assert "- at '/replicaCount': got string, want integer" in error.value.stdout


def test_both_helm_majors_are_installed():
    assert helm.helm_version("helm3").startswith("v3.")
    assert helm.helm_version("helm4").startswith("v4.")
