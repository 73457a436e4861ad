{{/*
Image references. A digest pins the image whatever the tag says; with both, the tag stays for humans
and the digest wins. global.imageRegistry, when set, replaces the registry part of the repository.
Usage: include "triton-common.images.image" (dict "ctx" $ "image" .Values.image)
*/}}
{{- define "triton-common.images.image" -}}
{{- $repository := .image.repository -}}
{{- with ((.ctx.Values.global).imageRegistry) -}}
{{- $parts := splitList "/" $repository -}}
{{- if and (gt (len $parts) 1) (or (contains "." (first $parts)) (contains ":" (first $parts))) -}}
{{- $repository = join "/" (rest $parts) -}}
{{- end -}}
{{- $repository = printf "%s/%s" . $repository -}}
{{- end -}}
{{- if and .image.tag .image.digest -}}
{{- printf "%s:%s@%s" $repository .image.tag .image.digest -}}
{{- else if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository .image.tag -}}
{{- end -}}
{{- end -}}

{{/*
imagePullSecrets from global.imagePullSecrets and the chart's own list, without duplicates.
Usage: include "triton-common.images.pullSecrets" (dict "ctx" $)
*/}}
{{- define "triton-common.images.pullSecrets" -}}
{{- $names := list -}}
{{- range (concat (((.ctx.Values.global).imagePullSecrets) | default list) (.ctx.Values.imagePullSecrets | default list)) -}}
{{- $names = append $names . -}}
{{- end -}}
{{- with ($names | uniq) -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}
