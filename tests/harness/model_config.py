"""Strict checks of a Triton model repository, before any server sees it.

Each `config.pbtxt` is parsed into Triton's own `ModelConfig` message (from tritonclient), so an unknown
field or a misspelt enum fails exactly as it would in the server. Parsing cannot see the mistakes that
only show up when a model loads, or worse, when the first request arrives, so the checks below add them:
batching limits, tensor shapes, the config name against its directory, the files each platform needs,
instance kinds against the GPUs on offer, warm-up inputs against the declared inputs, label files, and
whether the tensors a python model reads and writes are the ones its config declares.

Every problem is reported as `<config file>: <field>: <what is wrong>`; all problems of a repository
are collected and raised together as one `ModelConfigError`.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

ModelConfig = model_config_pb2.ModelConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
CONFIG_FILE = "config.pbtxt"

# The file Triton loads from a version directory, per runtime (backend for python, platform otherwise),
# unless the config names another with default_model_filename.
MODEL_FILES = {
    "python": "model.py",
    "pytorch_libtorch": "model.pt",
    "tensorrt_plan": "model.plan",
    "onnxruntime_onnx": "model.onnx",
}
# A TensorRT engine only runs on the GPU product it was built on, so the repository ships the ONNX source and
# the engine is built on the target node (see models/README.md).
TENSORRT_ONNX_SOURCE = Path("onnx") / "model.onnx"
RUNTIMES_NEEDING_GPU = {"tensorrt_plan"}
PYTHON_BACKEND_MODULE = "triton_python_backend_utils"


class ModelConfigError(ValueError):
    """One or more problems in a model repository, one per line: `<config file>: <field>: <problem>`."""

    def __init__(self, problems: Iterable[ConfigProblem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class ConfigProblem:
    config_path: Path
    field: str
    message: str

    def __str__(self) -> str:
        return f"{_display_path(self.config_path)}: {self.field}: {self.message}"


@dataclass(frozen=True)
class ModelUnderCheck:
    """What every check needs: the model directory, its parsed config and the GPUs the server will have."""

    directory: Path
    config: ModelConfig
    gpu_count: int

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_FILE

    @property
    def runtime(self) -> str:
        return model_runtime(self.config)

    def problem(self, field: str, message: str) -> ConfigProblem:
        return ConfigProblem(self.config_path, field, message)


def model_runtime(config: ModelConfig) -> str:
    """The backend for python models, the platform for the others: what decides which files a model needs."""
    return config.backend or config.platform


def parse_model_config(config_path: Path) -> ModelConfig:
    """Parse one config.pbtxt strictly; unknown fields and bad enum values raise ModelConfigError."""
    config = ModelConfig()
    text = config_path.read_text()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        field = _field_on_line(text, error.GetLine())
        where = f"line {error.GetLine()} column {error.GetColumn()}" if error.GetLine() else "text"
        field = f"{field} ({where})" if field else where
        raise ModelConfigError([ConfigProblem(config_path, field, str(error).split(" : ", 1)[-1])]) from None
    return config


def _field_on_line(text: str, line_number: int | None) -> str | None:
    """The field a parse error points at: protobuf names the line, and the line starts with the field."""
    lines = text.splitlines()
    if not line_number or line_number > len(lines):
        return None
    match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*[:{\[]", lines[line_number - 1])
    return match.group(1) if match else None


def validate_model_directory(model_dir: Path, gpu_count: int = 0) -> ModelConfig:
    """Parse and check one model directory for a server with `gpu_count` GPUs; raise ModelConfigError."""
    config = parse_model_config(model_dir / CONFIG_FILE)
    model = ModelUnderCheck(model_dir, config, gpu_count)
    problems = [problem for check in MODEL_CHECKS for problem in check(model)]
    if problems:
        raise ModelConfigError(problems)
    return config


def validate_repository(repository: Path, gpu_count: int = 0) -> list[ModelConfig]:
    """Check every model in a repository; return their configs, or raise one error listing every problem."""
    configs: list[ModelConfig] = []
    problems: list[ConfigProblem] = []
    for model_dir in sorted(path for path in Path(repository).iterdir() if path.is_dir()):
        if not (model_dir / CONFIG_FILE).is_file():
            problems.append(
                ConfigProblem(
                    model_dir / CONFIG_FILE,
                    "file",
                    "missing; Triton treats every directory at the top of a repository as a model, so remove "
                    "this directory or give it a config",
                )
            )
            continue
        try:
            configs.append(validate_model_directory(model_dir, gpu_count))
        except ModelConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ModelConfigError(problems)
    return configs


# --- checks: each takes the model under check and yields what is wrong with one concern ----------------


def check_name_matches_directory(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    if model.config.name != model.directory.name:
        yield model.problem(
            "name",
            f'"{model.config.name}" does not match the directory "{model.directory.name}"; Triton serves the '
            "model under the directory name, so clients and dashboards would disagree",
        )


def check_runtime_is_known(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    if model.config.backend and model.config.platform:
        yield model.problem("platform", "set together with backend; set only one")
    elif model.runtime not in MODEL_FILES:
        yield model.problem(
            "backend" if model.config.backend else "platform",
            f'"{model.runtime}" is not one this repository checks ({", ".join(sorted(MODEL_FILES))})',
        )


def check_batching_limits(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    config = model.config
    if config.max_batch_size < 0:
        yield model.problem("max_batch_size", f"{config.max_batch_size} is negative; use 0 for no batching")
        return
    if not config.HasField("dynamic_batching"):
        return
    if config.max_batch_size == 0:
        yield model.problem(
            "dynamic_batching", "set while max_batch_size is 0; a model that takes no batch dimension cannot batch"
        )
        return
    for size in config.dynamic_batching.preferred_batch_size:
        if size <= 0:
            yield model.problem("dynamic_batching.preferred_batch_size", f"{size} is not positive")
        elif size > config.max_batch_size:
            yield model.problem(
                "dynamic_batching.preferred_batch_size", f"{size} exceeds max_batch_size {config.max_batch_size}"
            )


def check_tensor_declarations(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    for section in ("input", "output"):
        tensors = getattr(model.config, section)
        if not tensors:
            yield model.problem(section, "none declared; Triton needs every input and output in the config")
        seen: set[str] = set()
        for index, tensor in enumerate(tensors):
            field = f"{section}[{index}]"
            if tensor.name in seen:
                yield model.problem(f"{field}.name", f'"{tensor.name}" is declared twice')
            seen.add(tensor.name)
            if tensor.data_type == model_config_pb2.TYPE_INVALID:
                yield model.problem(f"{field}.data_type", f'missing for "{tensor.name}"')
            if not tensor.dims:
                yield model.problem(f"{field}.dims", f'empty for "{tensor.name}"; a scalar per item is dims: [ 1 ]')
            for dim in tensor.dims:
                if dim == 0 or dim < -1:
                    yield model.problem(
                        f"{field}.dims", f"{dim} in {list(tensor.dims)} is invalid; use a positive size or -1"
                    )
            if section == "output" and tensor.label_filename:
                if not (model.directory / tensor.label_filename).is_file():
                    yield model.problem(
                        f"{field}.label_filename", f'"{tensor.label_filename}" does not exist in {model.directory}'
                    )


def check_instance_groups(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    if model.runtime in RUNTIMES_NEEDING_GPU and model.gpu_count == 0:
        yield model.problem(
            "platform", f"{model.runtime} runs only on a GPU, and the server is configured with none"
        )
    for index, group in enumerate(model.config.instance_group):
        field = f"instance_group[{index}]"
        if group.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU and model.gpu_count == 0:
            yield model.problem(f"{field}.kind", "KIND_GPU on a server with no GPU; use KIND_CPU or give it a GPU")
        if group.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU and model.runtime in RUNTIMES_NEEDING_GPU:
            yield model.problem(f"{field}.kind", f"KIND_CPU, but {model.runtime} runs only on a GPU")
        for gpu in group.gpus:
            if gpu >= model.gpu_count:
                yield model.problem(f"{field}.gpus", f"GPU {gpu} does not exist on a server with {model.gpu_count}")


def check_warmup_inputs(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    declared = {tensor.name: tensor for tensor in model.config.input}
    for index, warmup in enumerate(model.config.model_warmup):
        field = f"model_warmup[{index}]"
        if model.config.max_batch_size > 0 and warmup.batch_size > model.config.max_batch_size:
            yield model.problem(
                f"{field}.batch_size",
                f"{warmup.batch_size} exceeds max_batch_size {model.config.max_batch_size}",
            )
        for name, sample in warmup.inputs.items():
            input_field = f'{field}.inputs["{name}"]'
            if name not in declared:
                yield model.problem(input_field, f'"{name}" is not a declared input ({", ".join(sorted(declared))})')
                continue
            if sample.data_type != declared[name].data_type:
                yield model.problem(
                    f"{input_field}.data_type",
                    f"{_type_name(sample.data_type)} differs from the input's {_type_name(declared[name].data_type)}",
                )
            if not _shape_fits(list(sample.dims), list(declared[name].dims)):
                yield model.problem(
                    f"{input_field}.dims", f"{list(sample.dims)} does not fit the input's {list(declared[name].dims)}"
                )
        for name in sorted(set(declared) - set(warmup.inputs)):
            if not declared[name].optional:
                yield model.problem(f"{field}.inputs", f'no sample for the required input "{name}"')


def check_version_files(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    if model.runtime not in MODEL_FILES:
        return
    model_file = model.config.default_model_filename or MODEL_FILES[model.runtime]
    if model.config.default_model_filename:
        field = "default_model_filename"
    else:
        field = "backend" if model.config.backend else "platform"
    versions = _version_directories(model.directory)
    onnx_source = model.directory / TENSORRT_ONNX_SOURCE
    if model.runtime == "tensorrt_plan" and onnx_source.is_file():
        # The engine is built from the ONNX source at deploy time; an absent version directory is expected.
        return
    if model.runtime == "tensorrt_plan" and not versions:
        yield model.problem(field, f"needs 1/{model_file}, or {TENSORRT_ONNX_SOURCE} to build it from; neither exists")
        return
    if not versions:
        yield model.problem("version_policy", f"no version directory (1/, 2/, ...) in {model.directory}")
    for version_dir in versions:
        if not (version_dir / model_file).exists():
            yield model.problem(field, f"{model.runtime} needs {version_dir.name}/{model_file}, which does not exist")
    policy = model.config.version_policy
    if policy.HasField("specific"):
        present = {int(version_dir.name) for version_dir in versions}
        for version in policy.specific.versions:
            if version not in present:
                yield model.problem("version_policy.specific.versions", f"version {version} has no directory")


def check_python_tensor_names(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    """The names a python model passes to get_input_tensor_by_name / pb_utils.Tensor must be the declared ones.

    Triton does not check this at load time: a mismatch surfaces on the first request, as a None input
    inside the model or an error about an unexpected output.
    """
    if model.runtime != "python":
        return
    declared_inputs = [tensor.name for tensor in model.config.input]
    declared_outputs = [tensor.name for tensor in model.config.output]
    for version_dir in _version_directories(model.directory):
        usage = scan_python_tensor_names(sorted(version_dir.glob("*.py")))
        where = f"{version_dir.name}/"
        for section, location in usage.unresolved:
            yield model.problem(
                section, f"{where}{location}: cannot tell which {section} tensor this names; use a string literal"
            )
        for section, declared, used in (("input", declared_inputs, usage.inputs), ("output", declared_outputs, usage.outputs)):
            verb = "reads" if section == "input" else "writes"
            for index, name in enumerate(declared):
                if name not in used:
                    yield model.problem(f"{section}[{index}].name", f'"{name}" is declared but {where}*.py never {verb} it')
            for name, location in sorted(used.items()):
                if name not in declared:
                    yield model.problem(section, f'{where}{location} {verb} "{name}", which the config does not declare')


def check_libtorch_tensor_names(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    """The PyTorch backend maps outputs by position, from names of the form <name>__<index>."""
    if model.runtime != "pytorch_libtorch":
        return
    indices = []
    for index, tensor in enumerate(model.config.output):
        stem, separator, position = tensor.name.rpartition("__")
        if not separator or not stem or not position.isdigit():
            yield model.problem(f"output[{index}].name", f'"{tensor.name}" is not of the form <name>__<index>')
        else:
            indices.append(int(position))
    if sorted(indices) != list(range(len(indices))):
        yield model.problem("output", f"indices {sorted(indices)} are not 0..{len(indices) - 1}")


def check_tensorrt_onnx_source(model: ModelUnderCheck) -> Iterator[ConfigProblem]:
    """The engine's bindings take the ONNX graph's names and shapes, so the config must match the graph."""
    onnx_path = model.directory / TENSORRT_ONNX_SOURCE
    if model.runtime != "tensorrt_plan" or not onnx_path.is_file():
        return
    import onnx  # only this check needs it

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {initializer.name for initializer in graph.initializer}
    graph_tensors = {
        "input": {value.name: value for value in graph.input if value.name not in initializers},
        "output": {value.name: value for value in graph.output},
    }
    for section in ("input", "output"):
        declared = list(getattr(model.config, section))
        in_graph = graph_tensors[section]
        for index, tensor in enumerate(declared):
            field = f"{section}[{index}]"
            if tensor.name not in in_graph:
                yield model.problem(
                    f"{field}.name", f'"{tensor.name}" is not a graph {section} of {TENSORRT_ONNX_SOURCE} ({", ".join(sorted(in_graph))})'
                )
                continue
            onnx_type = in_graph[tensor.name].type.tensor_type
            expected_type = _ONNX_TO_TRITON_TYPE.get(onnx_type.elem_type)
            if expected_type != tensor.data_type:
                yield model.problem(
                    f"{field}.data_type", f"{_type_name(tensor.data_type)}, but the ONNX graph has element type {onnx_type.elem_type}"
                )
            onnx_dims = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in onnx_type.shape.dim]
            config_dims = ([-1] if model.config.max_batch_size > 0 else []) + list(tensor.dims)
            if onnx_dims != config_dims:
                yield model.problem(
                    f"{field}.dims",
                    f"{list(tensor.dims)} (with max_batch_size {model.config.max_batch_size}) does not match the ONNX "
                    f"shape {onnx_dims}",
                )
        declared_names = {tensor.name for tensor in declared}
        for name in sorted(set(in_graph) - declared_names):
            yield model.problem(section, f'the ONNX graph has {section} "{name}", which the config does not declare')


MODEL_CHECKS: tuple[Callable[[ModelUnderCheck], Iterator[ConfigProblem]], ...] = (
    check_name_matches_directory,
    check_runtime_is_known,
    check_batching_limits,
    check_tensor_declarations,
    check_instance_groups,
    check_warmup_inputs,
    check_version_files,
    check_python_tensor_names,
    check_libtorch_tensor_names,
    check_tensorrt_onnx_source,
)


# --- static scan of python models ------------------------------------------------------------------------


@dataclass
class PythonTensorUsage:
    """Tensor names a python model uses, each with the first `file:line` that uses it."""

    inputs: dict[str, str]
    outputs: dict[str, str]
    # (section, file:line) of each name that is not a literal or a module-level string constant.
    unresolved: list[tuple[str, str]]


def scan_python_tensor_names(sources: Iterable[Path]) -> PythonTensorUsage:
    """Collect the literal names passed to get_input_tensor_by_name(request, NAME) and pb_utils.Tensor(NAME, ...).

    A name given as a module-level string constant is followed; any other expression is reported as
    unresolved, because a check that silently skips what it cannot read would pass a broken model.
    """
    usage = PythonTensorUsage(inputs={}, outputs={}, unresolved=[])
    for source in sources:
        tree = ast.parse(source.read_text(), filename=str(source))
        constants = _module_string_constants(tree)
        tensor_callables = _python_backend_tensor_callables(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            location = f"{source.name}:{node.lineno}"
            if _called_name(node) == "get_input_tensor_by_name":
                kind, argument = "inputs", _argument(node, position=1, keyword="name")
            elif _is_tensor_constructor(node, tensor_callables):
                kind, argument = "outputs", _argument(node, position=0, keyword="name")
            else:
                continue
            name = _resolve_string(argument, constants)
            if name is None:
                usage.unresolved.append((kind.removesuffix("s"), location))
            else:
                getattr(usage, kind).setdefault(name, location)
    return usage


def _module_string_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            if isinstance(statement.value.value, str):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = statement.value.value
    return constants


def _python_backend_tensor_callables(tree: ast.Module) -> dict[str, set[str]]:
    """How this file refers to triton_python_backend_utils: module aliases, and names imported from it."""
    found: dict[str, set[str]] = {"modules": set(), "tensor": set()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PYTHON_BACKEND_MODULE:
                    found["modules"].add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module == PYTHON_BACKEND_MODULE:
            for alias in node.names:
                if alias.name == "Tensor":
                    found["tensor"].add(alias.asname or alias.name)
    return found


def _is_tensor_constructor(call: ast.Call, callables: dict[str, set[str]]) -> bool:
    function = call.func
    # pb_utils.Tensor.from_dlpack("NAME", ...) builds an output as well as pb_utils.Tensor("NAME", ...).
    if isinstance(function, ast.Attribute) and function.attr == "from_dlpack":
        function = function.value
    if isinstance(function, ast.Attribute) and function.attr == "Tensor":
        return isinstance(function.value, ast.Name) and function.value.id in callables["modules"]
    return isinstance(function, ast.Name) and function.id in callables["tensor"]


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return call.args[position] if len(call.args) > position else None


def _resolve_string(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


# --- small helpers -----------------------------------------------------------------------------------------


def _display_path(path: Path) -> str:
    """Repository files as `models/<model>/config.pbtxt`, the way a user finds them; anything else in full."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _version_directories(model_dir: Path) -> list[Path]:
    return sorted(
        (path for path in model_dir.iterdir() if path.is_dir() and path.name.isdigit()), key=lambda path: int(path.name)
    )


