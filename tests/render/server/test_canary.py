"""Canary tracks: one template renders a workload per track; the canary differs only in what it tries (image,
model location), with its own replicas or autoscaler; under Argo Rollouts the chart renders one Rollout."""

import pytest

from tests.conftest import find
from tests.render.server.conftest import error_of, render_server

pytestmark = pytest.mark.render

CANARY = {"canary": {"enabled": True, "image": {"tag": "24.11-py3"}}}
ROLLOUT = {"canary": {"enabled": True, "strategy": "argoRollouts"}}


def workloads(objects) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "Rollout")}


def triton(workload) -> dict:
    return next(c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == "triton")


class TestTracks:
    def test_no_canary_objects_when_off(self):
        objects = render_server()
        assert list(workloads(objects)) == ["triton-triton-server"]
        assert not [o for o in objects if "canary" in o["metadata"]["name"]]

    def test_canary_deployment_beside_stable_labelled_and_selected_by_track(self):
        objects = render_server(CANARY)
        stable, canary = workloads(objects)["triton-triton-server"], workloads(objects)["triton-triton-server-canary"]
        assert stable["spec"]["selector"]["matchLabels"]["triton-stack.io/track"] == "stable"
        assert canary["spec"]["selector"]["matchLabels"]["triton-stack.io/track"] == "canary"
        assert canary["spec"]["template"]["metadata"]["labels"]["triton-stack.io/track"] == "canary"
        assert triton(stable)["image"].endswith(":24.10-py3") and triton(canary)["image"].endswith(":24.11-py3")
        # Everything but what is tried is the same: flags, probes, resources, volumes.
        stable_container, canary_container = dict(triton(stable)), dict(triton(canary))
        stable_container.pop("image"), canary_container.pop("image")
        assert stable_container == canary_container
        # The Service and the PDB select both tracks.
        service = find(objects, "Service", "triton-server")
        assert "triton-stack.io/track" not in service["spec"]["selector"]

    def test_canary_tag_drops_the_stable_digest(self):
        objects = render_server({"image": {"digest": "sha256:" + "a" * 64}, **CANARY})
        assert triton(workloads(objects)["triton-triton-server-canary"])["image"] == "nvcr.io/nvidia/tritonserver:24.11-py3"

    def test_canary_model_location_and_replicas(self):
        objects = render_server({"canary": {"enabled": True, "replicaCount": 2, "modelRepository": {"pvc": {"subPath": "v2"}}}})
        canary = workloads(objects)["triton-triton-server-canary"]
        mount = next(m for m in triton(canary)["volumeMounts"] if m["name"] == "model-repository")
        assert mount["subPath"] == "v2" and canary["spec"]["replicas"] == 2

    def test_each_track_has_its_own_autoscaler_on_its_own_pods(self):
        objects = render_server({**CANARY, "canary": {**CANARY["canary"], "autoscaling": {"mode": "keda", "minReplicas": 1, "maxReplicas": 3}},
                                 "autoscaling": {"mode": "keda"}})
        scaled = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ScaledObject"}
        assert set(scaled) == {"triton-triton-server", "triton-triton-server-canary"}
        canary = scaled["triton-triton-server-canary"]["spec"]
        assert (canary["minReplicaCount"], canary["maxReplicaCount"]) == (1, 3)
        assert 'pod=~"triton-triton-server-canary-[a-z0-9]+-[a-z0-9]+"' in canary["triggers"][0]["metadata"]["query"]
        assert "replicas" not in workloads(objects)["triton-triton-server-canary"]["spec"]



class TestCanaryAutoscaling:
    OFFICE = [{"name": "office", "days": ["mon"], "start": "08:00", "end": "18:00", "minReplicas": 1}]

    def test_the_canary_never_inherits_scale_to_zero(self):
        # An idle canary at zero would answer its share of the routes with "no healthy upstream".
        values = {"autoscaling": {"mode": "keda", "keda": {"scaleToZero": True}, "scheduled": {"windows": self.OFFICE}},
                  "canary": {**CANARY["canary"], "autoscaling": {"mode": "keda", "minReplicas": 1, "maxReplicas": 2}}}
        scaled = {o["metadata"]["name"]: o["spec"] for o in render_server(values) if o["kind"] == "ScaledObject"}
        assert scaled["triton-triton-server"]["minReplicaCount"] == 0
        assert scaled["triton-triton-server-canary"]["minReplicaCount"] == 1 and "fallback" in scaled["triton-triton-server-canary"]

    @pytest.mark.parametrize("stable_mode", ["hpa", "keda"])
    def test_a_canary_hpa_finds_its_metric_in_the_adapter_rules(self, stable_mode):
        import yaml

        values = {"autoscaling": {"mode": stable_mode}, "canary": {**CANARY["canary"], "autoscaling": {"mode": "hpa"}}}
        objects = render_server(values)
        hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"].endswith("-canary"))
        wanted = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
        rules = yaml.safe_load(find(objects, "ConfigMap", "-prometheus-adapter")["data"]["values.yaml"])["rules"]
        served = [rule["name"]["as"] for rule in rules["custom"]]
        assert wanted in served and len(served) == (2 if stable_mode == "hpa" else 1)


