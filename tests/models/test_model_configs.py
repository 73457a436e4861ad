"""Every model in models/ passes the strict config checks, and each check catches the mistake it is for.

The negative cases copy one model into tmp_path, break exactly one thing, and assert that the error names
the config file and the field, which is what a user needs to find the mistake.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.harness.model_config import (
    MODELS_DIR,
    ModelConfigError,
    model_runtime,
    parse_model_config,
    scan_python_tensor_names,
    validate_model_directory,
    validate_repository,
)

PYTHON_MODELS = ("image_classifier", "image_classifier_nobatch")
GPU_MODELS = ("image_classifier_libtorch", "image_classifier_trt")


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file, failing if it is absent so that a case cannot break nothing."""
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}; update the test case"
    path.write_text(text.replace(old, new, 1))


class TestRepositoryValidates:
    def test_every_model_validates_when_server_has_a_gpu(self):
        configs = validate_repository(MODELS_DIR, gpu_count=1)
        assert sorted(config.name for config in configs) == sorted(PYTHON_MODELS + GPU_MODELS)

    @pytest.mark.parametrize("name", PYTHON_MODELS)
    def test_python_model_validates_when_server_has_no_gpu(self, name):
        assert validate_model_directory(MODELS_DIR / name, gpu_count=0).name == name

    @pytest.mark.parametrize("name", GPU_MODELS)
    def test_gpu_model_fails_when_server_has_no_gpu(self, name):
        with pytest.raises(ModelConfigError) as error:
            validate_model_directory(MODELS_DIR / name, gpu_count=0)
        assert f"models/{name}/config.pbtxt: instance_group[0].kind: KIND_GPU on a server with no GPU" in str(error.value)

    def test_repository_fails_when_a_top_level_directory_has_no_config(self, copy_model, tmp_path):
        copy_model("image_classifier")
        (tmp_path / "models" / "__pycache__").mkdir()
        with pytest.raises(ModelConfigError) as error:
            validate_repository(tmp_path / "models")
        assert f"{tmp_path / 'models' / '__pycache__' / 'config.pbtxt'}: file: missing" in str(error.value)

    def test_repository_reports_every_problem_when_several_models_are_broken(self, copy_model, tmp_path):
        for name in PYTHON_MODELS:
            replace_once(copy_model(name) / "config.pbtxt", "max_batch_size: 16", "max_batch_size: -1")
        with pytest.raises(ModelConfigError) as error:
            validate_repository(tmp_path / "models")
        assert {problem.config_path.parent.name for problem in error.value.problems} == set(PYTHON_MODELS)


@dataclass(frozen=True)
class Breakage:
    """One way to break one model, and the `field: message` the error must name."""

    model: str
    breaks: Callable[[Path], None]
    field: str
    message: str
    gpu_count: int = 0


def in_config(old: str, new: str) -> Callable[[Path], None]:
    return lambda model_dir: replace_once(model_dir / "config.pbtxt", old, new)


