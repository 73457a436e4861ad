{{/*
Checks on combinations of values that values.schema.json cannot express. Each names the value path (with the
umbrella's "batch." prefix there) and says what to do. Called once, from the Job or the CronJob, so a bad release
renders nothing.
*/}}
{{- define "triton-batch.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}
{{- $p := include "triton-common.validate.prefix" $fail -}}

{{- /* Shards: Kueue counts a Job's pods as its parallelism, and no more pods than shards ever run. */ -}}
{{- if gt (int $v.parallelism) (int $v.shards) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "parallelism" "message" (printf "%d is above %sshards %d: an Indexed Job never runs more pods than shards, and Kueue would hold quota for %d pods of which %d never start. Lower it to at most %d, or raise the shards." (int $v.parallelism) $p (int $v.shards) (int $v.parallelism) (sub (int $v.parallelism) (int $v.shards)) (int $v.shards))) $fail) -}}
{{- end -}}
{{- if and $v.timeZone (not $v.schedule) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "timeZone" "message" (printf "is %q while %sschedule is empty: a one-off Job has no schedule to place in a time zone. Set a schedule, or clear the time zone." $v.timeZone $p)) $fail) -}}
{{- end -}}
{{- if and $v.schedule (regexMatch "TZ=" $v.schedule) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "schedule" "message" (printf "carries a time zone (%q); Kubernetes refuses TZ= in a CronJob schedule. Put the zone in %stimeZone." $v.schedule $p)) $fail) -}}
{{- end -}}

