{{/*
Labels. Every object carries the recommended app.kubernetes.io labels and helm.sh/chart. Selectors use
only name, instance and component (and the track, for workloads that have canary tracks): version and chart
change on upgrade, and a selector must not, or the upgrade orphans pods.
*/}}

{{/*
Selector labels. Usage: include "triton-common.labels.selector" (dict "ctx" $ "component" "server")
Pass "track" as well for workloads that run stable and canary tracks side by side.
*/}}
{{- define "triton-common.labels.selector" -}}
app.kubernetes.io/name: {{ include "triton-common.names.name" . }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .track }}
triton-stack.io/track: {{ . }}
{{- end }}
{{- end -}}

{{/* All labels. Usage: include "triton-common.labels.standard" (dict "ctx" $ "component" "server") */}}
{{- define "triton-common.labels.standard" -}}
{{ include "triton-common.labels.selector" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | default .ctx.Chart.Version | quote }}
app.kubernetes.io/part-of: triton-stack
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "triton-common.names.chart" . }}
{{- with ((.ctx.Values.global).commonLabels) }}
{{ toYaml . }}
{{- end }}
{{- end -}}