def in_file(relative: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda model_dir: replace_once(model_dir / relative, old, new)


def delete(relative: str) -> Callable[[Path], None]:
    return lambda model_dir: (model_dir / relative).unlink()


IMAGE_DIMS = "dims: [ 3, 32, 32 ]"
TOP_CLASS_OUTPUT = """,
  {
    name: "TOP_CLASS"
    data_type: TYPE_INT64
    dims: [ 1 ]
  }"""

BREAKAGES = {
    "unknown_field": Breakage(
        "image_classifier", in_config("max_batch_size: 16", "max_batch_size: 16\nmax_batch_sizes: 16"),
        "max_batch_sizes (line 6 column 1)", 'has no field named "max_batch_sizes"'),
    "bad_enum": Breakage(
        "image_classifier", in_config("data_type: TYPE_FP32", "data_type: TYPE_FLOAT33"),
        "data_type (line 10 column 16)", 'Enum type "inference.DataType" has no value named TYPE_FLOAT33'),
    "negative_max_batch_size": Breakage(
        "image_classifier", in_config("max_batch_size: 16", "max_batch_size: -1"),
        "max_batch_size", "-1 is negative"),
    "preferred_batch_size_above_max": Breakage(
        "image_classifier", in_config("preferred_batch_size: [ 8, 16 ]", "preferred_batch_size: [ 8, 64 ]"),
        "dynamic_batching.preferred_batch_size", "64 exceeds max_batch_size 16"),
    "dynamic_batching_without_batch_dimension": Breakage(
        "image_classifier", in_config("max_batch_size: 16", "max_batch_size: 0"),
        "dynamic_batching", "set while max_batch_size is 0"),
    "zero_dim": Breakage(
        "image_classifier", in_config(IMAGE_DIMS, "dims: [ 3, 0, 32 ]"),
        "input[0].dims", "0 in [3, 0, 32] is invalid"),
    "missing_data_type": Breakage(
        "image_classifier", in_config("data_type: TYPE_INT64\n", ""),
        "output[1].data_type", 'missing for "TOP_CLASS"'),
    "name_differs_from_directory": Breakage(
        "image_classifier", in_config('name: "image_classifier"', 'name: "image_classifer"'),
        "name", '"image_classifer" does not match the directory "image_classifier"'),
    "python_model_file_missing": Breakage(
        "image_classifier", delete("1/model.py"),
        "backend", "python needs 1/model.py, which does not exist"),
    "gpu_instance_without_gpu": Breakage(
        "image_classifier", in_config("kind: KIND_CPU", "kind: KIND_GPU"),
        "instance_group[0].kind", "KIND_GPU on a server with no GPU"),
    "instance_on_missing_gpu": Breakage(
        "image_classifier", in_config("kind: KIND_CPU", "kind: KIND_GPU\n    gpus: [ 1 ]"),
        "instance_group[0].gpus", "GPU 1 does not exist on a server with 1", gpu_count=1),
    "python_input_renamed_in_config": Breakage(
        "image_classifier", in_config('name: "IMAGE"', 'name: "PIXELS"'),
        "input[0].name", '"PIXELS" is declared but 1/*.py never reads it'),
    "python_input_renamed_in_code": Breakage(
        "image_classifier", in_file("1/model.py", '"IMAGE"', '"PIXELS"'),
        "input", '1/model.py:34 reads "PIXELS", which the config does not declare'),
    "python_output_undeclared": Breakage(
        "image_classifier", in_config(TOP_CLASS_OUTPUT, ""),
        "output", 'writes "TOP_CLASS", which the config does not declare'),
    "python_input_name_not_literal": Breakage(
        "image_classifier", in_file("1/model.py", '"IMAGE")', '"IMAGE".lower())'),
        "input", "1/model.py:34: cannot tell which input tensor this names"),
    "warmup_input_undeclared": Breakage(
        "image_classifier", in_config('key: "IMAGE"', 'key: "PIXELS"'),
        'model_warmup[0].inputs["PIXELS"]', '"PIXELS" is not a declared input (IMAGE)'),
    "warmup_batch_above_max": Breakage(
        "image_classifier", in_config("batch_size: 16\n    inputs", "batch_size: 32\n    inputs"),
        "model_warmup[1].batch_size", "32 exceeds max_batch_size 16"),
    "warmup_dims_wrong": Breakage(
        "image_classifier", in_config("dims: [ 3, 32, 32 ]\n        zero_data", "dims: [ 3, 64, 64 ]\n        zero_data"),
        'model_warmup[0].inputs["IMAGE"].dims', "[3, 64, 64] does not fit the input's [3, 32, 32]"),
    "label_file_missing": Breakage(
        "image_classifier", delete("labels.txt"),
        "output[0].label_filename", '"labels.txt" does not exist'),
    "torchscript_missing": Breakage(
        "image_classifier_libtorch", delete("1/model.pt"),
        "platform", "pytorch_libtorch needs 1/model.pt, which does not exist", gpu_count=1),
    "libtorch_output_not_positional": Breakage(
        "image_classifier_libtorch", in_config('"PROBABILITIES__0"', '"PROBABILITIES"'),
        "output[0].name", '"PROBABILITIES" is not of the form <name>__<index>', gpu_count=1),
    "tensorrt_source_missing": Breakage(
        "image_classifier_trt", delete("onnx/model.onnx"),
        "platform", "needs 1/model.plan, or onnx/model.onnx to build it from; neither exists", gpu_count=1),
    "tensorrt_input_not_in_onnx": Breakage(
        "image_classifier_trt", in_config('name: "IMAGE"', 'name: "INPUT"'),
        "input[0].name", '"INPUT" is not a graph input of onnx/model.onnx (IMAGE)', gpu_count=1),
    "tensorrt_dims_differ_from_onnx": Breakage(
        "image_classifier_trt", in_config(IMAGE_DIMS, "dims: [ 3, 64, 64 ]"),
        "input[0].dims", "does not match the ONNX shape [-1, 3, 32, 32]", gpu_count=1),
    "tensorrt_without_gpu": Breakage(
        "image_classifier_trt", lambda model_dir: None,
        "platform", "tensorrt_plan runs only on a GPU, and the server is configured with none"),
}


class TestBrokenConfigFails:
    @pytest.mark.parametrize("case", BREAKAGES.values(), ids=BREAKAGES.keys())
    def test_error_names_file_and_field_when_one_thing_is_broken(self, case: Breakage, copy_model):
        model_dir = copy_model(case.model)
        case.breaks(model_dir)
        with pytest.raises(ModelConfigError) as error:
            validate_model_directory(model_dir, gpu_count=case.gpu_count)
        expected = f"{model_dir / 'config.pbtxt'}: {case.field}: "
        lines = [line for line in str(error.value).splitlines() if line.startswith(expected)]
        assert lines, f"no problem for {expected!r} in:\n{error.value}"
        assert any(case.message in line for line in lines), f"{case.message!r} not in:\n{error.value}"

    @pytest.mark.parametrize("name", sorted({case.model for case in BREAKAGES.values()}))
    def test_unbroken_copy_validates_when_nothing_is_changed(self, name, copy_model):
        # The pair of every case above: the same copy, unbroken, passes, so each failure is the breakage's.
        assert validate_model_directory(copy_model(name), gpu_count=1).name == name


class TestParse:
    def test_config_parses_into_triton_model_config_when_valid(self):
        config = parse_model_config(MODELS_DIR / "image_classifier" / "config.pbtxt")
        assert (model_runtime(config), config.max_batch_size) == ("python", 16)
        assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]

    def test_parse_fails_naming_the_line_when_text_is_not_protobuf(self, tmp_path):
        config_path = tmp_path / "config.pbtxt"
        config_path.write_text('name: "x"\ninput [ { name: "A" ')
        with pytest.raises(ModelConfigError) as error:
            parse_model_config(config_path)
        assert str(error.value).startswith(f"{config_path}: input (line 2 column ")


