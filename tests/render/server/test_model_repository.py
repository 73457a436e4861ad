"""Model repository sources: an existing PVC, an object store, or a ConfigMap."""

import pytest

from tests.conftest import find
from tests.render.server.conftest import args_of, error_of, pod_spec, rejected_paths, render_server, triton_container

pytestmark = pytest.mark.render


def mounts(objects):
    return {m["mountPath"]: m for m in triton_container(objects)["volumeMounts"]}


def volumes(objects):
    return {v["name"]: v for v in pod_spec(objects)["volumes"]}


class TestPvc:
    def test_existing_claim_is_mounted_read_only(self):
        objects = render_server({"modelRepository": {"pvc": {"claimName": "models", "subPath": "triton"}}})
        assert volumes(objects)["model-repository"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
        assert mounts(objects)["/models"]["readOnly"] is True
        assert mounts(objects)["/models"]["subPath"] == "triton"
        assert args_of(objects)["--model-repository"] == "/models"

    def test_missing_claim_fails(self):
        assert "modelRepository.pvc.claimName: is required when modelRepository.type is pvc" in error_of({"modelRepository": {"pvc": {"claimName": ""}}})


def object_store(uri: str, **store) -> dict:
    return {"modelRepository": {"type": "objectStore", "objectStore": {"uri": uri, "repositorySize": "10Gi", **store}}}


class TestObjectStore:
    def test_triton_reads_the_uri_directly_and_the_repository_is_not_mounted(self):
        objects = render_server(object_store("gs://bucket/repo", credentials="none"))
        assert args_of(objects)["--model-repository"] == "gs://bucket/repo"
        assert "model-repository" not in volumes(objects)

    def test_credentials_from_an_existing_secret(self):
        values = object_store("s3://b/r", credentials="secret", existingSecret="s3-keys")
        assert triton_container(render_server(values))["envFrom"] == [{"secretRef": {"name": "s3-keys"}}]

    def test_secret_credentials_without_a_secret_fail(self):
        values = object_store("s3://b/r", credentials="secret")
        assert "modelRepository.objectStore.existingSecret: is required" in error_of(values)

    # Triton 2.51 copies an object-store repository under the directory these variables name, /tmp when unset
    # (core r24.10 src/filesystem/implementations/{s3,gcs,as}.h, LocalizePath).
    @pytest.mark.parametrize("uri, variable", [("s3://b/r", "TRITON_AWS_MOUNT_DIRECTORY"), ("gs://b/r", "TRITON_GCS_MOUNT_DIRECTORY"),
                                               ("as://acct/c/r", "TRITON_AZURE_MOUNT_DIRECTORY")])
    def test_triton_downloads_into_its_own_sized_volume_not_tmp(self, uri, variable):
        objects = render_server(object_store(uri, credentials="secret" if uri.startswith("as") else "none", existingSecret="keys"))
        container = triton_container(objects)
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env[variable] == "/var/lib/triton/model-download"
        assert not {"TRITON_AWS_MOUNT_DIRECTORY", "TRITON_GCS_MOUNT_DIRECTORY", "TRITON_AZURE_MOUNT_DIRECTORY"} - {variable} & set(env)
        assert mounts(objects)["/var/lib/triton/model-download"]["name"] == "model-download"
        assert volumes(objects)["model-download"]["emptyDir"] == {"sizeLimit": "10Gi"}
        # /tmp (1Gi) + ~/.cache (1Gi) + the download (10Gi)
        assert container["resources"]["requests"]["ephemeral-storage"] == "12Gi"

    def test_large_repositories_download_to_a_claimed_volume_outside_the_node_disk(self):
        objects = render_server(object_store("s3://b/r", credentials="none", repositorySize="200Gi",
                                             downloadVolume={"type": "ephemeral", "size": "250Gi", "storageClassName": "fast-ssd"}))
        claim = volumes(objects)["model-download"]["ephemeral"]["volumeClaimTemplate"]["spec"]
        assert claim == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd", "resources": {"requests": {"storage": "250Gi"}}}
        assert triton_container(objects)["resources"]["requests"]["ephemeral-storage"] == "2Gi"

    def test_no_download_volume_without_an_object_store(self):
        objects = render_server()
        assert "model-download" not in volumes(objects)
        assert "env" not in triton_container(objects)

    def test_repository_size_is_required(self):
        values = {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "s3://b/r", "credentials": "none"}}}
        assert "modelRepository.objectStore.repositorySize: is required for an objectStore repository" in error_of(values)

    def test_env_the_chart_sets_may_not_be_repeated(self):
        values = {**object_store("s3://b/r", credentials="none"), "triton": {"env": [{"name": "TRITON_AWS_MOUNT_DIRECTORY", "value": "/tmp"}]}}
        assert "triton.env: sets TRITON_AWS_MOUNT_DIRECTORY, which the chart sets from modelRepository.objectStore" in error_of(values)

    def test_unsupported_scheme_is_rejected(self):
        values = {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "http://b/r"}}}
        assert rejected_paths(values) == {"modelRepository.objectStore.uri"}


class TestConfigMap:
    FILES = {"m/config.pbtxt": 'name: "m"', "m/1/model.py": "print(1)"}

    def test_chart_creates_the_configmap_from_files(self):
        objects = render_server({"modelRepository": {"type": "configMap", "configMap": {"files": self.FILES}}})
        configmap = find(objects, "ConfigMap")
        assert configmap["data"] == {"m__config.pbtxt": 'name: "m"', "m__1__model.py": "print(1)"}
        volume = volumes(objects)["model-repository"]["configMap"]
        assert volume["name"] == configmap["metadata"]["name"]
        assert sorted(i["path"] for i in volume["items"]) == ["m/1/model.py", "m/config.pbtxt"]

    def test_pods_roll_when_the_repository_changes(self):
        def checksum(files):
            objects = render_server({"modelRepository": {"type": "configMap", "configMap": {"files": files}}})
            return find(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/model-repository"]

        assert checksum(self.FILES) != checksum({**self.FILES, "m/1/model.py": "print(2)"})

    def test_existing_configmap_with_items(self):
        items = [{"key": "cfg", "path": "m/config.pbtxt"}]
        objects = render_server({"modelRepository": {"type": "configMap", "configMap": {"name": "models", "items": items}}})
        assert volumes(objects)["model-repository"]["configMap"] == {"name": "models", "items": items}
        assert not [o for o in objects if o["kind"] == "ConfigMap"]

    def test_existing_configmap_without_items_fails(self):
        assert "modelRepository.configMap.items: is required" in error_of({"modelRepository": {"type": "configMap", "configMap": {"name": "models"}}})

    def test_both_name_and_files_fail(self):
        values = {"modelRepository": {"type": "configMap", "configMap": {"name": "m", "items": [{"key": "a", "path": "m/a"}], "files": self.FILES}}}
        assert "modelRepository.configMap: sets both name and files" in error_of(values)

    def test_neither_name_nor_files_fail(self):
        assert "modelRepository.configMap.files: is empty" in error_of({"modelRepository": {"type": "configMap"}})

    def test_file_path_outside_a_model_directory_is_rejected(self):
        paths = rejected_paths({"modelRepository": {"type": "configMap", "configMap": {"files": {"config.pbtxt": "x"}}}})
        assert paths == {"modelRepository.configMap.files.config.pbtxt"}
