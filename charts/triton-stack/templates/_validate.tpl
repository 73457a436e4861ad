{{/*
Umbrella checks: the components against the server values they rely on, and guardrails that must agree with
the server values.
*/}}
{{- define "triton-stack.validate" -}}
{{- range $key := list "nameOverride" "fullnameOverride" -}}
{{- if get $.Values.server $key -}}
{{- fail (printf "\nserver.%s: set global.server.%s instead, so that every subchart that refers to the server's Services and pods (routing, monitoring, batch, NOTES) uses the same name." $key $key) -}}
{{- end -}}
{{- end -}}
{{- include "triton-stack.validate.monitoring" . -}}
{{- include "triton-stack.validate.logging" . -}}
{{- $pc := .Values.guardrails.priorityClass -}}
{{- if and $pc.create .Values.server.priorityClassName (ne $pc.name .Values.server.priorityClassName) -}}
{{- fail (printf "\nguardrails.priorityClass.name: %q differs from server.priorityClassName %q, so the inference pods would not use the class the chart creates. Make them the same." $pc.name .Values.server.priorityClassName) -}}
{{- end -}}
{{- include "triton-stack.validate.routing" . -}}
{{- include "triton-stack.validate.quota" . -}}
{{- include "triton-stack.validate.limitRange" . -}}
{{- include "triton-stack.validate.batchPriority" . -}}
{{- include "triton-stack.validate.loadedModels" . -}}
{{- end -}}

{{/*
With server.triton.loadModels only the listed models are loaded: the components that send to the stack's own
server must name one of them (the server chart checks its own helm test and autoscaler the same way).
*/}}
{{- define "triton-stack.validate.loadedModels" -}}
{{- $load := .Values.server.triton.loadModels | default list -}}
{{- if $load -}}
{{- $batch := .Values.batch | default dict -}}
{{- if and $batch.enabled (eq $batch.target.mode "service") (not $batch.target.service.host) (not (has $batch.target.model $load)) -}}
{{- fail (printf "\nbatch.target.model: %q is not in server.triton.loadModels %v, so every item of the batch would fail. Send to a listed model, or add it to the list." $batch.target.model $load) -}}
{{- end -}}
{{- $routing := .Values.routing | default dict -}}
{{- $loadTest := (($routing.promotion | default dict).loadTest | default dict) -}}
{{- if and $routing.enabled $routing.promotion.enabled $loadTest.enabled (not (has $loadTest.model $load)) -}}
{{- fail (printf "\nrouting.promotion.loadTest.model: %q is not in server.triton.loadModels %v, so the load step would fail the rollout. Load-test a listed model." $loadTest.model $load) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Batch pods rank below serving: the batch chart cannot see the server's priority, so the umbrella compares them.
Serving runs at the guardrails class when the server uses it, at 0 without a class, unknown with another class.
*/}}
{{- define "triton-stack.validate.batchPriority" -}}
{{- $batch := .Values.batch | default dict -}}
{{- if and $batch.enabled (($batch.priorityClass | default dict).create) -}}
{{- $pc := .Values.guardrails.priorityClass -}}
{{- $serverClass := .Values.server.priorityClassName | default "" -}}
{{- $serving := dict -}}
{{- if and $pc.create (eq $serverClass $pc.name) -}}
{{- $serving = dict "value" (int $pc.value) "source" (printf "guardrails.priorityClass.value, the class of server.priorityClassName %q" $serverClass) -}}
{{- else if not $serverClass -}}
{{- $serving = dict "value" 0 "source" "the priority of pods without a class (server.priorityClassName is empty)" -}}
{{- end -}}
{{- if and $serving (ge (int $batch.priorityClass.value) (int $serving.value)) -}}
{{- fail (printf "\nbatch.priorityClass.value: %d is not below %d, %s: batch pods would rank with or above online inference and could take its nodes. Set it below %d." (int $batch.priorityClass.value) (int $serving.value) $serving.source (int $serving.value)) -}}
{{- end -}}
{{- end -}}
{{- end -}}


