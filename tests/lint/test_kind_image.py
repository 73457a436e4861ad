"""The kind tier's CPU Triton image (ci/kind-image/Dockerfile) runs what the local tier runs, as the chart expects.

No Docker here, so the image itself is built only where the kind tier runs (ci/cluster/image.sh); what can be
proven without it is proven here: the versions it installs are the ones requirements.txt pins for the local tier,
it runs as the chart's non-root UID, its entrypoint execs the chart's args, and values/ci-kind.yaml names the
image the scripts build.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.cluster_versions import pinned_versions

pytestmark = pytest.mark.render

IMAGE_DIR = helm.REPO_ROOT / "ci" / "kind-image"
DOCKERFILE = IMAGE_DIR / "Dockerfile"
ENTRYPOINT = IMAGE_DIR / "entrypoint.sh"
REQUIREMENTS = helm.REPO_ROOT / "requirements.txt"
# Dockerfile ARG -> the requirements.txt package whose pin it must equal.
PINNED_PACKAGES = {"NVIDIA_PYTRITON_VERSION": "nvidia-pytriton", "TORCH_VERSION": "torch"}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            if current.strip():
                instruction, _, arguments = current.strip().partition(" ")
                logical.append((instruction.upper(), arguments.strip()))
            current = ""
    return logical


def dockerfile_args(text: str) -> dict[str, str]:
    """ARG name -> default value."""
    args = {}
    for instruction, arguments in dockerfile_instructions(text):
        if instruction == "ARG" and "=" in arguments:
            name, _, value = arguments.partition("=")
            args[name] = value.strip('"')
    return args


def requirement_pins(text: str) -> dict[str, str]:
    """Normalised package name -> pinned version, from pip-freeze style lines."""
    pins = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def pin_mismatches(dockerfile: str, requirements: str) -> list[str]:
    """Every Dockerfile pin that differs from requirements.txt, said as `ARG: image X, requirements Y`."""
    args, pins = dockerfile_args(dockerfile), requirement_pins(requirements)
    problems = []
    for arg, package in PINNED_PACKAGES.items():
        if args.get(arg) != pins.get(package):
            problems.append(f"{arg}: the image installs {args.get(arg)}, requirements.txt pins {package}=={pins.get(package)}")
    return problems


def image_user(dockerfile: str) -> str | None:
    users = [arguments for instruction, arguments in dockerfile_instructions(dockerfile) if instruction == "USER"]
    return users[-1] if users else None


def exec_form(arguments: str) -> list[str] | None:
    """The JSON array of an exec-form ENTRYPOINT/CMD, or None for the shell form (which would not pass args on)."""
    arguments = arguments.strip()
    if not arguments.startswith("["):
        return None
    return yaml.safe_load(arguments)


class TestPinnedVersions:
    def test_the_image_installs_the_local_tiers_versions(self):
        assert pin_mismatches(DOCKERFILE.read_text(), REQUIREMENTS.read_text()) == []

    def test_a_drifted_pin_is_reported(self):
        drifted = DOCKERFILE.read_text().replace("ARG TORCH_VERSION=2.13.0", "ARG TORCH_VERSION=2.12.0")
        assert pin_mismatches(drifted, REQUIREMENTS.read_text()) == [
            "TORCH_VERSION: the image installs 2.12.0, requirements.txt pins torch==2.13.0"]

    def test_every_python_package_is_constrained_by_requirements_txt(self):
        # The image's other packages (numpy, tritonclient, ...) come from the same pins, as a pip constraint.
        run = " ".join(arguments for instruction, arguments in dockerfile_instructions(DOCKERFILE.read_text()) if instruction == "RUN")
        assert "--constraint /tmp/requirements.txt" in run
        assert [line for line in (helm.REPO_ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")] == [
            "!requirements.txt", "!ci/kind-image/"]

    def test_the_python_is_the_one_whose_backend_stub_the_local_tier_uses(self):
        # The python backend stub is built per Python minor; the local tier runs the .venv's (3.11).
        base = dockerfile_args(DOCKERFILE.read_text())["PYTHON_IMAGE"]
        assert re.fullmatch(r"docker\.io/library/python:3\.11-slim-bookworm", base)

    def test_the_image_tag_names_the_tritonserver_release_the_chart_declares(self):
        triton = dockerfile_args(DOCKERFILE.read_text())["TRITONSERVER_VERSION"]
        app_version = yaml.safe_load((helm.CHARTS_DIR / "triton-server" / "Chart.yaml").read_text())["appVersion"]
        assert triton == app_version
        assert pinned_versions()["KIND_TRITON_IMAGE"].rsplit(":", 1)[1].startswith(f"{triton}-")


class TestRunsAsTheChartExpects:
    def test_values_ci_kind_runs_the_image_the_scripts_build_and_never_pulls_it(self):
        objects = helm.render("triton-stack", [helm.VALUES_DIR / "ci-kind.yaml"], kube_version=KUBE_HIGHEST)
        (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
        (triton,) = deployment["spec"]["template"]["spec"]["containers"]
        assert triton["image"] == pinned_versions()["KIND_TRITON_IMAGE"]
        assert triton["imagePullPolicy"] == "Never"
        assert "command" not in triton and triton["args"][0] == "tritonserver"

    def test_the_image_user_is_the_charts_non_root_uid(self):
        objects = helm.render("triton-stack", [helm.VALUES_DIR / "ci-kind.yaml"], kube_version=KUBE_HIGHEST)
        (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
        pod = deployment["spec"]["template"]["spec"]["securityContext"]
        assert image_user(DOCKERFILE.read_text()) == f"{pod['runAsUser']}:{pod['runAsGroup']}"
        assert pod["runAsUser"] != 0

    def test_a_root_image_is_told_apart(self):
        assert image_user("FROM x\nUSER 0\n") == "0"
        assert image_user("FROM x\n") is None

    def test_the_entrypoint_is_exec_form_and_the_args_are_the_command(self):
        instructions = dict(dockerfile_instructions(DOCKERFILE.read_text()))
        assert exec_form(instructions["ENTRYPOINT"]) == ["/usr/local/bin/triton-entrypoint.sh"]
        assert exec_form("/usr/local/bin/triton-entrypoint.sh") is None

    def test_the_entrypoint_execs_its_arguments_in_its_own_process(self):
        # exec, not a child: the args become the process the kubelet signals, and their exit status is the container's.
        assert subprocess.run(["sh", str(ENTRYPOINT), "sh", "-c", "exit 7"], timeout=30).returncode == 7
        # The background entrypoint's PID ($!) and the PID its argument reports ($$) are one process when it execs.
        probe = subprocess.run(["sh", "-c", f'sh {shlex.quote(str(ENTRYPOINT))} sh -c \'echo "$$"\' & echo "$!"; wait'],
                               capture_output=True, text=True, timeout=30)
        pids = probe.stdout.split()
        assert len(pids) == 2 and len(set(pids)) == 1, f"the entrypoint forked instead of exec-ing its arguments: {pids}"

    def test_the_entrypoint_refuses_to_run_nothing(self):
        completed = subprocess.run(["sh", str(ENTRYPOINT)], capture_output=True, text=True, timeout=30)
        assert completed.returncode == 64
        assert "no command given" in completed.stderr


def test_the_dockerfile_parser_joins_continuations_and_skips_comments(tmp_path: Path):
    text = "# comment\nARG A=1\nRUN a \\\n    && b\nUSER 5:5\n"
    assert dockerfile_instructions(text) == [("ARG", "A=1"), ("RUN", "a && b"), ("USER", "5:5")]
