"""Each environment file's model repository loads on the real local tritonserver, as the README tells users to fill it.

What an environment is given (README, "Getting your models into the cluster"): an environment with a load list
(`server.triton.loadModels`: dev, staging, prod) gets the whole models/ directory, GPU models beside CPU ones, and
loads only the listed models; one whose ConfigMap items pick files (ci-kind) gets those; one without either (local,
the `make up` environment) gets the CPU models of models/. Each environment's pod is rendered and started from its
own container spec, with an object-store repository stood in for by a claim (the local server reads no bucket).
Every model the environment would serve is checked one by one: it is loaded, or, when its backend is one the local
server lacks (PyTorch, TensorRT), the test for it is skipped naming the backend, never passed over silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import ENVIRONMENT_FILES, KUBE_HIGHEST
from tests.harness import render as helm
from tests.harness.model_config import CONFIG_FILE, MODELS_DIR, model_runtime, parse_model_config
from tests.harness.triton_local import LOCAL_RUNTIMES, UNSERVABLE_RUNTIMES, LauncherError, find_triton_pod, prepare_local_model_repository
from tests.local.conftest import REQUEST_TIMEOUT_SECONDS

pytestmark = pytest.mark.local

ADMIN_SECRET = {"triton-admin-key": {"admin-key": "environment-repositories-key"}}
# An object-store repository as a claim holding the same directory (the canary's bucket as a directory in it).
OBJECT_STORE_AS_CLAIM = {"server": {"modelRepository": {"type": "pvc", "pvc": {"claimName": "models"}},
                                    "canary": {"modelRepository": {"objectStore": {"uri": ""}, "pvc": {"subPath": "candidate"}}}}}


def runtime_of(model: str) -> str:
    return model_runtime(parse_model_config(MODELS_DIR / model / CONFIG_FILE))


ALL_MODELS = tuple(sorted(path.name for path in MODELS_DIR.iterdir() if (path / CONFIG_FILE).is_file()))
CPU_MODELS = tuple(model for model in ALL_MODELS if runtime_of(model) in LOCAL_RUNTIMES)


@dataclass(frozen=True)
class Environment:
    values_file: Path
    load_list: tuple[str, ...]
    # The models this environment serves: its load list, its ConfigMap's models, or every model it is given.
    serves: tuple[str, ...]
    object_store: bool

    @property
    def name(self) -> str:
        return self.values_file.stem

    @property
    def given_whole_directory(self) -> bool:
        return bool(self.load_list)


def read_environment(values_file: Path) -> Environment:
    server = (yaml.safe_load(values_file.read_text()) or {}).get("server", {})
    load_list = tuple(server.get("triton", {}).get("loadModels", []))
    repository = server.get("modelRepository", {})
    items = repository.get("configMap", {}).get("items", [])
    config_map_models = tuple(sorted({item["path"].split("/")[0] for item in items}))
    serves = load_list or config_map_models or CPU_MODELS
    return Environment(values_file, load_list, serves, repository.get("type") == "objectStore")


ENVIRONMENTS = [read_environment(path) for path in ENVIRONMENT_FILES]
SERVED = [(environment, model) for environment in ENVIRONMENTS for model in environment.serves]


def model_ready(server, model: str) -> bool:
    with requests.Session() as session:
        return session.get(f"{server.base_url}/v2/models/{model}/ready", timeout=REQUEST_TIMEOUT_SECONDS).status_code == 200


@pytest.fixture(scope="module")
def environment_servers(tmp_path_factory, launch_rendered):
    """Factory: the started, ready server of an environment, one per environment for the module; all stopped after."""
    started = {}

    def server_of(environment: Environment):
        if environment.name not in started:
            work = tmp_path_factory.mktemp(f"environment-{environment.name}")
            models = prepare_local_model_repository(work / "given", whole=environment.given_whole_directory)
            overrides = OBJECT_STORE_AS_CLAIM if environment.object_store else None
            pod = find_triton_pod(helm.render("triton-stack", [environment.values_file], overrides, kube_version=KUBE_HIGHEST))
            launched = launch_rendered(pod, work / "run", secrets=ADMIN_SECRET, models=models)
            started[environment.name] = launched
            launched.server.wait_ready()
        return started[environment.name]

    yield server_of
    for launched in started.values():
        launched.stop_after_pre_stop()


class TestEnvironmentRepositories:
    @pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda environment: environment.name)
    def test_server_starts_loading_only_the_list_when_given_the_whole_directory(self, environment, environment_servers):
        launched = environment_servers(environment)
        argv = launched.server.plan.argv
        if environment.load_list:
            rendered = [arg.partition("=")[2] for arg in launched.pod.container["args"] if arg.startswith("--load-model=")]
            assert rendered == list(environment.load_list) and "--model-control-mode=explicit" in argv
            assert sorted(path.name for path in launched.repository.path.iterdir()) == list(ALL_MODELS), "not given the whole models/"
        else:
            assert "--model-control-mode=none" in argv
        for model in set(ALL_MODELS) - set(environment.serves):
            assert not model_ready(launched.server, model), f"{environment.name}: {model} is loaded but not in what it serves"
        dropped = [str(change) for change in launched.server.plan.dropped if change.original and change.original.startswith("--load-model=")]
        print(f"\n[{environment.name}] serves {list(environment.serves)}; dropped here: {dropped or 'nothing'}")

    @pytest.mark.parametrize(("environment", "model"), SERVED, ids=[f"{environment.name}-{model}" for environment, model in SERVED])
    def test_each_served_model_is_loaded_when_the_local_server_has_its_backend(self, environment, model, environment_servers):
        runtime = runtime_of(model)
        if runtime not in LOCAL_RUNTIMES:
            pytest.skip(f"{environment.name}: {model} is not loaded here: {runtime}: {UNSERVABLE_RUNTIMES.get(runtime, 'no backend')}")
        assert model_ready(environment_servers(environment).server, model), f"{environment.name}: {model} is not ready"

    def test_whole_directory_stops_the_server_when_no_list_selects_the_models(self, tmp_path, launch_rendered):
        """The negative pair: dev without its load list, given the whole models/, exits on the first model it cannot
        load (--exit-on-error), as a pod given `kubectl cp models/.` did before the list."""
        dev = next(environment for environment in ENVIRONMENTS if environment.name == "dev")
        models = prepare_local_model_repository(tmp_path / "given", whole=True)
        pod = find_triton_pod(helm.render("triton-stack", [dev.values_file], {"server": {"triton": {"loadModels": []}}}, kube_version=KUBE_HIGHEST))
        assert "--model-control-mode=none" in pod.container["args"]
        launched = launch_rendered(pod, tmp_path / "run", secrets=ADMIN_SECRET, models=models)
        try:
            with pytest.raises(LauncherError, match="before it was ready") as failure:
                launched.server.wait_ready()
            assert "image_classifier_libtorch" in str(failure.value) or "image_classifier_trt" in str(failure.value)
        finally:
            launched.server.kill()
