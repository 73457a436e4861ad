#!/usr/bin/env bash
# Installs Istio (istio/base and istio/istiod from Istio's Helm repository, at ISTIO_VERSION from versions.env: the
# release the routing chart's CRD schemas come from) into the kind cluster, for the cluster tier's canary split test. Idempotent; small requests
# so istiod fits beside two CPU Triton pods on one kind node. Needs helm (.tools) and KUBECONFIG set.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=versions.env
source "$root/ci/cluster/versions.env"
helm=${HELM:-$root/.tools/bin/helm3}
version=$ISTIO_VERSION
repo=https://istio-release.storage.googleapis.com/charts
"$helm" upgrade --install istio-base base --repo "$repo" --version "$version" \
  --namespace istio-system --create-namespace --wait
"$helm" upgrade --install istiod istiod --repo "$repo" --version "$version" --namespace istio-system --wait --timeout 600s \
  --set pilot.autoscaleEnabled=false --set pilot.resources.requests.cpu=100m --set pilot.resources.requests.memory=256Mi
echo "Istio $version installed"
