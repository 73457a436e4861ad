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
{{- /* Options the chart sets from its values, or that would end the master (a Deployment would restart it and run
again). An abbreviation of one is refused too: argparse would expand it (the locustfile turns that off as well). */ -}}
{{- $owned := list "--host" "--users" "--run-time" "--shape" "--model" "--protocol" "--payload" "--encoding" "--batch-size" "--user-rps" "--grpc-address" "--master" "--worker" "--csv" "--html" "--expect-workers" "--autostart" "--autoquit" "--headless" "--slo-p95-ms" "--slo-p99-ms" "--slo-failure-ratio" "--slo-stall-s" -}}
{{- $spikeCount := 1 -}}
{{- $spikeFraction := 0.2 -}}
{{- range $v.load.extraArgs -}}
{{- $flag := regexReplaceAll "=.*" . "" -}}
{{- $value := regexReplaceAll "^[^=]*=?" . "" -}}
{{- range $option := $owned -}}
{{- if hasPrefix $flag $option -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.extraArgs" "message" (printf "%s %s set by the chart from its own value (target.*, load.*, slo.*) or would end the master; set that value instead." $flag (ternary "is" (printf "abbreviates %s, which is" $option) (eq $flag $option)))) $fail) -}}
{{- end -}}
{{- end -}}
{{- /* Numbers of the shape options: a value Locust would refuse (exit 2, a restart loop) or read as something else. */ -}}
{{- $numbers := dict
  "--step-count" (list "^[1-9][0-9]*$" "a whole number of 1 or more")
  "--spike-count" (list "^[1-9][0-9]*$" "a whole number of 1 or more")
  "--spike-fraction" (list "^0?\\.[0-9]*[1-9][0-9]*$" "a number above 0 and below 1 (0.2)")
  "--spike-base-fraction" (list "^(0(\\.[0-9]*)?|\\.[0-9]+|1(\\.0*)?)$" "a number from 0 to 1 (0.25)")
  "--request-timeout-s" (list "^[0-9]+(\\.[0-9]+)?$" "a number of seconds, 0 or more") -}}
{{- with get $numbers $flag -}}
{{- if not (regexMatch (index . 0) $value) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.extraArgs" "message" (printf "%s: %q is not %s. Write it as %s=<value>, one item." $flag $value (index . 1) $flag)) $fail) -}}
{{- end -}}
{{- end -}}
{{- if eq $flag "--spike-count" }}{{ $spikeCount = atoi $value }}{{ end -}}
{{- if eq $flag "--spike-fraction" }}{{ $spikeFraction = float64 $value }}{{ end -}}
{{- end -}}

{{- /* The stall gate needs answers more often than one user sends requests, or a quiet moment fails the run. */ -}}
{{- if and (gt (float64 $v.slo.stallSeconds) 0.0) (gt (float64 $v.load.userRps) 0.0) (ge (divf 1 $v.load.userRps) (float64 $v.slo.stallSeconds)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "slo.stallSeconds" "message" (printf "%g is not above the pause between one user's requests (load.userRps %g: one every %g s), so a quiet moment with one user would fail the run. Raise it, or set 0 to turn the stall gate off." (float64 $v.slo.stallSeconds) (float64 $v.load.userRps) (divf 1 $v.load.userRps))) $fail) -}}
{{- end -}}

{{- /* The run's length: 0 would not be a run (Locust would fall back to a default length), and a spike burst must
last 2 s to be seen (the shape is looked at once a second). */ -}}
{{- $seconds := 0 -}}
{{- range $unit, $factor := dict "h" 3600 "m" 60 "s" 1 -}}
{{- with regexFind (printf "[0-9]+%s" $unit) $v.load.runTime -}}
{{- $seconds = add $seconds (mul (trimSuffix $unit . | atoi) $factor) -}}
{{- end -}}
{{- end -}}
{{- if eq (int $seconds) 0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.runTime" "message" (printf "%q is no time at all; give the run a length (10m, 1h30m)." $v.load.runTime)) $fail) -}}
{{- end -}}
{{- if and (eq $v.load.shape "spike") (gt $spikeCount 0) (lt (mulf (divf $seconds $spikeCount) $spikeFraction) 2.0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "load.runTime" "message" (printf "%q with --spike-count=%d and --spike-fraction=%g gives bursts of %g s; the shape is looked at once a second, so a burst under 2 s can be missed. Lengthen the run, or change those load.extraArgs." $v.load.runTime $spikeCount $spikeFraction (mulf (divf $seconds $spikeCount) $spikeFraction))) $fail) -}}
{{- end -}}
{{- end -}}
