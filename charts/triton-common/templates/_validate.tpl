{{/*
Validation. JSON schema catches types, enums and ranges; these helpers catch what a schema cannot see:
combinations of values. Each failure names the value path as the user writes it (with the umbrella's
section prefix when the chart is a subchart) and says what to do.
*/}}

{{/*
The prefix of this chart's values as the user writes them: "" standalone, "<alias>." inside the umbrella
(Helm sets Chart.Name to the dependency alias).
Usage: include "triton-common.validate.prefix" (dict "ctx" $)
*/}}
{{- define "triton-common.validate.prefix" -}}
{{- if not .ctx.Chart.IsRoot -}}{{ .ctx.Chart.Name }}.{{- end -}}
{{- end -}}

{{/*
Fails the render with "<prefix><path>: <message>".
Usage: include "triton-common.validate.fail" (dict "ctx" $ "path" "gpu.count" "message" "must be ...")
*/}}
{{- define "triton-common.validate.fail" -}}
{{- fail (printf "\n%s%s: %s" (include "triton-common.validate.prefix" .) .path .message) -}}
{{- end -}}

{{/*
True ("true") when the cluster version is at least the given minor. Usage:
include "triton-common.validate.kubeAtLeast" (dict "ctx" $ "minor" 30)
*/}}
{{- define "triton-common.validate.kubeAtLeast" -}}
{{- if semverCompare (printf ">=1.%d.0-0" (int .minor)) .ctx.Capabilities.KubeVersion.Version -}}true{{- end -}}
{{- end -}}
