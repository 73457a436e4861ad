"""The TensorRT engine-build init container: rendered, validated, and its script run for real.

The script runs here with stand-ins for the two GPU tools it calls (nvidia-smi and trtexec): this machine
has no GPU, so the build itself is out of reach, but everything the script decides (the cache key, cached
versus built, the composed repository Triton serves) is exercised, and so is each way the tools fail: a
driver that nvidia-smi cannot reach, no GPU listed, a trtexec without a version, a build that fails half
way or writes nothing, a missing ONNX model. Each must stop the pod with a message and leave no engine
that a later pod would take as built.
"""

import os
import shutil
import subprocess

import pytest

from tests.harness import policy
from tests.harness.render import REPO_ROOT
from tests.render.server.conftest import args_of, error_of, pod_spec, render_server, triton_container

pytestmark = pytest.mark.render

TRT_MODEL = {
    "name": "image_classifier_trt",
    "onnx": "onnx/model.onnx",
    "args": ["--minShapes=IMAGE:1x3x32x32", "--optShapes=IMAGE:4x3x32x32", "--maxShapes=IMAGE:8x3x32x32"],
}
ENGINE_BUILD = {"gpu": {"count": 1}, "engineBuild": {"enabled": True, "models": [TRT_MODEL]}}


def init_container(objects):
    return next(c for c in pod_spec(objects)["initContainers"] if c["name"] == "engine-build")


class TestRendered:
    def test_no_init_container_and_the_mounted_repository_by_default(self):
        objects = render_server()
        assert "initContainers" not in pod_spec(objects)
        assert args_of(objects)["--model-repository"] == "/models"

    def test_triton_serves_the_composed_repository_when_enabled(self):
        objects = render_server(ENGINE_BUILD)
        assert args_of(objects)["--model-repository"] == "/repository"
        mounts = {m["mountPath"]: m for m in triton_container(objects)["volumeMounts"]}
        assert mounts["/repository"]["readOnly"] is True and mounts["/models"]["readOnly"] is True
        volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
        assert volumes["model-repository"]["persistentVolumeClaim"]["readOnly"] is False
        assert volumes["repository"] == {"name": "repository", "emptyDir": {"sizeLimit": "20Gi"}}

    def test_init_container_builds_on_the_pods_gpu_and_is_restricted(self):
        objects = render_server(ENGINE_BUILD)
        build = init_container(objects)
        assert build["image"] == "nvcr.io/nvidia/tensorrt:24.10-py3"
        assert build["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert policy.restricted_violations(pod_spec(objects)) == []

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"engineBuild": {"enabled": True, "models": [TRT_MODEL]}}, "engineBuild.enabled: needs gpu.count > 0"),
            ({**ENGINE_BUILD, "modelRepository": {"type": "configMap", "configMap": {"files": {"m/config.pbtxt": "x: 1"}}}}, "engineBuild.enabled: needs modelRepository.type pvc (not configMap)"),
            ({"gpu": {"count": 1}, "engineBuild": {"enabled": True}}, "engineBuild.models: is empty while engineBuild.enabled is true"),
        ],
        ids=["no-gpu", "not-a-volume", "no-models"],
    )
    def test_impossible_builds_fail(self, values, message):
        assert message in error_of(values)


# The init container's tools and paths as rendered here; the run swaps them for the stand-ins and temporary
# directories of each test, line by line, so the rest of the script runs exactly as rendered.
TRTEXEC = "/opt/tensorrt/bin/trtexec"
BUILD_VALUES = {**ENGINE_BUILD, "engineBuild": {**ENGINE_BUILD["engineBuild"], "trtexec": TRTEXEC}}
GPU_NAME = "NVIDIA H100 80GB HBM3"
TRT_BANNER = "&&&& RUNNING TensorRT.trtexec [TensorRT v100500] # trtexec --help"
# What nvidia-smi prints, on stdout, with exit 9, when the driver is gone.
DRIVER_GONE = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."


