{{/*
Checks on values that values.schema.json cannot express. Each names the value path (with the umbrella's
`monitoring.` prefix inside it) and says what to do. Called from the ServiceMonitor and the PrometheusRule.
*/}}
{{- define "triton-monitoring.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}
{{- if $v.serviceMonitor.enabled -}}
{{- $interval := include "triton-common.duration.seconds" $v.serviceMonitor.interval | float64 -}}
{{- $timeout := include "triton-common.duration.seconds" $v.serviceMonitor.scrapeTimeout | float64 -}}
{{- if gt $timeout $interval -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "serviceMonitor.scrapeTimeout" "message" (printf "%s is longer than serviceMonitor.interval %s, and Prometheus refuses such a scrape config (the whole config, every target). Make it at most the interval." $v.serviceMonitor.scrapeTimeout $v.serviceMonitor.interval)) $fail) -}}
{{- end -}}
{{- range $name, $_ := $v.serviceMonitor.seriesLabels -}}
{{- if has $name (list "namespace" "job" "service" "pod" "container" "endpoint" "instance" "track" "model" "version" "reason" "quantile" "gpu_uuid") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "serviceMonitor.seriesLabels.%s" $name) "message" (printf "%q is a label the ServiceMonitor or Triton already sets, and the rules and dashboards select on it; overwriting it breaks them. Choose another name." $name)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $r := $v.prometheusRule -}}
{{- /* The fast-burn page fires when the failure ratio exceeds 14.4 or 6 times the error budget (1 - availability), over
a long and a short window; a ratio never exceeds 1, so with a budget of 1/6 or more neither pair can ever fire. The
arithmetic is Prometheus's own (6 * (1 - availability), float64), so the boundary is exactly where the rule's
threshold reaches 1. */ -}}
{{- if and $r.enabled (ge (mulf 6.0 (subf 1.0 $r.slo.availability)) 1.0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "prometheusRule.slo.availability" "message" (printf "%v leaves an error budget of %g%% of the requests. The fast-burn pages (TritonModelErrorBudgetBurnFast, TritonMeshErrorBudgetBurnFast) fire on a failure ratio above 14.4 or 6 times the budget, here above %g, and a ratio is at most 1: no page could ever fire. Set an objective above 1 - 1/6 (0.8334 or more); below 1 - 1/14.4 (0.9306) only the 6x pair, over 6h and 30m, can page." $r.slo.availability (mulf 100.0 (subf 1.0 $r.slo.availability)) (mulf 6.0 (subf 1.0 $r.slo.availability)))) $fail) -}}
{{- end -}}
{{- if and $r.enabled (not $r.sharedRules) $r.alerts -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "prometheusRule.alerts" "message" "changes alerts that this release does not render (prometheusRule.sharedRules is false: another release renders them). Set them in that release.") $fail) -}}
{{- end -}}
{{- end -}}
