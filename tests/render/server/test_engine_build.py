"""The TensorRT engine-build init container: rendered, validated, and its script run for real.

The script runs here with stand-ins for the two GPU tools it calls (nvidia-smi and trtexec): this machine
has no GPU, so the build itself is out of reach, but everything the script decides (the cache key, cached
versus built, the composed repository Triton serves) is exercised.
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


@pytest.fixture
def stand_ins(tmp_path):
    """nvidia-smi and trtexec stand-ins on PATH: the GPU's name, TensorRT's banner, and a build that writes
    the engine file and records each call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "trtexec-calls"
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3'\n")
    (bin_dir / "trtexec").write_text(
        "#!/bin/sh\n"
        'case "$1" in --help) echo "&&&& RUNNING TensorRT.trtexec [TensorRT v100500] # trtexec --help"; exit 0;; esac\n'
        f'echo "$@" >> {calls}\n'
        'for arg in "$@"; do case "$arg" in --saveEngine=*) echo engine > "${arg#--saveEngine=}";; esac; done\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir, calls


def run_build_script(tmp_path, bin_dir) -> tuple[subprocess.CompletedProcess, os.PathLike, os.PathLike]:
    source = tmp_path / "models"
    if not source.exists():
        shutil.copytree(REPO_ROOT / "models", source, ignore=shutil.ignore_patterns("__pycache__", "*.py", "README.md"))
        for model in ("image_classifier", "image_classifier_nobatch"):
            shutil.copytree(REPO_ROOT / "models" / model, source / model, dirs_exist_ok=True)
    repository = tmp_path / "repository"
    shutil.rmtree(repository, ignore_errors=True)
    repository.mkdir()
    objects = render_server({**ENGINE_BUILD, "modelRepository": {"mountPath": str(source)}, "engineBuild": {**ENGINE_BUILD["engineBuild"], "trtexec": "/usr/local/bin/trtexec"}})
    script = init_container(objects)["args"][-1].replace("/repository", str(repository)).replace("/usr/local/bin/trtexec", str(bin_dir / "trtexec"))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    completed = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    return completed, source, repository


def test_script_builds_once_per_gpu_product_and_composes_the_repository(tmp_path, stand_ins):
    bin_dir, calls = stand_ins
    first, source, repository = run_build_script(tmp_path, bin_dir)
    assert first.returncode == 0, first.stderr
    engine = source / ".engine-cache" / "NVIDIA-H100-80GB-HBM3-trt100500" / "image_classifier_trt.plan"
    assert engine.read_text() == "engine\n"
    built = calls.read_text().splitlines()
    assert len(built) == 1 and "--minShapes=IMAGE:1x3x32x32" in built[0] and f"--onnx={source}/image_classifier_trt/onnx/model.onnx" in built[0]
    assert (repository / "image_classifier_trt" / "1" / "model.plan").read_text() == "engine\n"
    assert (repository / "image_classifier_trt" / "config.pbtxt").exists()
    assert (repository / "image_classifier").is_symlink()
    assert not (repository / ".engine-cache").exists()

    second, _, repository = run_build_script(tmp_path, bin_dir)
    assert second.returncode == 0, second.stderr
    assert "image_classifier_trt: cached" in second.stdout
    assert len(calls.read_text().splitlines()) == 1, "a cached engine was built again"


def test_script_fails_when_the_gpu_cannot_be_read(tmp_path, stand_ins):
    bin_dir, _ = stand_ins
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nexit 9\n")
    completed, _, _ = run_build_script(tmp_path, bin_dir)
    assert completed.returncode != 0
    assert "cannot read the GPU product" in completed.stderr


def test_script_fails_when_the_build_fails(tmp_path, stand_ins):
    bin_dir, _ = stand_ins
    (bin_dir / "trtexec").write_text('#!/bin/sh\ncase "$1" in --help) echo "[TensorRT v100500]"; exit 0;; esac\nexit 3\n')
    completed, source, _ = run_build_script(tmp_path, bin_dir)
    assert completed.returncode != 0
    assert not list((source / ".engine-cache").rglob("*.plan")), "a failed build left an engine behind"
