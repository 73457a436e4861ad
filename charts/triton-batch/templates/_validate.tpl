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

{{- $sidecarMode := eq $v.target.mode "sidecar" -}}

{{- /* Input and output: a path on the data claim, or an object-store prefix with credentials. */ -}}
{{- $mount := trimSuffix "/" $v.data.pvc.mountPath -}}
{{- $clientDir := include "triton-batch.clientDir" . -}}
{{- $taken := dict "" "its root filesystem" "/tmp" "its scratch space (/tmp)" $clientDir (printf "its own program (%s, read-only)" $clientDir) -}}
{{- $under := ternary $clientDir $mount (hasPrefix (printf "%s/" $clientDir) $mount) -}}
{{- if and (include "triton-batch.pvc.used" .) (regexMatch "(^|/)\\.\\.(/|$)" $v.data.pvc.mountPath) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "data.pvc.mountPath" "message" (printf "%q has a .. segment: the paths under it are checked as written, so .. could lead elsewhere (/tmp, the client's program). Write it without .., /data for instance." $v.data.pvc.mountPath)) $fail) -}}
{{- end -}}
{{- if and (include "triton-batch.pvc.used" .) (hasKey $taken $under) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "data.pvc.mountPath" "message" (printf "%q collides with %s in the client container: the API server refuses two volumes at one path, and a claim over the program would hide it. Mount the claim elsewhere, /data for instance." $v.data.pvc.mountPath (get $taken $under))) $fail) -}}
{{- end -}}
{{- range $key := list "input" "output" -}}
{{- $path := (get $v $key).path -}}
{{- if regexMatch "(^|/)\\.\\.(/|$)" $path -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.path" $key) "message" (printf "%q has a .. segment: a path is checked against %sdata.pvc.mountPath as written, so .. could lead off the claim. Write it without ..." $path $p)) $fail) -}}
{{- end -}}
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
{{- if $sidecarMode -}}
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

{{- /* Decodes: what --decode-concurrency decodes of the largest item (an image of --max-image-pixels, a JSON line of
--max-line-bytes) may hold must fit the client's memory. */ -}}
{{- $limit := (($v.client.resources | default dict).limits | default dict).memory -}}
{{- $images := eq $v.input.format "images" -}}
{{- $itemPath := ternary "client.maxImagePixels" "client.maxLineBytes" $images -}}
{{- $item := ternary (int64 $v.client.maxImagePixels) (int64 $v.client.maxLineBytes) $images -}}
{{- $decodeBytes := mul (int $v.client.decodeConcurrency) $item (include "triton-batch.decodeBytesPerPixel" .) -}}
{{- if and $limit (gt (float64 $decodeBytes) (divf (include "triton-common.quantity.value" $limit | float64) 2)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" $itemPath "message" (printf "%d x %sclient.decodeConcurrency %d x %s bytes a%s = %d bytes of decodes is above half of %sclient.resources.limits.memory %s (the other half is Python, tritonclient and the buffers). Lower them, or raise the limit." $item $p (int $v.client.decodeConcurrency) (include "triton-batch.decodeBytesPerPixel" .) (ternary " pixel" " line byte" $images) (int64 $decodeBytes) $p (toString $limit))) $fail) -}}
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

{{- /* A run without a deadline can hang forever: a sidecar that never passes its startup probe is restarted
without end and the pod never fails (kubernetes/kubernetes#120234); a CronJob run that hangs keeps every later run
from starting (concurrencyPolicy Forbid). */ -}}
{{- if and (or $v.schedule $sidecarMode) (eq (int $v.activeDeadlineSeconds) 0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "activeDeadlineSeconds" "message" (printf "is 0 (no deadline) with %s. %s Set the longest a run may take, in seconds (21600 for 6 h)." (ternary (printf "%starget.mode sidecar" $p) (printf "%sschedule %q" $p $v.schedule) $sidecarMode) (ternary "A sidecar that never passes its startup probe is restarted without end and its pod never fails (kubernetes/kubernetes#120234), so the Job would never end." "A scheduled run that hangs would keep every later run from starting (concurrencyPolicy Forbid)." $sidecarMode))) $fail) -}}
{{- end -}}
{{- if and $sidecarMode (gt (int $v.activeDeadlineSeconds) 0) (le (int $v.activeDeadlineSeconds) (int $v.sidecar.maxModelLoadSeconds)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "activeDeadlineSeconds" "message" (printf "%d is not above %ssidecar.maxModelLoadSeconds %d: a run could be stopped before its sidecar has loaded the models. Raise it." (int $v.activeDeadlineSeconds) $p (int $v.sidecar.maxModelLoadSeconds))) $fail) -}}
{{- end -}}
{{- end -}}
