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
  "--allow-gpu-metrics" "gpu.count (and gpu.mig)"
  "--model-store" "modelRepository"
  "--model-control-mode" "triton.modelControlMode (or triton.loadModels)"
  "--load-model" "triton.loadModels"
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

{{/*
The Triton container's args: the program, then its flags, one per list item. The program is the first arg,
not the container's command: a command would replace the NGC image's ENTRYPOINT
(/opt/nvidia/nvidia_entrypoint.sh), which sets up CUDA forward compatibility and runs the image's checks
before it execs its arguments. Usage: include "triton-server.args" (dict "ctx" $)
*/}}
{{- define "triton-server.args" -}}
{{- $v := .ctx.Values -}}
{{- $t := $v.triton -}}
- tritonserver
- --model-repository={{ include "triton-server.modelRepository.location" . }}
- --http-port={{ $v.service.ports.http }}
- --grpc-port={{ $v.service.ports.grpc }}
- --allow-metrics={{ $t.metrics.enabled }}
{{- if $t.metrics.enabled }}
- --metrics-port={{ $v.service.ports.metrics }}
- --allow-gpu-metrics={{ include "triton-common.gpu.metricsEnabled" (dict "ctx" .ctx "gpu" $v.gpu) }}
- --metrics-config=summary_latencies={{ $t.metrics.summaryLatencies }}
{{- end }}
{{- /* A load list needs explicit mode: in none mode Triton loads every directory and ignores --load-model. */}}
- --model-control-mode={{ ternary "explicit" $t.modelControlMode (gt (len $t.loadModels) 0) }}
{{- range $t.loadModels }}
- --load-model={{ . }}
{{- end }}
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

{{/*
Where Triton copies an object-store repository before loading it. Triton 2.51 makes a folderXXXXXX under the
directory named by TRITON_AWS_MOUNT_DIRECTORY, TRITON_GCS_MOUNT_DIRECTORY or TRITON_AZURE_MOUNT_DIRECTORY
(by scheme), /tmp when unset (core r24.10 src/filesystem/implementations/{s3,gcs,as}.h, LocalizePath).
*/}}
{{- define "triton-server.download.mountPath" -}}/var/lib/triton/model-download{{- end -}}
{{- define "triton-server.download.envName" -}}
{{- get (dict "s3" "TRITON_AWS_MOUNT_DIRECTORY" "gs" "TRITON_GCS_MOUNT_DIRECTORY" "as" "TRITON_AZURE_MOUNT_DIRECTORY") (first (splitList ":" .ctx.Values.modelRepository.objectStore.uri)) -}}
{{- end -}}

{{/*
The download volume's size: downloadVolume.size, else the declared repository size for an emptyDir, twice it
for a claimed volume. A container killed by SIGKILL (an OOM kill) leaves its copy behind and the next start
downloads beside it: an emptyDir then hits its sizeLimit and the kubelet replaces the pod with a fresh volume,
but a claim has no such eviction, so it holds two copies.
*/}}
{{- define "triton-server.download.size" -}}
{{- $store := .ctx.Values.modelRepository.objectStore -}}
{{- if ne (toString $store.downloadVolume.size) "" -}}
{{- $store.downloadVolume.size -}}
{{- else if eq $store.downloadVolume.type "ephemeral" -}}
{{- include "triton-common.quantity.binary" (mulf 2.0 (include "triton-common.quantity.value" $store.repositorySize | float64)) -}}
{{- else -}}
{{- $store.repositorySize -}}
{{- end -}}
{{- end -}}

{{/*
The writable volumes on node disk, as JSON {name: sizeLimit}: what the pod writes to the node's disk and must
therefore request as ephemeral-storage. /dev/shm is memory-backed and counts against memory instead.
*/}}
{{- define "triton-server.diskVolumes" -}}
{{- $v := .ctx.Values -}}
{{- $volumes := dict "tmp" $v.writableVolumes.tmpSizeLimit "cache" $v.writableVolumes.cacheSizeLimit -}}
{{- if and (eq $v.modelRepository.type "objectStore") (eq $v.modelRepository.objectStore.downloadVolume.type "emptyDir") -}}
{{- $_ := set $volumes "model-download" (include "triton-server.download.size" .) -}}
{{- end -}}
{{- if $v.engineBuild.enabled -}}
{{- $_ := set $volumes "repository" $v.engineBuild.repositorySizeLimit -}}
{{- end -}}
{{- toJson $volumes -}}
{{- end -}}

