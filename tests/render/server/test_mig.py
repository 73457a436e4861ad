"""MIG: a slice per pod, asked for the way the device plugin advertises it, on nodes whose MIG layout is done;
profiles checked against one catalog; declared capacity checked against the autoscaler's maximum."""

import pytest
import yaml

from tests.conftest import find
from tests.harness import render as helm
from tests.render.server.conftest import args_of, error_of, pod_spec, render_server, triton_container

pytestmark = pytest.mark.render

H100 = ["NVIDIA-H100-80GB-HBM3"]


def mig(strategy="mixed", profile="1g.10gb", model="H100-80GB", count=1, products=H100, **extra) -> dict:
    return {"gpu": {"count": count, "products": products, "mig": {"strategy": strategy, "gpuModel": model, "profile": profile, **extra}}}


def node_expressions(objects) -> list[dict]:
    (term,) = pod_spec(objects)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return term["matchExpressions"]


class TestStrategies:
    def test_mixed_requests_the_profile_resource_with_plus_written_as_dot(self):
        resources = triton_container(render_server(mig(profile="1g.10gb+me")))["resources"]
        assert resources["limits"]["nvidia.com/mig-1g.10gb.me"] == 1 and resources["requests"]["nvidia.com/mig-1g.10gb.me"] == 1
        assert "nvidia.com/gpu" not in resources["limits"]

    def test_single_requests_a_gpu_on_nodes_labelled_with_the_mig_product(self):
        objects = render_server(mig(strategy="single", profile="3g.40gb"))
        assert triton_container(objects)["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3-MIG-3g.40gb"]} in node_expressions(objects)

    @pytest.mark.parametrize("strategy", ["single", "mixed"])
    def test_both_need_a_finished_mig_layout_tolerate_the_taint_and_keep_gpu_metrics_off(self, strategy):
        objects = render_server(mig(strategy=strategy))
        assert {"key": "nvidia.com/mig.config.state", "operator": "In", "values": ["success"]} in node_expressions(objects)
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(objects)["tolerations"]
        assert args_of(objects)["--allow-gpu-metrics"] == "false"

    def test_whole_gpus_keep_gpu_metrics_and_no_mig_label(self):
        objects = render_server({"gpu": {"count": 1, "products": H100}})
        assert args_of(objects)["--allow-gpu-metrics"] == "true"
        assert [e["key"] for e in node_expressions(objects)] == ["nvidia.com/gpu.product"]

    def test_engine_build_gets_the_same_slice(self):
        values = mig(profile="3g.40gb")
        values["engineBuild"] = {"enabled": True, "models": [{"name": "m", "onnx": "m.onnx"}]}
        (build,) = pod_spec(render_server(values))["initContainers"]
        assert build["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == 1


class TestCatalog:
    @pytest.mark.parametrize("model, profile", [("A100-40GB", "1g.5gb"), ("A30-24GB", "2g.12gb+me"), ("H200-141GB", "3g.71gb"), ("B200-180GB", "7g.180gb")])
    def test_profiles_of_other_gpu_models_render(self, model, profile):
        assert render_server(mig(model=model, profile=profile, products=[]))

    def test_a_profile_the_gpu_does_not_offer_fails_listing_the_valid_ones(self):
        message = error_of(mig(profile="1g.5gb"))
        assert 'gpu.mig.profile: "1g.5gb" is not a MIG profile of the H100-80GB (gpu.mig.gpuModel). It offers: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb.' in message

    @pytest.mark.parametrize("model, products", [
        ("H100-80GB", ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe"]),
        ("A100-40GB", ["NVIDIA-A100-SXM4-40GB"]),
        ("H100-NVL-94GB", ["NVIDIA-H100-NVL"]),
        ("GH200-96GB", ["NVIDIA-GH200-480GB"]),
    ])
    def test_products_of_the_profiles_gpu_render(self, model, products):
        profile = {"H100-80GB": "1g.10gb", "A100-40GB": "1g.5gb", "H100-NVL-94GB": "1g.12gb", "GH200-96GB": "1g.12gb"}[model]
        assert render_server(mig(model=model, profile=profile, products=products))

    @pytest.mark.parametrize("model, products, wrong", [
        ("H100-80GB", ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"], "NVIDIA-A100-SXM4-80GB"),
        ("H200-141GB", ["NVIDIA-GH200-480GB"], "NVIDIA-GH200-480GB"),  # GH200 is not an H200, though it contains the letters
    ])
    def test_a_product_of_another_gpu_fails_naming_it(self, model, products, wrong):
        profile = {"H100-80GB": "1g.10gb", "H200-141GB": "1g.18gb"}[model]
        message = error_of(mig(model=model, profile=profile, products=products))
        family = model.split("-")[0]
        assert f'gpu.products: lists "{wrong}", which is not a {family}, but gpu.mig.gpuModel is {model}' in message

    def test_a_mig_single_node_label_as_product_is_refused_with_the_product_to_list(self):
        message = error_of(mig(strategy="single", products=["NVIDIA-H100-80GB-HBM3-MIG-1g.10gb"]))
        assert 'gpu.products: lists "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb", a node label of the MIG single strategy: list the GPU product without -MIG-<profile> (NVIDIA-H100-80GB-HBM3)' in message

    def test_an_unknown_gpu_model_is_refused_by_the_schema_listing_the_known_ones(self):
        message = error_of(mig(model="T4"))
        assert "/gpu/mig/gpuModel" in message and "A100-40GB" in message and "H100-80GB" in message

    @pytest.mark.parametrize("chart", ["triton-server", "triton-batch"])
    def test_the_schemas_gpu_models_are_the_catalogs(self, chart):
        # The schema's enum (checked before any template runs, so a typo never reaches the template's lookup)
        # against the catalog the templates read (triton-common.gpu.migCatalog).
        import json
        import re

        catalog = re.findall(r'^\s*"([A-Z][A-Z0-9-]+)" (?:\$|\(dict)', (helm.CHARTS_DIR / "triton-common" / "templates" / "_gpu.tpl").read_text(), flags=re.M)
        schema = json.loads((helm.CHARTS_DIR / chart / "values.schema.json").read_text())
        gpu = schema["properties"]["gpu"] if chart == "triton-server" else schema["properties"]["sidecar"]["properties"]["gpu"]
        assert gpu["properties"]["mig"]["properties"]["gpuModel"]["enum"] == ["", *sorted(catalog)]
        assert len(catalog) >= 10

    def test_the_mig_manager_layout_is_a_valid_label_value_and_keeps_all_disabled(self):
        import re

        configmap = find(render_server({**mig(profile="1g.10gb+me", managerConfig={"create": True})}), "ConfigMap", "-mig-parted")
        layouts = yaml.safe_load(configmap["data"]["config.yaml"])["mig-configs"]
        # mig-parted's own name for the layout (all-1g.10gb.me): "+" is not allowed in the node label's value.
        assert set(layouts) == {"all-disabled", "all-1g.10gb.me"}
        assert all(re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", name) for name in layouts)
        assert layouts["all-1g.10gb.me"][0]["mig-devices"] == {"1g.10gb+me": 1}
        assert layouts["all-disabled"] == [{"devices": "all", "mig-enabled": False}]

    def test_the_h100_row_matches_the_real_h100(self):
        # The catalog's H100-80GB profiles and instance counts against `nvidia-smi mig -lgip` on an H100 80GB.
        import re

        from tests.harness.render import REPO_ROOT

        capture = (REPO_ROOT / "tests" / "fixtures" / "triton-h100" / "nvidia-smi-mig-lgip.txt").read_text()
        measured = {name: int(total) for name, total in re.findall(r"MIG (\S+)\s+\d+\s+\d+/(\d+)", capture)}
        configmap = find(render_server({**mig(profile="1g.10gb", managerConfig={"create": True})}), "ConfigMap", "-mig-parted")
        assert yaml.safe_load(configmap["data"]["config.yaml"])["mig-configs"]["all-1g.10gb"][0]["mig-devices"] == {"1g.10gb": measured["1g.10gb"]}
        for profile, instances in measured.items():
            capacity = {"nodes": 1, "gpusPerNode": 1}
            # exactly as many pods as one GPU holds of the profile renders; one more does not
            assert render_server({**mig(profile=profile, capacity=capacity), "replicaCount": instances - 1})
            assert f"gpu.mig.capacity.slicesPerGpu ({instances}) = {instances}." in error_of({**mig(profile=profile, capacity=capacity), "replicaCount": instances})


class TestRefusals:
    def test_several_gpus_per_pod_under_mig_fail(self):
        assert "gpu.count: is 2 with gpu.mig.strategy mixed: a pod gets exactly one MIG slice" in error_of(mig(count=2))

    def test_single_strategy_needs_the_products(self):
        assert "gpu.products: is empty with gpu.mig.strategy single" in error_of(mig(strategy="single", products=[]))

    def test_scaling_on_gpu_utilisation_is_refused_under_mig(self):
        values = {**mig(), "autoscaling": {"mode": "keda", "signal": "gpuUtilization", "target": 0.7}}
        assert "autoscaling.signal: gpuUtilization cannot be read per MIG slice" in error_of(values)

    def test_more_pods_than_declared_slices_fail_with_the_arithmetic(self):
        values = {**mig(profile="3g.40gb", capacity={"nodes": 2, "gpusPerNode": 2}), "autoscaling": {"mode": "keda", "maxReplicas": 8}}
        message = error_of(values)
        assert ("autoscaling.maxReplicas: autoscaling.maxReplicas + updateStrategy.maxSurge = 9 pods need 9 MIG 3g.40gb slices, "
                "but the declared MIG nodes offer gpu.mig.capacity.nodes (2) x gpu.mig.capacity.gpusPerNode (2) x "
                "gpu.mig.capacity.slicesPerGpu (2) = 8.") in message

    def test_a_declared_mixed_layout_sets_the_slices_per_gpu(self):
        # 3 slices of 1g.10gb per GPU in a mixed layout (not the all-1g.10gb 7): 2 x 1 x 3 = 6 slices.
        values = {**mig(capacity={"nodes": 2, "gpusPerNode": 1, "slicesPerGpu": 3}), "replicaCount": 5}
        assert render_server(values)
        assert "= 6." in error_of({**values, "replicaCount": 6})