def _shape_fits(sample: list[int], declared: list[int]) -> bool:
    return len(sample) == len(declared) and all(want in (-1, got) for got, want in zip(sample, declared))


def _type_name(data_type: int) -> str:
    return model_config_pb2.DataType.Name(data_type)


_ONNX_TO_TRITON_TYPE = {
    1: model_config_pb2.TYPE_FP32,
    2: model_config_pb2.TYPE_UINT8,
    3: model_config_pb2.TYPE_INT8,
    5: model_config_pb2.TYPE_INT16,
    6: model_config_pb2.TYPE_INT32,
    7: model_config_pb2.TYPE_INT64,
    9: model_config_pb2.TYPE_BOOL,
    10: model_config_pb2.TYPE_FP16,
    11: model_config_pb2.TYPE_FP64,
    16: model_config_pb2.TYPE_BF16,
}


def load_python_source(path: Path, module_name: str) -> types.ModuleType:
    """Execute a python file from the model repository as a module, without writing __pycache__ into it.

    The tests use this to run a model's own code (its network definition, the pattern generator) in-process
    as a reference. A normal import would leave __pycache__/ in models/, and a directory at the top of a
    repository is taken by Triton for a model.
    """
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    # Registered before it runs, as an import would be, so that classes defined in it can be pickled and traced.
    sys.modules[module_name] = module
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module
