{{/*
Checks on combinations of values that values.schema.json cannot express. Each names the value path and
says what to do. Called once, from the Deployment, so a bad release renders nothing.
*/}}
{{- define "triton-server.validate" -}}
{{- $v := .ctx.Values -}}
{{- $fail := dict "ctx" .ctx -}}

{{- /* Drain: the kubelet kills the container at the grace period, whatever Triton is still serving. */ -}}
{{- $needed := add $v.drain.preStopSeconds $v.triton.exitTimeoutSeconds $v.drain.marginSeconds -}}
{{- if lt (int $v.drain.terminationGracePeriodSeconds) (int $needed) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "drain.terminationGracePeriodSeconds" "message" (printf "%d is shorter than drain.preStopSeconds + triton.exitTimeoutSeconds + drain.marginSeconds = %d; in-flight requests would be killed. Raise it to at least %d or shorten the others." (int $v.drain.terminationGracePeriodSeconds) (int $needed) (int $needed))) $fail) -}}
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

{{- /* GPUs */ -}}
{{- if hasKey ($v.resources.requests | default dict) "nvidia.com/gpu" | or (hasKey ($v.resources.limits | default dict) "nvidia.com/gpu") -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "resources" "message" "sets nvidia.com/gpu. Set gpu.count instead: the chart adds the GPU request, limit and toleration together.") $fail) -}}
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
{{- include "triton-common.validate.fail" (merge (dict "path" "podDisruptionBudget.maxUnavailable" "message" (printf "%d allows every one of the %d replicas to be evicted at once. Keep it below replicaCount." (int $v.podDisruptionBudget.maxUnavailable) (int $v.replicaCount))) $fail) -}}
{{- end -}}

{{- /* An exposed Service behind a policy that admits only the namespace's own pods serves nobody outside. */ -}}
{{- if and $v.networkPolicy.enabled (ne $v.service.type "ClusterIP") (not $v.networkPolicy.inferenceFrom) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "networkPolicy.inferenceFrom" "message" (printf "is empty while service.type is %s: the NetworkPolicy would admit only pods of this namespace, so outside traffic is dropped. List the sources (for a load balancer, an ipBlock of its ranges or the ingress namespace)." $v.service.type)) $fail) -}}
{{- end -}}

{{- /* Extra args must not fight the managed flags. */ -}}
{{- $managed := include "triton-server.args.managed" . | fromJson -}}
{{- range $v.triton.extraArgs -}}
{{- $flag := first (splitList "=" .) -}}
{{- if hasKey $managed $flag -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.extraArgs" "message" (printf "repeats %s, which the chart sets from %s. Set that value instead." $flag (get $managed $flag))) $fail) -}}
{{- end -}}
{{- if not (hasPrefix "--" .) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "triton.extraArgs" "message" (printf "%q is not a --flag=value argument." .)) $fail) -}}
{{- end -}}
{{- end -}}

{{- /* Helm test */ -}}
{{- if and $v.helmTest.enabled $v.helmTest.model (or (not $v.helmTest.input.name) (not $v.helmTest.input.shape)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" "helmTest.input" "message" (printf "needs a name and a shape while helmTest.model is %q: the test sends one request of zeros of that shape. Set helmTest.input.name and helmTest.input.shape, or clear helmTest.model." $v.helmTest.model)) $fail) -}}
{{- end -}}
{{- end -}}
