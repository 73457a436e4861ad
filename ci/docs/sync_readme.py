"""Keeps the generated parts of the root README in step with their sources.

- (Value tables live in each chart's README only, written by readme-generator-for-helm and
  ci/docs/real_defaults.py; the root README links to them.)
- Environment table: what each `values/*.yaml` chooses, read off the objects the umbrella chart renders from it
  (through the project's render module), between `<!-- environments:start -->` and `<!-- environments:end -->`.
  Written from the render, not by hand, so that the table cannot claim what the files do not do.
- Placeholder table of docs/install.md: every value marked `# REPLACE:` in an environment file
  (ci/docs/placeholders.py), between `<!-- placeholders:start -->` and `<!-- placeholders:end -->`.

    .venv/bin/python -m ci.docs.sync_readme [--check]

With --check it changes nothing and exits 1 when the root README or the install guide is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ci.docs import placeholders
from tests.harness import render as helm

ROOT = Path(__file__).resolve().parents[2]
def _purpose(values_file: Path) -> str:
    """The file's own first comment, up to its first colon: "Development", "Production", ..."""
    first = next(line for line in values_file.read_text().splitlines() if line.startswith("#"))
    return first.lstrip("# ").split(":", 1)[0]


def _server(objects: list[dict]) -> tuple[dict, dict]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "server"
                     and o["metadata"]["labels"].get("triton-stack.io/track") == "stable"]
    spec = deployment["spec"]["template"]["spec"]
    return deployment, spec


