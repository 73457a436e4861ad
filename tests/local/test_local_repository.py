"""The repository view the local tritonserver serves: the python-backend models of models/, copied."""

from __future__ import annotations

import shutil

import pytest

from tests.harness.model_config import MODELS_DIR, ModelConfigError
from tests.harness.triton_local import prepare_local_model_repository


class TestLocalModelRepository:
    def test_python_models_are_copied_when_view_is_prepared(self, tmp_path):
        view = prepare_local_model_repository(tmp_path / "view")
        assert view.served == ("image_classifier", "image_classifier_nobatch")
        for name in view.served:
            # Copies, not links: the python backend writes __pycache__ beside model.py, never into models/.
            assert (view.path / name).is_dir() and not (view.path / name).is_symlink()
            assert (view.path / name / "1" / "weights.pt").read_bytes() == (MODELS_DIR / name / "1" / "weights.pt").read_bytes()

    def test_gpu_models_are_skipped_with_a_reason_when_server_is_python_only(self, tmp_path):
        view = prepare_local_model_repository(tmp_path / "view")
        assert view.skipped == {
            "image_classifier_libtorch": "pytorch_libtorch: the tritonserver shipped by nvidia-pytriton has no PyTorch backend",
            "image_classifier_trt": "tensorrt_plan: a TensorRT engine needs a GPU and is built on the target node",
        }
        assert not (view.path / "image_classifier_libtorch").exists()

    def test_preparation_fails_naming_the_model_when_a_served_model_is_broken(self, tmp_path):
        source = tmp_path / "source"
        shutil.copytree(MODELS_DIR / "image_classifier", source / "image_classifier")
        config = source / "image_classifier" / "config.pbtxt"
        config.write_text(config.read_text().replace("kind: KIND_CPU", "kind: KIND_GPU"))
        with pytest.raises(ModelConfigError, match=r"image_classifier/config.pbtxt: instance_group\[0\].kind: KIND_GPU"):
            prepare_local_model_repository(tmp_path / "view", source=source)
