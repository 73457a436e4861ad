{{/*
Helpers of the routing chart. The server's names and labels come from triton-common's server identity
(names.server.*), so the routes always point at the Service and pods the server chart renders.
*/}}

{{/* The component name in labels. */}}
{{- define "triton-routing.component" -}}routing{{- end -}}

{{/* The server Service's cluster host name. */}}
{{- define "triton-routing.serverHost" -}}
{{- printf "%s.%s.svc.cluster.local" (include "triton-common.names.server.fullname" .) .ctx.Release.Namespace -}}
{{- end -}}

{{/* The tracks that have a subset and a route: stable, and canary when the server runs one. JSON list. */}}
{{- define "triton-routing.tracks" -}}
{{- toJson (ternary (list "stable" "canary") (list "stable") .ctx.Values.canary.enabled) -}}
{{- end -}}

{{/*
One route destination: the server Service's subset of a track on a port, with the track named in a response
header (canary.trackResponseHeader) so that a client can tell which track answered it. Usage:
include "triton-routing.destination" (dict "ctx" $ "track" "canary" "port" 8000 "weight" 10); weight optional.
*/}}
{{- define "triton-routing.destination" -}}
{{- $v := .ctx.Values -}}
- destination:
    host: {{ include "triton-routing.serverHost" . }}
    subset: {{ .track }}
    port:
      number: {{ .port }}
  {{- if hasKey . "weight" }}
  weight: {{ .weight }}
  {{- end }}
  {{- if $v.canary.trackResponseHeader }}
  headers:
    response:
      set:
        {{ $v.canary.header }}: {{ .track }}
  {{- end }}
{{- end -}}

{{/*
The match list of a route, as YAML: inside the mesh by the Service port (and, for gRPC, the service's path
prefix); with the ingress Gateway also a match for its traffic, without a port, since Istio drops a port match
that is not the gateway listener's (pilot route.translateRoute). `extra`: more match fields (headers), as a map.
Usage: include "triton-routing.matches" (dict "ctx" $ "protocol" "grpc" "extra" (dict "headers" ...))
*/}}
{{- define "triton-routing.matches" -}}
{{- $v := .ctx.Values -}}
{{- $ports := dict "http" (int $v.server.ports.http) "grpc" (int $v.server.ports.grpc) -}}
{{- $common := .extra | default dict -}}
{{- if eq .protocol "grpc" -}}{{- $common = merge (dict "uri" (dict "prefix" "/inference.GRPCInferenceService/")) $common -}}{{- end -}}
{{- $mesh := merge (dict "port" (get $ports .protocol)) (deepCopy $common) -}}
{{- $matches := list -}}
{{- if $v.gateway.enabled -}}
{{- $_ := set $mesh "gateways" (list "mesh") -}}
{{- $matches = list $mesh (merge (dict "gateways" (list (include "triton-common.names.suffixed" (dict "ctx" .ctx "suffix" "gateway")))) (deepCopy $common)) -}}
{{- else -}}
{{- $matches = list $mesh -}}
{{- end -}}
{{- toYaml $matches -}}
{{- end -}}

{{/*
The weighted destinations of a route, as a YAML list: all to stable without a canary, else stable and canary by
canary.weight (both present under Argo Rollouts, which rewrites the weights).
*/}}
{{- define "triton-routing.destinations" -}}
{{- $v := .ctx.Values -}}
{{- include "triton-routing.destination" (dict "ctx" .ctx "track" "stable" "port" .port "weight" (sub 100 (ternary (int $v.canary.weight) 0 $v.canary.enabled))) }}
{{- if $v.canary.enabled }}
{{ include "triton-routing.destination" (dict "ctx" .ctx "track" "canary" "port" .port "weight" (int $v.canary.weight)) }}
{{- end }}
{{- end -}}

{{/*
Triton's admin API, as Istio operation paths (HTTP paths and gRPC method names) for the DENY policy: the
categories the server chart's adminApi closes (model repository, model config, shared memory, statistics, trace,
logging), from Triton 2.51's HTTP routes (src/http_server.cc) and GRPCInferenceService methods
(grpc_service.proto). Istio matches exact paths, a prefix ending in * or a suffix starting with *.
*/}}
{{- define "triton-routing.adminPaths" -}}
{{- toJson (list
  "/v2/repository*" "*/config" "/v2/systemsharedmemory*" "/v2/cudasharedmemory*" "*/stats" "/v2/models/stats" "/v2/trace*" "*/trace/setting" "/v2/logging*"
  "/inference.GRPCInferenceService/Repository*" "/inference.GRPCInferenceService/ModelConfig" "/inference.GRPCInferenceService/SystemSharedMemory*"
  "/inference.GRPCInferenceService/CudaSharedMemory*" "/inference.GRPCInferenceService/ModelStatistics" "/inference.GRPCInferenceService/TraceSetting"
  "/inference.GRPCInferenceService/LogSettings"
) -}}
{{- end -}}

