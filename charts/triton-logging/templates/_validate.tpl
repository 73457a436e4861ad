{{/*
Checks on values that values.schema.json cannot express. Each names the value path (with the umbrella's
`logging.` prefix inside it) and says what to do. Called once, from the DaemonSet.
*/}}
{{- define "triton-logging.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}
{{- $type := $v.output.type -}}
{{- if and (has $type (list "elasticsearch" "opensearch")) (not (get $v.output $type).host) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "output.%s.host" $type) "message" (printf "is empty, and output.type is %s: Fluentd would have nowhere to send the records. Set the host (without scheme or port)." $type)) $fail) -}}
{{- end -}}
{{- if and (eq $type "loki") (not $v.output.loki.url) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "output.loki.url" "message" "is empty, and output.type is loki. Set Loki's base URL (http://loki-gateway.loki.svc).") $fail) -}}
{{- end -}}
{{- if and (eq $type "loki") (hasSuffix "fluent/fluentd-kubernetes-daemonset" $v.image.repository) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "image.repository" "message" (printf "%s publishes no variant with the Loki output plugin. Build an image FROM %s:v%s-debian-forward-1.1 with `gem install fluent-plugin-grafana-loki` and set image.repository and image.tag." $v.image.repository $v.image.repository .ctx.Chart.AppVersion)) $fail) -}}
{{- end -}}
{{- $namespace := include "triton-logging.namespace" . -}}
{{- if eq $namespace (include "triton-logging.targetNamespace" .) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "namespace.name" "message" (printf "%q is the namespace of the Triton pods. Fluentd reads node logs through hostPath as root, which needs pod-security.kubernetes.io/enforce=privileged on its namespace; the server's must stay restricted. Use a namespace of its own (triton-logging)." $namespace)) $fail) -}}
{{- end -}}
{{- end -}}
