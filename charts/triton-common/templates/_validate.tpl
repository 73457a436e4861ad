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

{{/*
True ("true") when every cluster the chart declares (Chart.yaml kubeVersion, ">=1.<floor>...") is at least the
given minor: what an offline render (helm template without --kube-version, as GitOps tools run it) may rely on,
since Helm then stands in its own default version, not the cluster's. Usage:
include "triton-common.kube.floorAtLeast" (dict "ctx" $ "minor" 30)
*/}}
{{- define "triton-common.kube.floorAtLeast" -}}
{{- $floor := regexFind ">=\\s*v?1\\.[0-9]+" (.ctx.Chart.KubeVersion | default "") | regexFind "[0-9]+$" -}}
{{- if and $floor (ge (atoi $floor) (int .minor)) -}}true{{- end -}}
{{- end -}}

{{/*
A Kubernetes IntOrString count (an integer, or a percentage "25%") as pods out of `total`, rounded as the
controller rounds it: up for maxSurge and a PodDisruptionBudget's maxUnavailable, down for a Deployment's
maxUnavailable (k8s.io/apimachinery intstr.GetScaledValueFromIntOrPercent; deployment util ResolveFenceposts;
the disruption controller). Usage:
include "triton-common.intOrPercent.scaled" (dict "value" "25%" "total" 4 "roundUp" true) | int
*/}}
{{- define "triton-common.intOrPercent.scaled" -}}
{{- $text := toString .value -}}
{{- if hasSuffix "%" $text -}}
{{- $exact := divf (mul (atoi (trimSuffix "%" $text)) (int .total)) 100.0 -}}
{{- ternary (ceil $exact) (floor $exact) .roundUp | int -}}
{{- else -}}
{{- int .value -}}
{{- end -}}
{{- end -}}
