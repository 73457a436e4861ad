{{/*
The name of a namespace guardrail (ResourceQuota, LimitRange): "<release>-<suffix>". They belong to the
release, not to a component, and the chart's own name in it would only repeat the release's
("triton-triton-stack-quota"). Usage: include "triton-stack.guardrails.name" (dict "ctx" $ "suffix" "quota")
*/}}
{{- define "triton-stack.guardrails.name" -}}
{{- printf "%s-%s" (.ctx.Release.Name | trunc (sub 62 (len .suffix) | int) | trimSuffix "-") .suffix -}}
{{- end -}}