def stand_in(path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def stand_ins(tmp_path):
    """nvidia-smi and trtexec stand-ins on PATH: the GPU's name, TensorRT's banner, and a build that writes
    the engine file and records each call. Tests rewrite one of them to fail."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "trtexec-calls"
    stand_in(bin_dir / "nvidia-smi", f"echo '{GPU_NAME}'\n")
    stand_in(
        bin_dir / "trtexec",
        f'case "$1" in --help) echo "{TRT_BANNER}"; exit 0;; esac\n'
        f'echo "$@" >> {calls}\n'
        'for arg in "$@"; do case "$arg" in --saveEngine=*) echo engine > "${arg#--saveEngine=}";; esac; done\n',
    )
    return bin_dir, calls


def build_argv() -> list[str]:
    container = init_container(render_server(BUILD_VALUES))
    return [*container.get("command", []), *container["args"]]


def model_volume(tmp_path):
    """The model volume: a copy of models/ (the ONNX model of image_classifier_trt included), made once."""
    source = tmp_path / "models"
    if not source.exists():
        shutil.copytree(REPO_ROOT / "models", source, ignore=shutil.ignore_patterns("__pycache__", "*.py", "README.md"))
        for model in ("image_classifier", "image_classifier_nobatch"):
            shutil.copytree(REPO_ROOT / "models" / model, source / model, dirs_exist_ok=True)
    return source


def run_build_script(tmp_path, bin_dir) -> tuple[subprocess.CompletedProcess, os.PathLike, os.PathLike]:
    source = model_volume(tmp_path)
    repository = tmp_path / "repository"
    shutil.rmtree(repository, ignore_errors=True)
    repository.mkdir()
    *program, script = build_argv()
    for line, local in (("source_dir=/models", f"source_dir={source}"), ("repository=/repository", f"repository={repository}")):
        assert script.count(f"\n{line}\n") == 1, f"the rendered script no longer sets {line}"
        script = script.replace(f"\n{line}\n", f"\n{local}\n")
    script = script.replace(TRTEXEC, str(bin_dir / "trtexec"))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    completed = subprocess.run([*program, script], env=env, capture_output=True, text=True, timeout=60)
    return completed, source, repository


def cache_dir(source):
    return source / ".engine-cache" / "NVIDIA-H100-80GB-HBM3-trt100500"


def test_script_builds_once_per_gpu_product_and_composes_the_repository(tmp_path, stand_ins):
    bin_dir, calls = stand_ins
    first, source, repository = run_build_script(tmp_path, bin_dir)
    assert first.returncode == 0, first.stderr
    engine = cache_dir(source) / "image_classifier_trt.plan"
    assert engine.read_text() == "engine\n"
    built = calls.read_text().splitlines()
    assert len(built) == 1 and "--minShapes=IMAGE:1x3x32x32" in built[0] and f"--onnx={source}/image_classifier_trt/onnx/model.onnx" in built[0]
    assert (repository / "image_classifier_trt" / "1" / "model.plan").read_text() == "engine\n"
    assert (repository / "image_classifier_trt" / "config.pbtxt").exists()
    assert (repository / "image_classifier").is_symlink()
    assert not (repository / ".engine-cache").exists()
    assert "engine build: GPU NVIDIA-H100-80GB-HBM3, TensorRT 100500" in first.stdout

    second, _, repository = run_build_script(tmp_path, bin_dir)
    assert second.returncode == 0, second.stderr
    assert "image_classifier_trt: cached" in second.stdout
    assert len(calls.read_text().splitlines()) == 1, "a cached engine was built again"


def test_script_rebuilds_over_a_partial_engine_left_by_a_killed_build(tmp_path, stand_ins):
    bin_dir, calls = stand_ins
    partial = cache_dir(model_volume(tmp_path)) / "image_classifier_trt.plan.partial"
    partial.parent.mkdir(parents=True)
    partial.write_text("half an eng")
    completed, source, repository = run_build_script(tmp_path, bin_dir)
    assert completed.returncode == 0, completed.stderr
    assert (repository / "image_classifier_trt" / "1" / "model.plan").read_text() == "engine\n"
    assert not partial.exists()


def test_script_rebuilds_an_empty_engine_instead_of_serving_it(tmp_path, stand_ins):
    # A zero-byte engine (a full disk, a copy cut short) is no engine: it is built again, not served.
    bin_dir, calls = stand_ins
    empty = cache_dir(model_volume(tmp_path)) / "image_classifier_trt.plan"
    empty.parent.mkdir(parents=True)
    empty.touch()
    completed, _, repository = run_build_script(tmp_path, bin_dir)
    assert completed.returncode == 0, completed.stderr
    assert "image_classifier_trt: building from onnx/model.onnx" in completed.stdout
    assert len(calls.read_text().splitlines()) == 1
    assert (repository / "image_classifier_trt" / "1" / "model.plan").read_text() == "engine\n"


def assert_fails_leaving_no_engine(completed, source, repository, message):
    assert completed.returncode == 1, (completed.stdout, completed.stderr)
    assert f"engine build: {message}" in completed.stderr, completed.stderr
    assert "repository ready" not in completed.stdout
    leftovers = [p for p in (source / ".engine-cache").rglob("*") if p.is_file() and not p.name.endswith(".lock")] if (source / ".engine-cache").exists() else []
    assert leftovers == [], "a failed build left an engine behind"
    assert not list(repository.rglob("model.plan"))


@pytest.mark.parametrize(
    ("nvidia_smi", "message"),
    [
        (f'echo "{DRIVER_GONE}"\nexit 9\n', f"nvidia-smi failed (exit 9): {DRIVER_GONE}"),
        ("exit 0\n", f"cannot read the GPU product () or TensorRT version (100500)"),
    ],
    ids=["driver-gone", "no-gpu-listed"],
)
def test_script_fails_when_the_gpu_cannot_be_read(tmp_path, stand_ins, nvidia_smi, message):
    bin_dir, calls = stand_ins
    stand_in(bin_dir / "nvidia-smi", nvidia_smi)
    completed, source, repository = run_build_script(tmp_path, bin_dir)
    assert_fails_leaving_no_engine(completed, source, repository, message)
    assert not (source / ".engine-cache").exists(), "a cache key was made up from a failed nvidia-smi"
    assert not calls.exists()


def test_script_fails_when_tensorrt_has_no_version(tmp_path, stand_ins):
    bin_dir, calls = stand_ins
    stand_in(bin_dir / "trtexec", "echo 'trtexec: command not usable' >&2\nexit 127\n")
    completed, source, repository = run_build_script(tmp_path, bin_dir)
    assert_fails_leaving_no_engine(completed, source, repository, "cannot read the GPU product (NVIDIA-H100-80GB-HBM3) or TensorRT version ()")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # trtexec writes part of the engine, then fails (out of memory, an unsupported layer)
        ('for arg in "$@"; do case "$arg" in --saveEngine=*) echo half > "${arg#--saveEngine=}";; esac; done\nexit 3\n',
         "image_classifier_trt: trtexec failed (exit 3); nothing was cached"),
        ("exit 0\n", "image_classifier_trt: trtexec exited 0 but wrote no engine"),
    ],
    ids=["build-fails", "no-engine-written"],
)
def test_script_fails_when_the_build_fails(tmp_path, stand_ins, build, message):
    bin_dir, _ = stand_ins
    stand_in(bin_dir / "trtexec", f'case "$1" in --help) echo "{TRT_BANNER}"; exit 0;; esac\n' + build)
    completed, source, repository = run_build_script(tmp_path, bin_dir)
    assert_fails_leaving_no_engine(completed, source, repository, message)


def test_script_fails_naming_a_missing_onnx_model(tmp_path, stand_ins):
    bin_dir, calls = stand_ins
    (model_volume(tmp_path) / "image_classifier_trt" / "onnx" / "model.onnx").unlink()
    completed, source, repository = run_build_script(tmp_path, bin_dir)
    assert_fails_leaving_no_engine(completed, source, repository, f"image_classifier_trt: no ONNX model at {source}/image_classifier_trt/onnx/model.onnx")
    assert not calls.exists()
