{{/*
Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource: "1Gi", "500M", "250m", "1e3", 2) as
numbers, for render-time checks that compare or add sizes: a download volume against the repository it holds,
/dev/shm against the memory limit, a quota against what the pods request. Helm has no quantity type, so the
suffixes are the apimachinery ones, written out here once.
*/}}

{{/*
The quantity as a plain number (bytes for sizes, cores for CPU), printed as a float.
Usage: include "triton-common.quantity.value" "1.5Gi" | float64
*/}}
{{- define "triton-common.quantity.value" -}}
{{- $text := toString . -}}
{{- $number := regexFind "^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)" $text -}}
{{- $suffix := trimPrefix $number $text -}}
{{- $factors := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- $factor := 1.0 -}}
{{- if hasKey $factors $suffix -}}
{{- $factor = get $factors $suffix -}}
{{- else if regexMatch "^[eE][+-]?[0-9]+$" $suffix -}}
{{- /* Decimal exponent: 10 to the power, built by repeated multiplication (Sprig has no pow). atoi reads base
10 ("08" is 8; Sprig's int would read a leading 0 as octal). Helm reads a large YAML number as a float and
prints it as 4.294967296e+09, so this path is common. */ -}}
{{- $exponent := regexFind "[+-]?[0-9]+$" $suffix | atoi -}}
{{- if gt (ternary (mul -1 $exponent) $exponent (lt $exponent 0) | int) 30 -}}
{{- fail (printf "\n%q: an exponent beyond 30 is not a size or a CPU amount Kubernetes can hold." $text) -}}
{{- end -}}
{{- range until (ternary (mul -1 $exponent) $exponent (lt $exponent 0) | int) -}}
{{- $factor = ternary (divf $factor 10.0) (mulf $factor 10.0) (lt $exponent 0) -}}
{{- end -}}
{{- else -}}
{{- fail (printf "\n%q is not a Kubernetes quantity (use a number with a suffix such as Mi, Gi, m or k)." $text) -}}
{{- end -}}
{{- $value := mulf (float64 (default "0" $number)) $factor -}}
{{- if gt $value 1e21 -}}
{{- fail (printf "\n%q is beyond any size or CPU amount a node has (over 1e21)." $text) -}}
{{- end -}}
{{- $value -}}
{{- end -}}

{{/*
A quantity as the user wrote it, for messages: Helm reads a large YAML number as a float (4294967296 becomes
4.294967296e+09), which is printed back as the whole number it was. Usage: include "triton-common.quantity.text" $q
*/}}
{{- define "triton-common.quantity.text" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) -}}{{- printf "%.0f" . -}}{{- else -}}{{- toString . -}}{{- end -}}
{{- end -}}

{{/*
Bytes as a quantity, rounded up to whole Mi and written in Gi when it is whole Gi: how the charts write a size
they computed (an ephemeral-storage request). Usage: include "triton-common.quantity.binary" 2147483648.0
*/}}
{{- define "triton-common.quantity.binary" -}}
{{- $mebibytes := ceil (divf (float64 .) 1048576.0) | int64 -}}
{{- if and (gt $mebibytes 0) (eq (mod $mebibytes 1024) 0) -}}
{{- printf "%dGi" (div $mebibytes 1024) -}}
{{- else -}}
{{- printf "%dMi" $mebibytes -}}
{{- end -}}
{{- end -}}
