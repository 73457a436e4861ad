{{/*
Umbrella checks: the reserved component sections, and guardrails that must agree with the server values.
*/}}
{{- define "triton-stack.validate" -}}
{{- range $section := list "routing" "monitoring" "logging" -}}
{{- if (get $.Values $section).enabled -}}
{{- fail (printf "\n%s.enabled: the triton-%s subchart is not shipped in this version of triton-stack. Set %s.enabled to false." $section $section $section) -}}
{{- end -}}
{{- end -}}
{{- $pc := .Values.guardrails.priorityClass -}}
{{- if and $pc.create .Values.server.priorityClassName (ne $pc.name .Values.server.priorityClassName) -}}
{{- fail (printf "\nguardrails.priorityClass.name: %q differs from server.priorityClassName %q, so the inference pods would not use the class the chart creates. Make them the same." $pc.name .Values.server.priorityClassName) -}}
{{- end -}}
{{- $quota := .Values.guardrails.resourceQuota -}}
{{- /* A rolling update runs maxSurge extra pods, and the quota must admit them too. */ -}}
{{- $surge := ternary (int .Values.server.updateStrategy.maxSurge) 0 (eq .Values.server.updateStrategy.type "RollingUpdate") -}}
{{- $gpus := mul (int .Values.server.gpu.count) (add (int .Values.server.replicaCount) $surge) -}}
{{- $cap := get $quota.hard "requests.nvidia.com/gpu" -}}
{{- if and $quota.enabled $cap (gt (int $gpus) (int $cap)) -}}
{{- fail (printf "\nguardrails.resourceQuota.hard.requests.nvidia.com/gpu: %v is less than the %d GPUs that (server.replicaCount + server.updateStrategy.maxSurge) x server.gpu.count need. Raise the quota or lower the replicas." $cap (int $gpus)) -}}
{{- end -}}
{{- end -}}
