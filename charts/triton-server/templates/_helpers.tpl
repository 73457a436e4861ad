{{/*
Helpers of the server chart. Names, labels and images come from triton-common; what is here is the
server's own: its flags, its volumes, and the checks on combinations of its values.
*/}}

{{/* The component name used in labels and selectors. */}}
{{- define "triton-server.component" -}}server{{- end -}}

{{/*
Selector labels of the server pods. Usage: include "triton-server.labels.selector" (dict "ctx" $ "track" "stable")
The track label is in the Deployment selector from the first release, so that a canary track can be added
beside the stable one later without changing an immutable selector. Services select across tracks.
*/}}
{{- define "triton-server.labels.selector" -}}
{{ include "triton-common.labels.selector" (dict "ctx" .ctx "component" (include "triton-server.component" .) "track" .track) }}
{{- end -}}

{{/* Where the engine-build init container composes the repository Triton serves. */}}
{{- define "triton-server.engineBuild.repository" -}}/repository{{- end -}}

{{/*
Where Triton reads its model repository: a mounted path, the object-store URI itself, or (engine build on)
the repository the init container composed: the source models linked in, TensorRT models with their engines.
*/}}
{{- define "triton-server.modelRepository.location" -}}
{{- if .ctx.Values.engineBuild.enabled -}}
{{- include "triton-server.engineBuild.repository" . -}}
{{- else if eq .ctx.Values.modelRepository.type "objectStore" -}}
{{- .ctx.Values.modelRepository.objectStore.uri -}}
{{- else -}}
{{- .ctx.Values.modelRepository.mountPath -}}
{{- end -}}
{{- end -}}

{{/*
The flags that the chart manages. triton.extraArgs may not repeat them: a second copy of a flag silently
wins or loses depending on Triton's parser, so the chart refuses it and names the value to set instead.
*/}}
{{- define "triton-server.args.managed" -}}
{{- toJson (dict
  "--model-repository" "modelRepository"
  "--http-port" "service.ports.http"
  "--grpc-port" "service.ports.grpc"
  "--metrics-port" "service.ports.metrics"
  "--allow-metrics" "triton.metrics.enabled"
  "--allow-gpu-metrics" "gpu.count"
  "--model-store" "modelRepository"
  "--model-control-mode" "triton.modelControlMode"
  "--strict-readiness" "triton.strictReadiness"
  "--exit-on-error" "triton.exitOnError"
  "--disable-auto-complete-config" "triton.disableAutoCompleteConfig"
  "--allow-sagemaker" "triton.allowSagemaker"
  "--allow-vertex-ai" "triton.allowVertexAi"
  "--exit-timeout-secs" "triton.exitTimeoutSeconds"
  "--log-verbose" "triton.logVerbose"
  "--log-format" "triton.logFormat"
  "--http-restricted-api" "adminApi"
  "--grpc-restricted-protocol" "adminApi"
) -}}
{{- end -}}

{{/* The environment variable that carries the admin key; the kubelet expands $(NAME) in args. */}}
{{- define "triton-server.adminApi.envName" -}}TRITON_ADMIN_KEY{{- end -}}

{{/* tritonserver flags, one per list item, built from values. Usage: include "triton-server.args" (dict "ctx" $) */}}
{{- define "triton-server.args" -}}
{{- $v := .ctx.Values -}}
{{- $t := $v.triton -}}
- --model-repository={{ include "triton-server.modelRepository.location" . }}
- --http-port={{ $v.service.ports.http }}
- --grpc-port={{ $v.service.ports.grpc }}
- --allow-metrics={{ $t.metrics.enabled }}
{{- if $t.metrics.enabled }}
- --metrics-port={{ $v.service.ports.metrics }}
- --allow-gpu-metrics={{ gt (int $v.gpu.count) 0 }}
- --metrics-config=summary_latencies={{ $t.metrics.summaryLatencies }}
{{- end }}
- --model-control-mode={{ $t.modelControlMode }}
- --strict-readiness={{ $t.strictReadiness }}
- --exit-on-error={{ $t.exitOnError }}
{{- if $t.disableAutoCompleteConfig }}
- --disable-auto-complete-config
{{- end }}
- --allow-sagemaker={{ $t.allowSagemaker }}
- --allow-vertex-ai={{ $t.allowVertexAi }}
- --exit-timeout-secs={{ $t.exitTimeoutSeconds }}
- --log-verbose={{ $t.logVerbose }}
- --log-format={{ $t.logFormat }}
{{- if $v.adminApi.restricted }}
{{- $restriction := printf "%s:%s=$(%s)" (join "," $v.adminApi.categories) $v.adminApi.header (include "triton-server.adminApi.envName" .) }}
- --http-restricted-api={{ $restriction }}
- --grpc-restricted-protocol={{ $restriction }}
{{- end }}
{{- range $t.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Annotations for workload identity on the ServiceAccount, from modelRepository.objectStore. */}}
{{- define "triton-server.serviceAccount.identityAnnotations" -}}
{{- $store := .ctx.Values.modelRepository.objectStore -}}
{{- if and (eq .ctx.Values.modelRepository.type "objectStore") (eq $store.credentials "workloadIdentity") -}}
{{- with $store.workloadIdentity.aws.roleArn }}
eks.amazonaws.com/role-arn: {{ . | quote }}
{{- end }}
{{- with $store.workloadIdentity.gcp.serviceAccount }}
iam.gke.io/gcp-service-account: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* ConfigMap key for a repository file: keys may not contain "/", so the path is encoded. */}}
{{- define "triton-server.modelRepository.configMapKey" -}}
{{- . | replace "/" "__" -}}
{{- end -}}

