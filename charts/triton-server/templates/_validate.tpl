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
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.existingSecret" "message" "is required when modelRepository.objectStore.credentials is secret. Name the Secret whose keys become the container's environment, or use credentials: workloadIdentity.") $fail) -}}
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
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "modelRepository.objectStore.workloadIdentity.%s" $want) "message" (printf "is required for a %s:// repository with credentials: workloadIdentity (or annotate the ServiceAccount yourself with serviceAccount.annotations)." $scheme)) $fail) -}}
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
{{- if not (kindIs "float64" $v.replicaCount | or (kindIs "int64" $v.replicaCount) | or (kindIs "int" $v.replicaCount)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "replicaCount" "message" "is null or missing. Set it to the number of Triton pods (a whole number, 0 or more); to let an autoscaler own the count, use the autoscaling values instead of nulling this one.") $fail) -}}
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
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.%s" $section $kind) "message" (printf "sets %s, a GPU resource. Set gpu.count instead: the chart adds the GPU request and limit together with the GPU toleration, product affinity and GPU metrics flag." $name)) $fail) -}}
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
{{- if and (eq $v.updateStrategy.type "RollingUpdate") (eq (int $v.updateStrategy.maxSurge) 0) (eq (int $v.updateStrategy.maxUnavailable) 0) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "updateStrategy" "message" "has maxSurge 0 and maxUnavailable 0, so a rollout can never progress. Allow a surge (needs a spare GPU), or use updateStrategy.type Recreate on GPU-starved clusters.") $fail) -}}
{{- end -}}

{{- /* Availability: a budget that allows no disruption blocks every node drain. */ -}}
{{- if and $v.podDisruptionBudget.enabled (ge (int $v.podDisruptionBudget.maxUnavailable) (int $v.replicaCount)) (gt (int $v.replicaCount) 1) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "podDisruptionBudget.maxUnavailable" "message" (printf "%d allows every one of the %d replicas (%sreplicaCount) to be evicted at once. Keep it below the replica count." (int $v.podDisruptionBudget.maxUnavailable) (int $v.replicaCount) $p)) $fail) -}}
{{- end -}}

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
{{- if not (hasPrefix "--" .) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.extraArgs" "message" (printf "%q is not a --flag=value argument." .)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /*
Values that are valid alone but fatal together: each pair below gives a pod that is OOM-killed, evicted, never
scheduled or never ready. Listed in the README (Values that fail together).
*/ -}}

