{{/*
Checks on combinations of the routing values; each names the value path (routing.* in the umbrella) and says
what to do. Called once, from the DestinationRule.
*/}}
{{- define "triton-routing.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}
{{- $p := include "triton-common.validate.prefix" $fail -}}
{{- if and (not $v.canary.enabled) (gt (int $v.canary.weight) 0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.weight" "message" (printf "is %d, but %scanary.enabled is false: there is no canary track to send it to. Enable the canary (and server.canary.enabled), or set the weight to 0." (int $v.canary.weight) $p)) $fail) -}}
{{- end -}}
{{- if and (not $v.canary.enabled) $v.canary.mirror.enabled -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.mirror.enabled" "message" (printf "is true, but %scanary.enabled is false: there is no canary to mirror to." $p)) $fail) -}}
{{- end -}}
{{- if and $v.faultDrill.enabled (eq $v.faultDrill.header $v.canary.header) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "faultDrill.header" "message" (printf "%q is also %scanary.header: one header cannot both force a track and select the fault drill. Use another name." $v.faultDrill.header $p)) $fail) -}}
{{- end -}}
{{- if and $v.faultDrill.enabled (eq (int $v.faultDrill.abort.percentage) 0) (eq (int $v.faultDrill.delay.percentage) 0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "faultDrill.enabled" "message" (printf "is true, but %sfaultDrill.abort.percentage and %sfaultDrill.delay.percentage are both 0: the drill would inject nothing. Set one of them." $p $p)) $fail) -}}
{{- end -}}
{{- if and $v.gateway.enabled (not $v.gateway.hosts) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "gateway.hosts" "message" "is empty while gateway.enabled is true: the Gateway would answer for no host. List the external host names.") $fail) -}}
{{- end -}}
{{- if and $v.authorization.enabled (not $v.authorization.inferenceNamespaces) (not $v.authorization.inferencePrincipals) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "authorization.inferenceNamespaces" "message" (printf "and %sauthorization.inferencePrincipals are both empty while authorization is enabled: the ALLOW policy would admit only this release's own namespace (its helm test, load step and batch Jobs). List the namespaces or principals of your clients." $p)) $fail) -}}
{{- end -}}
{{- /* One owner of the weights: under Argo Rollouts the controller sets them. */ -}}
{{- if $v.promotion.enabled -}}
{{- if not $v.canary.enabled -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "promotion.enabled" "message" (printf "needs %scanary.enabled: the Rollout routes to the stable and canary subsets." $p)) $fail) -}}
{{- end -}}
{{- if gt (int $v.canary.weight) 0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.weight" "message" (printf "is %d while %spromotion.enabled is true: the Argo Rollout owns the weights of the http and grpc routes and sets them step by step, so the chart must not. Set it to 0 and use server.canary.rollout.steps." (int $v.canary.weight) $p)) $fail) -}}
{{- end -}}
{{- if and $v.promotion.loadTest.enabled (not $v.promotion.loadTest.configMap) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "promotion.loadTest.configMap" "message" "is empty while promotion.loadTest.enabled is true: the load step's Job mounts the locustfile from a charts/triton-loadtest release's ConfigMap. Install one (helm install load charts/triton-loadtest makes load-triton-loadtest) and name it here.") $fail) -}}
{{- end -}}
{{- if $v.canary.mirror.enabled -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.mirror.enabled" "message" (printf "is true while %spromotion.enabled is true: the Rollout rewrites the routes and drops a mirror it does not know. Mirror with the tracks strategy, before a gated rollout." $p)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