{{/* Bytes the pod's disk-backed writable volumes may hold together (a float). */}}
{{- define "triton-server.diskVolumes.bytes" -}}
{{- $total := 0.0 -}}
{{- range $_, $size := include "triton-server.diskVolumes" . | fromJson -}}
{{- $total = addf $total (include "triton-common.quantity.value" $size | float64) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
The Triton container's resources: resources from values, the GPUs from gpu.count, and an ephemeral-storage
request covering the writable volumes unless resources sets one (the render-time checks make sure it covers them).
*/}}
{{- define "triton-server.resources" -}}
{{- $v := .ctx.Values -}}
{{- $resources := deepCopy ($v.resources | default dict) -}}
{{- $requests := $resources.requests | default dict -}}
{{- if not (hasKey $requests "ephemeral-storage") -}}
{{- $_ := set $requests "ephemeral-storage" (include "triton-common.quantity.binary" (include "triton-server.diskVolumes.bytes" .)) -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- include "triton-common.gpu.withResources" (dict "ctx" .ctx "gpu" $v.gpu "resources" $resources) | fromJson | toYaml -}}
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

{{/*
Autoscaling queries. One PromQL text per signal, with the series selector and the grouping left open: KEDA's
trigger fills them with this workload's pods and no grouping (one number), the prometheus-adapter rule with
<<.LabelMatchers>> and by (<<.GroupBy>>) (one number per pod). Both come from the same text, so they cannot
drift. Every ratio divides by clamp_min(..., 1e-9): at idle the series exist with zero rates and the query
returns 0, never NaN. A lost target returns no series at all, which KEDA (ignoreNullValues "false") treats as
an error, so its fallback holds the replica count rather than reading 0 and scaling in.
*/}}
{{- define "triton-server.autoscaling.signals" -}}
{{- toJson (dict
  "queueTimePerRequest" (dict "text" "sum(rate(nv_inference_queue_duration_us{%[1]s}[%[2]s]))%[3]s / clamp_min(sum(rate(nv_inference_request_success{%[1]s}[%[2]s]))%[3]s, 1e-9)" "kedaMetricType" "Value" "adapterName" "triton_queue_time_per_request_us" "series" "nv_inference_queue_duration_us")
  "pendingRequestsPerReplica" (dict "text" "sum(nv_inference_pending_request_count{%[1]s})%[3]s" "kedaMetricType" "AverageValue" "adapterName" "triton_pending_requests" "series" "nv_inference_pending_request_count")
  "queueComputeRatio" (dict "text" "sum(rate(nv_inference_queue_duration_us{%[1]s}[%[2]s]))%[3]s / clamp_min(sum(rate(nv_inference_compute_infer_duration_us{%[1]s}[%[2]s]))%[3]s, 1e-9)" "kedaMetricType" "Value" "adapterName" "triton_queue_compute_ratio" "series" "nv_inference_queue_duration_us")
  "gpuUtilization" (dict "text" "avg(nv_gpu_utilization{%[1]s})%[3]s" "kedaMetricType" "Value" "adapterName" "triton_gpu_utilization" "series" "nv_gpu_utilization")
) -}}
{{- end -}}

{{/* The workload a track runs in: the stable track under the release's full name, the canary beside it. */}}
{{- define "triton-server.autoscaling.workload" -}}
{{- include "triton-server.workload.name" . -}}
{{- end -}}

{{- define "triton-server.workload.name" -}}
{{- if eq (.ctx.track | default "stable") "canary" -}}
{{- include "triton-common.names.suffixed" (dict "ctx" .ctx "suffix" "canary") -}}
{{- else -}}
{{- include "triton-common.names.fullname" (dict "ctx" .ctx) -}}
{{- end -}}
{{- end -}}

{{/*
The tracks the chart runs as its own workloads, as a JSON list: "stable", and "canary" when canary.enabled with
the tracks strategy (with argoRollouts the controller makes the canary pods from the one Rollout).
*/}}
{{- define "triton-server.tracks" -}}
{{- $canary := .ctx.Values.canary -}}
{{- toJson (ternary (list "stable" "canary") (list "stable") (and $canary.enabled (eq $canary.strategy "tracks"))) -}}
{{- end -}}

