{{/*
What NOTES.txt prints, as a template so that the umbrella prints it too (Helm shows only the parent's NOTES.txt).
Usage: include "triton-batch.notes" . (or a dict with Values, Release and Chart (Name) from the umbrella)
*/}}
{{- define "triton-batch.notes" -}}
{{- $name := include "triton-common.names.fullname" (dict "ctx" $) -}}
Batch inference: {{ .Values.shards }} shards of {{ .Values.input.path }} ({{ .Values.input.format }}) through {{ .Values.target.model }} at {{ include "triton-batch.targetAddress" (dict "ctx" $) }} ({{ .Values.target.protocol }}{{ if eq .Values.target.mode "sidecar" }}, a Triton sidecar in each pod{{ end }}), {{ .Values.parallelism }} at a time, into {{ .Values.output.path }}.
{{- if .Values.schedule }}
Runs on the schedule {{ .Values.schedule | quote }}{{ with .Values.timeZone }} ({{ . }}){{ end }}; a run still going when the next is due keeps it from starting.
  kubectl -n {{ .Release.Namespace }} create job --from=cronjob/{{ $name | trunc 46 | trimSuffix "-" }} {{ $name | trunc 40 | trimSuffix "-" }}-manual   # run now
{{- end }}

Progress (done/total, rate, ETA) and each shard's verdict:
  kubectl -n {{ .Release.Namespace }} get jobs -l app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=batch
  kubectl -n {{ .Release.Namespace }} logs -l app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=batch --prefix | grep -E "progress|finished|failed"

Results: {{ .Values.output.path }}/shards/shard-<i>-of-<n>.results.jsonl, .failures.jsonl and .manifest.json per shard.
A shard that failed resumes where it stopped when it is retried: results already written are never sent again.
{{- end -}}
