{{/*
Helpers of the logging chart. Names, labels and images come from triton-common, the server's name too (the
file names Fluentd tails start with it); what is here is the chart's own.
*/}}

{{- define "triton-logging.component" -}}logging{{- end -}}

{{/* Where the DaemonSet and its objects live: namespace.name, never the server's (see values.yaml). */}}
{{- define "triton-logging.namespace" -}}
{{- .ctx.Values.namespace.name | default .ctx.Release.Namespace -}}
{{- end -}}

{{/* Where the Triton pods run. */}}
{{- define "triton-logging.targetNamespace" -}}
{{- .ctx.Values.target.namespace | default .ctx.Release.Namespace -}}
{{- end -}}

{{/*
The container log files of the server's triton containers, every track, and no other pod's: the kubelet names them
<pod>_<namespace>_<container>-<container id>.log. A server pod is <workload>-<template hash>-<suffix>, its
workload <server> (a Deployment, or the Rollout) or <server>-canary (the tracks strategy's Deployment). The hash is
1 to 10 characters and the suffix 5, both from the alphabet Kubernetes generates names from, which has no vowel
and no "-" (apimachinery util/rand: SafeEncodeString of the decimal FNV hash, String(5) for generateName; Argo
Rollouts hashes its ReplicaSets the same way). So "<server>-*" alone would also read the pods of another
workload whose name starts with "<server>-" (another release named <server>-server, whose server has that name), and
the pattern spells the two parts out. Ruby's Dir.glob reads {a,b} as alternatives and [..] as a character class
(fluent.conf sets in_tail's glob_policy always for that); the hash's lengths are nested: H{,H{,...}}.
*/}}
{{- define "triton-logging.logPath" -}}
{{- $char := "[bcdfghjklmnpqrstvwxz2456789]" -}}
{{- $hash := $char -}}
{{- range until 9 -}}{{- $hash = printf "%s{,%s}" $char $hash -}}{{- end -}}
{{- $suffix := repeat 5 $char -}}
{{- printf "%s/containers/%s{,-canary}-%s-%s_%s_triton-*.log" (trimSuffix "/" .ctx.Values.hostPaths.logs) (include "triton-common.names.server.fullname" (dict "ctx" .ctx)) $hash $suffix (include "triton-logging.targetNamespace" .) -}}
{{- end -}}

{{/* Fluentd's read positions and buffer on the node: one directory per release, so two releases never share one. */}}
{{- define "triton-logging.stateHostPath" -}}
{{- printf "%s/%s_%s" (trimSuffix "/" .ctx.Values.hostPaths.state) (include "triton-logging.targetNamespace" .) .ctx.Release.Name -}}
{{- end -}}
{{- define "triton-logging.stateDir" -}}/fluentd/state{{- end -}}

{{/* The image: image.tag, else the fluentd-kubernetes-daemonset variant that has output.type's plugin. */}}
{{- define "triton-logging.image" -}}
{{- $v := .ctx.Values -}}
{{- $variant := get (dict "stdout" "forward" "elasticsearch" "elasticsearch8" "opensearch" "opensearch") $v.output.type -}}
{{- $tag := $v.image.tag | default (printf "v%s-debian-%s-1.1" .ctx.Chart.AppVersion $variant) -}}
{{- include "triton-common.images.image" (dict "ctx" .ctx "image" (merge (dict "tag" $tag) (omit $v.image "tag"))) -}}
{{- end -}}

{{/*
The CA bundle of a search output with a private CA: output.<type>.caSecret's `ca.crt`, mounted at this directory
(the DaemonSet) and named as the plugin's ca_file (outputConf). Empty when the output has none.
*/}}
{{- define "triton-logging.caSecret" -}}
{{- $v := .ctx.Values -}}
{{- if has $v.output.type (list "elasticsearch" "opensearch") -}}{{- (get $v.output $v.output.type).caSecret -}}{{- end -}}
{{- end -}}
{{- define "triton-logging.caDir" -}}/fluentd/tls{{- end -}}

{{/* The output's Secret, when it has one. */}}
{{- define "triton-logging.outputSecret" -}}
{{- $v := .ctx.Values -}}
{{- if ne $v.output.type "stdout" -}}{{- (get $v.output $v.output.type).existingSecret -}}{{- end -}}
{{- end -}}

{{/* The file buffer every output uses: on the node's disk, retried for ever with exponential backoff. */}}
{{- define "triton-logging.buffer" -}}
{{- $b := .ctx.Values.buffer -}}
<buffer>
  @type file
  path {{ include "triton-logging.stateDir" . }}/buffer
  flush_mode interval
  flush_interval {{ $b.flushInterval }}
  flush_thread_count 2
  chunk_limit_size {{ $b.chunkLimitSize }}
  total_limit_size {{ $b.totalLimitSize }}
  overflow_action block
  retry_type exponential_backoff
  retry_wait 1s
  retry_max_interval {{ $b.retryMaxInterval }}
  retry_forever true
</buffer>
{{- end -}}

{{/* output.conf: the one <match> of the @OUTPUT label, for output.type. */}}
{{- define "triton-logging.outputConf" -}}
{{- $v := .ctx.Values -}}
{{- $type := $v.output.type -}}
{{- $o := get $v.output $type | default dict -}}
<match **>
{{- if eq $type "stdout" }}
  @type stdout
  @id output_stdout
  <format>
    @type json
  </format>
{{- else if has $type (list "elasticsearch" "opensearch") }}
  @type {{ $type }}
  @id output_{{ $type }}
  host {{ $o.host }}
  port {{ $o.port }}
  scheme {{ $o.scheme }}
  {{- if eq $o.scheme "https" }}
  # The server's certificate and host name are checked (the plugins' default, said here so that a value turns it off).
  ssl_verify {{ $o.sslVerify }}
  {{- with $o.caSecret }}
  # The private CA that signed the server's certificate, from Secret {{ . }}.
  ca_file {{ include "triton-logging.caDir" $ }}/ca.crt
  {{- end }}
  {{- end }}
  {{- if $o.existingSecret }}
  user "#{ENV['FLUENT_TRITON_OUTPUT_USERNAME']}"
  password "#{ENV['FLUENT_TRITON_OUTPUT_PASSWORD']}"
  {{- end }}
  logstash_format true
  logstash_prefix {{ $o.indexPrefix }}
  {{- if eq $type "elasticsearch" }}
  suppress_type_name true
  {{- end }}
  reconnect_on_error true
  reload_on_failure true
  reload_connections false
  request_timeout 30s
{{- else if eq $type "loki" }}
  @type loki
  @id output_loki
  url {{ $o.url }}
  {{- with $o.tenant }}
  tenant {{ . }}
  {{- end }}
  {{- if $o.existingSecret }}
  username "#{ENV['FLUENT_TRITON_OUTPUT_USERNAME']}"
  password "#{ENV['FLUENT_TRITON_OUTPUT_PASSWORD']}"
  {{- end }}
  line_format json
  <label>
    namespace $.kubernetes.namespace_name
    pod $.kubernetes.pod_name
    container $.kubernetes.container_name
    severity
  </label>
{{- end }}
  {{- include "triton-logging.buffer" . | nindent 2 }}
</match>
{{- end -}}
