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

{{/* Where Triton reads its model repository: a mounted path, or the object-store URI itself. */}}
{{- define "triton-server.modelRepository.location" -}}
{{- if eq .ctx.Values.modelRepository.type "objectStore" -}}
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
  "--metrics-config" "triton.metrics.summaryLatencies"
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
{{- with $store.workloadIdentity.azure.clientId }}
azure.workload.identity/client-id: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* ConfigMap key for a repository file: keys may not contain "/", so the path is encoded. */}}
{{- define "triton-server.modelRepository.configMapKey" -}}
{{- . | replace "/" "__" -}}
{{- end -}}
