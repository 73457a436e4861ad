{{/*
Helpers of the load-test chart. Names, labels and images come from triton-common; what is here is the
chart's own: where the locustfile is mounted and the Locust arguments every pod shares.
*/}}

{{/* Where the ConfigMap of files/ is mounted: the locustfile imports triton_load.py from beside it. */}}
{{- define "triton-loadtest.locustDir" -}}/locust{{- end -}}

{{/* Where the master writes its CSV, HTML and slo.json (an emptyDir; kubectl cp them out). */}}
{{- define "triton-loadtest.reportDir" -}}/reports{{- end -}}

{{/* The master's Service name: the workers connect to it. Budget: fullname cut to 55 + "-master". */}}
{{- define "triton-loadtest.names.master" -}}
{{- include "triton-common.names.suffixed" (dict "ctx" .ctx "suffix" "master") -}}
{{- end -}}

{{/* Checksum of files/, on the pods: a new locustfile rolls them. */}}
{{- define "triton-loadtest.filesChecksum" -}}
{{- $sum := "" -}}
{{- range $path, $_ := .ctx.Files.Glob "files/*" -}}
{{- $sum = printf "%s%s%s" $sum $path ($.ctx.Files.Get $path | sha256sum) -}}
{{- end -}}
{{- $sum | sha256sum -}}
{{- end -}}

{{/* The volumes and mounts every Locust container needs with a read-only root filesystem. */}}
{{- define "triton-loadtest.volumes" -}}
- name: locustfile
  configMap:
    name: {{ include "triton-common.names.fullname" (dict "ctx" .ctx) }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}

{{- define "triton-loadtest.volumeMounts" -}}
- name: locustfile
  mountPath: {{ include "triton-loadtest.locustDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}