class TestArgoRollouts:
    def test_one_rollout_with_track_metadata_the_routes_and_the_gate(self):
        objects = render_server(ROLLOUT)
        assert [(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in ("Deployment", "Rollout")] == [("Rollout", "triton-triton-server")]
        rollout = workloads(objects)["triton-triton-server"]
        assert "triton-stack.io/track" not in rollout["spec"]["selector"]["matchLabels"]
        canary = rollout["spec"]["strategy"]["canary"]
        assert canary["stableMetadata"] == {"labels": {"triton-stack.io/track": "stable"}}
        assert canary["canaryMetadata"] == {"labels": {"triton-stack.io/track": "canary"}}
        assert canary["trafficRouting"]["istio"] == {
            "virtualService": {"name": "triton-triton-server", "routes": ["http", "grpc"]},
            "destinationRule": {"name": "triton-triton-server", "stableSubsetName": "stable", "canarySubsetName": "canary"},
        }
        assert canary["analysis"]["templates"] == [{"templateName": "triton-triton-server-gate"}]
        assert canary["steps"][0] == {"setCanaryScale": {"replicas": 1}}
        # The gate from the first weighted step; from the second weight on the canary is scaled with its share.
        assert canary["analysis"]["startingStep"] == 1 and canary["steps"][1] == {"setWeight": 10}
        assert canary["steps"][3:5] == [{"setCanaryScale": {"matchTrafficWeight": True}}, {"setWeight": 50}]

    def test_the_gate_starts_at_the_first_weighted_step_wherever_it_is(self):
        steps = [{"setCanaryScale": {"replicas": 1}}, {"analysis": {"templates": [{"templateName": "triton-triton-server-load"}]}}, {"setWeight": 20}]
        rollout = workloads(render_server({"canary": {**ROLLOUT["canary"], "rollout": {"steps": steps}}}))["triton-triton-server"]
        assert rollout["spec"]["strategy"]["canary"]["analysis"]["startingStep"] == 2

    def test_autoscaler_targets_the_rollout(self):
        objects = render_server({**ROLLOUT, "autoscaling": {"mode": "hpa"}})
        target = find(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "triton-triton-server"}


REFUSALS = [
    ({"canary": {"enabled": True}}, "canary.enabled: is true, but canary.image and canary.modelRepository change nothing"),
    ({"canary": {"enabled": True, "modelRepository": {"objectStore": {"uri": "s3://b/v2"}}}},
     "canary.modelRepository.objectStore.uri: is set, but modelRepository.type is pvc"),
    ({"modelRepository": {"type": "configMap", "configMap": {"files": {"m/config.pbtxt": "x"}}}, "canary": {"enabled": True, "modelRepository": {"pvc": {"subPath": "v2"}}}},
     "canary.modelRepository.pvc: is set, but modelRepository.type is configMap"),
    ({"canary": {**CANARY["canary"], "autoscaling": {"mode": "keda", "minReplicas": 3, "maxReplicas": 2}}},
     "canary.autoscaling.minReplicas: 3 is above canary.autoscaling.maxReplicas 2"),
    ({"canary": {**ROLLOUT["canary"], "image": {"tag": "24.11-py3"}}}, "canary.strategy: is argoRollouts, where a rollout is a change of image or modelRepository"),
    # The fix names exactly what to clear, and nothing that is already clear.
    ({"canary": {**ROLLOUT["canary"], "image": {"tag": "24.11-py3"}, "modelRepository": {"pvc": {"subPath": "v2"}}}},
     'Clear them: --set canary.image.tag="" --set canary.modelRepository.pvc.subPath=""\n'),
    ({"canary": {**ROLLOUT["canary"], "rollout": {"steps": [{"setCanaryScale": {"replicas": 1}}, {"pause": {"duration": "10m"}}]}}},
     "canary.rollout.steps: has no setWeight step"),
]
REFUSAL_MESSAGES = [message for _, message in REFUSALS]


@pytest.mark.parametrize("values, message", REFUSALS)
def test_a_canary_that_cannot_work_is_refused_naming_the_value(values, message):
    assert message in error_of(values)


def test_a_canary_in_another_object_store_is_refused():
    store = {"type": "objectStore", "objectStore": {"uri": "s3://b/m", "repositorySize": "1Gi", "credentials": "none"}}
    message = error_of({"modelRepository": store, "canary": {"enabled": True, "modelRepository": {"objectStore": {"uri": "gs://b/m"}}}})
    assert 'canary.modelRepository.objectStore.uri: "gs://b/m" is another object store' in message
    assert render_server({"modelRepository": store, "canary": {"enabled": True, "modelRepository": {"objectStore": {"uri": "s3://b/m2"}}}})