{{/*
The containers this release runs, as the admission plugins see them: {name: {resources, section}}. The server
pod's triton and engine-build containers (their resources as the server chart renders them: GPUs from
gpu.count, the computed ephemeral-storage request) and the helm test pod.
*/}}
{{- define "triton-stack.containers" -}}
{{- $server := .Values.server -}}
{{- $containers := dict "triton" (dict "resources" (include "triton-server.resources" (dict "ctx" (dict "Values" $server)) | fromYaml) "section" "server.resources") -}}
{{- if $server.engineBuild.enabled -}}
{{- $_ := set $containers "engine-build" (dict "resources" (include "triton-common.gpu.withResources" (dict "gpu" $server.gpu "resources" $server.engineBuild.resources) | fromJson) "section" "server.engineBuild.resources") -}}
{{- end -}}
{{- if $server.helmTest.enabled -}}
{{- $_ := set $containers "helm-test" (dict "resources" (include "triton-server.helmTest.resources" . | fromYaml) "section" "the helm test pod's fixed resources") -}}
{{- end -}}
{{- toJson $containers -}}
{{- end -}}

{{/*
The amount of a resource a container ends up with, as JSON {value, source}: what it states (a request falls
back to the stated limit, as the API server defaults it), else what the LimitRange fills in (its default
limit is `default`, else `max`; its default request is `defaultRequest`, else that default limit), else none.
Usage: include "triton-stack.effective" (dict "ctx" $ "container" $c "kind" "requests" "resource" "cpu")
*/}}
{{- define "triton-stack.effective" -}}
{{- $resources := .container.resources -}}
{{- $lr := .ctx.Values.guardrails.limitRange -}}
{{- $statedMap := get $resources .kind | default dict -}}
{{- $limitMap := $resources.limits | default dict -}}
{{- $computed := and (eq .resource "ephemeral-storage") (eq .container.section "server.resources") (not (hasKey (get (.ctx.Values.server.resources | default dict) .kind | default dict) .resource)) -}}
{{- if hasKey $statedMap .resource -}}
{{- toJson (dict "value" (get $statedMap .resource) "source" (ternary "the ephemeral-storage the chart requests for the writable volumes (server.writableVolumes.*, the download volume, the engine-build repository)" (printf "%s.%s.%s" .container.section .kind .resource) $computed)) -}}
{{- else if and (eq .kind "requests") (hasKey $limitMap .resource) -}}
{{- toJson (dict "value" (get $limitMap .resource) "source" (printf "%s.limits.%s" .container.section .resource)) -}}
{{- else if $lr.enabled -}}
{{- $defaultLimit := get ($lr.default | default dict) .resource | default (get ($lr.max | default dict) .resource) -}}
{{- $value := ternary (get ($lr.defaultRequest | default dict) .resource | default $defaultLimit) $defaultLimit (eq .kind "requests") -}}
{{- if $value -}}{{- toJson (dict "value" $value "source" (printf "the LimitRange's default %s" (trimSuffix "s" .kind))) -}}{{- else -}}{}{{- end -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/*
ResourceQuota: pods beyond the quota are never created, and a quota on cpu or memory makes the API server refuse
every container that does not state that resource (kubernetes pkg/quota/v1/evaluator/core/pods.go, validationSet:
cpu and memory only). Counted: the server pods of every track (triton-server.podCount: replicas or the autoscaler's
maximum, the canary's too) plus, at once, the larger of the rolling update's surge pods and the helm test pod.
*/}}
{{- define "triton-stack.validate.quota" -}}
{{- $quota := .Values.guardrails.resourceQuota -}}
{{- $server := .Values.server -}}
{{- if $quota.enabled -}}
{{- $pods := include "triton-server.podCount" (dict "ctx" (dict "Values" $server) "prefix" "server.") | fromJson -}}
{{- $replicas := int $pods.replicas -}}
{{- $surge := int $pods.surge -}}
{{- $replicasText := $pods.text -}}
{{- $containers := include "triton-stack.containers" . | fromJson -}}
{{- $serverContainers := omit $containers "helm-test" -}}
{{- $testPod := ternary 1 0 $server.helmTest.enabled -}}
{{- $download := and (eq $server.modelRepository.type "objectStore") (eq $server.modelRepository.objectStore.downloadVolume.type "ephemeral") -}}
{{- $services := add 1 (ternary 1 0 $server.triton.metrics.enabled) (ternary 1 0 $server.service.grpcHeadless.enabled) -}}
{{- range $key, $cap := $quota.hard -}}
{{- $path := printf "guardrails.resourceQuota.hard.%s" $key -}}
{{- $capValue := include "triton-common.quantity.value" $cap | float64 -}}
{{- $counted := dict
  "pods" (list (add $replicas (max $surge $testPod)) (printf "%s + the larger of server.updateStrategy.maxSurge and the helm test pod" $replicasText) "Raise the quota or lower the replicas.")
  "count/pods" (list (add $replicas (max $surge $testPod)) (printf "%s + the larger of server.updateStrategy.maxSurge and the helm test pod" $replicasText) "Raise the quota or lower the replicas.")
  "persistentvolumeclaims" (list (ternary (add $replicas $surge) 0 $download) (printf "one download volume claim per server pod (%s + server.updateStrategy.maxSurge)" $replicasText) "Raise the quota or lower the replicas.")
  "count/persistentvolumeclaims" (list (ternary (add $replicas $surge) 0 $download) (printf "one download volume claim per server pod (%s + server.updateStrategy.maxSurge)" $replicasText) "Raise the quota or lower the replicas.")
  "services" (list $services "the Services this release creates (inference, metrics, headless gRPC)" "Raise the quota, or turn off server.service.grpcHeadless.")
  "count/services" (list $services "the Services this release creates (inference, metrics, headless gRPC)" "Raise the quota, or turn off server.service.grpcHeadless.")
  "services.loadbalancers" (list (ternary 1 0 (eq $server.service.type "LoadBalancer")) "server.service.type LoadBalancer" "Raise the quota, or use another server.service.type.")
  "services.nodeports" (list (ternary 2 0 (has $server.service.type (list "NodePort" "LoadBalancer"))) (printf "the http and grpc node ports of server.service.type %s" $server.service.type) "Raise the quota, or use server.service.type ClusterIP.")
-}}
{{- if hasKey $counted $key -}}
{{- $count := get $counted $key -}}
{{- if gt (float64 (index $count 0)) $capValue -}}
{{- fail (printf "\n%s: %s is less than the %d that %s need. %s" $path (include "triton-common.quantity.text" $cap) (int (index $count 0)) (index $count 1) (index $count 2)) -}}
{{- end -}}
{{- else if eq $key "requests.storage" -}}
{{- $perClaim := ternary (include "triton-common.quantity.value" (include "triton-server.download.size" (dict "ctx" (dict "Values" $server))) | float64) 0.0 $download -}}
{{- $needed := mulf $perClaim (add $replicas $surge) -}}
{{- if gt $needed $capValue -}}
{{- fail (printf "\n%s: %s is less than the %s that the download volume claims of %d server pods (%s + server.updateStrategy.maxSurge) need (server.modelRepository.objectStore.downloadVolume.size each). Raise the quota or lower the replicas." $path (include "triton-common.quantity.text" $cap) (include "triton-common.quantity.binary" $needed) (int (add $replicas $surge)) $replicasText) -}}
{{- end -}}
{{- else -}}
{{- $parts := regexSplit "\\." $key 2 -}}
{{- $prefixed := and (eq (len $parts) 2) (has (first $parts) (list "requests" "limits")) -}}
{{- $kind := ternary (first $parts) "requests" $prefixed -}}
{{- $resource := ternary (last $parts) $key $prefixed -}}
{{- if not (has $resource (list "cpu" "memory" "ephemeral-storage")) -}}
{{- if or (not $prefixed) (eq $kind "limits") -}}
{{- if contains "/" $resource -}}
{{- fail (printf "\n%s: a quota on an extended resource counts only requests (%s caps nothing). Write it as requests.%s." $path $key $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if has $resource (list "cpu" "memory") -}}
{{- range $name, $container := $containers -}}
{{- if not (include "triton-stack.effective" (dict "ctx" $ "container" $container "kind" $kind "resource" $resource) | fromJson) -}}
{{- fail (printf "\n%s: the quota makes the API server refuse every container without %s.%s, and the %s container states none. Set %s.%s.%s, or give guardrails.limitRange a default (at least the container's request) for %s." $path $kind $resource $name $container.section $kind $resource $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* A pod's usage is the larger of its init container and its app container (the scheduler's rule). */ -}}
{{- $perPod := 0.0 -}}
{{- range $name, $container := $serverContainers -}}
{{- $effective := include "triton-stack.effective" (dict "ctx" $ "container" $container "kind" $kind "resource" $resource) | fromJson -}}
{{- if $effective -}}{{- $perPod = maxf $perPod (include "triton-common.quantity.value" $effective.value | float64) -}}{{- end -}}
{{- end -}}
{{- $test := 0.0 -}}
{{- with $containers -}}{{- with (get . "helm-test") -}}
{{- $effective := include "triton-stack.effective" (dict "ctx" $ "container" . "kind" $kind "resource" $resource) | fromJson -}}
{{- if $effective -}}{{- $test = include "triton-common.quantity.value" $effective.value | float64 -}}{{- end -}}
{{- end -}}{{- end -}}
{{- $needed := addf (mulf $perPod $replicas) (maxf (mulf $perPod $surge) $test) -}}
{{- if gt $needed $capValue -}}
{{- fail (printf "\n%s: %s is less than the %s that %d server pods (%s, %s each) and the larger of the surge pods (server.updateStrategy.maxSurge) and the helm test pod need. Raise the quota or lower the replicas." $path (include "triton-common.quantity.text" $cap) (include "triton-stack.quantity.text" (dict "resource" $resource "value" $needed)) $replicas $replicasText (include "triton-stack.quantity.text" (dict "resource" $resource "value" $perPod))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
LimitRange: the API server refuses a LimitRange whose default exceeds its max (or default request its default);
admission refuses a container whose limit or request is above max; a container with a request and no limit
gets the default (else max) as its limit, which must not be below the request; and a default or max on a GPU
resource would hand a GPU to every container in the namespace.
*/}}
{{- define "triton-stack.validate.limitRange" -}}
{{- $lr := .Values.guardrails.limitRange -}}
{{- if $lr.enabled -}}
{{- range $map := list "default" "defaultRequest" "max" -}}
{{- range $resource, $_ := (get $lr $map | default dict) -}}
{{- if regexMatch "^(nvidia\\.com/|amd\\.com/gpu|gpu\\.intel\\.com/)" $resource -}}
{{- fail (printf "\nguardrails.limitRange.%s.%s: a LimitRange %s on a GPU resource becomes the default of every container in the namespace (a max is the default limit when no default is given), so CPU pods would be handed GPUs. Remove it; cap GPUs with guardrails.resourceQuota.hard.requests.%s." $map $resource $map $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $resource, $default := ($lr.default | default dict) -}}
{{- $max := get ($lr.max | default dict) $resource -}}
{{- if and $max (gt (include "triton-common.quantity.value" $default | float64) (include "triton-common.quantity.value" $max | float64)) -}}
{{- fail (printf "\nguardrails.limitRange.default.%s: %s is above guardrails.limitRange.max.%s %s, and the API server refuses such a LimitRange. Lower the default or raise the max." $resource (include "triton-common.quantity.text" $default) $resource (include "triton-common.quantity.text" $max)) -}}
{{- end -}}
{{- end -}}
{{- range $resource, $request := ($lr.defaultRequest | default dict) -}}
{{- $ceiling := get ($lr.default | default dict) $resource | default (get ($lr.max | default dict) $resource) -}}
{{- if and $ceiling (gt (include "triton-common.quantity.value" $request | float64) (include "triton-common.quantity.value" $ceiling | float64)) -}}
{{- fail (printf "\nguardrails.limitRange.defaultRequest.%s: %s is above the default limit %s (guardrails.limitRange.default, else max), and the API server refuses such a LimitRange. Lower it." $resource (include "triton-common.quantity.text" $request) (include "triton-common.quantity.text" $ceiling)) -}}
{{- end -}}
{{- end -}}
{{- $containers := include "triton-stack.containers" . | fromJson -}}
{{- range $resource, $max := ($lr.max | default dict) -}}
{{- range $name, $container := $containers -}}
{{- range $kind := list "limits" "requests" -}}
{{- $effective := include "triton-stack.effective" (dict "ctx" $ "container" $container "kind" $kind "resource" $resource) | fromJson -}}
{{- if and $effective (gt (include "triton-common.quantity.value" $effective.value | float64) (include "triton-common.quantity.value" $max | float64)) -}}
{{- fail (printf "\nguardrails.limitRange.max.%s: %s is below %s %s: the LimitRange admission refuses the %s container, so %s. Raise the LimitRange max or lower that amount." $resource (include "triton-common.quantity.text" $max) $effective.source (include "triton-common.quantity.text" $effective.value) $name (ternary "helm test cannot run" "no server pod is ever created" (eq $name "helm-test"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $resource, $_ := (merge (deepCopy ($lr.default | default dict)) ($lr.max | default dict)) -}}
{{- range $name, $container := $containers -}}
{{- $request := get ($container.resources.requests | default dict) $resource -}}
{{- $defaultLimit := get ($lr.default | default dict) $resource | default (get ($lr.max | default dict) $resource) -}}
{{- if and $request (not (hasKey ($container.resources.limits | default dict) $resource)) (gt (include "triton-common.quantity.value" $request | float64) (include "triton-common.quantity.value" $defaultLimit | float64)) -}}
{{- fail (printf "\nguardrails.limitRange.default.%s: %s becomes the limit of the %s container, which sets %s.requests.%s %s and states no limit: a request above its limit is refused, so no pod is ever created. Set %s.limits.%s, or raise the LimitRange default." $resource (include "triton-common.quantity.text" $defaultLimit) $name $container.section $resource (include "triton-common.quantity.text" $request) $container.section $resource) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* /dev/shm is memory-backed: with no memory limit of its own the server gets the LimitRange's. */ -}}
{{- $server := .Values.server -}}
{{- if not (hasKey (($server.resources | default dict).limits | default dict) "memory") -}}
{{- $limit := get ($lr.default | default dict) "memory" | default (get ($lr.max | default dict) "memory") -}}
{{- if and $limit (ge (include "triton-common.quantity.value" $server.sharedMemory.sizeLimit | float64) (include "triton-common.quantity.value" $limit | float64)) -}}
{{- fail (printf "\nserver.sharedMemory.sizeLimit: %s is not below %s, the memory limit the LimitRange gives the triton container (guardrails.limitRange.default.memory, else max; server.resources.limits.memory is unset): /dev/shm counts against it, so filling it OOM-kills Triton. Set server.resources.limits.memory above it, or lower the shared memory." (include "triton-common.quantity.text" $server.sharedMemory.sizeLimit) (include "triton-common.quantity.text" $limit)) -}}
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

{{/*
Routing and the server must agree: the ports the routes use, whether a canary track exists, and who owns the
weights (the chart with the tracks strategy, the Argo Rollout with argoRollouts).
*/}}
{{- define "triton-stack.validate.routing" -}}
{{- $server := .Values.server -}}
{{- $routing := .Values.routing -}}
{{- $rollout := and $server.canary.enabled (eq $server.canary.strategy "argoRollouts") -}}
{{- if and $rollout (not $routing.enabled) -}}
{{- fail "\nserver.canary.strategy: argoRollouts steps the traffic through the Istio routes of triton-routing. Set routing.enabled (and routing.canary.enabled, routing.promotion.enabled) to true, or use the tracks strategy." -}}
{{- end -}}
{{- if $routing.enabled -}}
{{- range $port := list "http" "grpc" "metrics" -}}
{{- if ne (int (get $server.service.ports $port)) (int (get $routing.server.ports $port)) -}}
{{- fail (printf "\nrouting.server.ports.%s: %d differs from server.service.ports.%s %d, so the routes would miss the Service. Make them the same." $port (int (get $routing.server.ports $port)) $port (int (get $server.service.ports $port))) -}}
{{- end -}}
{{- end -}}
{{- if ne (toString $routing.canary.enabled) (toString $server.canary.enabled) -}}
{{- fail (printf "\nrouting.canary.enabled: %v, but server.canary.enabled is %v. Set both: the routes need a canary track to send to, and a canary track behind the mesh needs its route." $routing.canary.enabled $server.canary.enabled) -}}
{{- end -}}
{{- if $routing.promotion.enabled -}}
{{- $monitoring := .Values.monitoring -}}
{{- if not (and $monitoring.enabled $monitoring.serviceMonitor.enabled) -}}
{{- fail "\nrouting.promotion.enabled: the gate's Triton failure ratio and latency ratio read Triton's series with the pod's track, which monitoring's ServiceMonitor scrapes. Set monitoring.enabled (with monitoring.serviceMonitor.enabled)." -}}
{{- end -}}
{{- /* A step naming the load template runs nothing unless the routing chart renders it. */ -}}
{{- $load := printf "%s-load" (include "triton-common.names.server.fullname" (dict "ctx" $)) -}}
{{- range $i, $step := $server.canary.rollout.steps -}}
{{- range (($step.analysis | default dict).templates | default list) -}}
{{- if and (eq .templateName $load) (not $routing.promotion.loadTest.enabled) -}}
{{- fail (printf "\nserver.canary.rollout.steps.%d: runs the AnalysisTemplate %s, which routing.promotion.loadTest.enabled false does not render: the rollout would stop at that step. Enable the load step (and name its locustfile ConfigMap in routing.promotion.loadTest.configMap) or remove the step." $i $load) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne $routing.promotion.trackLabel "track" -}}
{{- fail (printf "\nrouting.promotion.trackLabel: %q, but monitoring's ServiceMonitor writes the pod's track as `track`, so the gate would find no series. Set it to track." $routing.promotion.trackLabel) -}}
{{- end -}}
{{- end -}}
{{- if ne (toString $routing.promotion.enabled) (toString $rollout) -}}
{{- fail (printf "\nrouting.promotion.enabled: %v, but the server's canary strategy is %s. The promotion gate is the Argo Rollout's analysis: enable it exactly when server.canary.strategy is argoRollouts (with server.canary.enabled)." $routing.promotion.enabled (ternary "argoRollouts" (printf "%s (canary %s)" $server.canary.strategy (ternary "on" "off" $server.canary.enabled)) $rollout)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Monitoring reads what the server exports: the metrics Service (the ServiceMonitor's only target, and the job
every rule is keyed by) and the latency summaries (the p95/p99 rules, the canary latency alert, the dashboards).
*/}}
{{- define "triton-stack.validate.monitoring" -}}
{{- if .Values.monitoring.enabled -}}
{{- if not .Values.server.triton.metrics.enabled -}}
{{- fail "\nmonitoring.enabled: the server's metrics are off (server.triton.metrics.enabled is false), so there is no metrics Service to scrape and every rule and dashboard stays empty. Turn server.triton.metrics.enabled on, or monitoring off." -}}
{{- end -}}
{{- if not .Values.server.triton.metrics.summaryLatencies -}}
{{- fail "\nserver.triton.metrics.summaryLatencies: false removes the latency summaries that monitoring's p95/p99 rules, the canary latency alert and the dashboards read (monitoring.enabled is true). Turn it on." -}}
{{- end -}}
{{- /* A rate over fewer than four scrapes goes empty after one missed scrape (Prometheus's own advice). */ -}}
{{- $sm := .Values.monitoring.serviceMonitor -}}
{{- if $sm.enabled -}}
{{- $scrape := include "triton-common.duration.seconds" $sm.interval | float64 -}}
{{- $windows := list -}}
{{- if ne .Values.server.autoscaling.mode "none" -}}
{{- $windows = append $windows (list "server.autoscaling.window" .Values.server.autoscaling.window) -}}
{{- end -}}
{{- if and .Values.routing.enabled .Values.routing.promotion.enabled -}}
{{- $windows = append $windows (list "routing.promotion.interval" .Values.routing.promotion.interval) -}}
{{- end -}}
{{- range $windows -}}
{{- if lt (include "triton-common.duration.seconds" (index . 1) | float64) (mulf 4 $scrape) -}}
{{- fail (printf "\n%s: %s is shorter than four scrapes (monitoring.serviceMonitor.interval %s): one missed scrape would leave its rate empty, and the autoscaler or the gate without data. Make it at least %gs." (index . 0) (index . 1) $sm.interval (mulf 4 $scrape)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Triton serves its metrics only once its models are loaded, so a starting pod fails every scrape for up to its
startup probe's budget (periodSeconds x failureThreshold, the server's Deployment). TritonScrapeTargetDown leaves
out pods kube-state-metrics reports unready; without kube-state-metrics only its `for` keeps a normal start from
opening a ticket, so `for` must cover the budget. The default `for` is read from the monitoring chart's rule file
(.Subcharts), not repeated here. */ -}}
{{- $r := .Values.monitoring.prometheusRule -}}
{{- $override := get $r.alerts "TritonScrapeTargetDown" | default dict -}}
{{- if and $r.enabled $r.sharedRules (or (not (hasKey $override "enabled")) $override.enabled) -}}
{{- $default := "" -}}
{{- range $group := (.Subcharts.monitoring.Files.Get "rules/alerts.yaml" | fromYaml).groups -}}
{{- range $group.rules -}}{{- if eq .alert "TritonScrapeTargetDown" -}}{{- $default = .for -}}{{- end -}}{{- end -}}
{{- end -}}
{{- $for := get $override "for" | default $default -}}
{{- $probes := .Values.server.probes -}}
{{- $budget := mul $probes.startup.periodSeconds (divf $probes.maxModelLoadSeconds $probes.startup.periodSeconds | ceil | int) -}}
{{- if lt (include "triton-common.duration.seconds" $for | float64) (float64 $budget) -}}
{{- fail (printf "\nmonitoring.prometheusRule.alerts.TritonScrapeTargetDown.for: %s is shorter than the server's startup budget, %ds (server.probes.maxModelLoadSeconds %v in startup probes of %vs): a pod loading its models serves no metrics, and without kube-state-metrics the alert would open a ticket at every normal start. Set it to at least %ds." $for $budget $probes.maxModelLoadSeconds $probes.startup.periodSeconds $budget) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Logging reads the server pods' log files by their names (triton-logging.logPath), which keep the form
<workload>-<hash>-<suffix> only for workload names of at most 46 characters (the API server cuts a generated
name's base to 58). The logging chart checks the stable workload's name; the canary Deployment of the tracks
strategy, <server>-canary, is known only here.
*/}}
{{- define "triton-stack.validate.logging" -}}
{{- $c := .Values.server.canary -}}
{{- if and .Values.logging.enabled $c.enabled (eq $c.strategy "tracks") -}}
{{- $canary := include "triton-common.names.server.suffixed" (dict "ctx" $ "suffix" "canary") -}}
{{- if gt (len $canary) 46 -}}
{{- fail (printf "\nlogging.enabled: Fluentd finds the server's log files by its pods' names, <workload>-<hash>-<suffix>, which Kubernetes keeps only for workload names of at most 46 characters, and the canary's is %q (%d): its pods' names are cut short and its logs would not be read. Shorten the release name, or set a shorter global.server.fullnameOverride (at most 39 characters with a canary)." $canary (len $canary)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
