#!/usr/bin/env bash
# Builds the CPU Triton image (ci/kind-image/Dockerfile) as $KIND_TRITON_IMAGE and loads it into every node of
# the kind cluster, where values/ci-kind.yaml runs it with imagePullPolicy Never (nothing is pulled for it).
# Needs docker and kind; the cluster must exist (up.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=versions.env
source "$root/ci/cluster/versions.env"
cluster=${KIND_CLUSTER:-triton-stack}
docker build --file "$root/ci/kind-image/Dockerfile" --tag "$KIND_TRITON_IMAGE" "$root"
kind load docker-image --name "$cluster" "$KIND_TRITON_IMAGE"
echo "loaded $KIND_TRITON_IMAGE into kind cluster $cluster"
