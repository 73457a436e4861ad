{{/*
Helpers of the batch chart. Names, labels, images and GPUs come from triton-common; what is here is the chart's
own: the client's arguments, the Triton sidecar, and the pod and Job specs that the Job and the CronJob share.
*/}}

{{/* The component name in labels and selectors. */}}
{{- define "triton-batch.component" -}}batch{{- end -}}

{{/* Where the ConfigMap of files/ (the batch client) is mounted. */}}
{{- define "triton-batch.clientDir" -}}/opt/triton-batch{{- end -}}

{{/* The name of the client container: the Job's podFailurePolicy reads its exit code. */}}
{{- define "triton-batch.clientContainer" -}}batch{{- end -}}

{{/* Bytes one decode may hold per image pixel, and per byte of a JSON line: DECODE_BYTES_PER_PIXEL and
DECODE_BYTES_PER_LINE_BYTE of files/batch_infer.py (a test keeps them equal). */}}
{{- define "triton-batch.decodeBytesPerPixel" -}}8{{- end -}}

{{/* Where the sidecar's model repository claim is mounted. */}}
{{- define "triton-batch.sidecar.modelsDir" -}}/models{{- end -}}

{{/* "true" when a path is an object-store prefix (s3://, gs://); otherwise it is a path on the data claim. */}}
{{- define "triton-batch.isObjectStore" -}}
{{- if regexMatch "^(s3|gs)://" . -}}true{{- end -}}
{{- end -}}

{{/* "true" when the input or the output is an object-store prefix. */}}
{{- define "triton-batch.objectStore.used" -}}
{{- if or (include "triton-batch.isObjectStore" .ctx.Values.input.path) (include "triton-batch.isObjectStore" .ctx.Values.output.path) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the input or the output is a path on the data claim. */}}
{{- define "triton-batch.pvc.used" -}}
{{- if or (not (include "triton-batch.isObjectStore" .ctx.Values.input.path)) (not (include "triton-batch.isObjectStore" .ctx.Values.output.path)) -}}true{{- end -}}
{{- end -}}

{{/* Annotations for workload identity on the ServiceAccount, when an object store is used with it. */}}
{{- define "triton-batch.serviceAccount.identityAnnotations" -}}
{{- $store := .ctx.Values.objectStore -}}
{{- if and (include "triton-batch.objectStore.used" .) (eq $store.credentials "workloadIdentity") -}}
{{- with $store.workloadIdentity.aws.roleArn }}
eks.amazonaws.com/role-arn: {{ . | quote }}
{{- end }}
{{- with $store.workloadIdentity.gcp.serviceAccount }}
iam.gke.io/gcp-service-account: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The PriorityClass of the batch pods: the created one (its name, or the fullname), an existing one, or none. */}}
{{- define "triton-batch.priorityClassName" -}}
{{- $pc := .ctx.Values.priorityClass -}}
{{- if $pc.create -}}
{{- $pc.name | default (include "triton-common.names.fullname" .) -}}
{{- else -}}
{{- $pc.name -}}
{{- end -}}
{{- end -}}

{{/*
host:port of the Triton the client calls: the sidecar on loopback, or a Service: target.service.host, else the
stack's own server Service, named by the one server-identity helper (release name, global.server overrides).
*/}}
{{- define "triton-batch.targetAddress" -}}
{{- $t := .ctx.Values.target -}}
{{- $grpc := eq $t.protocol "grpc" -}}
{{- if eq $t.mode "sidecar" -}}
{{- printf "127.0.0.1:%d" (ternary 8001 8000 $grpc | int) -}}
{{- else -}}
{{- printf "%s:%d" ($t.service.host | default (include "triton-common.names.server.fullname" .)) (ternary $t.service.grpcPort $t.service.httpPort $grpc | int) -}}
{{- end -}}
{{- end -}}