class TestPythonTensorScan:
    def scan(self, tmp_path: Path, source: str):
        path = tmp_path / "model.py"
        path.write_text(textwrap.dedent(source))
        return scan_python_tensor_names([path])

    def test_names_are_found_when_given_as_literals_constants_or_keywords(self, tmp_path):
        usage = self.scan(tmp_path, '''
            import triton_python_backend_utils as pb
            from triton_python_backend_utils import Tensor as Out
            NAME = "B"
            def execute(request, x):
                pb.get_input_tensor_by_name(request, "A")
                pb.get_input_tensor_by_name(request, name=NAME)
                Out("C", x)
                pb.Tensor.from_dlpack("D", x)
        ''')
        assert (sorted(usage.inputs), sorted(usage.outputs), usage.unresolved) == (["A", "B"], ["C", "D"], [])

    def test_other_tensor_types_are_ignored_when_not_from_python_backend(self, tmp_path):
        usage = self.scan(tmp_path, '''
            import torch
            import triton_python_backend_utils as pb_utils
            def execute(x):
                return torch.Tensor(x), pb_utils.Tensor("OUT", x)
        ''')
        assert sorted(usage.outputs) == ["OUT"]

    def test_name_is_unresolved_when_computed_at_run_time(self, tmp_path):
        usage = self.scan(tmp_path, '''
            import triton_python_backend_utils as pb_utils
            def execute(request, names):
                pb_utils.get_input_tensor_by_name(request, names[0])
        ''')
        assert (usage.inputs, usage.unresolved) == ({}, [("input", "model.py:4")])
