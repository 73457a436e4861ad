"""The committed model files are what the build scripts make, and they classify what they claim to.

The weights, the TorchScript module and the ONNX graph are generated files that are committed; these tests
catch the one going stale against the others (retrained weights, an export not rerun, a hand edit of the
no-batching copy) and check that the classifier is a real one: it recognises patterns it never saw.
"""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.harness.model_config import MODELS_DIR, parse_model_config

WEIGHTS = MODELS_DIR / "image_classifier" / "1" / "weights.pt"
CLASSIFIER_DIRS = ("image_classifier", "image_classifier_nobatch", "image_classifier_libtorch", "image_classifier_trt")
# Seeds the build never trained or measured on (build_image_classifier.py uses 20241122 and the next one).
UNSEEN_SEED = 7
REQUIRED_ACCURACY = 0.95
# Exports of the same float32 network agree to rounding; anything larger is a different network.
EXPORT_TOLERANCE = 1e-5
# Committed models must stay small enough to live in git and in a ConfigMap-sized budget.
MODEL_REPOSITORY_BUDGET_BYTES = 5 * 1024 * 1024


def accuracy(classifier: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.inference_mode():
        predicted = classifier(torch.from_numpy(images)).argmax(dim=1).numpy()
    return float((predicted == labels).mean())


def run_build_script(script: str, destination: Path) -> None:
    subprocess.run(
        [sys.executable, str(MODELS_DIR / script), "--models-dir", str(destination)],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def unseen_patterns(patterns):
    return patterns.generate_images(256, seed=UNSEEN_SEED)


class TestClassifierWeights:
    def test_classifies_unseen_patterns_when_weights_are_trained(self, network, unseen_patterns):
        assert accuracy(network.load_classifier(WEIGHTS), *unseen_patterns) >= REQUIRED_ACCURACY

    def test_accuracy_is_near_chance_when_weights_are_untrained(self, network, unseen_patterns):
        # The pair of the test above: it proves that the accuracy threshold is not reached by any network.
        torch.manual_seed(0)
        assert accuracy(network.PatternClassifier().eval(), *unseen_patterns) < 0.5

    @pytest.mark.parametrize("name", CLASSIFIER_DIRS)
    def test_labels_follow_pattern_classes_when_read_by_triton(self, name, patterns):
        labels = (MODELS_DIR / name / "labels.txt").read_text().splitlines()
        assert tuple(labels) == patterns.CLASS_NAMES


class TestNoBatchCopy:
    def test_version_files_are_identical_when_compared_with_image_classifier(self):
        comparison = filecmp.dircmp(MODELS_DIR / "image_classifier" / "1", MODELS_DIR / "image_classifier_nobatch" / "1",
                                    ignore=["__pycache__"])
        assert (comparison.left_only, comparison.right_only) == ([], [])
        _, mismatch, errors = filecmp.cmpfiles(comparison.left, comparison.right, comparison.common_files, shallow=False)
        assert (mismatch, errors) == ([], []), "rerun models/build_image_classifier.py"

    def test_configs_differ_only_in_name_and_batching_when_compared(self):
        batching = parse_model_config(MODELS_DIR / "image_classifier" / "config.pbtxt")
        nobatch = parse_model_config(MODELS_DIR / "image_classifier_nobatch" / "config.pbtxt")
        assert batching.HasField("dynamic_batching") and not nobatch.HasField("dynamic_batching")
        batching.ClearField("dynamic_batching")
        batching.name = nobatch.name
        assert batching == nobatch


# TorchScript is deprecated in torch 2.13 in favour of torch.export, but it is the format Triton's PyTorch
# backend loads, so the warning is expected here.
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
class TestTorchScriptExport:
    def test_matches_network_when_run_on_unseen_patterns(self, network, unseen_patterns):
        images, _ = unseen_patterns
        scripted = torch.jit.load(str(MODELS_DIR / "image_classifier_libtorch" / "1" / "model.pt"))
        with torch.inference_mode():
            difference = (scripted(torch.from_numpy(images)) - network.load_classifier(WEIGHTS)(torch.from_numpy(images))).abs()
        assert difference.max().item() < EXPORT_TOLERANCE, "rerun models/build_torchscript.py"

    def test_rebuild_matches_committed_module_when_script_reruns(self, tmp_path, unseen_patterns):
        run_build_script("build_torchscript.py", tmp_path)
        images = torch.from_numpy(unseen_patterns[0])
        committed = torch.jit.load(str(MODELS_DIR / "image_classifier_libtorch" / "1" / "model.pt"))
        rebuilt = torch.jit.load(str(tmp_path / "image_classifier_libtorch" / "1" / "model.pt"))
        with torch.inference_mode():
            assert (committed(images) - rebuilt(images)).abs().max().item() < EXPORT_TOLERANCE

    def test_differs_from_network_when_weights_differ(self, network, unseen_patterns):
        # The pair of the comparisons above: another network is far outside the tolerance.
        images = torch.from_numpy(unseen_patterns[0])
        torch.manual_seed(0)
        scripted = torch.jit.load(str(MODELS_DIR / "image_classifier_libtorch" / "1" / "model.pt"))
        with torch.inference_mode():
            assert (scripted(images) - network.PatternClassifier().eval()(images)).abs().max().item() > 0.1


class TestOnnxExport:
    ONNX_PATH = MODELS_DIR / "image_classifier_trt" / "onnx" / "model.onnx"

    def test_matches_network_when_evaluated_by_onnx_reference_runtime(self, network, unseen_patterns):
        from onnx.reference import ReferenceEvaluator

        images = unseen_patterns[0][:16]
        (probabilities,) = ReferenceEvaluator(str(self.ONNX_PATH)).run(None, {"IMAGE": images})
        with torch.inference_mode():
            expected = network.load_classifier(WEIGHTS)(torch.from_numpy(images)).numpy()
        assert np.abs(probabilities - expected).max() < EXPORT_TOLERANCE, "rerun models/build_onnx.py"

    def test_rebuild_gives_the_same_graph_when_script_reruns(self, tmp_path):
        import onnx

        run_build_script("build_onnx.py", tmp_path)
        committed = onnx.load(str(self.ONNX_PATH))
        rebuilt = onnx.load(str(tmp_path / "image_classifier_trt" / "onnx" / "model.onnx"))
        assert rebuilt.graph == committed.graph
        assert rebuilt.opset_import == committed.opset_import

    def test_engine_is_not_committed_when_built_per_gpu_product(self):
        # The engine only runs on the GPU product it was built on; the chart builds it on the node.
        assert not (MODELS_DIR / "image_classifier_trt" / "1" / "model.plan").exists()


class TestRepositorySize:
    def test_model_repository_stays_within_budget_when_all_files_are_counted(self):
        files = [path for path in MODELS_DIR.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
        assert sum(path.stat().st_size for path in files) < MODEL_REPOSITORY_BUDGET_BYTES
