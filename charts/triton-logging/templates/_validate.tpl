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
{{- if has $type (list "elasticsearch" "opensearch") -}}
{{- $o := get $v.output $type -}}
{{- if and $o.caSecret (ne $o.scheme "https") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "output.%s.caSecret" $type) "message" (printf "names Secret %q, but output.%s.scheme is %s: there is no TLS for the CA to verify. Set the scheme to https, or leave caSecret empty." $o.caSecret $type $o.scheme)) $fail) -}}
{{- end -}}
{{- end -}}
{{- /* The log path spells the server's pod names out (triton-logging.logPath): <workload>-<hash>-<suffix>, which
the API server keeps only while "<workload>-<hash>-" fits the 58 characters it leaves a generated name's base, that
is for workload names of at most 46. The umbrella checks the canary's name (<server>-canary) when it runs one. */ -}}
{{- $server := include "triton-common.names.server.fullname" (dict "ctx" .ctx) -}}
{{- if gt (len $server) 46 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "enabled" "message" (printf "Fluentd finds the server's log files by its pods' names, <workload>-<hash>-<suffix>, which Kubernetes keeps only for workload names of at most 46 characters, and the server's is %q (%d): its pods' names are cut short and no log would be read. Shorten the release name, or set a shorter global.server.fullnameOverride." $server (len $server))) $fail) -}}
{{- end -}}
{{- $namespace := include "triton-logging.namespace" . -}}
{{- if eq $namespace (include "triton-logging.targetNamespace" .) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "namespace.name" "message" (printf "%q is the namespace of the Triton pods. Fluentd reads node logs through hostPath as root, which needs pod-security.kubernetes.io/enforce=privileged on its namespace; the server's must stay restricted. Use a namespace of its own (triton-logging)." $namespace)) $fail) -}}
{{- end -}}
{{- end -}}
