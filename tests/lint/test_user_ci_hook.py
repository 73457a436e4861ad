"""The user-CI hook (.pre-commit-hooks.yaml, ci/hooks/check_values.py) on a sample user repository: the real
pre-commit (from PyPI, pinned in requirements.txt) installs the hook from a git repository holding this checkout's
hook files and charts, exactly as a user's `.pre-commit-config.yaml` names it, and checks the user's environment
files. A good file passes; a schema error and a fatal combination (valid value by value) fail with their messages.
pre-commit builds the hook's environment with pip (PyYAML, jsonschema and this package), so the first run of a
session takes about half a minute; helm comes from .tools (the hook's $HELM)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ci.hooks import check_values
from tests.harness import render as helm

pytestmark = [pytest.mark.render, pytest.mark.slow]

PRE_COMMIT = helm.REPO_ROOT / ".venv" / "bin" / "pre-commit"
HOOK_ID = "triton-stack-values"
# What a revision of this repository must hold for the hook to install and run.
HOOK_SOURCES = (".pre-commit-hooks.yaml", "pyproject.toml", "ci/hooks", "charts")
GOOD = "environments/kind.yaml"
BAD_SCHEMA = {"server": {"replicaCount": "many"}}
FATAL_TOGETHER = {"server": {"drain": {"preStopSeconds": 30, "terminationGracePeriodSeconds": 40}}}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args], cwd=repo, check=True,
                          capture_output=True, text=True, timeout=60).stdout


def commit_all(repo: Path) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sample")
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def hook_repository(tmp_path_factory) -> tuple[Path, str]:
    """A git repository with this checkout's hook files and charts (no build output), as a user's `repo:` points at."""
    repo = tmp_path_factory.mktemp("hook-repo")
    for source in HOOK_SOURCES:
        path = helm.REPO_ROOT / source
        if path.is_dir():
            shutil.copytree(path, repo / source, ignore=shutil.ignore_patterns("*.tgz", "__pycache__"))
        else:
            shutil.copy2(path, repo / source)
    git(repo, "init", "-q")
    return repo, commit_all(repo)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    # pre-commit's cache (cloned hook repositories, their environments) kept out of the user's home.
    return tmp_path_factory.mktemp("pre-commit-home")


def run_hook(hook_repository, pre_commit_home, tmp_path, files: dict[str, object]) -> subprocess.CompletedProcess:
    repo_url, rev = hook_repository
    user = tmp_path / "user-repo"
    user.mkdir()
    config = {"repos": [{"repo": str(repo_url), "rev": rev, "hooks": [{"id": HOOK_ID, "files": r"^environments/.*\.ya?ml$"}]}]}
    (user / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    (user / "README.md").write_text("not a values file: the hook never sees it\n")
    for name, content in files.items():
        (user / name).parent.mkdir(parents=True, exist_ok=True)
        (user / name).write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    git(user, "init", "-q")
    commit_all(user)
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "HELM": str(helm.helm_binary("helm3"))}
    return subprocess.run([str(PRE_COMMIT), "run", "--all-files", "--color=never"], cwd=user, env=env, capture_output=True, text=True,
                          timeout=600)


def test_a_good_environment_file_passes(hook_repository, pre_commit_home, tmp_path):
    result = run_hook(hook_repository, pre_commit_home, tmp_path, {GOOD: (helm.VALUES_DIR / "ci-kind.yaml").read_text()})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "triton-stack values files" in result.stdout and "Passed" in result.stdout


def test_a_schema_error_fails_with_its_value_path(hook_repository, pre_commit_home, tmp_path):
    result = run_hook(hook_repository, pre_commit_home, tmp_path, {GOOD: (helm.VALUES_DIR / "ci-kind.yaml").read_text(),
                                                                   "environments/bad.yaml": BAD_SCHEMA})
    assert result.returncode == 1
    assert "environments/bad.yaml: schema: server.replicaCount: 'many' is not of type 'integer'" in result.stdout
    assert f"{GOOD}: ok (schema, helm lint --strict, render at" in result.stdout


def test_values_fatal_together_fail_the_render_time_check(hook_repository, pre_commit_home, tmp_path):
    result = run_hook(hook_repository, pre_commit_home, tmp_path, {"environments/prod.yaml": FATAL_TOGETHER})
    assert result.returncode == 1
    assert "environments/prod.yaml: render at Kubernetes" in result.stdout
    assert "server.drain.terminationGracePeriodSeconds: 40 is shorter than" in result.stdout


class TestTheChecker:
    """The checker's own parts, without pre-commit."""

    def test_merging_follows_helm_null_deletes_and_maps_merge(self):
        merged = check_values.deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]})
        assert merged == {"a": {"c": 2, "e": 3}, "d": [2]}

    def test_every_schema_error_is_listed_with_its_path(self):
        errors = check_values.schema_errors({"server": {"replicaCount": "many", "service": {"type": "Bogus"}}}, helm.CHARTS_DIR)
        assert "server.replicaCount: 'many' is not of type 'integer'" in errors
        assert any(error.startswith("server.service.type: 'Bogus' is not one of") for error in errors)

    def test_a_shipped_environment_file_has_no_schema_error(self):
        assert check_values.schema_errors(yaml.safe_load((helm.VALUES_DIR / "prod.yaml").read_text()), helm.CHARTS_DIR) == []

    @pytest.mark.parametrize(("values", "expected"), [
        ({"gpu": {"count": 1}}, "(top level): Additional properties are not allowed ('gpu' was unexpected): "
                                "`gpu` is a setting of the server chart: put it under `server:` (server.gpu)"),
        ({"replicaCount": 2}, "put it under `server:` (server.replicaCount)"),
        ({"server": {"replicaCunt": 2}}, "server: Additional properties are not allowed ('replicaCunt' was unexpected): "
                                         "did you mean `server.replicaCount`?"),
        ({"server": {"resources": {"limits": {"memory": "4GB"}}}},
         "server.resources.limits.memory: '4GB' is not valid under any of the given schemas: a Kubernetes quantity has no `B`: "
         "write `4Gi` (powers of 1024, what `free -h` shows) or `4G` (powers of 1000)"),
        ({"server": {"sharedMemory": {"sizeLimit": "512 mb"}}}, "write `512Mi` (powers of 1024, what `free -h` shows) or `512M`"),
        ({"server": {"service": {"type": "ClusterIp"}}}, "did you mean `ClusterIP`?"),
        ({"server": {"autoscaling": {"mode": "KEDA"}}}, "did you mean `keda`?"),
        ({"server": {"probes": None}}, "server: 'probes' is a required property: `server.probes` is gone: a `null` there"),
        ({"batch": None}, "(top level): 'batch' is a required property: `batch` is gone"),
    ], ids=["server-key-at-top-level", "replicaCount-at-top-level", "misspelt-key", "4GB", "512-mb", "enum-case", "enum-upper-case",
            "subchart-section-nulled", "component-section-nulled"])
    def test_errors_come_with_what_to_do(self, values, expected):
        errors = check_values.schema_errors(values, helm.CHARTS_DIR)
        assert any(expected in error for error in errors), errors

    @pytest.mark.parametrize("values", [
        {"server": {"gpu": {"count": 1}, "replicaCount": 2}},
        {"server": {"resources": {"limits": {"memory": "4Gi"}}, "sharedMemory": {"sizeLimit": "512M"}}},
        {"server": {"service": {"type": "ClusterIP"}}},
    ], ids=["under-server", "quantities", "enum"])
    def test_the_right_forms_have_no_error(self, values):
        assert check_values.schema_errors(values, helm.CHARTS_DIR) == []

    def test_a_list_item_missing_a_field_is_told_to_add_it(self):
        errors = check_values.schema_errors({"server": {"triton": {"env": [{"value": "x"}]}}}, helm.CHARTS_DIR)
        assert any(error.endswith(": add `name` to this item") for error in errors), errors

    def test_a_section_that_is_not_a_mapping_is_named(self):
        errors = check_values.schema_errors({"server": "foo"}, helm.CHARTS_DIR)
        assert "server: is 'foo', but `server` is a section of settings (a mapping): indent its keys under `server:`" in errors

    def test_an_unreadable_file_is_a_usage_error(self, monkeypatch, tmp_path):
        monkeypatch.setenv("HELM", str(helm.helm_binary("helm3")))
        (tmp_path / "bad.yaml").write_bytes(b"server: \xff\xfe\n")
        assert check_values.main([str(tmp_path / "missing.yaml")]) == 2
        assert check_values.main([str(tmp_path / "bad.yaml")]) == 2

    def test_an_unknown_key_with_no_close_name_lists_the_section(self):
        (error,) = check_values.schema_errors({"server": {"zzzz": 1}}, helm.CHARTS_DIR)
        assert "`zzzz` is not a setting here; the keys of `server` are: adminApi, autoscaling," in error

    def test_schema_errors_stop_before_helm_runs(self, tmp_path):
        bad = tmp_path / "bad.yaml"
        bad.write_text("server:\n  replicaCunt: 2\n")
        problems = check_values.check_file(bad, "/nonexistent/helm", helm.CHARTS_DIR, helm.CHARTS_DIR / "triton-stack")
        assert problems[-1] == "helm lint and the renders: not run until the schema errors above are fixed"

    def test_no_helm_is_a_usage_error(self, monkeypatch, tmp_path):
        monkeypatch.setenv("HELM", "")
        monkeypatch.setenv("PATH", str(tmp_path))
        assert check_values.main([str(helm.VALUES_DIR / "prod.yaml")]) == 2

    def test_the_declared_range_is_read_off_the_umbrella(self):
        assert check_values.declared_kube_versions(helm.CHARTS_DIR) == helm.declared_kube_versions()


def test_the_hook_by_default_checks_values_folders_and_nothing_else():
    import re

    (hook,) = yaml.safe_load((helm.REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    pattern = re.compile(hook["files"])
    assert pattern.search("environments/prod.yaml") and pattern.search("deploy/values/staging.yml")
    assert not pattern.search(".pre-commit-config.yaml") and not pattern.search(".github/workflows/ci.yaml")