{{/*
The most server pods that exist at once, as JSON {replicas, surge, text}: replicas is the stable track's
(replicaCount, or the autoscaler's maximum) plus the canary's (its replicaCount or maximum; under argoRollouts as
many again as stable, since the controller brings the new ReplicaSet up beside the old before scaling it down);
surge is what a rolling update adds on top (updateStrategy.maxSurge per track); text names the values, each with
the prefix given. The GPU checks here and the umbrella's quota checks count with it.
Usage: include "triton-server.podCount" (dict "ctx" $ "prefix" "server.")
*/}}
{{- define "triton-server.podCount" -}}
{{- $v := .ctx.Values -}}
{{- $p := .prefix | default "" -}}
{{- $autoscaled := ne $v.autoscaling.mode "none" -}}
{{- $most := ternary (int $v.autoscaling.maxReplicas) (int $v.replicaCount) $autoscaled -}}
{{- $text := printf "%s%s" $p (ternary "autoscaling.maxReplicas" "replicaCount" $autoscaled) -}}
{{- $c := $v.canary -}}
{{- $canary := 0 -}}
{{- if and $c.enabled (eq $c.strategy "tracks") -}}
{{- $canaryAutoscaled := ne $c.autoscaling.mode "none" -}}
{{- $canary = ternary (int $c.autoscaling.maxReplicas) (int $c.replicaCount) $canaryAutoscaled -}}
{{- $text = printf "%s + %scanary.%s" $text $p (ternary "autoscaling.maxReplicas" "replicaCount" $canaryAutoscaled) -}}
{{- else if $c.enabled -}}
{{- $canary = $most -}}
{{- $text = printf "twice %s (an Argo rollout runs the new ReplicaSet beside the old)" $text -}}
{{- end -}}
{{- /* maxSurge may be a percentage: the Deployment controller rounds it up, per Deployment (track). */ -}}
{{- $stableSurge := include "triton-common.intOrPercent.scaled" (dict "value" $v.updateStrategy.maxSurge "total" $most "roundUp" true) | int -}}
{{- $canarySurge := ternary (include "triton-common.intOrPercent.scaled" (dict "value" $v.updateStrategy.maxSurge "total" $canary "roundUp" true) | int) 0 (and (gt $canary 0) (eq $c.strategy "tracks")) -}}
{{- $surge := ternary (add (ternary $stableSurge 0 (gt $most 0)) $canarySurge) 0 (eq $v.updateStrategy.type "RollingUpdate") -}}
{{- toJson (dict "replicas" (add $most $canary) "surge" $surge "text" $text) -}}
{{- end -}}

{{/*
The values a track runs with, as JSON: the chart's values, and for the canary its own image, model repository
location, replicas and autoscaler bounds (canary.*) in place of the stable track's. Everything else (flags,
probes, resources, GPUs, the scaling signal and behavior) is shared, so the two tracks differ only in what is
being tried. A tag without a digest drops the stable digest, which would otherwise still pin the old image.
*/}}
{{- define "triton-server.track.values" -}}
{{- $v := deepCopy .ctx.Values -}}
{{- if eq .track "canary" -}}
{{- $c := $v.canary -}}
{{- if or $c.image.tag $c.image.digest $c.image.repository -}}
{{- $_ := set $v.image "repository" ($c.image.repository | default $v.image.repository) -}}
{{- $_ := set $v.image "tag" ($c.image.tag | default $v.image.tag) -}}
{{- $_ := set $v.image "digest" $c.image.digest -}}
{{- end -}}
{{- with $c.modelRepository.pvc.claimName -}}{{- $_ := set $v.modelRepository.pvc "claimName" . -}}{{- end -}}
{{- with $c.modelRepository.pvc.subPath -}}{{- $_ := set $v.modelRepository.pvc "subPath" . -}}{{- end -}}
{{- with $c.modelRepository.objectStore.uri -}}{{- $_ := set $v.modelRepository.objectStore "uri" . -}}{{- end -}}
{{- $_ := set $v "replicaCount" $c.replicaCount -}}
{{- $_ := set $v.autoscaling "mode" $c.autoscaling.mode -}}
{{- $_ := set $v.autoscaling "minReplicas" $c.autoscaling.minReplicas -}}
{{- $_ := set $v.autoscaling "maxReplicas" $c.autoscaling.maxReplicas -}}
{{- /* Scheduled floors and the forecast size the stable track; the canary scales on its own queue only, and */ -}}
{{- $_ := set $v.autoscaling.scheduled "windows" list -}}
{{- $_ := set $v.autoscaling.predictive "enabled" false -}}
{{- /* Never to zero: an idle canary would answer its share of the routes with "no healthy upstream". */ -}}
{{- $_ := set $v.autoscaling.keda "scaleToZero" false -}}
{{- end -}}
{{- toJson $v -}}
{{- end -}}

