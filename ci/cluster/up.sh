#!/usr/bin/env bash
# Creates the kind cluster for the cluster tier and what values/ci-kind.yaml expects to exist in it:
# the namespace, the model-repository ConfigMap built from models/, and the admin-key Secret.
# Needs docker (a running daemon), kind and kubectl on PATH. Writes the kubeconfig to .cache/kind/kubeconfig.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "the cluster tier needs $tool on PATH" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the cluster tier needs a running Docker daemon" >&2; exit 1; }
mkdir -p .cache/kind
export KUBECONFIG="$root/.cache/kind/kubeconfig"
namespace=${TRITON_STACK_NAMESPACE:-inference}
if ! kind get clusters | grep -qx triton-stack; then
  kind create cluster --config ci/cluster/kind-config.yaml ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 120s
fi
kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace"
# Server-side apply: a client-side apply would copy the whole ConfigMap into its last-applied annotation,
# and annotations are capped at 256 KiB, far below the 1 MiB a ConfigMap may hold.
.venv/bin/python ci/cluster/models_configmap.py "$namespace" | kubectl apply --server-side --field-manager=triton-stack-ci -f -
kubectl -n "$namespace" get secret triton-admin-key >/dev/null 2>&1 || \
  kubectl -n "$namespace" create secret generic triton-admin-key --from-literal=admin-key="$(head -c 24 /dev/urandom | base64)"
# Istio, for the canary split test (tests/cluster/test_canary_split.py); SKIP_ISTIO=1 leaves it out.
[ -n "${SKIP_ISTIO:-}" ] || ci/cluster/istio.sh
echo "kind cluster triton-stack ready; KUBECONFIG=$KUBECONFIG"
