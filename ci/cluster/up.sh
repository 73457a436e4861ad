#!/usr/bin/env bash
# Creates the kind cluster for the cluster tier and everything its tests expect in it, all pinned by
# ci/cluster/versions.env:
#   1. kind and kubectl (install-tools.sh), the node image of $KUBE_MINOR (1.29 default, or 1.36);
#   2. the cluster (kind-config.yaml: a control plane and two workers);
#   3. the CPU Triton image (image.sh: ci/kind-image/Dockerfile, loaded into the nodes);
#   4. the CRDs and controllers the charts' objects need (prerequisites.sh: prometheus-operator and Argo Rollouts
#      CRDs, KEDA, Istio unless SKIP_ISTIO=1);
#   5. the namespace, the model-repository ConfigMap built from models/, and the admin-key Secret that
#      values/ci-kind.yaml expects.
# Needs docker (a running daemon) and Go (for kind) or a kind of the pinned version in .tools/bin. Writes the
# kubeconfig to .cache/kind/kubeconfig. `make e2e` runs this, then the tier.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=versions.env
source ci/cluster/versions.env
minor=${KUBE_MINOR:-1.29}
node_image_var="KIND_NODE_IMAGE_${minor/./_}"
node_image=${!node_image_var:?"no $node_image_var in ci/cluster/versions.env: KUBE_MINOR must be 1.29 or 1.36"}
command -v docker >/dev/null || { echo "the cluster tier needs docker on PATH" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "the cluster tier needs a running Docker daemon" >&2; exit 1; }
KUBE_MINOR=$minor ci/cluster/install-tools.sh
export PATH="$root/.tools/bin:$PATH"
mkdir -p .cache/kind
export KUBECONFIG="$root/.cache/kind/kubeconfig"
namespace=${TRITON_STACK_NAMESPACE:-inference}
if ! kind get clusters | grep -qx triton-stack; then
  kind create cluster --config ci/cluster/kind-config.yaml --image "${KIND_NODE_IMAGE:-$node_image}" --wait 180s
fi
ci/cluster/image.sh
ci/cluster/prerequisites.sh
kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace"
# Server-side apply: a client-side apply would copy the whole ConfigMap into its last-applied annotation,
# and annotations are capped at 256 KiB, far below the 1 MiB a ConfigMap may hold.
.venv/bin/python ci/cluster/models_configmap.py "$namespace" | kubectl apply --server-side --field-manager=triton-stack-ci -f -
kubectl -n "$namespace" get secret triton-admin-key >/dev/null 2>&1 || \
  kubectl -n "$namespace" create secret generic triton-admin-key --from-literal=admin-key="$(head -c 24 /dev/urandom | base64)"
echo "kind cluster triton-stack (Kubernetes $minor) ready; KUBECONFIG=$KUBECONFIG"