def describe(objects: list[dict]) -> list[str]:
    """What a render chooses, in the words of the README's environment table, one phrase per concern."""
    deployment, spec = _server(objects)
    (triton,) = [c for c in spec["containers"] if c["name"] == "triton"]
    kinds = {o["kind"] for o in objects}
    args = dict(arg.partition("=")[::2] for arg in triton["args"][1:])
    phrases = []

    count = deployment["spec"].get("replicas")
    for autoscaler in (o for o in objects if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")):
        scaling = autoscaler["spec"]
        if autoscaler["kind"] == "ScaledObject":
            kinds_of_trigger = [t.get("name", t["type"]) for t in scaling["triggers"]]
            extras = [word for word, present in (("a forecast", "predicted-request-rate" in kinds_of_trigger),
                                                 ("scheduled floors", any(t["type"] == "cron" for t in scaling["triggers"]))) if present]
            replicas = f"KEDA {scaling['minReplicaCount']}-{scaling['maxReplicaCount']} replicas on {kinds_of_trigger[0]}" + "".join(f" + {e}" for e in extras)
        else:
            replicas = f"HPA {scaling['minReplicas']}-{scaling['maxReplicas']} replicas on " + " + ".join(
                m.get("pods", m.get("external", {})).get("metric", {}).get("name", m.get("resource", {}).get("name", "?")).split("_triton")[0] for m in scaling["metrics"])
    if count is not None:
        replicas = f"{count} replica{'' if count == 1 else 's'}"
    limits = triton["resources"].get("limits", {})
    slices = [name.removeprefix("nvidia.com/mig-") for name in limits if name.startswith("nvidia.com/mig-")]
    if slices:
        gpus = f"one MIG {slices[0]} slice each"
    elif limits.get("nvidia.com/gpu"):
        gpus = f"{limits['nvidia.com/gpu']} GPU each"
    else:
        gpus = "CPU only"
    phrases.append(f"{replicas}, {gpus}")
    affinity = spec.get("affinity", {})
    for term in affinity.get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", []):
        for expression in term["matchExpressions"]:
            if expression["key"] == "nvidia.com/gpu.product":
                phrases.append("on " + " or ".join(expression["values"]))

    repository = args["--model-repository"]
    if "://" in repository:
        identity = "static keys from a Secret" if "envFrom" in triton else "workload identity"
        phrases.append(f"models from {repository.split('://')[0]}:// via {identity}")
        download = next(v for v in spec["volumes"] if v["name"] == "model-download")
        if "emptyDir" in download:
            phrases.append(f"downloaded to a {download['emptyDir']['sizeLimit']} emptyDir")
        else:
            size = download["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
            phrases.append(f"downloaded to a {size} volume claimed per pod")
    else:
        volume = next(v for v in spec["volumes"] if v["name"] == "model-repository")
        phrases.append("models from a " + ("PVC" if "persistentVolumeClaim" in volume else "ConfigMap"))

    anti = affinity.get("podAntiAffinity", {})
    if anti:
        phrases.append(("hard" if "requiredDuringSchedulingIgnoredDuringExecution" in anti else "soft") + " anti-affinity")
    for constraint in spec.get("topologySpreadConstraints", []):
        strength = "hard" if constraint["whenUnsatisfiable"] == "DoNotSchedule" else "soft"
        phrases.append(f"{strength} spread over {constraint['topologyKey'].rsplit('/', 1)[-1]}s")
    for service in (o for o in objects if o["kind"] == "VirtualService"):
        weighted = next(route for route in service["spec"]["http"] if route["name"] == "http")
        canary = next((d["weight"] for d in weighted["route"] if d["destination"]["subset"] == "canary"), None)
        phrases.append(f"Istio routes, {canary}% to a canary track" if canary is not None else "Istio routes")
    if "--http-restricted-api" in args:
        phrases.append("admin APIs restricted")
    if "@sha256:" in triton["image"]:
        phrases.append("image pinned by digest")
    for kind, phrase in (("PodDisruptionBudget", "PDB"), ("ResourceQuota", "quota"), ("LimitRange", "limit range")):
        if kind in kinds:
            phrases.append(phrase)
    if spec.get("priorityClassName"):
        phrases.append(f"priority class `{spec['priorityClassName']}`")
    if "ServiceMonitor" in kinds:
        rule = next((o for o in objects if o["kind"] == "PrometheusRule"), None)
        alerts = sum(1 for group in (rule or {}).get("spec", {}).get("groups", []) for r in group["rules"] if "alert" in r)
        phrases.append(f"scraped by a ServiceMonitor, {alerts} alerts" if rule else "scraped by a ServiceMonitor")
    for daemonset in (o for o in objects if o["kind"] == "DaemonSet" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "logging"):
        phrases.append(f"Fluentd in `{daemonset['metadata']['namespace']}`")
    if deployment["spec"]["strategy"]["type"] == "Recreate":
        phrases.append("Recreate rollouts")
    if int(args.get("--log-verbose", "0")) > 0:
        phrases.append("verbose log")
    for pod in (o for o in objects if o["kind"] == "Pod" and o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"):
        model = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}.get("MODEL")
        phrases.append(f"helm test infers on `{model}`" if model else "helm test checks readiness")
    return phrases


def environments_table() -> str:
    rows = ["| file | for | what it chooses (read off its render) |", "|---|---|---|"]
    for values_file in sorted(helm.VALUES_DIR.glob("*.yaml")):
        objects = helm.render("triton-stack", [values_file], kube_version=helm.declared_kube_versions()[1])
        rows.append(f"| `values/{values_file.name}` | {_purpose(values_file)} | {', '.join(describe(objects))} |")
    return "\n".join(rows)


def placeholders_table() -> str:
    """One row per marked value path: the environment files that mark it and what to put (the first file's note)."""
    marked: dict[str, tuple[list[str], str]] = {}
    for values_file in sorted(helm.VALUES_DIR.glob("*.yaml")):
        for path, note in placeholders.marked_paths(values_file.read_text()).items():
            files, first_note = marked.setdefault(path, ([], note))
            files.append(values_file.stem)
    order = {"prod": 0, "staging": 1}
    rows = ["| value | in | what to put |", "|---|---|---|"]
    for path, (files, note) in sorted(marked.items()):
        rows.append(f"| `{path}` | {', '.join(sorted(files, key=lambda f: (order.get(f, 2), f)))} | {note} |")
    return "\n".join(rows)


def _replace(readme: str, marker: str, content: str) -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), flags=re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{content}\n{end}", readme)


def synced(readme: str) -> str:
    return _replace(readme, "environments", environments_table())


INSTALL_GUIDE = ROOT / "docs" / "install.md"


def main() -> int:
    documents = {ROOT / "README.md": synced, INSTALL_GUIDE: lambda text: _replace(text, "placeholders", placeholders_table())}
    stale = []
    for path, sync in documents.items():
        current = path.read_text()
        wanted = sync(current)
        if wanted == current:
            continue
        if "--check" in sys.argv:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.write_text(wanted)
    if stale:
        print(f"generated sections of {', '.join(stale)} are stale (environment or placeholder table): run `make docs`",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