{{- /* Input and output: a path on the data claim, or an object-store prefix with credentials. */ -}}
{{- $mount := trimSuffix "/" $v.data.pvc.mountPath -}}
{{- range $key := list "input" "output" -}}
{{- $path := (get $v $key).path -}}
{{- if not (include "triton-batch.isObjectStore" $path) -}}
{{- if not $v.data.pvc.claimName -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "data.pvc.claimName" "message" (printf "is empty while %s%s.path %q is a path on it. Name the existing PersistentVolumeClaim that holds it (ReadWriteMany when shards run on several nodes), or use an s3:// or gs:// prefix." $p $key $path)) $fail) -}}
{{- end -}}
{{- if not (hasPrefix (printf "%s/" $mount) (printf "%s/" (trimSuffix "/" $path))) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.path" $key) "message" (printf "%q is neither under %sdata.pvc.mountPath %q nor an s3:// or gs:// prefix, so the pod would read or write its own read-only filesystem. Use a path under %s/." $path $p $v.data.pvc.mountPath $mount)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $in := printf "%s/" (trimSuffix "/" $v.input.path) -}}
{{- $out := printf "%s/" (trimSuffix "/" $v.output.path) -}}
{{- if or (hasPrefix $in $out) (hasPrefix $out $in) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "output.path" "message" (printf "%q overlaps %sinput.path %q: results would be read back as input by the next run. Use separate places." $v.output.path $p $v.input.path)) $fail) -}}
{{- end -}}
{{- if include "triton-batch.objectStore.used" . -}}
{{- $store := $v.objectStore -}}
{{- if eq $store.credentials "secret" -}}
{{- if not $store.existingSecret -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "objectStore.existingSecret" "message" (printf "is required with %sobjectStore.credentials secret. Name the Secret whose keys become the client's environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or GOOGLE_APPLICATION_CREDENTIALS), or use credentials: workloadIdentity." $p)) $fail) -}}
{{- end -}}
{{- else -}}
{{- range $scheme := list "s3" "gs" -}}
{{- if or (hasPrefix (printf "%s://" $scheme) $v.input.path) (hasPrefix (printf "%s://" $scheme) $v.output.path) -}}
{{- $want := get (dict "s3" "aws.roleArn" "gs" "gcp.serviceAccount") $scheme -}}
{{- $have := get (dict "s3" $store.workloadIdentity.aws.roleArn "gs" $store.workloadIdentity.gcp.serviceAccount) $scheme -}}
{{- if and (not $have) (not $v.serviceAccount.annotations) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "objectStore.workloadIdentity.%s" $want) "message" (printf "is required for a %s:// path with %sobjectStore.credentials workloadIdentity: without it the pod has no credentials and every read fails. Set it, annotate the ServiceAccount yourself (%sserviceAccount.annotations), or use credentials: secret." $scheme $p $p)) $fail) -}}
{{- end -}}
{{- if and (not $v.serviceAccount.create) $have -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "serviceAccount.create" "message" (printf "is false, so the chart cannot put %sobjectStore.workloadIdentity.%s on a ServiceAccount. Create it, or annotate your own ServiceAccount and clear that value." $p $want)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* The target: a sidecar needs its own models; GPUs and a model claim mean nothing without one. */ -}}
{{- $sidecar := $v.sidecar -}}
{{- if eq $v.target.mode "sidecar" -}}
{{- if not (include "triton-common.validate.kubeAtLeast" (dict "ctx" .ctx "minor" 29)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "target.mode" "message" (printf "sidecar needs native sidecar containers (SidecarContainers: beta and on by default from Kubernetes 1.29), and this render targets %s. Below 1.29 the API server drops an init container's restartPolicy, so the sidecar Triton would hold the pod in its init phase forever. Use target.mode service." .ctx.Capabilities.KubeVersion.Version)) $fail) -}}
{{- end -}}
{{- if not $sidecar.modelRepository.claimName -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "sidecar.modelRepository.claimName" "message" (printf "is required with %starget.mode sidecar: the sidecar Triton serves the model repository of an existing PersistentVolumeClaim." $p)) $fail) -}}
{{- end -}}
{{- if $v.target.service.host -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "target.service.host" "message" (printf "is %q while %starget.mode is sidecar, which calls its own Triton on loopback. Clear it, or use target.mode service." $v.target.service.host $p)) $fail) -}}
{{- end -}}
{{- include "triton-common.gpu.validate" (dict "ctx" .ctx "gpu" $sidecar.gpu "path" "sidecar.gpu" "replicas" 1 "replicasPath" "parallelism" "replicasText" "parallelism") -}}
{{- if and $sidecar.gpu.products (eq (int $sidecar.gpu.count) 0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "sidecar.gpu.products" "message" (printf "pins the batch pods to GPU nodes while %ssidecar.gpu.count is 0. Set the count, or clear the products." $p)) $fail) -}}
{{- end -}}
{{- $memory := ((($sidecar.resources | default dict).limits | default dict).memory) -}}
{{- if and $memory (ge (include "triton-common.quantity.value" $sidecar.sharedMemorySizeLimit | float64) (include "triton-common.quantity.value" $memory | float64)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "sidecar.sharedMemorySizeLimit" "message" (printf "%s is not below %ssidecar.resources.limits.memory %s: /dev/shm is memory-backed and counts against that limit, so filling it OOM-kills the sidecar. Lower it or raise the limit." (toString $sidecar.sharedMemorySizeLimit) $p (toString $memory))) $fail) -}}
{{- end -}}
{{- else -}}
{{- if gt (int $sidecar.gpu.count) 0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "sidecar.gpu.count" "message" (printf "is %d while %starget.mode is service: there is no sidecar to give GPUs to, and the client needs none. Use target.mode sidecar for an isolated GPU lane, or set it to 0." (int $sidecar.gpu.count) $p)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /* GPUs come only from sidecar.gpu, which brings the toleration and node affinity along. */ -}}
{{- range $section := list "client.resources" "sidecar.resources" -}}
{{- $resources := ternary $v.client.resources $sidecar.resources (eq $section "client.resources") | default dict -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $name, $_ := (get $resources $kind | default dict) -}}
{{- if regexMatch "^(nvidia\\.com/|amd\\.com/gpu|gpu\\.intel\\.com/)" $name -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.%s" $section $kind) "message" (printf "sets %s, a GPU resource. Set %ssidecar.gpu.count (with target.mode sidecar) instead: the chart adds the GPU request and limit together with the GPU toleration and node affinity; the client itself needs no GPU." $name $p)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
