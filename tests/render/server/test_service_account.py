"""ServiceAccount: no API token, workload identity by annotation (no static cloud keys)."""

import pytest

from tests.conftest import find
from tests.render.server.conftest import error_of, pod_spec, render_server

pytestmark = pytest.mark.render

S3 = {"type": "objectStore", "objectStore": {"uri": "s3://bucket/models", "repositorySize": "1Gi"}}


def test_no_token_and_no_annotations_by_default():
    objects = render_server()
    account = find(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert "annotations" not in account["metadata"]
    assert pod_spec(objects)["serviceAccountName"] == account["metadata"]["name"]


def test_token_is_mounted_only_when_asked():
    # The negative pair: the value is read, so false above is the chart's choice, not a constant.
    objects = render_server({"serviceAccount": {"automountToken": True}})
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is True
    assert pod_spec(objects)["automountServiceAccountToken"] is True


@pytest.mark.parametrize(
    ("uri", "identity", "annotation"),
    [
        ("s3://bucket/m", {"aws": {"roleArn": "arn:aws:iam::123456789012:role/read"}}, ("eks.amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/read")),
        ("gs://bucket/m", {"gcp": {"serviceAccount": "reader@proj-1.iam.gserviceaccount.com"}}, ("iam.gke.io/gcp-service-account", "reader@proj-1.iam.gserviceaccount.com")),
    ],
    ids=["irsa", "gke"],
)
def test_workload_identity_annotates_the_service_account(uri, identity, annotation):
    values = {"modelRepository": {"type": "objectStore", "objectStore": {"uri": uri, "repositorySize": "1Gi", "workloadIdentity": identity}}}
    objects = render_server(values)
    key, value = annotation
    assert find(objects, "ServiceAccount")["metadata"]["annotations"][key] == value
    container = pod_spec(objects)["containers"][0]
    assert "envFrom" not in container, "workload identity needs no static keys"


def test_azure_repository_needs_keys_from_a_secret():
    # Triton 2.51 reads as:// only with AZURE_STORAGE_ACCOUNT/KEY; workload identity would crash-loop the pod.
    message = error_of({"modelRepository": {"type": "objectStore", "objectStore": {"uri": "as://a/c/m"}}})
    assert "modelRepository.objectStore.credentials: workloadIdentity does not reach as:// repositories" in message
    values = {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "as://a/c/m", "repositorySize": "1Gi", "credentials": "secret", "existingSecret": "azure-keys"}}}
    assert find(render_server(values), "Deployment")["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "azure-keys"}}]


def test_workload_identity_without_an_identity_fails():
    message = error_of({"modelRepository": S3})
    assert "modelRepository.objectStore.workloadIdentity.aws.roleArn: is required for a s3:// repository" in message


def test_workload_identity_for_another_cloud_fails():
    values = {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "gs://b/m", "repositorySize": "1Gi", "workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/r"}}}}}
    assert "workloadIdentity.gcp.serviceAccount: is required for a gs:// repository" in error_of(values)


def test_self_annotated_service_account_is_accepted_and_kept_as_written():
    annotations = {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x", "team": "ml"}
    objects = render_server({"modelRepository": S3, "serviceAccount": {"annotations": annotations}})
    assert find(objects, "ServiceAccount")["metadata"]["annotations"] == annotations
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    assert pod_spec(objects)["serviceAccountName"] == "triton-triton-server"


def test_identity_annotation_and_own_annotations_are_merged():
    values = {"modelRepository": {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "repositorySize": "1Gi", "workloadIdentity": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/read"}}}},
              "serviceAccount": {"annotations": {"team": "ml"}}}
    assert find(render_server(values), "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/read", "team": "ml"}


def test_existing_service_account_is_used_when_not_created():
    objects = render_server({"serviceAccount": {"create": False, "name": "shared"}})
    assert not [o for o in objects if o["kind"] == "ServiceAccount"]
    assert pod_spec(objects)["serviceAccountName"] == "shared"