{{- /* Sizes: every writable volume is bounded, and the pod asks for what it writes. */ -}}
{{- if eq $repo.type "objectStore" -}}
{{- $store := $repo.objectStore -}}
{{- if not $store.repositorySize -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.repositorySize" "message" "is required for an objectStore repository: Triton copies the whole repository to local disk before it loads a model, and the pod must ask for that much. Set it to the repository's size with some headroom (e.g. 12Gi for 10 GB: `aws s3 ls --summarize --human-readable --recursive s3://bucket/path`).") $fail) -}}
{{- end -}}
{{- $size := include "triton-server.download.size" . -}}
{{- if lt (include "triton-common.quantity.value" $size | float64) (include "triton-common.quantity.value" $store.repositorySize | float64) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.objectStore.downloadVolume.size" "message" (printf "%s is smaller than %smodelRepository.objectStore.repositorySize %s: the copy would fill the volume and the pod would be evicted mid-download. Raise downloadVolume.size to at least the repository size, or leave it empty to use it." $size $p $store.repositorySize)) $fail) -}}
{{- end -}}
{{- end -}}
{{- $disk := include "triton-server.diskVolumes.bytes" . | float64 -}}
{{- $diskSum := printf "%swritableVolumes.tmpSizeLimit + %swritableVolumes.cacheSizeLimit" $p $p -}}
{{- if and (eq $repo.type "objectStore") (eq $repo.objectStore.downloadVolume.type "emptyDir") -}}{{- $diskSum = printf "%s + %smodelRepository.objectStore.downloadVolume.size" $diskSum $p -}}{{- end -}}
{{- if $v.engineBuild.enabled -}}{{- $diskSum = printf "%s + %sengineBuild.repositorySizeLimit" $diskSum $p -}}{{- end -}}
{{- range $kind := list "requests" "limits" -}}
{{- $declared := get (get ($v.resources | default dict) $kind | default dict) "ephemeral-storage" -}}
{{- if and $declared (lt (include "triton-common.quantity.value" $declared | float64) $disk) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "resources.%s.ephemeral-storage" $kind) "message" (printf "%v is less than the %s that the pod's volumes on node disk may hold (%s): the pod would be placed on a node without room for them, or evicted when they fill. Raise it to at least that, or leave it out and the chart requests exactly that." $declared (include "triton-common.quantity.binary" $disk) $diskSum)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Memory: /dev/shm is memory-backed, so what the python backend puts there counts against the limit. */ -}}
{{- $memoryLimit := get (($v.resources | default dict).limits | default dict) "memory" -}}
{{- if and $memoryLimit (ge (include "triton-common.quantity.value" $v.sharedMemory.sizeLimit | float64) (include "triton-common.quantity.value" $memoryLimit | float64)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "sharedMemory.sizeLimit" "message" (printf "%v is not below %sresources.limits.memory %v: /dev/shm is memory-backed and counts against the container's memory limit, so filling it OOM-kills Triton. Lower the first or raise the second above it, with room for Triton itself." $v.sharedMemory.sizeLimit $p $memoryLimit)) $fail) -}}
{{- end -}}

{{- /* Requests above limits: the API server rejects the pod, so the Deployment never gets one. */ -}}
{{- range $section := list "resources" "engineBuild.resources" -}}
{{- $resources := ternary $v.resources $v.engineBuild.resources (eq $section "resources") | default dict -}}
{{- range $name, $limit := ($resources.limits | default dict) -}}
{{- $request := get ($resources.requests | default dict) $name -}}
{{- if and $request (gt (include "triton-common.quantity.value" $request | float64) (include "triton-common.quantity.value" $limit | float64)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.requests.%s" $section $name) "message" (printf "%v is above %s%s.limits.%s %v: the API server rejects a pod whose request exceeds its limit, so no pod would ever be created. Lower the request or raise the limit." $request $p $section $name $limit)) $fail) -}}
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
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "service.ports.%s" (index $b 0)) "message" (printf "is %d, the same as %sservice.ports.%s: Triton cannot bind two listeners to one port, so it would never become ready. Give each listener its own port." (int (index $b 1)) $p (index $a 0))) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Mount paths: Kubernetes refuses two volumes mounted at one path. */ -}}
{{- $chartMounts := dict "/tmp" (printf "the %swritableVolumes.tmpSizeLimit volume" $p) "/dev/shm" (printf "the %ssharedMemory volume" $p) "/home/triton-server/.cache" (printf "the %swritableVolumes.cacheSizeLimit volume" $p) -}}
{{- if $v.engineBuild.enabled -}}{{- $_ := set $chartMounts (include "triton-server.engineBuild.repository" .) (printf "the repository %sengineBuild composes" $p) -}}{{- end -}}
{{- if and (ne $repo.type "objectStore") (hasKey $chartMounts (clean $repo.mountPath)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "modelRepository.mountPath" "message" (printf "%s is where the chart already mounts %s: Kubernetes refuses two volumes at one path. Choose another path, such as /models." $repo.mountPath (get $chartMounts (clean $repo.mountPath)))) $fail) -}}
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
{{- $managedEnv := dict (include "triton-server.adminApi.envName" .) "adminApi" "TRITON_AWS_MOUNT_DIRECTORY" "modelRepository.objectStore" "TRITON_GCS_MOUNT_DIRECTORY" "modelRepository.objectStore" "TRITON_AZURE_MOUNT_DIRECTORY" "modelRepository.objectStore" -}}
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
