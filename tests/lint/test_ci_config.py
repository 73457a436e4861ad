"""The CI configuration is checked where it cannot run: the workflow files against GitHub's workflow schema, the
kind matrix against the charts' declared Kubernetes range and the pinned node images, chart-testing's config and
lint rules, and the cluster prerequisites' pins against the CRD schemas the render tier validates with."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.conftest import KUBE_HIGHEST, KUBE_LOWEST, SCENARIOS
from tests.harness import render as helm
from tests.harness.cluster_versions import CRD_PROVIDERS, VersionsFileInvalid, parse_versions, pinned_minors, pinned_versions
from tests.harness.validate import CRD_SCHEMA_DIR

pytestmark = pytest.mark.render

WORKFLOWS_DIR = helm.REPO_ROOT / ".github" / "workflows"
CHECK_JSONSCHEMA = helm.REPO_ROOT / ".venv" / "bin" / "check-jsonschema"
CT_CONFIG = helm.REPO_ROOT / "ci" / "ct.yaml"
LINTCONF = helm.REPO_ROOT / "ci" / "lintconf.yaml"
YAMLLINT = helm.REPO_ROOT / ".venv" / "bin" / "yamllint"
# Every key chart-testing v3.14.0 reads from its config file (helm/chart-testing pkg/config/config.go, mapstructure tags).
CT_CONFIG_KEYS = {
    "remote", "target-branch", "since", "build-id", "lint-conf", "chart-yaml-schema", "validate-maintainers",
    "validate-chart-schema", "validate-yaml", "skip-helm-dependencies", "additional-commands", "check-version-increment",
    "all", "charts", "chart-repos", "chart-dirs", "excluded-charts", "helm-extra-args", "helm-extra-set-args",
    "helm-lint-extra-args", "helm-repo-extra-args", "helm-dependency-extra-args", "debug", "upgrade", "skip-missing-values",
    "skip-clean-up", "namespace", "release-name", "release-label", "exclude-deprecated", "kubectl-timeout", "print-logs",
    "github-groups", "use-helmignore",
}


def check_workflows(*paths) -> subprocess.CompletedProcess:
    """check-jsonschema with its vendored GitHub workflow schema, and its rule that every job has a timeout."""
    schemas = ["vendor.github-workflows", "custom.github-workflows-require-timeout"]
    results = [subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, *map(str, paths)], capture_output=True, text=True,
                              timeout=120) for schema in schemas]
    failed = [result for result in results if result.returncode != 0]
    return failed[0] if failed else results[0]


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS_DIR / name).read_text())


class TestWorkflowFiles:
    def test_every_workflow_matches_githubs_schema_and_has_timeouts(self):
        result = check_workflows(*sorted(WORKFLOWS_DIR.glob("*.yaml")))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_a_workflow_with_a_misspelt_key_is_refused(self, tmp_path):
        broken = yaml.safe_load((WORKFLOWS_DIR / "ci.yaml").read_text())
        broken["jobs"]["unit"]["runs_on"] = broken["jobs"]["unit"].pop("runs-on")
        (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
        result = check_workflows(tmp_path / "broken.yaml")
        assert result.returncode == 1 and "broken.yaml" in result.stdout

    def test_a_job_without_a_timeout_is_refused(self, tmp_path):
        untimed = yaml.safe_load((WORKFLOWS_DIR / "kind.yaml").read_text())
        del untimed["jobs"]["e2e"]["timeout-minutes"]
        (tmp_path / "untimed.yaml").write_text(yaml.safe_dump(untimed))
        assert check_workflows(tmp_path / "untimed.yaml").returncode == 1

    def test_the_kind_matrix_is_the_declared_range_with_a_pinned_node_image_each(self):
        matrix = workflow("kind.yaml")["jobs"]["e2e"]["strategy"]["matrix"]
        declared = [".".join(version.split(".")[:2]) for version in (KUBE_LOWEST, KUBE_HIGHEST)]
        assert matrix["kube-minor"] == declared == pinned_minors()
        for minor in declared:
            image = pinned_versions()[f"KIND_NODE_IMAGE_{minor.replace('.', '_')}"]
            assert re.fullmatch(rf"kindest/node:v{re.escape(minor)}\.\d+@sha256:[0-9a-f]{{64}}", image)
            assert re.fullmatch(r"v0\.\d+\.\d+", pinned_versions()[f"KIND_VERSION_{minor.replace('.', '_')}"])

    def test_every_values_file_in_the_kind_matrix_exists(self):
        matrix = workflow("kind.yaml")["jobs"]["e2e"]["strategy"]["matrix"]
        assert matrix["values"] and all((helm.VALUES_DIR / f"{name}.yaml").is_file() for name in matrix["values"])

    def test_the_tiers_together_run_the_whole_offline_suite(self):
        jobs = workflow("ci.yaml")["jobs"]
        runs = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()}
        assert "make lint" in runs["lint"] and "ct lint --config ci/ct.yaml" in runs["lint"]
        assert jobs["lint"]["strategy"]["matrix"]["helm"] == list(helm.HELM_MAJORS)
        assert "make test-render" in runs["unit"] and "make test-local" in runs["local"]

    def test_packages_are_pushed_as_oci_artifacts_only_on_a_tag(self):
        (job,) = workflow("release.yaml")["jobs"].values()
        push = next(step for step in job["steps"] if "helm3 push" in step.get("run", ""))
        assert push["if"] == "startsWith(github.ref, 'refs/tags/v')"
        assert "oci://ghcr.io/" in push["run"]


class TestChartTesting:
    def test_ct_yaml_uses_only_keys_chart_testing_reads(self):
        config = yaml.safe_load(CT_CONFIG.read_text())
        assert set(config) <= CT_CONFIG_KEYS, f"unknown to ct: {sorted(set(config) - CT_CONFIG_KEYS)}"
        assert config["chart-dirs"] == ["charts"] and (helm.REPO_ROOT / config["lint-conf"]).is_file()

    def test_every_chart_yaml_and_values_yaml_passes_ct_lint_rules(self):
        files = sorted([*helm.CHARTS_DIR.glob("*/Chart.yaml"), *helm.CHARTS_DIR.glob("*/values.yaml")])
        result = subprocess.run([str(YAMLLINT), "--strict", "-c", str(LINTCONF), *map(str, files)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout

    def test_a_values_file_breaking_the_rules_fails_them(self, tmp_path):
        bad = tmp_path / "values.yaml"
        bad.write_text("server:\n  replicaCount: 1   \n  replicaCount: 2\n")
        result = subprocess.run([str(YAMLLINT), "-c", str(LINTCONF), str(bad)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "trailing-spaces" in result.stdout and "key-duplicates" in result.stdout


class TestClusterPrerequisites:
    def test_each_crd_release_installed_is_the_one_the_render_tier_validates_with(self):
        versions = pinned_versions()
        for path in sorted(CRD_SCHEMA_DIR.glob("*.json")):
            stored = json.loads(path.read_text())
            group = stored["apiVersion"].split("/")[0]
            release = stored["source"].split()[1].removeprefix("v")
            assert versions[CRD_PROVIDERS[group]] == release, f"{path.name} comes from {release}, the kind tier installs {versions[CRD_PROVIDERS[group]]}"

    def test_every_custom_kind_rendered_is_installed_before_the_dry_run(self, default_renders):
        groups = {obj["apiVersion"].split("/")[0] for objects in default_renders.values() for obj in objects if "." in obj["apiVersion"].split("/")[0]}
        custom = {group for group in groups if not group.endswith(".k8s.io") and group not in {"apps", "batch", "policy"}}
        assert custom and custom <= set(CRD_PROVIDERS), f"no pinned install for {sorted(custom - set(CRD_PROVIDERS))}"

    def test_the_scripts_take_every_version_from_versions_env(self):
        scripts = {path.name: path.read_text() for path in (helm.REPO_ROOT / "ci" / "cluster").glob("*.sh")}
        for name in ("up.sh", "install-tools.sh", "image.sh", "prerequisites.sh", "istio.sh"):
            assert "source" in scripts[name] and "versions.env" in scripts[name], name
        # No release number written into a script: a bump happens in one place.
        for name, text in scripts.items():
            assert not re.search(r"\b(?:v?\d+\.\d+\.\d+)\b", text), f"{name} pins a version outside versions.env"

    def test_versions_env_is_plain_key_value(self):
        assert parse_versions("# comment\n\nA_B=1.2.3\n") == {"A_B": "1.2.3"}
        with pytest.raises(VersionsFileInvalid, match="line:1"):
            parse_versions('A="quoted $HOME"\n', "line")


def test_every_scenario_is_in_the_dry_run():
    # The cluster tier's dry-run sends exactly the scenarios the render tier checks.
    from tests.cluster import test_dry_run

    assert [scenario.name for scenario in test_dry_run.DRY_RUN_SCENARIOS] == [scenario.name for scenario in SCENARIOS]