{{/*
Label matchers for this workload's Triton series as prometheus-operator scrapes them: the release namespace
and the pods of the Deployment (named <deployment>-<replicaset hash>-<pod hash>), and the model when the
signal is restricted to one (GPU series carry no model label).
*/}}
{{- define "triton-server.autoscaling.selector" -}}
{{- $matchers := list (printf "namespace=%q" .ctx.Release.Namespace) (printf "pod=~%q" (printf "%s-[a-z0-9]+-[a-z0-9]+" (include "triton-server.autoscaling.workload" .))) -}}
{{- if and .ctx.Values.autoscaling.model (ne .ctx.Values.autoscaling.signal "gpuUtilization") (not .noModel) -}}
{{- $matchers = append $matchers (printf "model=%q" .ctx.Values.autoscaling.model) -}}
{{- end -}}
{{- join "," $matchers -}}
{{- end -}}

{{/*
The signal's query. Usage: include "triton-server.autoscaling.query" (dict "ctx" $ "selector" "..." "by" "")
*/}}
{{- define "triton-server.autoscaling.query" -}}
{{- $signal := get (include "triton-server.autoscaling.signals" . | fromJson) .ctx.Values.autoscaling.signal -}}
{{- printf $signal.text .selector .ctx.Values.autoscaling.window .by -}}
{{- end -}}

{{/* The request rate of the workload (requests/s), the input of the forecast. */}}
{{- define "triton-server.autoscaling.requestRate" -}}
{{- printf "sum(rate(nv_inference_request_success{%s}[%s]))" .selector .ctx.Values.autoscaling.window -}}
{{- end -}}

{{/*
The request rate forecast predictive.horizonSeconds ahead: a straight line fitted over predictive.lookback of
the rate (a subquery at the rate window's resolution, so no recording rule is needed), clamped between 0 and
predictive.maxFactor x the current rate so that one spike cannot explode it.
*/}}
{{- define "triton-server.autoscaling.predictedRate" -}}
{{- $p := .ctx.Values.autoscaling.predictive -}}
{{- $rate := include "triton-server.autoscaling.requestRate" . -}}
{{- printf "clamp_min(clamp_max(predict_linear((%s)[%s:%s], %d), scalar(%s) * %v), 0)" $rate $p.lookback .ctx.Values.autoscaling.window (int $p.horizonSeconds) $rate $p.maxFactor -}}
{{- end -}}

{{/* Metric names served by prometheus-adapter: suffixed with the workload, so two releases never share one. */}}
{{- define "triton-server.autoscaling.adapterMetric" -}}
{{- printf "%s_%s" .name (include "triton-server.autoscaling.workload" . | replace "-" "_") -}}
{{- end -}}

{{/* The autoscaler's behavior, as rendered for the HPA and KEDA's HPA config alike. */}}
{{- define "triton-server.autoscaling.behavior" -}}
{{- /* An empty policy list is left out: the API server refuses `policies: []` even with selectPolicy Disabled
(validateScalingRules), and an absent one takes the default policies, which Disabled then switches off. */ -}}
{{- $behavior := deepCopy .ctx.Values.autoscaling.behavior -}}
{{- range $direction, $rules := $behavior -}}
{{- if and (kindIs "map" $rules) (hasKey $rules "policies") (not $rules.policies) -}}
{{- $_ := unset $rules "policies" -}}
{{- end -}}
{{- end -}}
{{- toYaml $behavior -}}
{{- end -}}

