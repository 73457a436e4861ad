{{/*
Names. Kubernetes names are capped at 63 characters; every helper truncates and trims a trailing "-".
*/}}

{{/* The chart's name, or nameOverride. Usage: include "triton-common.names.name" (dict "ctx" $) */}}
{{- define "triton-common.names.name" -}}
{{- default .ctx.Chart.Name .ctx.Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release-scoped base name: fullnameOverride, or "<release>-<name>" (just "<release>" when the release
name already contains the chart name). Usage: include "triton-common.names.fullname" (dict "ctx" $)
*/}}
{{- define "triton-common.names.fullname" -}}
{{- if .ctx.Values.fullnameOverride -}}
{{- .ctx.Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "triton-common.names.name" . -}}
{{- if contains $name .ctx.Release.Name -}}
{{- .ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .ctx.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A name with a suffix. The base is cut to leave room for "-<suffix>" so the whole stays within 63.
Usage: include "triton-common.names.suffixed" (dict "ctx" $ "suffix" "metrics")
*/}}
{{- define "triton-common.names.suffixed" -}}
{{- $budget := sub 62 (len .suffix) | int -}}
{{- printf "%s-%s" (include "triton-common.names.fullname" . | trunc $budget | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* "name-version" for the helm.sh/chart label; "+" is not allowed in label values. */}}
{{- define "triton-common.names.chart" -}}
{{- printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ServiceAccount name. Usage: include "triton-common.names.serviceAccount" (dict "ctx" $) */}}
{{- define "triton-common.names.serviceAccount" -}}
{{- if .ctx.Values.serviceAccount.create -}}
{{- default (include "triton-common.names.fullname" .) .ctx.Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .ctx.Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