{{/*
Series matchers for a track's pods: the release namespace and the track label the scrape config copies from the
pod (promotion.trackLabel). Usage: include "triton-routing.trackMatchers" (dict "ctx" $ "track" "canary")
*/}}
{{- define "triton-routing.trackMatchers" -}}
{{- printf "namespace=%q,%s=%q" .ctx.Release.Namespace .ctx.Values.promotion.trackLabel .track -}}
{{- end -}}

{{/*
The promotion gate's queries, as JSON [{name, query}], each giving one number for the canary track, and NO
sample while the canary has served fewer than promotion.minRequests requests in the window (`and on()` the
count): no data and too little data meet the same explicit policy (promotion.noData), and neither promotes.
- client-failure-ratio-http / -grpc: what clients see, from the sidecars' istio_requests_total scraped per pod
  (reporter "destination"): HTTP 5xx and 400 (Triton answers a malformed or mismatched input with 400 and counts
  it nowhere), and the gRPC statuses that mean the same (every status but OK, CANCELLED, NOT_FOUND,
  PERMISSION_DENIED and UNAUTHENTICATED, which like HTTP 499, 404, 403 and 401 are the client's doing);
- triton-failure-ratio: Triton's own nv_inference_request_failure (a model that raises, a rejected request);
- latency-ratio-vs-stable: the canary's time per request (queue + compute, Triton's counters) over stable's, when
  both have served promotion.minRequests in the window.
*/}}
{{- define "triton-routing.gate.queries" -}}
{{- $p := .ctx.Values.promotion -}}
{{- $w := $p.interval -}}
{{- $canary := include "triton-routing.trackMatchers" (dict "ctx" .ctx "track" "canary") -}}
{{- $stable := include "triton-routing.trackMatchers" (dict "ctx" .ctx "track" "stable") -}}
{{- $count := "(sum(increase(nv_inference_request_success{%[1]s}[%[2]s])) + sum(increase(nv_inference_request_failure{%[1]s}[%[2]s])) >= %[3]d)" -}}
{{- $tritonCount := printf $count $canary $w (int $p.minRequests) -}}
{{- /* The latency ratio also needs stable to serve (a setWeight 100 step leaves it idle: 0 / 1e-9). */ -}}
{{- $stableCount := printf $count $stable $w (int $p.minRequests) -}}
{{- $timePerRequest := "(sum(rate(nv_inference_queue_duration_us{%[1]s}[%[2]s])) + sum(rate(nv_inference_compute_input_duration_us{%[1]s}[%[2]s])) + sum(rate(nv_inference_compute_infer_duration_us{%[1]s}[%[2]s])) + sum(rate(nv_inference_compute_output_duration_us{%[1]s}[%[2]s]))) / clamp_min(sum(rate(nv_inference_request_success{%[1]s}[%[2]s])), 1e-9)" -}}
{{- $queries := list -}}
{{- range $protocol := list "http" "grpc" -}}
{{- $mesh := printf "reporter=\"destination\",request_protocol=%q,%s" $protocol $canary -}}
{{- $failed := ternary "response_code=~\"5..|400\"" "grpc_response_status!~\"0|1|5|7|16\"" (eq $protocol "http") -}}
{{- $queries = append $queries (dict "name" (printf "client-failure-ratio-%s" $protocol) "query" (printf "sum(rate(istio_requests_total{%s,%s}[%s])) / clamp_min(sum(rate(istio_requests_total{%s}[%s])), 1e-9) and on() (sum(increase(istio_requests_total{%s}[%s])) >= %d)" $mesh $failed $w $mesh $w $mesh $w (int $p.minRequests))) -}}
{{- end -}}
{{- $queries = append $queries (dict "name" "triton-failure-ratio" "query" (printf "sum(rate(nv_inference_request_failure{%s}[%s])) / clamp_min(sum(rate(nv_inference_request_success{%s}[%s])) + sum(rate(nv_inference_request_failure{%s}[%s])), 1e-9) and on() %s" $canary $w $canary $w $canary $w $tritonCount)) -}}
{{- $queries = append $queries (dict "name" "latency-ratio-vs-stable" "query" (printf "(%s) / clamp_min(%s, 1e-9) and on() %s and on() %s" (printf $timePerRequest $canary $w) (printf $timePerRequest $stable $w) $tritonCount $stableCount)) -}}
{{- toJson $queries -}}
{{- end -}}