{{/*
The engine-build script. TensorRT engines only run on the GPU product and TensorRT version they were built
with, so each engine is cached in the model volume under <cacheDir>/<gpu product>-trt<version>/ (the
product as nvidia-smi names it, spaces as dashes: the same string GPU Feature Discovery puts in the
nvidia.com/gpu.product label) and built only when that key has none. A lock keeps two pods on the same
volume from building the same engine at once. The repository Triton serves is composed in an emptyDir:
every other model linked in from the source volume, each built model as its config plus the engine.
*/}}
{{- define "triton-server.engineBuild.script" -}}
{{- $v := .ctx.Values -}}
set -eu
fail() { echo "engine build: $*" >&2; exit 1; }
source_dir={{ $v.modelRepository.mountPath }}
repository={{ include "triton-server.engineBuild.repository" . }}
# nvidia-smi reports a broken driver on stdout with a non-zero exit: that text must never become a cache key.
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader) || fail "nvidia-smi failed (exit $?): $gpus"
product=$(printf '%s\n' "$gpus" | head -n 1 | tr ' /' '--')
trt=$({ {{ $v.engineBuild.trtexec }} --help 2>&1 || true; } | sed -n 's/.*TensorRT v\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$product" ] && [ -n "$trt" ] || fail "cannot read the GPU product ($product) or TensorRT version ($trt)"
cache="$source_dir/{{ $v.engineBuild.cacheDir }}/$product-trt$trt"
mkdir -p "$cache"
echo "engine build: GPU $product, TensorRT $trt, cache $cache"
build() { # name version onnx [trtexec args...]
  name=$1; version=$2; onnx=$3; shift 3
  engine="$cache/$name.plan"
  [ -f "$source_dir/$name/$onnx" ] || fail "$name: no ONNX model at $source_dir/$name/$onnx"
  (
    flock 9
    if [ -s "$engine" ]; then
      echo "engine build: $name: cached"
    else
      echo "engine build: $name: building from $onnx"
      # Built under another name and renamed only when whole: a failed or killed build never leaves an engine
      # that a later pod would take as cached.
      rm -f "$engine.partial"
      status=0
      {{ $v.engineBuild.trtexec }} --onnx="$source_dir/$name/$onnx" --saveEngine="$engine.partial" "$@" || status=$?
      if [ "$status" -ne 0 ]; then rm -f "$engine.partial"; fail "$name: trtexec failed (exit $status); nothing was cached"; fi
      if [ ! -s "$engine.partial" ]; then rm -f "$engine.partial"; fail "$name: trtexec exited 0 but wrote no engine"; fi
      mv "$engine.partial" "$engine"
    fi
  ) 9>"$cache/$name.lock"
  mkdir -p "$repository/$name/$version"
  for file in "$source_dir/$name"/*; do
    if [ -f "$file" ]; then cp "$file" "$repository/$name/"; fi
  done
  cp "$engine" "$repository/$name/$version/model.plan"
}
{{- range $v.engineBuild.models }}
build {{ .name | quote }} {{ .version | default 1 | int }} {{ .onnx | quote }}{{ range .args }} {{ . | quote }}{{ end }}
{{- end }}
for model in "$source_dir"/*/; do
  name=$(basename "$model")
  if [ ! -e "$repository/$name" ] && [ -f "$model/config.pbtxt" ]; then ln -s "$source_dir/$name" "$repository/$name"; fi
done
echo "engine build: repository ready: $(ls "$repository" | tr '\n' ' ')"
{{- end -}}
