{{/*
Names. Kubernetes names are capped at 63 characters; every helper truncates and trims a trailing "-".
*/}}

{{/*
A chart's own name overrides: nameOverride/fullnameOverride in its values, else global.<chart alias>.* (how the
umbrella names the server for every subchart at once: global.server.fullnameOverride). JSON {name, fullname}.
*/}}
{{- define "triton-common.names.overrides" -}}
{{- $global := get ((.ctx.Values.global) | default dict) .ctx.Chart.Name | default dict -}}
{{- toJson (dict "name" (.ctx.Values.nameOverride | default (get $global "nameOverride")) "fullname" (.ctx.Values.fullnameOverride | default (get $global "fullnameOverride"))) -}}
{{- end -}}

{{/* The chart's name, or nameOverride. Usage: include "triton-common.names.name" (dict "ctx" $) */}}
{{- define "triton-common.names.name" -}}
{{- $overrides := include "triton-common.names.overrides" . | fromJson -}}
{{- default .ctx.Chart.Name $overrides.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release-scoped base name: fullnameOverride, or "<release>-<name>" (just "<release>" when the release
name already contains the chart name). Usage: include "triton-common.names.fullname" (dict "ctx" $)
*/}}
{{- define "triton-common.names.fullname" -}}
{{- $overrides := include "triton-common.names.overrides" . | fromJson -}}
{{- if $overrides.fullname -}}
{{- $overrides.fullname | trunc 63 | trimSuffix "-" -}}
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

{{/*
The server's identity, computed once for every chart of the suite. Subcharts cannot read each other's values,
yet routing, monitoring and batch point at the server's Services and pods: this is the name the triton-server
subchart (alias "server") gives them, from the release name and global.server.{nameOverride,fullnameOverride}
(the umbrella refuses the same overrides under server:, so there is one place to set them).
Usage: include "triton-common.names.server.fullname" (dict "ctx" $)
*/}}
{{- define "triton-common.names.server.name" -}}
{{- (get ((.ctx.Values.global) | default dict) "server" | default dict).nameOverride | default "server" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "triton-common.names.server.fullname" -}}
{{- $global := get ((.ctx.Values.global) | default dict) "server" | default dict -}}
{{- if $global.fullnameOverride -}}
{{- $global.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "triton-common.names.server.name" . -}}
{{- if contains $name .ctx.Release.Name -}}
{{- .ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .ctx.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name of the server's with a suffix (its -metrics Service, ...), within 63 characters. */}}
{{- define "triton-common.names.server.suffixed" -}}
{{- $budget := sub 62 (len .suffix) | int -}}
{{- printf "%s-%s" (include "triton-common.names.server.fullname" . | trunc $budget | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* The server pods' selector labels (every track). Usage: include "triton-common.labels.server.selector" (dict "ctx" $) */}}
{{- define "triton-common.labels.server.selector" -}}
app.kubernetes.io/name: {{ include "triton-common.names.server.name" . }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: server
{{- end -}}
