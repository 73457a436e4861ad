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
{{- if and $r.enabled (not $r.sharedRules) $r.alerts -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "prometheusRule.alerts" "message" "changes alerts that this release does not render (prometheusRule.sharedRules is false: another release renders them). Set them in that release.") $fail) -}}
{{- end -}}
{{- end -}}