{{/*
KEDA cron schedule of a window edge: "M H * * d,d" from "HH:MM" and [mon, ...] (cron day numbers, sun = 0).
Usage: include "triton-server.autoscaling.cron" (dict "time" "08:00" "days" (list "mon"))
*/}}
{{- define "triton-server.autoscaling.cron" -}}
{{- $numbers := dict "sun" "0" "mon" "1" "tue" "2" "wed" "3" "thu" "4" "fri" "5" "sat" "6" -}}
{{- $days := list -}}
{{- range .days -}}{{- $days = append $days (get $numbers .) -}}{{- end -}}
{{- $parts := splitList ":" .time -}}
{{- printf "%d %d * * %s" (index $parts 1 | atoi) (index $parts 0 | atoi) (join "," ($days | sortAlpha)) -}}
{{- end -}}

{{/*
NOTES lines about the replica count: who owns it, and what scale-to-zero costs. Shared by this chart's NOTES
and the umbrella's (include with the server's values as .Values).
*/}}
{{- define "triton-server.notes.autoscaling" -}}
{{- $a := .Values.autoscaling -}}
{{- if eq $a.mode "none" }}
{{- if eq (int .Values.replicaCount) 1 }}

NOTE: one replica. A node drain or rollout interrupts inference; production runs 3 or more (values/prod.yaml).
{{- end }}
{{- else }}

Autoscaling: {{ $a.mode | upper }} owns the replica count, {{ ternary 0 $a.minReplicas (and (eq $a.mode "keda") $a.keda.scaleToZero) }} to {{ $a.maxReplicas }}, on {{ $a.signal }} (target {{ $a.target }}){{ if $a.predictive.enabled }}, the request rate forecast {{ $a.predictive.horizonSeconds }}s ahead{{ end }}{{ with $a.scheduled.windows }}, and {{ len . }} scheduled window(s) ({{ $a.scheduled.timezone }}){{ end }}.
replicaCount ({{ .Values.replicaCount }}) is ignored while an autoscaler owns the Deployment.
{{- if eq $a.mode "hpa" }}
{{- if $a.hpa.adapterRules.create }}
{{- /* The umbrella passes serverFullname: its own .Chart is not the server's. */}}
{{- $base := .serverFullname }}
{{- if not $base }}{{ $base = include "triton-common.names.fullname" (dict "ctx" .) }}{{ end }}
{{- $adapter := printf "%s-prometheus-adapter" ($base | trunc (sub 62 (len "prometheus-adapter") | int) | trimSuffix "-") }}
The HPA reads its Triton metric from prometheus-adapter: install the adapter with the rules this release rendered
into the ConfigMap {{ $adapter }} (its values.yaml key holds the adapter chart's `rules`):
  kubectl -n {{ .Release.Namespace }} get configmap {{ $adapter }} -o jsonpath='{.data.values\.yaml}' > adapter-rules.yaml
  helm upgrade --install prometheus-adapter prometheus-community/prometheus-adapter -n monitoring \
    --set prometheus.url=http://prometheus-operated.monitoring.svc -f adapter-rules.yaml
{{- else }}
The HPA reads its Triton metric from prometheus-adapter: autoscaling.hpa.adapterRules.create is false, so your
adapter must already serve the metric this HPA names (kubectl get hpa -n {{ .Release.Namespace }} -o yaml).
{{- end }}
{{- end }}
{{- if and (eq $a.mode "keda") $a.keda.scaleToZero }}

WARNING: scale to zero is on. Outside the scheduled windows, after {{ $a.keda.cooldownPeriod }}s without activity every pod is
removed, and requests are then refused until the next window starts: the scaling signals come from the Triton
pods themselves, so no request can wake them. A window's first pod waits to be scheduled, pull the image and load
its models: 1.4 s for the small CPU example model here (`make bench-startup`), minutes on a GPU node.
{{- end }}
{{- end }}
{{- end -}}

{{/*
The helm test pod's resources: every resource stated, request and limit, so that no ResourceQuota or
LimitRange refuses it. Shared with the umbrella's quota checks, which count the test pod.
*/}}
{{- define "triton-server.helmTest.resources" -}}
requests:
  cpu: 10m
  memory: 16Mi
  ephemeral-storage: 16Mi
limits:
  cpu: 100m
  memory: 32Mi
  ephemeral-storage: 32Mi
{{- end -}}
