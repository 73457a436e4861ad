"""`make up` and `make test` install what they need first, and that costs nothing once it is installed: every
install step behind them is a stamp file (newer than its requirements) or a version check."""

import os
import subprocess

import pytest

from tests.harness import render as helm

INSTALLS = ("pip install", "npm ci")

def dry_run(*arguments: str) -> str:
    """`make -n` as a user would run it: not as a sub-make of `make test` (which would print
    "make[1]: Leaving directory" and pass its flags down), so the environment loses make's own variables."""
    env = {key: value for key, value in os.environ.items() if key not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}
    return subprocess.run(["make", "--no-print-directory", "-n", *arguments], cwd=helm.REPO_ROOT, env=env,
                          capture_output=True, text=True, check=True, timeout=60).stdout

class TestInstallFirst:
    def test_test_runs_setup_before_pytest_and_installs_nothing_when_installed(self):
        commands = dry_run("test")
        assert "install-helm.sh" in commands and "dependency build" in commands and "install-perf-analyzer.sh" in commands
        assert commands.rstrip().splitlines()[-1].endswith("-m pytest -n 2 --dist loadscope")
        assert not [step for step in INSTALLS if step in commands], commands

    def test_up_installs_the_venv_helm_and_subcharts_first_and_passes_models(self):
        commands = dry_run("up", "MODELS=/tmp/my-models")
        assert commands.index("install-helm.sh") < commands.index("dependency build") < commands.index("ci/local/up.py")
        assert commands.rstrip().splitlines()[-1].endswith('ci/local/up.py values/local.yaml --models "/tmp/my-models"')
        assert "--models" not in dry_run("up").rstrip().splitlines()[-1]

    @pytest.mark.parametrize(("target", "changed", "install"), [("test", "requirements.txt", "pip install"),
                                                               ("up", "requirements.txt", "pip install"),
                                                               ("test", "package-lock.json", "npm ci")])
    def test_install_runs_again_when_its_requirements_change(self, target, changed, install):
        # -W: as if the file had just changed; the stamp is then older and the install step comes back.
        assert install in dry_run(target, "-W", changed)