{{/*
The client container's args: the program, then its flags, one per item, each quoted (a path may hold " #", which
YAML would read as a comment). No command: the SDK image's ENTRYPOINT (/opt/nvidia/nvidia_entrypoint.sh) runs
first and execs these. The shard index is not a flag: the Indexed Job sets JOB_COMPLETION_INDEX in every container
of a shard's pod.
*/}}
{{- define "triton-batch.client.args" -}}
{{- $v := .ctx.Values -}}
{{- $c := $v.client -}}
{{- $flags := list
  (printf "--url=%s" (include "triton-batch.targetAddress" .))
  (printf "--protocol=%s" $v.target.protocol)
  (printf "--model=%s" $v.target.model) -}}
{{- with $v.target.modelVersion }}{{ $flags = append $flags (printf "--model-version=%s" (toString .)) }}{{ end -}}
{{- $flags = concat $flags (list
  (printf "--input=%s" $v.input.path)
  (printf "--input-format=%s" $v.input.format)
  (printf "--output=%s" $v.output.path)
  (printf "--shards=%d" ($v.shards | int))
  (printf "--concurrency=%d" ($c.concurrency | int))
  (printf "--batch-size=%d" ($c.batchSize | int))
  (printf "--max-retries=%d" ($c.maxRetries | int))
  (printf "--retry-initial-seconds=%v" $c.retryInitialSeconds)
  (printf "--retry-max-seconds=%v" $c.retryMaxSeconds)
  (printf "--request-timeout-seconds=%v" $c.requestTimeoutSeconds)
  (printf "--wait-ready-seconds=%v" $c.waitReadySeconds)
  (printf "--decode-concurrency=%d" ($c.decodeConcurrency | int))
  (printf "--max-image-pixels=%d" ($c.maxImagePixels | int64))
  (printf "--max-line-bytes=%d" ($c.maxLineBytes | int64))
  (printf "--commit-items=%d" ($c.commitItems | int))
  (printf "--commit-seconds=%v" $c.commitSeconds)
  (printf "--progress-interval-seconds=%v" $c.progressIntervalSeconds)) -}}
{{- with $c.pushgateway }}
{{- $flags = concat $flags (list (printf "--pushgateway=%s" .) (printf "--metrics-job=%s" (include "triton-common.names.fullname" $))) -}}
{{- end -}}
- python3
- {{ printf "%s/batch_infer.py" (include "triton-batch.clientDir" .) | quote }}
{{- range $flags }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The client's resources, with an ephemeral-storage request covering its /tmp unless resources sets one. */}}
{{- define "triton-batch.client.resources" -}}
{{- $c := .ctx.Values.client -}}
{{- $resources := deepCopy ($c.resources | default dict) -}}
{{- $requests := $resources.requests | default dict -}}
{{- if not (hasKey $requests "ephemeral-storage") -}}
{{- $_ := set $requests "ephemeral-storage" $c.tmpSizeLimit -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* Sizes of the sidecar's writable volumes on node disk (/tmp and ~/.cache), requested as ephemeral-storage. */}}
{{- define "triton-batch.sidecar.scratchSize" -}}1Gi{{- end -}}

{{/* The sidecar's resources: its values, the GPUs from sidecar.gpu, and the ephemeral-storage of its scratch volumes. */}}
{{- define "triton-batch.sidecar.resources" -}}
{{- $s := .ctx.Values.sidecar -}}
{{- $resources := deepCopy ($s.resources | default dict) -}}
{{- $requests := $resources.requests | default dict -}}
{{- if not (hasKey $requests "ephemeral-storage") -}}
{{- $_ := set $requests "ephemeral-storage" "2Gi" -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- include "triton-common.gpu.withResources" (dict "ctx" .ctx "gpu" $s.gpu "resources" $resources) | fromJson | toYaml -}}
{{- end -}}

{{/*
The Triton sidecar: a native sidecar (an init container with restartPolicy Always; SidecarContainers is beta and
on by default from Kubernetes 1.29, GA in 1.33; the charts declare >= 1.29, and below it the render refuses this
mode: the API server would drop restartPolicy and the sidecar would hold the pod in init). The kubelet starts the client only
once its startup probe passes (Triton ready, models loaded), and stops it when the client has exited, so the
pod, and the Job, complete. A plain second container would keep the pod running after the client finished.
*/}}
{{- define "triton-batch.sidecar.container" -}}
{{- $s := .ctx.Values.sidecar -}}
- name: triton
  image: {{ include "triton-common.images.image" (dict "ctx" .ctx "image" $s.image) }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  restartPolicy: Always
  # No command: the NGC image's ENTRYPOINT sets up CUDA compatibility, then execs these args.
  args:
    - tritonserver
    - --model-repository={{ include "triton-batch.sidecar.modelsDir" . }}
    - --http-port=8000
    - --grpc-port=8001
    # Nothing scrapes a batch pod; the client's own progress is what a run reports.
    - --allow-metrics=false
    - --model-control-mode=none
    - --strict-readiness=true
    - --exit-on-error=true
    - --disable-auto-complete-config
    - --allow-sagemaker=false
    - --allow-vertex-ai=false
    - --exit-timeout-secs=10
    {{- range $s.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  ports:
    - name: http
      containerPort: 8000
      protocol: TCP
    - name: grpc
      containerPort: 8001
      protocol: TCP
  # The client container starts when this passes: every model loaded. Its budget is sidecar.maxModelLoadSeconds.
  startupProbe:
    httpGet:
      path: /v2/health/ready
      port: http
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: {{ divf $s.maxModelLoadSeconds 10 | ceil | int }}
  livenessProbe:
    httpGet:
      path: /v2/health/live
      port: http
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 3
  resources:
    {{- include "triton-batch.sidecar.resources" . | nindent 4 }}
  securityContext:
    {{- toYaml .ctx.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: models
      mountPath: {{ include "triton-batch.sidecar.modelsDir" . }}
      readOnly: true
      {{- with $s.modelRepository.subPath }}
      subPath: {{ . }}
      {{- end }}
    - name: shm
      mountPath: /dev/shm
    - name: triton-tmp
      mountPath: /tmp
    - name: triton-cache
      mountPath: /home/triton-server/.cache
{{- end -}}

{{/* Checksum of files/ on the pod template: a new client makes a new Job (its name carries the spec's hash). */}}
{{- define "triton-batch.filesChecksum" -}}
{{- $sum := "" -}}
{{- range $path, $_ := .ctx.Files.Glob "files/*" -}}
{{- $sum = printf "%s%s%s" $sum $path ($.ctx.Files.Get $path | sha256sum) -}}
{{- end -}}
{{- $sum | sha256sum -}}
{{- end -}}

{{/* The labels a Job of this chart carries: the standard ones, and Kueue's queue when one is named. */}}
{{- define "triton-batch.jobLabels" -}}
{{- include "triton-common.labels.standard" (dict "ctx" .ctx "component" (include "triton-batch.component" .)) }}
{{- with .ctx.Values.kueue.queueName }}
kueue.x-k8s.io/queue-name: {{ . }}
{{- end }}
{{- end -}}

{{/* The pod template of a shard: the client, and in sidecar mode the Triton sidecar. */}}
{{- define "triton-batch.podTemplate" -}}
{{- $v := .ctx.Values -}}
{{- $ctx := .ctx -}}
{{- $sidecar := eq $v.target.mode "sidecar" -}}
{{- $gpu := dict "ctx" $ctx "gpu" $v.sidecar.gpu -}}
{{- $gpuTolerations := ternary (include "triton-common.gpu.tolerations" $gpu) "" $sidecar -}}
{{- $gpuNodeExpressions := ternary (include "triton-common.gpu.nodeSelectorExpressions" $gpu) "" $sidecar -}}
{{- $objectStore := include "triton-batch.objectStore.used" . -}}
metadata:
  labels:
    {{- include "triton-common.labels.standard" (dict "ctx" $ctx "component" (include "triton-batch.component" .)) | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/client: {{ include "triton-batch.filesChecksum" . }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  # Never: a failed shard gets a new pod (the Job's per-shard retries), and podFailurePolicy requires it.
  restartPolicy: Never
  serviceAccountName: {{ include "triton-common.names.serviceAccount" (dict "ctx" $ctx) }}
  automountServiceAccountToken: false
  {{- with include "triton-batch.priorityClassName" . }}
  priorityClassName: {{ . }}
  {{- end }}
  # After SIGTERM the client starts no new attempt (no retry, no backoff): the requests in flight finish, each
  # within one request timeout, then their results are committed. One timeout, not timeout x attempts, plus 30 s
  # for that last commit.
  terminationGracePeriodSeconds: {{ add (int $v.client.requestTimeoutSeconds) 30 }}
  {{- with include "triton-common.images.pullSecrets" (dict "ctx" $ctx) }}
  {{- . | nindent 2 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if or $gpuTolerations $v.tolerations }}
  tolerations:
    {{- with $gpuTolerations }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $v.tolerations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- with $gpuNodeExpressions }}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              {{- . | nindent 14 }}
  {{- end }}
  {{- if $sidecar }}
  initContainers:
    {{- include "triton-batch.sidecar.container" . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ include "triton-batch.clientContainer" . }}
      image: {{ include "triton-common.images.image" (dict "ctx" $ctx "image" $v.client.image) }}
      imagePullPolicy: {{ $v.client.image.pullPolicy }}
      args:
        {{- include "triton-batch.client.args" . | nindent 8 }}
      env:
        # The client's files are a read-only ConfigMap mount: no bytecode beside them.
        - name: PYTHONDONTWRITEBYTECODE
          value: "1"
        - name: PYTHONUNBUFFERED
          value: "1"
        # The root filesystem is read-only and UID 1000 may have no home in the SDK image.
        - name: HOME
          value: /tmp
        {{- with $v.client.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if and $objectStore (eq $v.objectStore.credentials "secret") }}
      envFrom:
        - secretRef:
            name: {{ $v.objectStore.existingSecret }}
      {{- end }}
      resources:
        {{- include "triton-batch.client.resources" . | nindent 8 }}
      securityContext:
        {{- toYaml $v.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: client
          mountPath: {{ include "triton-batch.clientDir" . }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if include "triton-batch.pvc.used" . }}
        - name: data
          mountPath: {{ $v.data.pvc.mountPath }}
        {{- end }}
  volumes:
    - name: client
      configMap:
        name: {{ include "triton-common.names.fullname" (dict "ctx" $ctx) }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ $v.client.tmpSizeLimit }}
    {{- if include "triton-batch.pvc.used" . }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ $v.data.pvc.claimName }}
    {{- end }}
    {{- if $sidecar }}
    - name: models
      persistentVolumeClaim:
        claimName: {{ $v.sidecar.modelRepository.claimName }}
        readOnly: true
    # The python backend passes tensors through /dev/shm; the container default of 64Mi is too small.
    - name: shm
      emptyDir:
        medium: Memory
        sizeLimit: {{ $v.sidecar.sharedMemorySizeLimit }}
    - name: triton-tmp
      emptyDir:
        sizeLimit: {{ include "triton-batch.sidecar.scratchSize" . }}
    - name: triton-cache
      emptyDir:
        sizeLimit: {{ include "triton-batch.sidecar.scratchSize" . }}
    {{- end }}
{{- end -}}

{{/*
The spec of one run: an Indexed Job, one completion per shard. backoffLimitPerIndex (JobBackoffLimitPerIndex:
alpha in 1.28, beta and on by default from 1.29, GA in 1.33) gives each shard its own retries, so one bad shard
neither starves the others nor fails the run early; below 1.29 a Job-wide backoffLimit of the same total stands in
(the FailIndex action needs per-index limits, so exit 1 is then retried like any failure). podFailurePolicy
(GA in 1.31, beta from 1.26): a pod stopped by an eviction, a preemption or a node drain (the DisruptionTarget
condition) is ignored, not counted; exit 2 (bad configuration: every shard would fail alike) fails the Job at
once; exit 1 (items failed for good, listed in the failures file) fails that shard without retrying it. With a
podFailurePolicy the Job replaces a failed pod only once it has fully terminated (podReplacementPolicy Failed),
so two pods of one shard never write at once.
*/}}
{{- define "triton-batch.jobSpec" -}}
{{- $v := .ctx.Values -}}
{{- $perIndex := include "triton-common.validate.kubeAtLeast" (dict "ctx" .ctx "minor" 29) -}}
completionMode: Indexed
completions: {{ $v.shards | int }}
parallelism: {{ $v.parallelism | int }}
{{- if $perIndex }}
backoffLimitPerIndex: {{ $v.retriesPerShard | int }}
{{- else }}
backoffLimit: {{ mul (int $v.shards) (add1 (int $v.retriesPerShard)) }}
{{- end }}
{{- if gt (int $v.activeDeadlineSeconds) 0 }}
activeDeadlineSeconds: {{ $v.activeDeadlineSeconds | int }}
{{- end }}
{{- if $v.kueue.queueName }}
# Kueue admits the Job by unsuspending it once its queue has quota.
suspend: true
{{- end }}
podFailurePolicy:
  rules:
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
    - action: FailJob
      onExitCodes:
        containerName: {{ include "triton-batch.clientContainer" . }}
        operator: In
        values: [2]
    {{- if $perIndex }}
    - action: FailIndex
      onExitCodes:
        containerName: {{ include "triton-batch.clientContainer" . }}
        operator: In
        values: [1]
    {{- end }}
template:
  {{- include "triton-batch.podTemplate" . | nindent 2 }}
{{- end -}}
