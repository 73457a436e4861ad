{{/*
Checks on combinations of values that values.schema.json cannot express. Each names the value path and
says what to do. Called once, from the Deployment, so a bad release renders nothing.
*/}}
{{- define "triton-server.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}
{{- /* Other value paths named in a message carry the same prefix as the failing one ("server." in the umbrella). */ -}}
{{- $p := include "triton-common.validate.prefix" $fail -}}

{{- /* Drain: the kubelet kills the container at the grace period, whatever Triton is still serving. */ -}}
{{- $needed := add $v.drain.preStopSeconds $v.triton.exitTimeoutSeconds $v.drain.marginSeconds -}}
{{- if lt (int $v.drain.terminationGracePeriodSeconds) (int $needed) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "drain.terminationGracePeriodSeconds" "message" (printf "%d is shorter than %sdrain.preStopSeconds + %striton.exitTimeoutSeconds + %sdrain.marginSeconds = %d; in-flight requests would be killed. Raise it to at least %d or shorten the others." (int $v.drain.terminationGracePeriodSeconds) $p $p $p (int $needed) (int $needed))) $fail) -}}
{{- end -}}
{{- if and (eq $v.drain.preStopMode "sleepAction") (not (include "triton-common.validate.kubeAtLeast" (dict "ctx" .ctx "minor" 30))) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "drain.preStopMode" "message" (printf "sleepAction needs Kubernetes >= 1.30 (this render targets %s). Use auto or exec." .ctx.Capabilities.KubeVersion.Version)) $fail) -}}
{{- end -}}

