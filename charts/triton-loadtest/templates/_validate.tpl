{{/*
Checks on combinations of values that values.schema.json cannot express. Each names the value path and
says what to do. Called once, from the master Deployment, so a bad release renders nothing.
*/}}
{{- define "triton-loadtest.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}
{{- if and (eq $v.target.protocol "grpc") (hasSuffix "locustio/locust" $v.image.repository) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "target.protocol" "message" (printf "grpc needs tritonclient[grpc] in the image, and %s has only Locust. Use http, or build an image FROM it with `pip install tritonclient[grpc]==2.51.0` and set image.repository." $v.image.repository)) $fail) -}}
{{- end -}}
{{- if and (ne $v.target.protocol "http") (eq $v.load.encoding "json") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.encoding" "message" "json is an HTTP body encoding; gRPC always sends protobuf. Leave it at binary or use target.protocol http.") $fail) -}}
{{- end -}}
{{- $workerProcesses := mul $v.workers.replicas $v.workers.processes -}}
{{- if lt (int $v.load.users) (int $workerProcesses) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.users" "message" (printf "%d users cannot keep workers.replicas x workers.processes = %d worker processes busy; raise load.users or run fewer workers." (int $v.load.users) (int $workerProcesses))) $fail) -}}
{{- end -}}
{{- range $v.load.extraArgs -}}
{{- $flag := regexReplaceAll "=.*" . "" -}}
{{- if has $flag (list "--host" "-H" "--users" "-u" "--run-time" "-t" "--shape" "--model" "--protocol" "--master" "--worker" "--csv" "--html" "--expect-workers" "--slo-p95-ms" "--slo-p99-ms" "--slo-failure-ratio") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.extraArgs" "message" (printf "%s is set by the chart from its own value (target.*, load.*, slo.*); set that value instead." $flag)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
