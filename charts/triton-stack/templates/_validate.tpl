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
{{- include "triton-stack.validate.quota" . -}}
{{- include "triton-stack.validate.limitRange" . -}}
{{- end -}}


{{/*
The server pod's containers as the admission plugins see them: {name: resources}, with the resources the
server chart renders (its own helper: GPUs from gpu.count, the computed ephemeral-storage request).
*/}}
{{- define "triton-stack.serverContainers" -}}
{{- $server := .Values.server -}}
{{- $ctx := dict "Values" $server -}}
{{- $containers := dict "triton" (include "triton-server.resources" (dict "ctx" $ctx) | fromYaml) -}}
{{- if $server.engineBuild.enabled -}}
{{- $build := deepCopy ($server.engineBuild.resources | default dict) -}}
{{- $_ := set $build "requests" (merge (dict "nvidia.com/gpu" (int $server.gpu.count)) ($build.requests | default dict)) -}}
{{- $_ := set $build "limits" (merge (dict "nvidia.com/gpu" (int $server.gpu.count)) ($build.limits | default dict)) -}}
{{- $_ := set $containers "engine-build" $build -}}
{{- end -}}
{{- toJson $containers -}}
{{- end -}}

{{/*
ResourceQuota: pods beyond the quota are never created, and a quota on cpu, memory or ephemeral-storage makes
the API server refuse every container that does not state that resource. A rolling update runs maxSurge
extra pods, and the quota must admit them too.
*/}}
{{- define "triton-stack.validate.quota" -}}
{{- $quota := .Values.guardrails.resourceQuota -}}
{{- $server := .Values.server -}}
{{- if $quota.enabled -}}
{{- $surge := ternary (int $server.updateStrategy.maxSurge) 0 (eq $server.updateStrategy.type "RollingUpdate") -}}
{{- $pods := add (int $server.replicaCount) $surge -}}
{{- $podsText := "(server.replicaCount + server.updateStrategy.maxSurge)" -}}
{{- $containers := include "triton-stack.serverContainers" . | fromJson -}}
{{- $lr := .Values.guardrails.limitRange -}}
{{- range $key, $cap := $quota.hard -}}
{{- $path := printf "guardrails.resourceQuota.hard.%s" $key -}}
{{- if eq $key "pods" -}}
{{- $needed := add $pods (ternary 1 0 $server.helmTest.enabled) -}}
{{- if gt (int $needed) (int $cap) -}}
{{- fail (printf "\n%s: %v is less than the %d pods that %s%s run at once. Raise the quota or lower the replicas." $path $cap (int $needed) $podsText (ternary " and the helm test pod" "" $server.helmTest.enabled)) -}}
{{- end -}}
{{- else -}}
{{- $parts := regexSplit "\\." $key 2 -}}
{{- $kind := ternary (first $parts) "requests" (and (eq (len $parts) 2) (has (first $parts) (list "requests" "limits"))) -}}
{{- $resource := ternary (last $parts) $key (and (eq (len $parts) 2) (has (first $parts) (list "requests" "limits"))) -}}
{{- if has $resource (list "cpu" "memory" "ephemeral-storage") -}}
{{- range $name, $resources := $containers -}}
{{- $stated := or (hasKey (get $resources $kind | default dict) $resource) (and (eq $kind "requests") (hasKey ($resources.limits | default dict) $resource)) -}}
{{- $defaulted := and $lr.enabled (or (hasKey ($lr.default | default dict) $resource) (hasKey ($lr.max | default dict) $resource) (and (eq $kind "requests") (hasKey ($lr.defaultRequest | default dict) $resource))) -}}
{{- if not (or $stated $defaulted) -}}
{{- fail (printf "\n%s: the quota makes the API server refuse every container without %s.%s, and the server's %s container states none. Set server.%s.%s.%s, or give guardrails.limitRange a default for %s." $path $kind $resource $name (ternary "resources" "engineBuild.resources" (eq $name "triton")) $kind $resource $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Pod usage: the larger of the init container and the app container (the scheduler's rule). */ -}}
{{- $perPod := 0.0 -}}
{{- range $name, $resources := $containers -}}
{{- $amount := get (get $resources $kind | default dict) $resource | default (ternary (get ($resources.limits | default dict) $resource) "" (eq $kind "requests")) -}}
{{- if $amount -}}
{{- $perPod = maxf $perPod (include "triton-common.quantity.value" $amount | float64) -}}
{{- end -}}
{{- end -}}
{{- $needed := mulf $perPod $pods -}}
{{- if gt $needed (include "triton-common.quantity.value" $cap | float64) -}}
{{- fail (printf "\n%s: %v is less than the %s that %d server pods %s need (%s each). Raise the quota or lower the replicas." $path $cap (include "triton-stack.quantity.text" (dict "resource" $resource "value" $needed)) (int $pods) $podsText (include "triton-stack.quantity.text" (dict "resource" $resource "value" $perPod))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
LimitRange: a container whose limit is above max is refused by admission, and a container with a request but
no limit gets the LimitRange's default limit, which must not be below that request.
*/}}
{{- define "triton-stack.validate.limitRange" -}}
{{- $lr := .Values.guardrails.limitRange -}}
{{- if $lr.enabled -}}
{{- $containers := include "triton-stack.serverContainers" . | fromJson -}}
{{- range $resource, $max := ($lr.max | default dict) -}}
{{- range $name, $resources := $containers -}}
{{- $section := ternary "server.resources" "server.engineBuild.resources" (eq $name "triton") -}}
{{- range $kind := list "limits" "requests" -}}
{{- $amount := get (get $resources $kind | default dict) $resource -}}
{{- if and $amount (gt (include "triton-common.quantity.value" $amount | float64) (include "triton-common.quantity.value" $max | float64)) -}}
{{- fail (printf "\nguardrails.limitRange.max.%s: %v is below %s.%s.%s %v: the LimitRange admission refuses the %s container, so no server pod is ever created. Raise the LimitRange max or lower the server's %s." $resource $max $section $kind $resource $amount $name $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $resource, $default := ($lr.default | default dict) -}}
{{- range $name, $resources := $containers -}}
{{- $section := ternary "server.resources" "server.engineBuild.resources" (eq $name "triton") -}}
{{- $request := get ($resources.requests | default dict) $resource -}}
{{- if and $request (not (hasKey ($resources.limits | default dict) $resource)) (gt (include "triton-common.quantity.value" $request | float64) (include "triton-common.quantity.value" $default | float64)) -}}
{{- fail (printf "\nguardrails.limitRange.default.%s: %v becomes the limit of the %s container, which sets %s.requests.%s %v and no limit: a request above its limit is refused, so no server pod is ever created. Set %s.limits.%s, or raise the LimitRange default." $resource $default $name $section $resource $request $section $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A computed amount for a message: cores for cpu, a binary size for bytes, a count for the rest (GPUs). */}}
{{- define "triton-stack.quantity.text" -}}
{{- if has .resource (list "memory" "ephemeral-storage") -}}
{{- include "triton-common.quantity.binary" .value -}}
{{- else -}}
{{- toString (.value | float64) -}}
{{- end -}}
{{- end -}}
