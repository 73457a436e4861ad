#!/usr/bin/env bash
# Installs into the kind cluster what the charts' custom objects need, at the releases pinned in versions.env
# (the same releases whose CRD schemas the render tier validates against, tests/harness/crd-schemas):
# - prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs (the files the stored schemas were
#   taken from), no operator: nothing here scrapes;
# - Argo Rollouts' Rollout and AnalysisTemplate CRDs, no controller;
# - KEDA (its Helm chart: operator, metrics server, admission webhooks), whose webhook also validates every
#   ScaledObject the dry-run sends;
# - Istio, by istio.sh (SKIP_ISTIO=1 leaves it out).
# Idempotent. Needs kubectl and helm (.tools/bin) and KUBECONFIG.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=versions.env
source "$root/ci/cluster/versions.env"
kubectl=${KUBECTL:-$root/.tools/bin/kubectl}
helm=${HELM:-$root/.tools/bin/helm3}

prometheus_operator=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v$PROMETHEUS_OPERATOR_VERSION/example/prometheus-operator-crd
for crd in servicemonitors podmonitors prometheusrules; do
  # Server-side: these CRDs are larger than the 256 KiB a client-side apply's annotation may hold.
  "$kubectl" apply --server-side --field-manager=triton-stack-ci -f "$prometheus_operator/monitoring.coreos.com_$crd.yaml"
done

argo_rollouts=https://raw.githubusercontent.com/argoproj/argo-rollouts/v$ARGO_ROLLOUTS_VERSION/manifests/crds
for crd in rollout analysis-template; do
  "$kubectl" apply --server-side --field-manager=triton-stack-ci -f "$argo_rollouts/$crd-crd.yaml"
done

"$helm" upgrade --install keda keda --repo https://kedacore.github.io/charts --version "$KEDA_VERSION" \
  --namespace keda --create-namespace --wait --timeout 600s

"$kubectl" wait --for=condition=Established --timeout=120s \
  crd/servicemonitors.monitoring.coreos.com crd/podmonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com \
  crd/rollouts.argoproj.io crd/analysistemplates.argoproj.io crd/scaledobjects.keda.sh crd/triggerauthentications.keda.sh

[ -n "${SKIP_ISTIO:-}" ] || "$root/ci/cluster/istio.sh"
echo "prerequisites installed at the versions in ci/cluster/versions.env"
