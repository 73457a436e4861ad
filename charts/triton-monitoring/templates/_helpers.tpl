{{/*
Helpers of the monitoring chart. Names, labels and the server's identity come from triton-common; what is here
is the chart's own: the component name, and the identity labels every objective series of this release carries.
*/}}

{{- define "triton-monitoring.component" -}}monitoring{{- end -}}

{{/*
The labels that tie a release's objective series to its own Triton series, as prometheus-operator scrapes them
through the ServiceMonitor: the namespace, the job (the metrics Service's name) and the Deployment (the
workload; the mesh and kube-state-metrics know pods by it). JSON.
*/}}
{{- define "triton-monitoring.identity" -}}
{{- toJson (dict
  "namespace" .ctx.Release.Namespace
  "job" (include "triton-common.names.server.suffixed" (dict "ctx" .ctx "suffix" "metrics"))
  "workload" (include "triton-common.names.server.fullname" (dict "ctx" .ctx))
) -}}
{{- end -}}

{{/*
The workloads that run this release's pods, as a JSON list of names: the stable one (a Deployment, or under
server.canary.strategy argoRollouts the Rollout, which holds both tracks) and <server>-canary, the Deployment the
tracks strategy runs beside it (triton-server.workload.name). This chart cannot see the server's canary values,
so the canary's name is always listed: where no such workload runs, no series carries it. Each becomes a
triton:release:workload series, by which the mesh ratios and the desired replicas find the release's workloads.
*/}}
{{- define "triton-monitoring.workloads" -}}
{{- toJson (list
  (include "triton-common.names.server.fullname" (dict "ctx" .ctx))
  (include "triton-common.names.server.suffixed" (dict "ctx" .ctx "suffix" "canary"))
) -}}
{{- end -}}

{{/*
This release's objectives, from values, as {series name suffix: value}: each becomes a recording rule
triton:objective:<name> whose expression is the number itself (a scalar; Prometheus records it as a sample with
the rule's labels), so no PromQL is written by a template. JSON.
*/}}
{{- define "triton-monitoring.objectives" -}}
{{- $r := .ctx.Values.prometheusRule -}}
{{- toJson (dict
  "availability" $r.slo.availability
  "queue_seconds_per_request" $r.slo.queueSecondsPerRequest
  "pending_requests" $r.thresholds.pendingRequests
  "gpu_memory_utilization" $r.thresholds.gpuMemoryUtilization
  "restarts" $r.thresholds.restarts
  "readiness_changes" $r.thresholds.readinessChanges
  "canary_failure_ratio_margin" $r.thresholds.canaryFailureRatioMargin
  "canary_latency_ratio" $r.thresholds.canaryLatencyRatio
) -}}
{{- end -}}
