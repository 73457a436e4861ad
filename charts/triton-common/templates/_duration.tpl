{{/*
Prometheus durations ("30s", "1m30s", "500ms", "2h"; prometheus/common model.ParseDuration units y w d h m s ms)
as seconds, for render-time checks that compare them: a scrape timeout against its interval, a rate window
against four scrapes. The schemas check the form first (definitions.prometheusDuration in each chart's
values.schema.json: prometheus-operator's Duration pattern, units largest first and each at most once), so this
only adds the parts up. "ms" is tried before "m" (Go's regexp takes the first alternative that matches), and the
bare "0" Prometheus allows has no unit and adds nothing.
Usage: include "triton-common.duration.seconds" "1m30s" | float64
*/}}
{{- define "triton-common.duration.seconds" -}}
{{- $units := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0 "w" 604800.0 "y" 31536000.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1 -}}
{{- $unit := regexFind "(ms|s|m|h|d|w|y)$" . -}}
{{- $total = addf $total (mulf (trimSuffix $unit . | atoi | float64) (get $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}