{{- /* Admin API */ -}}
{{- if $v.adminApi.restricted -}}
{{- if not $v.adminApi.existingSecret -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "adminApi.existingSecret" "message" "is required when adminApi.restricted is true. Create a Secret holding the admin key (kubectl create secret generic triton-admin-key --from-literal=admin-key=...) and name it here; the chart never stores keys in values.") $fail) -}}
{{- end -}}
{{- if has "health" $v.adminApi.categories -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "adminApi.categories" "message" "must not contain health: the kubelet's probes carry no header and would fail. Remove health from the list.") $fail) -}}
{{- end -}}
{{- if not $v.adminApi.categories -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "adminApi.categories" "message" "is empty while adminApi.restricted is true. List the categories to close (model-repository, model-config, ...) or set adminApi.restricted to false.") $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Load list: explicit mode opens the repository API's load and unload, and a load request may carry its own
config and files (model code), so the list is only allowed with that API behind the admin header. */ -}}
{{- $load := $v.triton.loadModels -}}
{{- range $index, $name := $load -}}
{{- if or (not (regexMatch "^[A-Za-z0-9_][A-Za-z0-9_.-]*$" $name)) (gt (len $name) 255) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "triton.loadModels.%d" $index) "message" (printf "%q is not a Triton model directory name. List the name of a model's directory in the repository (the name in its config.pbtxt): letters, digits, _ . - and not starting with a dot, at most 255 characters; * and paths are not accepted." $name)) $fail) -}}
{{- end -}}
{{- end -}}
{{- if ne (len $load) (len (uniq $load)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.loadModels" "message" "lists a model twice. List each model once.") $fail) -}}
{{- end -}}
{{- if $load -}}
{{- if eq $v.triton.modelControlMode "poll" -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.modelControlMode" "message" (printf "is poll, but %striton.loadModels needs explicit mode (the chart sets it). Set modelControlMode to none or explicit, or empty the load list." $p)) $fail) -}}
{{- end -}}
{{- if not (and $v.adminApi.restricted (has "model-repository" $v.adminApi.categories)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.loadModels" "message" (printf "needs the model-repository API restricted: the list switches Triton to explicit mode, where anyone reaching the Service could load and unload models, with code of their own. Set %sadminApi.restricted: true with an existingSecret, and keep model-repository in %sadminApi.categories." $p $p)) $fail) -}}
{{- end -}}
{{- if and (ne $v.autoscaling.mode "none") $v.autoscaling.model (not (has $v.autoscaling.model $load)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.model" "message" (printf "%q is not in %striton.loadModels %v: its series would never exist and the autoscaler would never scale up. Scale on a listed model, or leave autoscaling.model empty (every model the pod serves)." $v.autoscaling.model $p $load)) $fail) -}}
{{- end -}}
{{- if and $v.helmTest.enabled $v.helmTest.model (not (has $v.helmTest.model $load)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "helmTest.model" "message" (printf "%q is not in %striton.loadModels %v, so the helm test would infer on a model that is not loaded. Add it to the list or test a listed model." $v.helmTest.model $p $load)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /* The same hole without a list: explicit or poll mode with the repository API open to every caller. */ -}}
{{- if and (not $load) (ne $v.triton.modelControlMode "none") (not (and $v.adminApi.restricted (has "model-repository" $v.adminApi.categories))) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.modelControlMode" "message" (printf "is %s with the model-repository API open: anyone reaching the Service could load and unload models, with code of their own. Set %sadminApi.restricted: true with an existingSecret (keeping model-repository in %sadminApi.categories), or leave the mode none." $v.triton.modelControlMode $p $p)) $fail) -}}
{{- end -}}

{{- /* Model repository */ -}}
{{- $repo := $v.modelRepository -}}
{{- if and (eq $repo.type "pvc") (not $repo.pvc.claimName) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.pvc.claimName" "message" "is required when modelRepository.type is pvc. Name an existing PersistentVolumeClaim that holds the model repository.") $fail) -}}
{{- end -}}
{{- if eq $repo.type "objectStore" -}}
{{- $uri := $repo.objectStore.uri -}}
{{- if not (regexMatch "^(s3|gs|as)://[^/]+" $uri) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.uri" "message" (printf "%q is not an object-store URI. Use s3://bucket/path, gs://bucket/path or as://account/container/path." $uri)) $fail) -}}
{{- end -}}
{{- if and (eq $repo.objectStore.credentials "secret") (not $repo.objectStore.existingSecret) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.existingSecret" "message" (printf "is required when %smodelRepository.objectStore.credentials is secret. Name the Secret whose keys become the container's environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, or for as:// AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY)%s." $p (ternary "" ", or use credentials: workloadIdentity" (hasPrefix "as://" $uri)))) $fail) -}}
{{- end -}}
{{- if and (eq $repo.objectStore.credentials "workloadIdentity") (hasPrefix "as://" $uri) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.credentials" "message" "workloadIdentity does not reach as:// repositories: Triton 2.51's Azure storage client reads only AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY. Use credentials: secret with an existingSecret holding those two keys.") $fail) -}}
{{- end -}}
{{- if eq $repo.objectStore.credentials "workloadIdentity" -}}
{{- $wi := $repo.objectStore.workloadIdentity -}}
{{- $scheme := first (splitList ":" $uri) -}}
{{- $want := get (dict "s3" "aws.roleArn" "gs" "gcp.serviceAccount") $scheme -}}
{{- $have := get (dict "s3" $wi.aws.roleArn "gs" $wi.gcp.serviceAccount) $scheme -}}
{{- if and (not $have) (not $v.serviceAccount.annotations) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "modelRepository.objectStore.workloadIdentity.%s" $want) "message" (printf "is required for a %s:// repository with credentials: workloadIdentity (or annotate the ServiceAccount yourself with %sserviceAccount.annotations)." $scheme $p)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $repo.type "configMap" -}}
{{- if and $repo.configMap.name $repo.configMap.files -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.configMap" "message" "sets both name and files. Either mount an existing ConfigMap (name + items) or let the chart create one (files), not both.") $fail) -}}
{{- end -}}
{{- if and (not $repo.configMap.name) (not $repo.configMap.files) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.configMap.files" "message" "is empty and no modelRepository.configMap.name is given. Put the repository files here (path: content), or name an existing ConfigMap.") $fail) -}}
{{- end -}}
{{- if and $repo.configMap.name (not $repo.configMap.items) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.configMap.items" "message" "is required with modelRepository.configMap.name: ConfigMap keys cannot hold directories, so list {key, path} items that lay out <model>/config.pbtxt and <model>/<version>/<file>.") $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Replicas: null removes the default in Helm and would render an empty replica count. */ -}}
{{- $numeric := kindIs "float64" $v.replicaCount | or (kindIs "int64" $v.replicaCount) | or (kindIs "int" $v.replicaCount) -}}
{{- if and (not $numeric) (eq $v.autoscaling.mode "none") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "replicaCount" "message" (printf "is null or missing. Set it to the number of Triton pods (a whole number, 0 or more), or let an autoscaler own the count: %sautoscaling.mode hpa or keda, with %sautoscaling.minReplicas and maxReplicas." $p $p)) $fail) -}}
{{- end -}}

{{- /*
GPUs: only gpu.count asks for GPUs, because only it brings the GPU toleration, product affinity and GPU metrics
flag along. A GPU resource written into resources (whole GPUs, MIG slices, another vendor's GPUs) would get a
GPU without them.
*/ -}}
{{- range $section := list "resources" "engineBuild.resources" -}}
{{- $resources := ternary $v.resources $v.engineBuild.resources (eq $section "resources") | default dict -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $name, $_ := (get $resources $kind | default dict) -}}
{{- if regexMatch "^(nvidia\\.com/|amd\\.com/gpu|gpu\\.intel\\.com/)" $name -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.%s" $section $kind) "message" (printf "sets %s, a GPU resource. Set %sgpu.count (and %sgpu.mig for MIG slices) instead: the chart adds the GPU request and limit together with the GPU toleration, product affinity and GPU metrics flag." $name $p $p)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.gpu.products (eq (int $v.gpu.count) 0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "gpu.products" "message" "pins pods to GPU nodes while gpu.count is 0. Set gpu.count, or clear gpu.products for a CPU deployment.") $fail) -}}
{{- end -}}

{{- /* Engine build: needs a GPU to build on and a writable volume to cache engines in. */ -}}
{{- if $v.engineBuild.enabled -}}
{{- if eq (int $v.gpu.count) 0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "engineBuild.enabled" "message" "needs gpu.count > 0: a TensorRT engine is built on, and only runs on, the GPU it is for.") $fail) -}}
{{- end -}}
{{- if ne $repo.type "pvc" -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "engineBuild.enabled" "message" (printf "needs modelRepository.type pvc (not %s): engines are cached in the model volume, which the init container writes." $repo.type)) $fail) -}}
{{- end -}}
{{- if not $v.engineBuild.models -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "engineBuild.models" "message" "is empty while engineBuild.enabled is true. List the TensorRT models to build ({name, onnx}), or disable engineBuild.") $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Rollout: Kubernetes rejects a rolling update that may neither add nor remove a pod. */ -}}
{{- /* (Kubernetes compares the raw values: 0 and "0%" are both zero; 10% of 3 pods is not, it is rounded later.) */ -}}
{{- if and (eq $v.updateStrategy.type "RollingUpdate") (eq (toString $v.updateStrategy.maxSurge | trimSuffix "%") "0") (eq (toString $v.updateStrategy.maxUnavailable | trimSuffix "%") "0") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "updateStrategy" "message" (printf "has maxSurge %v and maxUnavailable %v, so a rollout can never progress. Allow a surge (needs a spare GPU), or use updateStrategy.type Recreate on GPU-starved clusters." $v.updateStrategy.maxSurge $v.updateStrategy.maxUnavailable)) $fail) -}}
{{- end -}}

{{- /* Availability: a budget that lets every pod go at once protects nothing. */ -}}
{{- $autoscaled := ne $v.autoscaling.mode "none" -}}
{{- $floor := ternary (int $v.autoscaling.minReplicas) (int $v.replicaCount) $autoscaled -}}
{{- $floorPath := ternary "autoscaling.minReplicas" "replicaCount" $autoscaled -}}
{{- /* A percentage is of the pods there are, rounded up by the disruption controller. */ -}}
{{- $budget := include "triton-common.intOrPercent.scaled" (dict "value" $v.podDisruptionBudget.maxUnavailable "total" $floor "roundUp" true) | int -}}
{{- if and $v.podDisruptionBudget.enabled (ge $budget $floor) (gt $floor 1) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "podDisruptionBudget.maxUnavailable" "message" (printf "%v allows every one of the %d replicas (%s%s) to be evicted at once. Keep it below the replica count." $v.podDisruptionBudget.maxUnavailable $floor $p $floorPath)) $fail) -}}
{{- end -}}

{{- /* Autoscaling reads each workload's pods by name (<workload>-<pod-template hash>-<id>); the API server cuts a
generated name's base to 58 characters, so past 46 the pod names lose that form and the signal finds no pod. */ -}}
{{- range $track := include "triton-server.tracks" (dict "ctx" .ctx) | fromJsonArray -}}
{{- $tv := include "triton-server.track.values" (dict "ctx" $.ctx "track" $track) | fromJson -}}
{{- if ne $tv.autoscaling.mode "none" -}}
{{- $workload := include "triton-server.workload.name" (dict "ctx" (dict "Values" $tv "Release" $.ctx.Release "Chart" $.ctx.Chart "track" $track)) -}}
{{- if gt (len $workload) 46 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.mode" "message" (printf "%s needs workload names of at most 46 characters, and the %s track's is %q (%d): its pods' names would be cut short and the autoscaler would find none of them. Shorten the release name, or set a shorter fullnameOverride (global.server.fullnameOverride in the umbrella)." $tv.autoscaling.mode $track $workload (len $workload))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Autoscaling: one autoscaler, a sane range, a signal the pods can produce, schedules that mean one thing. */ -}}
{{- $a := $v.autoscaling -}}
{{- if $autoscaled -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.minReplicas" "message" (printf "%d is above %sautoscaling.maxReplicas %d. Lower it or raise the maximum." (int $a.minReplicas) $p (int $a.maxReplicas))) $fail) -}}
{{- end -}}
{{- if and (eq (int $a.minReplicas) 0) (not (and (eq $a.mode "keda") $a.keda.scaleToZero)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.minReplicas" "message" (printf "is 0, which scales Triton to zero: the first request after idle then waits for a pod to start and load its models (minutes on a GPU). Set it to 1 or more, or opt in with %sautoscaling.mode keda and %sautoscaling.keda.scaleToZero true." $p $p)) $fail) -}}
{{- end -}}
{{- if and (eq $a.mode "keda") $a.keda.scaleToZero (not $a.scheduled.windows) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.keda.scaleToZero" "message" (printf "is true with no %sautoscaling.scheduled.windows: every scaling signal is read from the Triton pods' own metrics, so at zero pods no request is seen and nothing would ever bring a pod back. List the windows in which the workload must serve (they wake it), or keep %sautoscaling.minReplicas at 1 or more." $p $p)) $fail) -}}
{{- end -}}
{{- if and (eq $a.mode "hpa") $a.keda.scaleToZero -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.keda.scaleToZero" "message" (printf "needs %sautoscaling.mode keda: a HorizontalPodAutoscaler cannot scale to zero." $p)) $fail) -}}
{{- end -}}
{{- if eq $a.signal "gpuUtilization" -}}
{{- if include "triton-common.gpu.mig" (dict "gpu" $v.gpu) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.signal" "message" (printf "gpuUtilization cannot be read per MIG slice (Triton server issue #5324; DCGM reports 0 or nothing), and %sgpu.mig.strategy is %s. Scale on queueTimePerRequest or pendingRequestsPerReplica." $p $v.gpu.mig.strategy)) $fail) -}}
{{- end -}}
{{- if eq (int $v.gpu.count) 0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.signal" "message" (printf "gpuUtilization needs GPUs, and %sgpu.count is 0. Scale on a queue signal." $p)) $fail) -}}
{{- end -}}
{{- if gt (float64 $a.target) 1.0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.target" "message" (printf "%v is above 1: Triton's nv_gpu_utilization is a fraction (0 to 1). Use e.g. 0.7 for 70%%." $a.target)) $fail) -}}
{{- end -}}
{{- end -}}
{{- if and $a.predictive.enabled (le (float64 $a.predictive.replicaCapacity) 0.0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.predictive.replicaCapacity" "message" "is 0 while autoscaling.predictive.enabled is true: the forecast rate is divided by what one replica holds within the SLO. Measure it with `make calibrate` and set it here.") $fail) -}}
{{- end -}}
{{- if ne $a.prometheus.authentication.mode "none" -}}
{{- if ne $a.mode "keda" -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.prometheus.authentication.mode" "message" (printf "%s is KEDA's authentication to Prometheus, and %sautoscaling.mode is %s: configure prometheus-adapter's own connection instead, and set this to none." $a.prometheus.authentication.mode $p $a.mode)) $fail) -}}
{{- end -}}
{{- if not $a.prometheus.authentication.existingSecret -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.prometheus.authentication.existingSecret" "message" (printf "is required with %sautoscaling.prometheus.authentication.mode %s: name the Secret holding %s." $p $a.prometheus.authentication.mode (ternary "bearerToken" "username and password" (eq $a.prometheus.authentication.mode "bearer")))) $fail) -}}
{{- end -}}
{{- end -}}
{{- range $direction := list "scaleUp" "scaleDown" -}}
{{- $rules := get $a.behavior $direction -}}
{{- if and (not $rules.policies) (ne ($rules.selectPolicy | default "Max") "Disabled") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "autoscaling.behavior.%s.policies" $direction) "message" "is empty: the API server requires at least one scaling policy. List one, or set selectPolicy Disabled to forbid scaling in this direction.") $fail) -}}
{{- end -}}
{{- end -}}
{{- /* Scheduled windows: KEDA cron triggers, one time zone, no two windows covering the same minute. */ -}}
{{- $windows := $a.scheduled.windows | default list -}}
{{- if and $windows (eq $a.mode "hpa") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "autoscaling.scheduled.windows" "message" (printf "needs %sautoscaling.mode keda (its cron trigger): a HorizontalPodAutoscaler has no schedule. In hpa mode, raise autoscaling.minReplicas ahead of the peak yourself, or use predictive scaling." $p)) $fail) -}}
{{- end -}}
{{- $names := dict -}}
{{- range $i, $w := $windows -}}
{{- $start := add (mul (index (splitList ":" $w.start) 0 | atoi) 60) (index (splitList ":" $w.start) 1 | atoi) -}}
{{- $end := add (mul (index (splitList ":" $w.end) 0 | atoi) 60) (index (splitList ":" $w.end) 1 | atoi) -}}
{{- if le $end $start -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "autoscaling.scheduled.windows.%d.end" $i) "message" (printf "%s is not after start %s in window %q. A window must end later on the same day; split one that crosses midnight into two." $w.end $w.start $w.name)) $fail) -}}
{{- end -}}
{{- if gt (int $w.minReplicas) (int $a.maxReplicas) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "autoscaling.scheduled.windows.%d.minReplicas" $i) "message" (printf "%d is above %sautoscaling.maxReplicas %d: the floor can never be reached. Lower it or raise the maximum." (int $w.minReplicas) $p (int $a.maxReplicas))) $fail) -}}
{{- end -}}
{{- if hasKey $names $w.name -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "autoscaling.scheduled.windows.%d.name" $i) "message" (printf "%q is used by two windows. Give each window its own name." $w.name)) $fail) -}}
{{- end -}}
{{- $_ := set $names $w.name true -}}
{{- range $j, $other := $windows -}}
{{- if lt $j $i -}}
{{- $otherStart := add (mul (index (splitList ":" $other.start) 0 | atoi) 60) (index (splitList ":" $other.start) 1 | atoi) -}}
{{- $otherEnd := add (mul (index (splitList ":" $other.end) 0 | atoi) 60) (index (splitList ":" $other.end) 1 | atoi) -}}
{{- $sharedDays := list -}}
{{- range $w.days -}}{{- if has . $other.days -}}{{- $sharedDays = append $sharedDays . -}}{{- end -}}{{- end -}}
{{- if and $sharedDays (lt $start $otherEnd) (lt $otherStart $end) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "autoscaling.scheduled.windows.%d" $i) "message" (printf "%q (%s-%s) overlaps %q (%s-%s) on %s: two floors at once make the count depend on trigger order. Make them meet end to start, or merge them." $w.name $w.start $w.end $other.name $other.start $other.end (join ", " $sharedDays))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Canary: a track that differs from stable, in a way its repository type can take, with one owner of the rollout. */ -}}
{{- $c := $v.canary -}}
{{- if $c.enabled -}}
{{- $changes := or $c.image.repository $c.image.tag $c.image.digest $c.modelRepository.pvc.claimName $c.modelRepository.pvc.subPath $c.modelRepository.objectStore.uri -}}
{{- if eq $c.strategy "tracks" -}}
{{- if not $changes -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.enabled" "message" (printf "is true, but %scanary.image and %scanary.modelRepository change nothing: the canary would run exactly what stable runs. Set the image tag or the model repository location the canary should try." $p $p)) $fail) -}}
{{- end -}}
{{- if and (or $c.modelRepository.pvc.claimName $c.modelRepository.pvc.subPath) (ne $repo.type "pvc") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.modelRepository.pvc" "message" (printf "is set, but %smodelRepository.type is %s. Set the canary's %s location instead." $p $repo.type (ternary "objectStore.uri" "model repository" (eq $repo.type "objectStore")))) $fail) -}}
{{- end -}}
{{- if and $c.modelRepository.objectStore.uri (ne $repo.type "objectStore") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.modelRepository.objectStore.uri" "message" (printf "is set, but %smodelRepository.type is %s. Set the canary's pvc location instead." $p $repo.type)) $fail) -}}
{{- end -}}
{{- if and $c.modelRepository.objectStore.uri (not (regexMatch (printf "^%s://" (first (splitList ":" $repo.objectStore.uri))) $c.modelRepository.objectStore.uri)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.modelRepository.objectStore.uri" "message" (printf "%q is another object store than %smodelRepository.objectStore.uri %q: the pods' credentials and download volume are the stable track's. Keep the scheme (and account)." $c.modelRepository.objectStore.uri $p $repo.objectStore.uri)) $fail) -}}
{{- end -}}
{{- if gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.autoscaling.minReplicas" "message" (printf "%d is above %scanary.autoscaling.maxReplicas %d." (int $c.autoscaling.minReplicas) $p (int $c.autoscaling.maxReplicas))) $fail) -}}
{{- end -}}
{{- else -}}
{{- $weighted := list -}}
{{- range $c.rollout.steps -}}{{- if hasKey . "setWeight" -}}{{- $weighted = append $weighted . -}}{{- end -}}{{- end -}}
{{- if not $weighted -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.rollout.steps" "message" "has no setWeight step: the canary would never serve a share of the traffic, and the metric gate (from the first weighted step) would never run. Add setWeight steps with pauses long enough for the gate's measurements.") $fail) -}}
{{- end -}}
{{- if $changes -}}
{{- $set := list -}}
{{- range $key, $value := dict "image.repository" $c.image.repository "image.tag" $c.image.tag "image.digest" $c.image.digest "modelRepository.pvc.claimName" $c.modelRepository.pvc.claimName "modelRepository.pvc.subPath" $c.modelRepository.pvc.subPath "modelRepository.objectStore.uri" $c.modelRepository.objectStore.uri -}}
{{- if $value -}}{{- $set = append $set (printf "%scanary.%s=\"\"" $p $key) -}}{{- end -}}
{{- end -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "canary.strategy" "message" (printf "is argoRollouts, where a rollout is a change of %simage or %smodelRepository itself (the controller runs old and new side by side); %scanary.image and %scanary.modelRepository belong to the tracks strategy. Clear them: --set %s" $p $p $p $p (join " --set " $set))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* MIG: a profile the GPU model offers, one slice per pod, no more pods than the declared slices. */ -}}
{{- $pods := include "triton-server.podCount" (dict "ctx" .ctx "prefix" $p) | fromJson -}}
{{- include "triton-common.gpu.validate" (dict "ctx" .ctx "gpu" $v.gpu "path" "gpu" "replicas" (add $pods.replicas $pods.surge) "replicasPath" (ternary "autoscaling.maxReplicas" "replicaCount" $autoscaled) "replicasText" (printf "%s + %supdateStrategy.maxSurge" $pods.text $p)) -}}

{{- /* An exposed Service behind a policy that admits only the namespace's own pods serves nobody outside. */ -}}
{{- if and $v.networkPolicy.enabled (ne $v.service.type "ClusterIP") (not $v.networkPolicy.inferenceFrom) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "networkPolicy.inferenceFrom" "message" (printf "is empty while %sservice.type is %s: the NetworkPolicy would admit only pods of this namespace, so outside traffic is dropped. List the sources (for a load balancer, an ipBlock of its ranges or the ingress namespace)." $p $v.service.type)) $fail) -}}
{{- end -}}

{{- /* Extra args must not fight the managed flags. */ -}}
{{- $managed := include "triton-server.args.managed" . | fromJson -}}
{{- range $v.triton.extraArgs -}}
{{- $flag := first (splitList "=" .) -}}
{{- if hasKey $managed $flag -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.extraArgs" "message" (printf "repeats %s, which the chart sets from %s%s. Set that value instead." $flag $p (get $managed $flag))) $fail) -}}
{{- end -}}
{{- /* Triton parses its flags with getopt_long, which takes any unambiguous prefix: --model-control=poll is
--model-control-mode=poll, and the later flag wins. A prefix of a managed flag is the managed flag. */ -}}
{{- if and (gt (len $flag) 2) (not (hasKey $managed $flag)) -}}
{{- range $name := keys $managed | sortAlpha -}}
{{- if hasPrefix $flag $name -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.extraArgs" "message" (printf "has %s, which Triton reads as %s (it takes any unambiguous prefix of a flag), a flag the chart sets from %s%s. Set that value instead." $flag $name $p (get $managed $name))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not (hasPrefix "--" .) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.extraArgs" "message" (printf "%q is not a --flag=value argument." .)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /*
Values that are valid alone but fatal together: each pair below gives a pod that is OOM-killed, evicted, never
scheduled or never ready. Listed in docs/serving.md (Values that fail together).
*/ -}}

{{- /* Sizes: every writable volume is bounded (a sizeLimit of 0 is no limit), and the pod asks for what it writes. */ -}}
{{- $sizes := dict "writableVolumes.tmpSizeLimit" $v.writableVolumes.tmpSizeLimit "writableVolumes.cacheSizeLimit" $v.writableVolumes.cacheSizeLimit "sharedMemory.sizeLimit" $v.sharedMemory.sizeLimit -}}
{{- if $v.engineBuild.enabled -}}{{- $_ := set $sizes "engineBuild.repositorySizeLimit" $v.engineBuild.repositorySizeLimit -}}{{- end -}}
{{- if eq $repo.type "objectStore" -}}
{{- if not (kindIs "string" $repo.objectStore.repositorySize | and (eq (toString $repo.objectStore.repositorySize) "")) -}}{{- $_ := set $sizes "modelRepository.objectStore.repositorySize" $repo.objectStore.repositorySize -}}{{- end -}}
{{- if not (kindIs "string" $repo.objectStore.downloadVolume.size | and (eq (toString $repo.objectStore.downloadVolume.size) "")) -}}{{- $_ := set $sizes "modelRepository.objectStore.downloadVolume.size" $repo.objectStore.downloadVolume.size -}}{{- end -}}
{{- end -}}
{{- range $path, $size := $sizes -}}
{{- if le (include "triton-common.quantity.value" $size | float64) 0.0 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" $path "message" (printf "is %s: a volume of size 0 is unbounded (an emptyDir) or refused (a claim). Give it a size, e.g. 1Gi." (include "triton-common.quantity.text" $size))) $fail) -}}
{{- end -}}
{{- end -}}
{{- if eq $repo.type "objectStore" -}}
{{- $store := $repo.objectStore -}}
{{- if eq (toString $store.repositorySize) "" -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.repositorySize" "message" "is required for an objectStore repository: Triton copies the whole repository to local disk before it loads a model, and the pod must ask for that much. Set it to the repository's size with some headroom (e.g. 12Gi for 10 GB: `aws s3 ls --summarize --human-readable --recursive s3://bucket/path`).") $fail) -}}
{{- end -}}
{{- $size := include "triton-server.download.size" . -}}
{{- if lt (include "triton-common.quantity.value" $size | float64) (include "triton-common.quantity.value" $store.repositorySize | float64) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.downloadVolume.size" "message" (printf "%s is smaller than %smodelRepository.objectStore.repositorySize %s: the copy would fill the volume and the pod would be evicted mid-download. Raise %smodelRepository.objectStore.downloadVolume.size to at least the repository size, or leave it empty." (include "triton-common.quantity.text" $size) $p (include "triton-common.quantity.text" $store.repositorySize) $p)) $fail) -}}
{{- end -}}
{{- if and (eq $store.downloadVolume.type "emptyDir") $store.downloadVolume.storageClassName -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.downloadVolume.storageClassName" "message" (printf "%q is set, but %smodelRepository.objectStore.downloadVolume.type is emptyDir (node disk, no storage class). Set the type to ephemeral to claim a volume of that class, or clear it." $store.downloadVolume.storageClassName $p)) $fail) -}}
{{- end -}}
{{- end -}}
{{- $disk := include "triton-server.diskVolumes.bytes" . | float64 -}}
{{- $diskSum := printf "%swritableVolumes.tmpSizeLimit + %swritableVolumes.cacheSizeLimit" $p $p -}}
{{- if and (eq $repo.type "objectStore") (eq $repo.objectStore.downloadVolume.type "emptyDir") -}}{{- $diskSum = printf "%s + %smodelRepository.objectStore.downloadVolume.size" $diskSum $p -}}{{- end -}}
{{- if $v.engineBuild.enabled -}}{{- $diskSum = printf "%s + %sengineBuild.repositorySizeLimit" $diskSum $p -}}{{- end -}}
{{- range $kind := list "requests" "limits" -}}
{{- $stated := get ($v.resources | default dict) $kind | default dict -}}
{{- if hasKey $stated "ephemeral-storage" -}}
{{- $declared := get $stated "ephemeral-storage" -}}
{{- $amount := include "triton-common.quantity.value" $declared | float64 -}}
{{- /* A limit must exceed the volumes: container logs count against it too, and the pod is evicted at it. */ -}}
{{- if or (lt $amount $disk) (and (eq $kind "limits") (eq $amount $disk)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "resources.%s.ephemeral-storage" $kind) "message" (printf "%s is %s the %s that the pod's volumes on node disk may hold (%s): the pod would be placed on a node without room for them, or evicted when they fill. %s" (include "triton-common.quantity.text" $declared) (ternary "not above" "less than" (eq $kind "limits")) (include "triton-common.quantity.binary" $disk) $diskSum (ternary "Raise it above that (logs count too), or leave it out." "Raise it to at least that, or leave it out and the chart requests exactly that." (eq $kind "limits")))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Memory: /dev/shm is memory-backed, so what the python backend puts there counts against the limit. */ -}}
{{- $memoryLimit := get (($v.resources | default dict).limits | default dict) "memory" -}}
{{- if and $memoryLimit (ge (include "triton-common.quantity.value" $v.sharedMemory.sizeLimit | float64) (include "triton-common.quantity.value" $memoryLimit | float64)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "sharedMemory.sizeLimit" "message" (printf "%s is not below %sresources.limits.memory %s: /dev/shm is memory-backed and counts against the container's memory limit, so filling it OOM-kills Triton. Lower the first or raise the second above it, with room for Triton itself." (include "triton-common.quantity.text" $v.sharedMemory.sizeLimit) $p (include "triton-common.quantity.text" $memoryLimit))) $fail) -}}
{{- end -}}

{{- /* Requests above limits: the API server rejects the pod, so the Deployment never gets one. */ -}}
{{- range $section := list "resources" "engineBuild.resources" -}}
{{- $resources := ternary $v.resources $v.engineBuild.resources (eq $section "resources") | default dict -}}
{{- range $name, $limit := ($resources.limits | default dict) -}}
{{- $request := get ($resources.requests | default dict) $name -}}
{{- if and $request (gt (include "triton-common.quantity.value" $request | float64) (include "triton-common.quantity.value" $limit | float64)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.requests.%s" $section $name) "message" (printf "%s is above %s%s.limits.%s %s: the API server rejects a pod whose request exceeds its limit, so no pod would ever be created. Lower the request or raise the limit." (include "triton-common.quantity.text" $request) $p $section $name (include "triton-common.quantity.text" $limit))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Ports: two listeners on one port, and Triton fails to bind and is never ready. */ -}}
{{- $ports := $v.service.ports -}}
{{- $listeners := list (list "http" $ports.http) (list "grpc" $ports.grpc) -}}
{{- if $v.triton.metrics.enabled -}}{{- $listeners = append $listeners (list "metrics" $ports.metrics) -}}{{- end -}}
{{- range $i, $a := $listeners -}}
{{- range $b := slice $listeners (add1 $i | int) -}}
{{- if eq (int (index $a 1)) (int (index $b 1)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "service.ports.%s" (index $b 0)) "message" (printf "%d is also %sservice.ports.%s: Triton cannot bind two listeners to one port, so it would never become ready. Give each listener its own port." (int (index $b 1)) $p (index $a 0))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Mount paths: Kubernetes refuses two volumes mounted at one path. */ -}}
{{- $chartMounts := dict "/tmp" (printf "the %swritableVolumes.tmpSizeLimit volume" $p) "/dev/shm" (printf "the %ssharedMemory volume" $p) "/home/triton-server/.cache" (printf "the %swritableVolumes.cacheSizeLimit volume" $p) -}}
{{- if $v.engineBuild.enabled -}}{{- $_ := set $chartMounts (include "triton-server.engineBuild.repository" .) (printf "the repository %sengineBuild composes" $p) -}}{{- end -}}
{{- if ne $repo.type "objectStore" -}}
{{- $mountPath := clean $repo.mountPath -}}
{{- range $chartPath, $what := $chartMounts -}}
{{- if or (eq $chartPath $mountPath) (hasPrefix (printf "%s/" (trimSuffix "/" $mountPath)) $chartPath) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.mountPath" "message" (printf "%s %s %s, where the chart mounts %s: %s Choose another path, such as /models." $repo.mountPath (ternary "is" "contains" (eq $chartPath $mountPath)) $chartPath $what (ternary "Kubernetes refuses two volumes at one path." "the read-only model volume would hide the mount point, and the runtime cannot create it there." (eq $chartPath $mountPath)))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Engine build: an engine only loads in the TensorRT version that built it. */ -}}
{{- if $v.engineBuild.enabled -}}
{{- $serverRelease := regexFind "^[0-9]{2}\\.[0-9]{2}" (toString $v.image.tag) -}}
{{- $buildRelease := regexFind "^[0-9]{2}\\.[0-9]{2}" (toString $v.engineBuild.image.tag) -}}
{{- if and $serverRelease $buildRelease (ne $serverRelease $buildRelease) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "engineBuild.image.tag" "message" (printf "%s is NGC release %s but %simage.tag %s is release %s: an engine built by another TensorRT version fails to load in Triton, and with triton.exitOnError the pod restarts forever. Use the same release (YY.MM) for both." $v.engineBuild.image.tag $buildRelease $p $v.image.tag $serverRelease)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Environment the chart sets itself: a second definition in triton.env silently wins or loses. */ -}}
{{- $managedEnv := dict -}}
{{- if $v.adminApi.restricted -}}{{- $_ := set $managedEnv (include "triton-server.adminApi.envName" .) "adminApi" -}}{{- end -}}
{{- if eq $repo.type "objectStore" -}}{{- $_ := set $managedEnv (include "triton-server.download.envName" .) "modelRepository.objectStore" -}}{{- end -}}
{{- range $v.triton.env -}}
{{- if hasKey $managedEnv .name -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.env" "message" (printf "sets %s, which the chart sets from %s%s. Remove it from triton.env." .name $p (get $managedEnv .name))) $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Helm test */ -}}
{{- if and $v.helmTest.enabled $v.helmTest.model (or (not $v.helmTest.input.name) (not $v.helmTest.input.shape)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "helmTest.input" "message" (printf "needs a name and a shape while helmTest.model is %q: the test sends one request of zeros of that shape. Set helmTest.input.name and helmTest.input.shape, or clear helmTest.model." $v.helmTest.model)) $fail) -}}
{{- end -}}
{{- end -}}
